"""ws-channel options turned into keyword arguments of websockets' ``connect()`` and ``serve()``.

Every option is mapped; none is ignored. ``extra`` accepts only the keys listed in
:data:`CLIENT_EXTRA` and :data:`SERVER_EXTRA`, anything else raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from websockets.typing import Subprotocol

from ws_channel_core.options import ClientOptions, Options, ServerOptions

from ._http import server_hooks

__all__ = ["CLIENT_EXTRA", "SERVER_EXTRA", "client_kwargs", "server_kwargs", "select_in_client_order"]

#: Client extras: ``origin`` (Origin header), ``user_agent_header`` (None drops it), ``proxy``
#: (a proxy URL, or True to use the environment's proxy settings; off by default, like other backends).
CLIENT_EXTRA = frozenset({"origin", "user_agent_header", "proxy"})
#: Server extras: ``origins`` (allowed Origin values; None in it allows a missing Origin),
#: ``server_header`` (None drops the Server header).
SERVER_EXTRA = frozenset({"origins", "server_header"})


def _check_extra(extra: dict[str, object], allowed: frozenset[str], role: str) -> None:
    unknown = sorted(set(extra) - allowed)
    if unknown:
        raise ValueError(
            f"unknown websockets {role} option(s) in extra: {', '.join(unknown)}; "
            f"known: {', '.join(sorted(allowed))}"
        )
    for key, value in extra.items():
        if key == "origins":
            if not isinstance(value, (list, tuple)) or not all(
                item is None or isinstance(item, str) for item in value
            ):
                raise TypeError("extra['origins'] must be a list of str (or None)")
        elif key == "proxy":
            if not (value is None or value is True or isinstance(value, str)):
                raise TypeError("extra['proxy'] must be a URL str, True or None")
        elif value is not None and not isinstance(value, str):
            raise TypeError(f"extra[{key!r}] must be a str or None")


def _common_kwargs(options: Options, trio: bool) -> dict[str, Any]:
    kwargs = {
        "compression": options.compression,
        "open_timeout": options.connect_timeout,
        "ping_interval": options.ping_interval,
        "ping_timeout": options.ping_timeout,
        "close_timeout": options.close_timeout,
        "max_size": options.max_size,
        "max_queue": options.max_queue,
    }
    if not trio:  # websockets.trio has no write buffer: send_all() returns once the kernel took it
        kwargs["write_limit"] = options.write_limit
    return kwargs


def client_kwargs(options: ClientOptions, *, trio: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``websockets.asyncio.client.connect`` (or ``websockets.trio``'s).

    Raises:
        ValueError: ``extra`` has a key this backend does not know.
        TypeError: an ``extra`` value has the wrong type.
    """
    extra = dict(options.extra)
    _check_extra(extra, CLIENT_EXTRA, "client")
    kwargs = _common_kwargs(options, trio)
    kwargs["proxy"] = extra.pop("proxy", None)
    kwargs.update(extra)
    if options.protocols:
        kwargs["subprotocols"] = [Subprotocol(protocol) for protocol in options.protocols]
    if options.headers:
        kwargs["additional_headers"] = list(options.headers)
    if options.ssl:
        kwargs["ssl"] = options.ssl
    return kwargs


def select_in_client_order(supported: Sequence[str]) -> Any:
    """Return a ``select_subprotocol`` callback choosing the client's first supported subprotocol.

    When nothing is shared, the connection goes on without a subprotocol (``protocol`` is None).
    """
    available = frozenset(supported)

    def select(_connection: object, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        return next((protocol for protocol in offered if protocol in available), None)

    return select


def server_kwargs(options: ServerOptions, *, trio: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``websockets.asyncio.server.serve`` or ``websockets.trio``'s (no host/port).

    ``process_request`` / ``process_response`` always run ws-channel's hooks (see ``_http``): the
    shared 426/400 answers, the user's hooks, and ``headers`` on the 101.

    Raises:
        ValueError: ``extra`` has a key this backend does not know.
        TypeError: an ``extra`` value has the wrong type.
    """
    extra = dict(options.extra)
    _check_extra(extra, SERVER_EXTRA, "server")
    kwargs = _common_kwargs(options, trio)
    kwargs.update(extra)
    if options.protocols:
        kwargs["subprotocols"] = [Subprotocol(protocol) for protocol in options.protocols]
        # Without subprotocols, websockets' default already goes on without one: no callback, which
        # saves a bound method per connection.
        kwargs["select_subprotocol"] = select_in_client_order(options.protocols)
    kwargs["process_request"], kwargs["process_response"] = server_hooks(options)
    if options.ssl is not None:
        kwargs["ssl"] = options.ssl
    return kwargs
