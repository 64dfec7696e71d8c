"""Find or build a working ``wstest`` (the Autobahn|Testsuite command) and say how to run it.

The suite runs only on Python 2.7, which current distributions no longer ship. In order of preference:

1. a ``wstest`` already on ``PATH``;
2. the official Docker image ``crossbario/autobahn-testsuite``, when a Docker engine answers;
3. a Debian bullseye root built with ``debootstrap`` (bullseye still has python2.7) holding a fully
   pinned install of the suite, run through ``chroot``. Built once into a cache directory
   (``~/.cache/ws-channel/autobahn``, or ``$WS_CHANNEL_AUTOBAHN_DIR``) and reused: a marker file is
   written only after every step succeeded. Needs root and ``debootstrap``.

:func:`find_wstest` returns a :class:`Wstest`: the command prefix and the directory both sides share
(spec files and reports must live where the tool can see them, which for a chroot or a container is
not the same path as on the host).
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "WstestUnavailable",
    "Wstest",
    "find_wstest",
    "build_chroot",
    "cache_dir",
    "PINS",
    "DOCKER_IMAGE",
    "ENV_DIR",
]

#: Environment variable overriding the cache directory of the chroot build.
ENV_DIR = "WS_CHANNEL_AUTOBAHN_DIR"
#: Environment variable overriding the Debian mirror used by debootstrap.
ENV_MIRROR = "WS_CHANNEL_DEBIAN_MIRROR"
DOCKER_IMAGE = "crossbario/autobahn-testsuite"
SUITE = "bullseye"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PIP_VERSION = "20.3.4"

#: Every package of the install, pinned: versions that still resolve and install on Python 2.7.
PINS: tuple[str, ...] = (
    "autobahntestsuite==25.10.1",
    "autobahn==0.10.9",
    "Twisted==19.10.0",
    "txaio==2.1.0",
    "cryptography==3.3.2",
    "pyOpenSSL==19.1.0",
    "service-identity==18.1.0",
    "zope.interface==4.6.0",
    "attrs==21.4.0",
    "Automat==22.10.0",
    "constantly==15.1.0",
    "hyperlink==21.0.0",
    "incremental==16.10.1",
    "idna==2.10",
    "ipaddress==1.0.23",
    "enum34==1.1.10",
    "cffi==1.15.1",
    "pycparser==2.21",
    "pyasn1==0.5.1",
    "pyasn1-modules==0.3.0",
    "six==1.16.0",
    "Jinja2==2.11.3",
    "MarkupSafe==1.1.1",
    "klein==17.10.0",
    "Werkzeug==1.0.1",
    "PyHamcrest==1.10.1",
    "typing==3.10.0.0",
    "ujson==2.0.3",
    "unittest2==1.1.0",
    "linecache2==1.0.0",
    "traceback2==1.4.0",
    "wsaccel==0.6.6",
    "setuptools==44.0.0",
    "wheel==0.37.1",
)

# Stock wstest listens on every interface (its fuzzing server passes no interface to listenWS). This
# launcher, installed into the root, makes it listen on 127.0.0.1 only, then runs wstest unchanged.
_LAUNCHER = """\
import sys
import autobahntestsuite.fuzzing as fuzzing
_listen = fuzzing.listenWS
def _listen_local(factory, contextFactory=None, backlog=50, interface="127.0.0.1"):
    return _listen(factory, contextFactory, backlog, interface)
fuzzing.listenWS = _listen_local
from autobahntestsuite.wstest import run
sys.argv[0] = "wstest"
sys.exit(run())
"""
_LAUNCHER_PATH = "/usr/local/bin/wstest-local"
_MARKER = ".ws-channel-ready"
_CHROOT_ENV = ("HOME=/root", "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "PYTHONUNBUFFERED=1")


class WstestUnavailable(RuntimeError):
    """No ``wstest`` could be found or built here; the message says what to do."""


@dataclass(frozen=True)
class Wstest:
    """How to run ``wstest``: a command prefix and a directory shared with the tool."""

    #: ``"path"`` (found on PATH), ``"docker"`` or ``"chroot"``.
    kind: Literal["path", "docker", "chroot"]
    #: The command that stands for ``wstest``; append its arguments.
    prefix: tuple[str, ...]
    #: Where work directories are created on the host.
    host_dir: Path
    #: The same directory as the tool sees it.
    tool_dir: str

    def command(self, *args: str) -> list[str]:
        """The full command line for ``wstest ARGS``."""
        return [*self.prefix, *args]

    def tool_path(self, host_path: Path) -> str:
        """Translate a path under :attr:`host_dir` to the path the tool sees."""
        relative = host_path.resolve().relative_to(self.host_dir.resolve())
        return str(Path(self.tool_dir) / relative)

    @contextlib.contextmanager
    def workdir(self, prefix: str = "run-") -> Iterator[Path]:
        """A fresh directory under :attr:`host_dir`, removed afterwards unless it holds a report."""
        self.host_dir.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.host_dir))
        yield path

    def describe(self) -> str:
        """One line for logs: what runs wstest."""
        return f"wstest via {self.kind}: {' '.join(self.prefix)}"


def cache_dir() -> Path:
    """The directory of the chroot build: ``$WS_CHANNEL_AUTOBAHN_DIR`` or ``~/.cache/ws-channel/autobahn``."""
    configured = os.environ.get(ENV_DIR)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "ws-channel" / "autobahn"


def _pins_digest() -> str:
    text = "\n".join((SUITE, PIP_VERSION, *PINS, _LAUNCHER))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _log(message: str) -> None:
    print(f"[autobahn] {message}", file=sys.stderr, flush=True)


def _run(command: Sequence[str], *, timeout: float, what: str, env: dict[str, str] | None = None) -> None:
    """Run a setup step, its output going to our stderr; raise WstestUnavailable when it fails."""
    _log(f"{what}: {' '.join(command)}")
    try:
        completed = subprocess.run(
            list(command), timeout=timeout, env=env, stdin=subprocess.DEVNULL, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise WstestUnavailable(f"{what} took more than {timeout:.0f} s") from exc
    except OSError as exc:
        raise WstestUnavailable(f"{what} could not start: {exc}") from exc
    if completed.returncode != 0:
        raise WstestUnavailable(f"{what} failed with exit status {completed.returncode}")


# --- 1. wstest on PATH ---------------------------------------------------------------------------


def _from_path() -> Wstest | None:
    found = shutil.which("wstest")
    if found is None:
        return None
    host_dir = Path(tempfile.gettempdir()) / "ws-channel-autobahn"
    return Wstest("path", (found,), host_dir, str(host_dir))


# --- 2. Docker -----------------------------------------------------------------------------------


def _docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        completed = subprocess.run(
            [docker, "info"], capture_output=True, timeout=20, stdin=subprocess.DEVNULL, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0


def _from_docker() -> Wstest | None:
    if not _docker_answers():
        return None
    host_dir = cache_dir() / "docker-work"
    host_dir.mkdir(parents=True, exist_ok=True)
    prefix = (
        "docker", "run", "--rm", "--init", "--network", "host",
        "-v", f"{host_dir.resolve()}:/ws-channel", DOCKER_IMAGE, "wstest",
    )  # fmt: skip
    return Wstest("docker", prefix, host_dir, "/ws-channel")


# --- 3. debootstrap + chroot ---------------------------------------------------------------------


def _chroot_wstest(root: Path) -> Wstest:
    prefix = ("chroot", str(root), "/usr/bin/env", "-i", *_CHROOT_ENV, "python2.7", _LAUNCHER_PATH)
    return Wstest("chroot", prefix, root / "tmp" / "ws-channel", "/tmp/ws-channel")


def _debian_mirror() -> str:
    """The Debian archive apt already uses here (so a local mirror or proxy is honoured)."""
    configured = os.environ.get(ENV_MIRROR)
    if configured:
        return configured
    sources = Path("/etc/apt")
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
    for file in files:
        try:
            text = file.read_text(errors="replace")
        except OSError:
            continue
        for match in re.finditer(r"(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.MULTILINE):
            uri = match.group(1).rstrip("/")
            if uri.endswith("/debian") and uri.startswith(("http://", "https://")):
                return uri
    return DEFAULT_MIRROR


def _ca_bundle() -> Path | None:
    """The CA bundle the host trusts (downloads may pass a TLS-inspecting proxy)."""
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        os.environ.get("REQUESTS_CA_BUNDLE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _pip_index_env() -> list[str]:
    """The host pip's index settings as ``NAME=value`` for the root's pip (environment first, then
    config files). Local ``file:`` indexes are left out: the root cannot see them."""
    index = os.environ.get("PIP_INDEX_URL")
    extra = os.environ.get("PIP_EXTRA_INDEX_URL")
    if index is None or extra is None:
        parser = configparser.ConfigParser()
        parser.read(
            [
                "/etc/pip.conf",
                "/etc/xdg/pip/pip.conf",
                str(Path.home() / ".config" / "pip" / "pip.conf"),
                str(Path.home() / ".pip" / "pip.conf"),
                os.environ.get("PIP_CONFIG_FILE", ""),
            ]
        )
        for section in ("global", "install"):
            if index is None and parser.has_option(section, "index-url"):
                index = parser.get(section, "index-url")
            if extra is None and parser.has_option(section, "extra-index-url"):
                extra = parser.get(section, "extra-index-url")
    env: list[str] = []
    if index and index.strip().startswith(("http://", "https://")):
        env.append(f"PIP_INDEX_URL={index.strip()}")
    extras = [url for url in (extra or "").split() if url.startswith(("http://", "https://"))]
    if extras:
        env.append(f"PIP_EXTRA_INDEX_URL={' '.join(extras)}")
    return env


def _mounted_under(path: Path) -> list[str]:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return []
    prefix = str(path.resolve())
    points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    return [point for point in points if point.startswith(prefix)]


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    mounted = _mounted_under(path)
    if mounted:
        raise WstestUnavailable(f"refusing to remove {path}: something is mounted under it ({mounted[0]})")
    shutil.rmtree(path)


def _download_pip_wheel(into: Path) -> Path:
    """Fetch pip's universal wheel with the host's pip (bullseye has no pip for Python 2)."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--python-version", "2.7", "--dest", str(into), f"pip=={PIP_VERSION}",
    ]  # fmt: skip
    _run(
        command,
        timeout=600,
        what="downloading pip's wheel for Python 2.7",
    )
    wheels = sorted(into.glob(f"pip-{PIP_VERSION}-*.whl"))
    if not wheels:
        raise WstestUnavailable(f"pip download left no pip-{PIP_VERSION} wheel in {into}")
    return wheels[0]


def build_chroot(directory: Path | None = None) -> Path:
    """Build (once) the Debian root holding wstest and return its path.

    Idempotent: when the marker of a finished build with the same pins exists, nothing is done. A
    lock file keeps two runs from building at once; a half-built root is removed and rebuilt.

    Raises:
        WstestUnavailable: not root, no ``debootstrap``, or a build step failed (the message says which).
    """
    base = (directory or cache_dir()).expanduser()
    root = base / "root"
    marker = root / _MARKER
    digest = _pins_digest()
    if marker.is_file() and marker.read_text().strip() == digest:
        return root
    if os.geteuid() != 0:
        raise WstestUnavailable(
            "building the Autobahn chroot needs root (debootstrap and chroot); run as root, or put a "
            f"`wstest` on PATH, or start a Docker engine (image {DOCKER_IMAGE})"
        )
    debootstrap = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None
    )
    if debootstrap is None:
        raise WstestUnavailable("debootstrap is missing: apt-get install -y debootstrap")
    if shutil.which("chroot") is None and not Path("/usr/sbin/chroot").exists():
        raise WstestUnavailable("chroot is missing (coreutils)")
    base.mkdir(parents=True, exist_ok=True)
    with (base / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text().strip() == digest:
            return root
        _build(debootstrap, root, digest, base)
    return root


def _build(debootstrap: str, root: Path, digest: str, base: Path) -> None:
    partial = base / "root.partial"
    _remove_tree(partial)
    _remove_tree(root)
    mirror = _debian_mirror()
    _log(f"building a Debian {SUITE} root for wstest in {root} (a few minutes, once)")
    command = [
        debootstrap, "--variant=minbase", "--include=python2.7,python2.7-dev,gcc,libc6-dev",
        SUITE, str(partial), mirror,
    ]  # fmt: skip
    _run(
        command,
        timeout=1800,
        what=f"debootstrap {SUITE} from {mirror}",
    )
    ca_bundle = _ca_bundle()
    certs = partial / "etc" / "ssl" / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    if ca_bundle is not None:
        shutil.copyfile(ca_bundle, certs / "host-ca-bundle.crt")
    with contextlib.suppress(OSError):
        shutil.copyfile("/etc/resolv.conf", partial / "etc" / "resolv.conf")
    downloads = partial / "tmp" / "ws-channel-setup"
    downloads.mkdir(parents=True, exist_ok=True)
    wheel = _download_pip_wheel(downloads)
    inside_wheel = f"/tmp/ws-channel-setup/{wheel.name}"
    # pip settings go through the environment so that pip's own subprocesses (build isolation,
    # which fetches wsaccel's build requirements) use them too.
    env = [*_CHROOT_ENV, "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1", *_pip_index_env()]
    if ca_bundle is not None:
        env.append("PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        if name in os.environ:
            env.append(f"{name}={os.environ[name]}")
    chroot = ["chroot", str(partial), "/usr/bin/env", "-i", *env]
    _run(
        [*chroot, "python2.7", f"{inside_wheel}/pip", "install", "--no-index", inside_wheel],
        timeout=600,
        what="installing pip into the root",
    )
    tools = [pin for pin in PINS if pin.startswith(("setuptools==", "wheel=="))]
    _run(
        [*chroot, "python2.7", "-m", "pip", "install", *tools],
        timeout=900,
        what="installing setuptools and wheel (needed to build wsaccel)",
    )
    _run(
        [*chroot, "python2.7", "-m", "pip", "install", *PINS],
        timeout=1800,
        what="installing the pinned Autobahn|Testsuite",
    )
    launcher = partial / _LAUNCHER_PATH.lstrip("/")
    launcher.write_text(_LAUNCHER)
    _run(
        [*chroot, "python2.7", "-c", "import autobahntestsuite.fuzzing, autobahntestsuite.wstest"],
        timeout=300,
        what="checking the install",
    )
    shutil.rmtree(downloads)
    (partial / _MARKER).write_text(digest + "\n")
    partial.rename(root)
    _log(f"wstest is ready in {root}")


# --- choosing ------------------------------------------------------------------------------------


def find_wstest(*, build: bool = True) -> Wstest:
    """Return a working wstest: on PATH, else Docker, else the cached chroot (built if ``build``).

    Raises:
        WstestUnavailable: none of them can be had; the message says why and what to install.
    """
    found = _from_path()
    if found is not None:
        return found
    found = _from_docker()
    if found is not None:
        return found
    root = cache_dir() / "root"
    marker = root / _MARKER
    if marker.is_file() and marker.read_text().strip() == _pins_digest():
        return _chroot_wstest(root)
    if not build:
        raise WstestUnavailable(f"no wstest on PATH, no Docker engine, and no chroot built in {root}")
    return _chroot_wstest(build_chroot())


if __name__ == "__main__":
    try:
        print(find_wstest().describe())
    except WstestUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
