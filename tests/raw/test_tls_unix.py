"""wss:// with certificate verification on by default, and Unix sockets, on asyncio and trio."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import anyio
import pytest

import ws_channel_core as wc

pytestmark = pytest.mark.anyio
TIMEOUT = 10


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def echo(channel: wc.WebSocketChannel) -> None:
    async for message in channel.stream:
        await channel.sink.add(message)


async def test_wss_echo_and_verification(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    with anyio.fail_after(TIMEOUT):
        async with wc.serve(echo, backend="raw", ssl=server_context) as server:
            url = f"wss://localhost:{server.port}/"
            async with wc.connect(url, backend="raw", ssl=client_context) as channel:
                await channel.sink.add("secure")
                assert await anext(channel.stream) == "secure"
                await channel.sink.add(b"\x00" * 200_000)
                assert await anext(channel.stream) == b"\x00" * 200_000
            assert channel.close_code == 1000
            with pytest.raises(wc.InvalidHandshake):
                await wc.connect(url, backend="raw")  # default context: the self-signed cert is refused


async def test_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "ws.sock")
    with anyio.fail_after(TIMEOUT):
        async with (
            wc.serve(echo, backend="raw", extra={"unix_socket": path}),
            wc.connect("ws://localhost/", backend="raw", extra={"unix_socket": path}) as channel,
        ):
            await channel.sink.add("over unix")
            assert await anext(channel.stream) == "over unix"


async def test_unknown_extra_is_refused() -> None:
    with pytest.raises(ValueError, match="extra"):
        await wc.connect("ws://localhost/", backend="raw", extra={"nope": 1})
