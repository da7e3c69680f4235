"""The reconnect thread: pool passes with backoff, the shared handshake,
resubscription, and the replay of the reconnect buffer in publish order."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, List, Optional

from . import errors, transport
from ._state import State
from .outbox import Ctl
from .protocol import encode

if TYPE_CHECKING:  # pragma: no cover
    from ._state import _Conn
    from .client import Client
    from .servers import Server


def run(client: Client, lost: Optional[Server], prev: Optional[threading.Thread]) -> None:
    opts = client._opts
    pool = client._pool
    assert opts is not None and pool is not None
    old = client._conn
    # the previous generation must be fully stopped before the replay starts, so
    # a failing old flusher requeues its frames ahead of the buffer, never after
    for t in (prev, old.reader if old else None, old.flusher if old else None):
        if t is not None and t is not threading.current_thread() and t.ident is not None:
            t.join(10.0)
    backoff = opts.backoff()
    rounds = 0
    while not client._closing.is_set():
        with client._lock:
            servers = pool.round_iter(opts.max_reconnect_attempts)
        if lost is not None and lost in servers:
            servers = [s for s in servers if s is not lost] + [lost]
        if not servers:
            break
        for server in servers:
            if client._closing.is_set():
                return
            server.last_attempt = time.monotonic()
            try:
                est = client._establish(server)
            except errors.Error as exc:
                server.reconnects += 1
                server.last_error = exc
                client._last_error = exc
                if isinstance(exc, (errors.AuthorizationError, errors.InvalidUserCredentialsError)):
                    client._report_async(exc)
                    with client._lock:
                        pool.record_auth_failure(server)
                continue
            if replay(client, est, server):
                return
        lost = None
        rounds += 1
        tls = any(s.tls for s in servers) or bool(opts.tls)
        if client._closing.wait(backoff.delay(rounds, tls)):
            return
    if not client._closing.is_set():
        client._close(
            "reconnect attempts exhausted",
            errors.NoServersError(
                "nats: no servers available: reconnect attempts exhausted "
                f"(max_reconnect_attempts={opts.max_reconnect_attempts}); last error: "
                f"{client._last_error}"),
        )


def replay(client: Client, est: object, server: Server) -> bool:
    """Resubscribe and replay the buffer on a fresh connection.

    Returns True when done (connected, or the client is closing), False when
    this connection broke and the loop must go on.
    """
    from .handshake import Established

    assert isinstance(est, Established)
    opts = client._opts
    ob = client._outbox
    assert opts is not None
    with client._lock:
        if client._closing.is_set():
            transport.hard_shutdown(est.sock)
            return True
        conn: _Conn = client._adopt_locked(est, server)
        subs = [s for s in client._subs.values() if not s.is_closed]
        client._replaying = True  # later SUB/UNSUB go out between the chunks
        client._replay_ctl = []
        client._start_conn_threads_locked(conn, flusher=False)
    frames: List[bytes] = []
    for s in subs:
        frames.append(encode.encode_sub(s.subject, s.sid, s.queue))
        if s.max_msgs:
            frames.append(encode.encode_unsub(s.sid, max(s.max_msgs - s._received, 1)))
    try:
        if frames:
            _write(conn, b"".join(frames))
        while True:
            with client._lock:
                if client._closing.is_set():
                    return True
                if conn.lost:
                    return False
                ctl = client._replay_ctl
                client._replay_ctl = []
                batch = ob.take_replay_locked()
                if not batch and not ctl:
                    finish_locked(client, conn)
                    break
            if ctl:
                _write(conn, b"".join(ctl))
            if not batch:
                continue
            data = b"".join(batch)
            try:
                _write(conn, data)
            except transport.PartialSend as ps:
                from ._io import unsent_frames

                ob.requeue_front(unsent_frames(batch, ps.sent))
                client._on_lost(conn, ps.cause)
                return False
    except transport.PartialSend as ps:
        client._on_lost(conn, ps.cause)
        return False
    assert client._events is not None
    client._emit_status(State.CONNECTED)
    client._events.submit(opts.reconnected_cb)
    return True


def _write(conn: _Conn, data: bytes) -> None:
    with conn.wlock:
        conn.write_since = time.monotonic()
        transport.send_all(conn.sock, data)
        conn.write_since = 0.0


def finish_locked(client: Client, conn: _Conn) -> None:
    """The buffer is empty: switch to connected, re-PING pending flushes, start the flusher."""
    from ._state import check_transition

    ob = client._outbox
    ob.to_connected_locked(conn.gen)
    client._state = check_transition(client._state, State.CONNECTED)
    client._reconnects += 1
    for w in client._repings:
        if not w.cancelled:
            client._pongs.append(w)
            ob.put_ctl_locked(Ctl(encode.PING))
    client._repings = []
    client._replaying = False
    client._start_conn_threads_locked(conn, flusher=True)
