"""Ending a connection: the rest of a drain, and close (flush, stop, join, keep unsent)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, List, Optional

from . import errors, transport
from ._state import State, check_transition
from .outbox import CONNECTED

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client
    from .subscription import Subscription


def finish_drain(client: Client, subs: List[Subscription], deadline: float, budget: float) -> None:
    """Drain, after the UNSUBs went out: flush, deliver what is pending, flush, close."""
    flushed = _flush_until(client, deadline)
    if flushed is None:
        return
    ok = flushed
    with client._lock:
        for s in subs:
            if client._subs.get(s.sid) is s:
                del client._subs[s.sid]
    for s in subs:
        s._close(discard=False)
    for s in subs:
        ok = s._wait_drained(deadline) and ok
    with client._lock:
        if client._state is State.DRAINING_SUBS:
            client._state = check_transition(client._state, State.DRAINING_PUBS)
        client._draining_pubs = True
    if ok:
        flushed = _flush_until(client, deadline)
        if flushed is None:
            return
        ok = flushed
    client.close()
    if not ok:
        raise errors.DrainTimeoutError(
            f"nats: draining connection timed out after {budget}s; the connection is closed "
            "(undelivered messages were discarded)")


def _flush_until(client: Client, deadline: float) -> Optional[bool]:
    """Flush within what is left of the deadline: True done, False timed out, None closed."""
    try:
        client.flush(max(deadline - time.monotonic(), 0.001))
    except errors.TimeoutError:
        return False
    except errors.ConnectionClosedError:
        return None
    return True


def close(client: Client, reason: str, error: Optional[errors.Error] = None) -> None:
    """Close: flush what is queued (bounded), stop, join every thread, keep what was unsent."""
    with client._close_lock:
        if client._closing.is_set():
            first = False
        else:
            first = True
            client._closing.set()
    if not first:
        if not client._is_own_thread():
            client._closed_done.wait(30.0)
        return
    if client._state is State.NEW:
        client._state = check_transition(client._state, State.CLOSED)
        client._closed_done.set()
        return
    # 1. graceful: let the flusher hand over what is queued (bounded)
    conn0 = client._conn
    was_connected = client._state in (State.CONNECTED, State.DRAINING_SUBS, State.DRAINING_PUBS)
    if client._outbox.mode is CONNECTED and conn0 is not None and not conn0.lost:
        client._outbox.wait_empty(time.monotonic() + 5.0)
    # 2. stop accepting, wake every wait
    with client._lock:
        client._state = check_transition(client._state, State.CLOSED)
        ob = client._outbox
        ob.mode = "closed"
        ob.closed_reason = f"the connection is closed ({reason})"
        ob.data_ready.notify_all()
        ob.space.notify_all()
        conn = client._conn
        pongs = (conn.take_waiters_locked() if conn is not None else []) + client._repings
        client._repings = []
        subs = list(client._subs.values()) + list(client._all_subs)
        client._subs.clear()
    closed_exc = error or errors.ConnectionClosedError(f"nats: connection closed ({reason})")
    for w in pongs:
        w.resolve(error=closed_exc)
    if client._mux is not None:
        for w in list(client._mux.waiters.values()):
            w.resolve(error=closed_exc)
        client._mux.waiters.clear()
    if conn is not None:
        conn.shutdown()
    transport.hard_shutdown(client._dialing)  # abort a reconnect's dial or handshake
    # 3. join the I/O threads
    for t in (client._reconnect_thread, *(conn.threads() if conn else ()), client._pinger,
              *client._aux_threads):
        _join(t, 5.0)
    # 4. keep what was never sent
    with client._lock:
        frames = client._outbox.close_locked(f"the connection is closed ({reason})")
    client._unsent_frames = frames
    for s in subs:
        s._close(discard=True)
    client._dispatcher.close(5.0)
    for s in subs:
        s._join(5.0)
    assert client._opts is not None and client._events is not None
    if frames and client._opts.error_cb is not None:
        client._events.submit(client._opts.error_cb, errors.OutboundBufferLimitError(
            f"nats: connection closed with {len(frames)} buffered messages unsent; "
            "nc.unsent_messages() returns them"))
    if was_connected:  # as nats-py: a close while connected is also a disconnect
        client._events.submit(client._opts.disconnected_cb)
    client._emit_status(State.CLOSED)
    client._events.submit(client._opts.closed_cb)
    client._events.stop(5.0)
    client._closed_done.set()


def _join(t: Optional[threading.Thread], timeout: float) -> None:
    if t is not None and t is not threading.current_thread() and t.ident is not None:
        t.join(timeout)
