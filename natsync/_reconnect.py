"""The reconnect thread: pool passes with backoff, the shared handshake,
resubscription, and the replay of the reconnect buffer in publish order."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, List, Optional

from . import errors, transport
from ._state import State
from .protocol import encode

if TYPE_CHECKING:  # pragma: no cover
    from .backoff import Backoff
    from .client import Client
    from .connection import Connection
    from .servers import Server


def run(client: Client, lost: Optional[Server], prev: Optional[threading.Thread]) -> None:
    """The reconnect thread's body. Nothing escapes it silently: an unexpected
    exception is reported to error_cb and closes the client with it."""
    try:
        _run(client, lost, prev)
    except BaseException as exc:  # a natsync bug must not leave the client "reconnecting"
        if client._closing.is_set():
            return
        err = exc if isinstance(exc, errors.Error) else errors.Error(
            f"nats: the reconnect loop failed unexpectedly ({exc!r}); the client is closed. "
            "Please report this as a natsync bug.")
        client._report_async(err)
        client._close("the reconnect loop failed", err)


def _run(client: Client, lost: Optional[Server], prev: Optional[threading.Thread]) -> None:
    opts = client._opts
    pool = client._pool
    assert opts is not None and pool is not None
    old = client._conn
    # the previous generation must be fully stopped before the replay starts, so
    # a failing old flusher requeues its frames ahead of the buffer, never after
    for t in (prev, *(old.threads() if old else ())):
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
            except Exception as exc:
                if not isinstance(exc, errors.Error):  # a natsync bug: report, go on
                    exc = errors.Error(f"nats: reconnect attempt to {server.hostport} failed "
                                       f"unexpectedly: {exc!r}")
                server.reconnects += 1
                server.last_error = exc
                if client._closing.is_set():
                    return  # close() aborted this attempt: not a failure to report
                # every failed attempt reaches error_cb and last_error (as nats-py)
                client._report_async(errors.attempt_cause(exc))
                if isinstance(exc, (errors.AuthorizationError, errors.InvalidUserCredentialsError)):
                    with client._lock:
                        pool.record_auth_failure(server)
                continue
            if replay(client, est, server):
                return
        lost = None
        rounds += 1
        tls = any(s.tls for s in servers) or bool(opts.tls)
        if client._closing.wait(_delay(client, backoff, rounds, tls)):
            return
    if not client._closing.is_set():
        last = client._last_error
        gave_up = errors.NoServersError(
            "nats: no servers available for connection: reconnect attempts exhausted "
            f"(max_reconnect_attempts={opts.max_reconnect_attempts}); last error: {last!r}. "
            "Raise max_reconnect_attempts (-1: forever) to keep trying longer.")
        client._last_error = gave_up
        client._close("reconnect attempts exhausted", gave_up)


def _delay(client: Client, backoff: Backoff, rounds: int, tls: bool) -> float:
    """The wait before the next pass; a reconnect_delay_cb that raises (or returns no
    number) is reported and the plain wait is used, so the loop goes on."""
    try:
        return backoff.delay(rounds, tls)
    except Exception as exc:
        client._report_async(errors.Error(
            f"nats: reconnect_delay_cb raised {exc!r} for attempt {rounds}; waiting "
            f"reconnect_time_wait ({backoff.time_wait}s) instead. Fix the callback: it must "
            "return a number of seconds."))
        return backoff.time_wait


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
        conn: Connection = client._adopt_locked(est, server)
        subs = [s for s in client._subs.values() if not s.is_closed]
        client._replaying = True  # later SUB/UNSUB go out between the chunks
        client._replay_ctl = []
        conn.start(flusher=False)
    frames: List[bytes] = []
    for s in subs:
        frames.append(encode.encode_sub(s.subject, s.sid, s.queue))
        if s.max_msgs:
            frames.append(encode.encode_unsub(s.sid, max(s.max_msgs - s._received, 1)))
    try:
        if frames:
            conn.write(b"".join(frames))
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
                conn.write(b"".join(ctl))
            if not batch:
                continue
            data = b"".join(batch)
            try:
                conn.write(data)
            except transport.PartialSend as ps:
                from .connection import unsent_frames

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


def finish_locked(client: Client, conn: Connection) -> None:
    """The buffer is empty: switch to connected, re-PING pending flushes, start the flusher."""
    from ._state import check_transition

    ob = client._outbox
    ob.to_connected_locked(conn.gen)
    client._state = check_transition(client._state, State.CONNECTED)
    client._reconnects += 1
    for w in client._repings:
        if not w.cancelled:
            conn.ping_locked(w)
    client._repings = []
    client._replaying = False
    conn.start(flusher=True)
