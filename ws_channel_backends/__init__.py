"""The built-in backends of ws-channel, one subpackage each, registered by entry point.

- ``websockets_backend``: over the websockets library (its asyncio API).
- ``aiohttp_backend``: over aiohttp (``ClientSession.ws_connect`` and ``web.WebSocketResponse``).
- ``raw``: our own RFC 6455 engine (sans-I/O) with asyncio and anyio drivers.

Nothing here is imported by ``ws_channel_core``; each backend is loaded on first use.
"""
