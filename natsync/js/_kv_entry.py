"""Key/Value entries and the markers of ADR-8 and ADR-48 (no I/O).

Shared by the store (:mod:`natsync.js.kv`) and its watcher (:mod:`natsync.js._kv_watch`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Dict, Optional

__all__ = [
    "KV_DEL",
    "KV_MARKER_REASON",
    "KV_OP",
    "KV_PURGE",
    "MSG_ROLLUP_SUBJECT",
    "UNKNOWN_MARKER",
    "Entry",
    "operation",
]

KV_OP = "KV-Operation"
KV_DEL = "DEL"
KV_PURGE = "PURGE"
MSG_ROLLUP_SUBJECT = "sub"
#: Server-written markers (nats-server 2.11+, ADR-48) carry this header instead of KV-Operation.
KV_MARKER_REASON = "Nats-Marker-Reason"

_MARKER_OPS = {"MaxAge": KV_PURGE, "Purge": KV_PURGE, "Remove": KV_DEL}
#: What :func:`operation` returns for a server marker whose reason this client does not know.
UNKNOWN_MARKER = "?"


def operation(headers: Optional[Dict[str, Any]]) -> Optional[str]:
    """The operation a stored message stands for: None (a put), ``"DEL"`` or ``"PURGE"``.

    ``KV-Operation`` is what clients write; ``Nats-Marker-Reason`` is what the server
    writes when a TTL or limit removed the key (``MaxAge``/``Purge`` read as a purge,
    ``Remove`` as a delete). A marker with a reason this client does not know gives
    :data:`UNKNOWN_MARKER`.
    """
    if not headers:
        return None
    op = headers.get(KV_OP)
    if op is not None:
        if isinstance(op, list):
            op = op[-1] if op else None
        return op if op in (KV_DEL, KV_PURGE) else None
    reason = headers.get(KV_MARKER_REASON)
    if reason is None:
        return None
    if isinstance(reason, list):
        reason = reason[-1] if reason else ""
    return _MARKER_OPS.get(reason, UNKNOWN_MARKER)


@dataclass
class Entry:
    """One revision of a key, as nats-py's ``KeyValue.Entry``.

    ``operation`` is None for a put, ``"DEL"`` for a delete and ``"PURGE"`` for a
    purge (a marker's ``value`` is ``b''``). ``delta`` is how many newer updates the
    watch still had to deliver (None from ``get``); ``created`` is the time the server
    stored it, an aware UTC datetime.
    """

    bucket: str
    key: str
    value: Optional[bytes]
    revision: Optional[int]
    delta: Optional[int]
    created: Optional[datetime.datetime]
    operation: Optional[str]
