"""The stacks the benchmark measures, and which of them this machine can run."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass, field

__all__ = ["Stack", "REFERENCE", "discover", "run_on_loop"]


@dataclass(frozen=True)
class Stack:
    """An echo server and client, from one implementation module, on one event loop."""

    name: str
    label: str
    module: str
    serve: str = "serve"
    client: str = "open_client"
    loop: str = "asyncio"
    config: dict[str, str] = field(default_factory=dict)
    #: Environment variables of the server and client processes.
    env: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> Stack:
        return Stack(**json.loads(text))


#: Plain asyncio streams echoing without WebSocket: every ratio is relative to it.
REFERENCE = Stack(
    "asyncio-streams",
    "asyncio streams, no WebSocket (reference)",
    "bench.impl_stdlib",
    serve="serve_streams",
    client="open_streams_client",
)


#: The environment variable that keeps the raw engine on its pure-Python paths, and the accelerator.
PURE_PYTHON = "WS_CHANNEL_PURE_PYTHON"
SPEEDUPS_MODULE = "ws_channel_backends.raw.engine._speedups"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def discover(backends: list[str] | None = None) -> tuple[list[Stack], list[str]]:
    """Return the stacks to measure here, and notes about the ones skipped and why."""
    stacks = [
        REFERENCE,
        Stack(
            "asyncio-protocol",
            "asyncio Protocol, no WebSocket",
            "bench.impl_stdlib",
            serve="serve_protocol",
            client="open_protocol_client",
        ),
    ]
    notes: list[str] = []
    uvloop = _installed("uvloop")
    for name, label in (("websockets", "websockets (direct)"), ("aiohttp", "aiohttp (direct)")):
        if _installed(name):
            stacks.append(Stack(name, label, f"bench.impl_{name}"))
            if name == "websockets" and uvloop:
                # The anchor for raw on uvloop: websockets is fastest there too.
                stacks.append(Stack("websockets+uvloop", "websockets (direct) with uvloop",
                                    "bench.impl_websockets", loop="uvloop"))
        else:
            notes.append(f"{name}: not installed, skipped")
    if _installed("picows"):
        stacks.append(Stack("picows", "picows (direct, Cython)", "bench.impl_picows"))
    else:
        notes.append("picows: not installed, skipped (pip install picows to compare with it)")
    from ws_channel_core import available_backends, get_backend
    from ws_channel_core.registry import roles_of

    installed = available_backends()
    for name in backends or installed:
        if name not in installed:
            notes.append(f"ws-channel/{name}: backend not installed, skipped")
            continue
        roles = roles_of(get_backend(name))
        if "server" not in roles:
            notes.append(f"ws-channel/{name}: client-only, not benchmarked (the echo needs a server)")
            continue
        config = {"backend": name}
        label = f"ws-channel {name} backend"
        if "client" not in roles:  # a server-only backend (asgi) is driven by the default client
            config["client_backend"] = next(b for b in installed if "client" in roles_of(get_backend(b)))
            label += f" (server; {config['client_backend']} client)"
        # raw runs pure Python unless said otherwise: what a plain install runs (the C accelerator is
        # measured as stacks of its own, below).
        env = {PURE_PYTHON: "1"} if name == "raw" else {}
        stacks.append(Stack(f"ws-channel/{name}", label, "bench.impl_channel", config=config, env=env))
        loops = tuple(getattr(get_backend(name), "event_loops", ("asyncio",)))
        if "trio" in loops:
            if _installed("trio"):
                stacks.append(Stack(f"ws-channel/{name}+trio", f"ws-channel {name} backend on trio",
                                    "bench.impl_channel", loop="trio", config=config, env=env))
            else:
                notes.append(f"ws-channel/{name}+trio: trio not installed, skipped")
        if name == "raw":
            if uvloop:
                stacks.append(Stack(f"ws-channel/{name}+uvloop", f"ws-channel {name} backend with uvloop",
                                    "bench.impl_channel", loop="uvloop", config=config, env=env))
            else:
                notes.append(f"ws-channel/{name}+uvloop: uvloop not installed, skipped")
            stacks.extend(_accelerated_raw(config, uvloop, notes))
    return stacks, notes


def _accelerated_raw(config: dict[str, str], uvloop: bool, notes: list[str]) -> list[Stack]:
    """raw with its optional C accelerator, on asyncio and uvloop, when it was built."""
    if not _installed(SPEEDUPS_MODULE):
        notes.append("ws-channel/raw+C: the C accelerator is not built, skipped "
                     "(install with WS_CHANNEL_SPEEDUPS=1 to measure it)")
        return []
    stacks = [Stack("ws-channel/raw+C", "ws-channel raw backend, C accelerator", "bench.impl_channel",
                    config=config)]
    if uvloop:
        stacks.append(Stack("ws-channel/raw+C+uvloop", "ws-channel raw backend, C accelerator, with uvloop",
                            "bench.impl_channel", loop="uvloop", config=config))
    return stacks


def run_on_loop(loop: str, function: object, *args: object) -> None:
    """Run ``function(*args)`` with anyio on ``loop``: asyncio, trio or uvloop (asyncio with uvloop)."""
    import anyio

    if loop == "uvloop":
        anyio.run(function, *args, backend="asyncio", backend_options={"use_uvloop": True})  # type: ignore[arg-type]
    else:
        anyio.run(function, *args, backend=loop)  # type: ignore[arg-type]
