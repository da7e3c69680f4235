"""Validation of a server INFO object: the one place its field types are checked.

The parser calls :func:`check_info` on every INFO it decodes, so the rest of the
client can trust the fields it reads (``max_payload``, ``connect_urls``,
``nonce``, the TLS flags, ``ldm``, ...). A field with the wrong JSON type or out
of range is a :class:`~natsync.errors.ProtocolError`: ``connect()`` raises it, a
reconnect attempt counts it as a failed attempt, and on a live connection it
drops that connection like any other protocol violation. Fields natsync does
not use pass through unchecked; a field sent as JSON ``null`` counts as absent.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

from ..errors import ProtocolError

__all__ = ["check_info", "CHECKED_INFO_FIELDS", "MAX_PAYLOAD_CEILING"]

#: The largest ``max_payload`` a NATS server can be configured with (64 MiB).
MAX_PAYLOAD_CEILING = 64 * 1024 * 1024

_STR_FIELDS = ("server_id", "server_name", "version", "go", "host", "nonce", "client_ip",
               "cluster", "domain", "git_commit", "xkey")
_BOOL_FIELDS = ("headers", "auth_required", "tls_required", "tls_available", "tls_verify",
                "jetstream", "ldm")
_URL_LIST_FIELDS = ("connect_urls", "ws_connect_urls")
#: integer fields: (smallest, largest) allowed value
_INT_FIELDS: Dict[str, Tuple[int, int]] = {
    "max_payload": (1, MAX_PAYLOAD_CEILING),
    "port": (0, 65535),
    "proto": (0, 2**31 - 1),
    "client_id": (0, 2**64 - 1),
}


#: every INFO field whose type and range :func:`check_info` checks
CHECKED_INFO_FIELDS = frozenset(_STR_FIELDS + _BOOL_FIELDS + _URL_LIST_FIELDS + tuple(_INT_FIELDS))


def _bad(name: str, want: str, value: Any) -> ProtocolError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ProtocolError(
        f"nats: protocol error: the server's INFO field {name!r} must be {want}, got "
        f"{type(value).__name__} {shown}; is this a NATS server (or a proxy rewriting its INFO)?"
    )


def check_info(info: Dict[str, Any]) -> Dict[str, Any]:
    """Return ``info`` after checking the fields natsync uses; raise ``ProtocolError``."""
    for name in _STR_FIELDS:
        v = info.get(name)
        if v is not None and not isinstance(v, str):
            raise _bad(name, "a string", v)
    for name in _BOOL_FIELDS:
        v = info.get(name)
        if v is not None and not isinstance(v, bool):
            raise _bad(name, "true or false", v)
    for name, (lo, hi) in _INT_FIELDS.items():
        v = info.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            raise _bad(name, "an integer", v)
        if not lo <= v <= hi:
            raise _bad(name, f"an integer from {lo} to {hi}", v)
    for name in _URL_LIST_FIELDS:
        v = info.get(name)
        if v is None:
            continue
        if not isinstance(v, list) or not all(isinstance(u, str) for u in v):
            raise _bad(name, "a list of \"host:port\" strings", v)
    return info
