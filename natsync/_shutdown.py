"""How a client ends: ``drain()`` and ``close()``, mixed into :class:`~natsync.client.Client`.

This is the client's own behaviour (it reads and changes the client's state),
kept in a file of its own so the client module stays one screenful of jobs. The
attributes and methods it relies on are declared below for the type checker;
they are set up by ``Client._init_state``.

close(): (1) let the flusher hand over what is queued (bounded); (2) under the
lock, stop accepting and wake every wait; (3) fail the waiting flushes and
requests, abort the socket and a dial in progress, join every client thread;
(4) keep what was never sent for ``unsent_messages()``, end the subscriptions,
then run the callbacks (disconnected, closed) and stop the events thread.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from . import errors, transport
from ._state import State, check_transition
from .msg import Msg
from .outbox import CONNECTED, Ctl
from .protocol import encode
from .subscription import current_callback_subscription

if TYPE_CHECKING:  # pragma: no cover
    from ._callbacks import CallbackThread
    from ._dispatch import CallbackPool
    from ._reconnect import Reconnector
    from ._request import _RespMux
    from .connection import Connection
    from .options import Options
    from .outbox import Outbox
    from .subscription import Subscription

__all__ = ["ClientShutdown"]


class ClientShutdown:
    """``drain()`` and ``close()`` of the client."""

    if TYPE_CHECKING:  # pragma: no cover - the client's state these methods use
        _id: int
        _opts: Optional[Options]
        _state: State
        _lock: threading.Lock
        _outbox: Outbox
        _conn: Optional[Connection]
        _subs: Dict[int, Subscription]
        _all_subs: List[Subscription]
        _mux: Optional[_RespMux]
        _events: Optional[CallbackThread]
        _reconnector: Optional[Reconnector]
        _closing: threading.Event
        _closed_done: threading.Event
        _close_lock: threading.Lock
        _draining_pubs: bool
        _dialing: Optional[transport.Stream]
        _pinger: Optional[threading.Thread]
        _aux_threads: List[threading.Thread]
        _dispatcher: CallbackPool
        _unsent_frames: List[bytes]
        _unsent: List[Msg]

        def flush(self, timeout: float = 10.0) -> None: ...
        def _send_ctl_locked(self, frame: Ctl) -> None: ...
        def _report_async(self, exc: BaseException) -> None: ...
        def _emit_status(self, state: State) -> None: ...

    # ------------------------------------------------------------------ drain
    def drain(self, timeout: Optional[float] = None) -> None:
        """Unsubscribe everything, deliver what is pending, flush, then close.

        Raises :class:`DrainTimeoutError` (after closing) when it takes longer than
        ``timeout`` (default ``drain_timeout``)."""
        assert self._opts is not None or self._state is State.NEW
        with self._lock:
            if self._state is State.CLOSED:
                raise errors.ConnectionClosedError("nats: connection closed: cannot drain")
            if self._state is State.NEW:
                raise errors.ConnectionClosedError("nats: connection closed: not connected; "
                    "call connect() first")
            if self._state in (State.DRAINING_SUBS, State.DRAINING_PUBS):
                raise errors.ConnectionDrainingError("nats: connection draining: drain() was already called")
            assert self._opts is not None
            budget = self._opts.drain_timeout if timeout is None else timeout
            deadline = time.monotonic() + budget
            subs = [s for s in self._subs.values() if s is not self._mux]
            if self._state is State.CONNECTED:
                self._state = check_transition(self._state, State.DRAINING_SUBS)
            for s in subs:
                self._send_ctl_locked(Ctl(encode.encode_unsub(s.sid)))
        if self._in_callback_thread():
            # a callback cannot wait for its own subscription to drain: the drain goes
            # on in the background once it returns; errors go to error_cb
            self._in_background("drain", self._finish_drain, subs, deadline, budget)
            return
        self._finish_drain(subs, deadline, budget)

    def _finish_drain(self, subs: List[Subscription], deadline: float, budget: float) -> None:
        """Drain, after the UNSUBs went out: flush, deliver what is pending, flush, close."""
        flushed = self._flush_until(deadline)
        if flushed is None:
            return
        ok = flushed
        with self._lock:
            for s in subs:
                if self._subs.get(s.sid) is s:
                    del self._subs[s.sid]
        for s in subs:
            s._close(discard=False)
        for s in subs:
            ok = s._wait_drained(deadline) and ok
        with self._lock:
            if self._state is State.DRAINING_SUBS:
                self._state = check_transition(self._state, State.DRAINING_PUBS)
            self._draining_pubs = True
        if ok:
            flushed = self._flush_until(deadline)
            if flushed is None:
                return
            ok = flushed
        self.close()
        if not ok:
            raise errors.DrainTimeoutError(
                f"nats: draining connection timed out after {budget}s; the connection is closed "
                "(undelivered messages were discarded)")

    def _drain_sub(self, sub: Subscription, timeout: Optional[float]) -> None:
        """``sub.drain()``: UNSUB, deliver what is pending, then remove it."""
        assert self._opts is not None
        deadline = time.monotonic() + (self._opts.drain_timeout if timeout is None else timeout)
        with self._lock:
            if self._state is State.CLOSED:
                raise errors.ConnectionClosedError("nats: connection closed: cannot drain")
            if self._subs.get(sub.sid) is not sub:
                raise errors.BadSubscriptionError(
                    f"nats: invalid subscription: {sub.subject!r} is not active")
            self._send_ctl_locked(Ctl(encode.encode_unsub(sub.sid)))
        if sub._in_own_callback():
            # called from its own callback: it cannot wait for itself; finish in the background
            self._in_background("drain", self._finish_sub_drain, sub, deadline)
            return
        self._finish_sub_drain(sub, deadline)

    def _finish_sub_drain(self, sub: Subscription, deadline: float) -> None:
        try:
            self.flush(max(deadline - time.monotonic(), 0.001))
        except (errors.TimeoutError, errors.ConnectionClosedError):
            pass  # deliver what arrived anyway
        finally:
            with self._lock:
                if self._subs.get(sub.sid) is sub:
                    del self._subs[sub.sid]
            sub._close(discard=False)
        if not sub._wait_drained(deadline):
            raise errors.DrainTimeoutError(
                f"nats: draining connection timed out: draining {sub.subject!r} took too long "
                f"with {sub.pending_msgs} messages pending")

    def _flush_until(self, deadline: float) -> Optional[bool]:
        """Flush within what is left of the deadline: True done, False timed out, None closed."""
        try:
            self.flush(max(deadline - time.monotonic(), 0.001))
        except errors.TimeoutError:
            return False
        except errors.ConnectionClosedError:
            return None
        return True

    def _in_callback_thread(self) -> bool:
        me = threading.current_thread()
        return current_callback_subscription() is not None or any(
            s._thread is me for s in self._all_subs) or (
            self._events is not None and self._events.is_current())

    def _in_background(self, what: str, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` on a client thread (joined by close); its errors go to error_cb."""

        def run() -> None:
            try:
                fn(*args)
            except errors.Error as exc:
                self._report_async(exc)

        t = threading.Thread(target=run, name=f"natsync-{what}-{self._id}", daemon=True)
        with self._lock:
            self._aux_threads = [a for a in self._aux_threads if a.is_alive()]
            self._aux_threads.append(t)
        t.start()

    def close(self) -> None:
        """Close the connection and join every thread the client started. Idempotent.

        Messages accepted but never sent are kept: see :meth:`unsent_messages`."""
        self._close("closed by the application")

    def _close(self, reason: str, error: Optional[errors.Error] = None) -> None:
        """Close: flush what is queued (bounded), stop, join every thread, keep what was unsent."""
        with self._close_lock:
            first = not self._closing.is_set()
            self._closing.set()
        if not first:
            if not self._is_own_thread():
                self._closed_done.wait(30.0)
            return
        if self._state is State.NEW:
            self._state = check_transition(self._state, State.CLOSED)
            self._closed_done.set()
            return
        # 1. graceful: let the flusher hand over what is queued (bounded)
        conn0 = self._conn
        was_connected = self._state in (State.CONNECTED, State.DRAINING_SUBS, State.DRAINING_PUBS)
        if self._outbox.mode is CONNECTED and conn0 is not None and not conn0.lost:
            self._outbox.wait_empty(time.monotonic() + 5.0)
        # 2. stop accepting, wake every wait
        with self._lock:
            self._state = check_transition(self._state, State.CLOSED)
            self._outbox.stop_locked(f"the connection is closed ({reason})")
            conn = self._conn
            pongs = (conn.take_waiters_locked() if conn is not None else []) + (
                self._reconnector.take_waiters_locked() if self._reconnector else [])
            subs = list(self._subs.values()) + list(self._all_subs)
            self._subs.clear()
        # 3. fail what waits, abort the sockets, join the threads
        closed_exc = error or errors.ConnectionClosedError(f"nats: connection closed ({reason})")
        for w in pongs:
            w.resolve(error=closed_exc)
        if self._mux is not None:
            self._mux.fail_all(closed_exc)
        if conn is not None:
            conn.shutdown()
        transport.hard_shutdown(self._dialing)  # abort a reconnect's dial or handshake
        if self._reconnector is not None:
            self._reconnector.join(5.0)
        for t in (*(conn.threads() if conn else ()), self._pinger, *self._aux_threads):
            _join(t, 5.0)
        # 4. keep what was never sent
        with self._lock:
            frames = self._outbox.close_locked(f"the connection is closed ({reason})")
        self._unsent_frames = frames
        for s in subs:
            s._close(discard=True)
        self._dispatcher.close(5.0)
        for s in subs:
            s._join(5.0)
        assert self._opts is not None and self._events is not None
        if frames and self._opts.error_cb is not None:
            self._events.submit(self._opts.error_cb, errors.OutboundBufferLimitError(
                f"nats: connection closed with {len(frames)} buffered messages unsent; "
                "nc.unsent_messages() returns them"))
        if was_connected:  # as nats-py: a close while connected is also a disconnect
            self._events.submit(self._opts.disconnected_cb)
        self._emit_status(State.CLOSED)
        self._events.submit(self._opts.closed_cb)
        self._events.stop(5.0)
        self._closed_done.set()

    def _is_own_thread(self) -> bool:
        me = threading.current_thread()
        return me.name.startswith("natsync-") and me.name.endswith(f"-{self._id}") or (
            self._events is not None and self._events.is_current())

    def unsent_messages(self) -> List[Msg]:
        """After close: the messages accepted but never sent, in publish order."""
        if not self._unsent and self._unsent_frames:
            self._unsent = [_frame_to_msg(f) for f in self._unsent_frames]
        return list(self._unsent)

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _frame_to_msg(frame: bytes) -> Msg:
    subject, reply, hdr, payload = encode.decode_pub(frame)
    return Msg(subject, 0, reply, payload, hdr)


def _join(t: Optional[threading.Thread], timeout: float) -> None:
    if t is not None and t is not threading.current_thread() and t.ident is not None:
        t.join(timeout)
