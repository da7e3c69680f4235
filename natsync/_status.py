"""The client's state as others see it, mixed into :class:`~natsync.client.Client`:
the read-only properties with nats-py's names (``is_connected``, ..., ``stats``),
and the status listeners that code built on the client registers.

The properties read the client's fields (declared below for the type checker, set
up by ``Client._init_state``) and change nothing.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional
from urllib.parse import ParseResult

from . import errors
from ._state import State
from .outbox import BUFFERING
from .server_version import ServerVersion

if TYPE_CHECKING:  # pragma: no cover
    from ._callbacks import CallbackThread
    from .connection import Connection
    from .options import Options
    from .outbox import Outbox
    from .servers import Server, ServerPool

__all__ = ["ClientStatus"]


class ClientStatus:
    """The state properties of the client."""

    if TYPE_CHECKING:  # pragma: no cover - the client's state these properties read
        _opts: Optional[Options]
        _state: State
        _outbox: Outbox
        _conn: Optional[Connection]
        _pool: Optional[ServerPool]
        _connected_server: Optional[Server]
        _max_payload: int
        _info: Dict[str, Any]
        _last_error: Optional[BaseException]
        _in_msgs: int
        _in_bytes: int
        _reconnects: int
        _errors_received: int
        _unsent_frames: List[bytes]
        _lock: threading.Lock
        _events: Optional[CallbackThread]
        _status_listeners: List[Callable[[State], None]]

    @property
    def options(self) -> Optional[Options]:
        return self._opts

    @property
    def is_connected(self) -> bool:
        return self._state in (State.CONNECTED, State.DRAINING_SUBS, State.DRAINING_PUBS)

    @property
    def is_reconnecting(self) -> bool:
        return self._state is State.RECONNECTING

    @property
    def is_closed(self) -> bool:
        return self._state is State.CLOSED

    @property
    def is_connecting(self) -> bool:
        return self._state is State.NEW and self._opts is not None

    @property
    def is_draining(self) -> bool:
        return self._state in (State.DRAINING_SUBS, State.DRAINING_PUBS)

    @property
    def is_draining_pubs(self) -> bool:
        return self._state is State.DRAINING_PUBS

    @property
    def state(self) -> State:
        return self._state

    @property
    def connected_url(self) -> Optional[ParseResult]:
        s = self._connected_server
        return s.uri if s is not None and self.is_connected else None

    @property
    def servers(self) -> List[ParseResult]:
        return self._pool.uris if self._pool is not None else []

    @property
    def discovered_servers(self) -> List[ParseResult]:
        return self._pool.discovered_uris if self._pool is not None else []

    @property
    def max_payload(self) -> int:
        return self._max_payload

    @property
    def server_info(self) -> Dict[str, Any]:
        return dict(self._info)

    @property
    def client_id(self) -> Optional[int]:
        if self._state is State.CLOSED:
            return None
        cid = self._info.get("client_id")
        return cid if isinstance(cid, int) else None

    @property
    def client_ip(self) -> Optional[str]:
        if self._state is State.CLOSED:
            return None
        ip = self._info.get("client_ip")
        return ip if isinstance(ip, str) else None

    @property
    def connected_server_version(self) -> ServerVersion:
        return ServerVersion(str(self._info.get("version", "")))

    @property
    def last_error(self) -> Optional[BaseException]:
        return self._last_error

    @property
    def pending_data_size(self) -> int:
        return self._outbox.size

    @property
    def buffered_msgs(self) -> int:
        ob = self._outbox
        return ob.buf_msgs if ob.mode is BUFFERING else 0

    @property
    def buffered_bytes(self) -> int:
        ob = self._outbox
        return ob.buf_bytes if ob.mode is BUFFERING else 0

    @property
    def stats(self) -> Dict[str, int]:
        ob = self._outbox
        conn = self._conn
        out_msgs, out_bytes = ob.counts()
        return {
            "in_msgs": self._in_msgs + (conn.in_msgs if conn is not None else 0),
            "out_msgs": out_msgs,
            "in_bytes": self._in_bytes + (conn.in_bytes if conn is not None else 0),
            "out_bytes": out_bytes,
            "reconnects": self._reconnects,
            "errors_received": self._errors_received,
            "reconnect_buf_dropped": ob.dropped,
            "unsent_msgs": len(self._unsent_frames),
        }

    # ------------------------------------------------------- status listeners
    def add_status_listener(self, fn: Callable[[State], None]) -> Callable[[], None]:
        """Call ``fn(state)`` on every connection status change; returns a remover.

        For code built on the client (JetStream consumers, services) that must learn
        of outages without taking over the application's ``disconnected_cb`` and
        ``reconnected_cb``: ``fn`` gets ``State.RECONNECTING`` when the connection is
        lost, ``State.CONNECTED`` after a reconnect (once the buffer is replayed, just
        before ``reconnected_cb``) and ``State.CLOSED`` on close. It runs on the
        client's event thread, in order with the connection callbacks; what it raises
        goes to ``error_cb``. Calling the returned function removes it (idempotent)."""
        if not callable(fn):
            raise errors.Error("nats: a status listener must be a callable taking a State")
        with self._lock:
            self._status_listeners = [*self._status_listeners, fn]

        def remove() -> None:
            with self._lock:
                self._status_listeners = [f for f in self._status_listeners if f is not fn]

        return remove

    def _emit_status(self, state: State) -> None:
        """Queue the status listeners on the event thread (before the matching callback)."""
        ev = self._events
        if ev is not None:
            for fn in self._status_listeners:
                ev.submit(fn, state)
