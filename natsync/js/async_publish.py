"""Asynchronous JetStream publish: many messages in flight, each ack a Future.

One wildcard reply subscription (``<inbox>.*``) serves every async publish of a
context. At most ``max_pending`` acks are outstanding: a publish into a full
window waits up to ``wait_stall`` and then raises ``TooManyStalledMsgsError``.
Every future settles: with its ``PubAck``, with the API error of a refused
message, with ``NoStreamResponseError`` when no stream took it, with a
``TimeoutError`` when no ack came within the ack timeout, and with
``ConnectionReconnectingError`` / ``ConnectionClosedError`` for messages whose
ack was outstanding when the connection was lost or closed (nats-py can leave
such a future waiting forever, nats.py#985). One timer thread, alive only while
acks are outstanding, fails the futures whose time is up.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import json
import re
import threading
import time
from concurrent.futures import Future, _base
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Tuple

from natsync import errors as core_errors

from .api import PubAck
from .errors import NoStreamResponseError, TooManyStalledMsgsError, api_error

if TYPE_CHECKING:  # pragma: no cover
    from natsync._client_api import ClientAPI
    from natsync._state import State
    from natsync.msg import Msg
    from natsync.subscription import Subscription

__all__ = ["AsyncPublisher", "AckFuture", "read_pub_ack"]

_monotonic = time.monotonic

_DONE_STATES = (_base.CANCELLED, _base.CANCELLED_AND_NOTIFIED, _base.FINISHED)
_PENDING = _base.PENDING
_FINISHED = _base.FINISHED

#: A JetStream publish ack as the server writes it (Go's field order), read without
#: ``json`` on the hot path; anything else (errors, newer fields) goes through json.
_ACK_RE = re.compile(
    rb'\{"stream":"([^"\\]+)","seq":(\d+)(?:,"domain":"([^"\\]*)")?(,"duplicate":true)?\}')


class AckFuture(Future):  # type: ignore[type-arg]
    """A ``concurrent.futures.Future`` whose Condition is made only when someone waits.

    A plain Future builds a Condition (and its RLock) in ``__init__``; for a publish
    window of thousands of acks that nobody waits on one by one it was a third of the
    cost of ``publish_async``. Until the Condition exists nobody can be waiting, so
    settling the future only needs its state set under ``lock`` (the publisher's lock,
    which settles it together with the window's bookkeeping); every waiting method
    (``result``, ``exception``, ``done``, ``wait``, callbacks) first makes the
    Condition under the same lock and then behaves exactly like the base class.
    """

    def __init__(self, lock: threading.Lock) -> None:  # no super().__init__(): see above
        self._state = _PENDING
        self._result = None
        self._exception = None
        self._waiters: List[Any] = []
        self._done_callbacks: List[Any] = []
        self._mk_lock = lock

    @property
    def _condition(self) -> threading.Condition:
        cond: Optional[threading.Condition] = self.__dict__.get("_cond")
        if cond is None:
            with self._mk_lock:
                cond = self.__dict__.get("_cond")
                if cond is None:
                    cond = threading.Condition()
                    self.__dict__["_cond"] = cond
        return cond

    @_condition.setter
    def _condition(self, cond: threading.Condition) -> None:
        self.__dict__["_cond"] = cond

    def _settle_locked(self, result: Any, exc: Optional[BaseException]) -> bool:
        """Under ``lock``: settle a future nobody can wait on yet; False when someone
        may wait (or it is settled already): then the base class must do it."""
        if "_cond" in self.__dict__ or self._state is not _PENDING:
            return False
        self._result = result
        self._exception = exc
        self._state = _FINISHED
        return True

    def _settle_fast(self, result: Any, exc: Optional[BaseException]) -> bool:
        with self._mk_lock:
            if "_cond" not in self.__dict__ and self._state in _DONE_STATES:
                raise _base.InvalidStateError(f"{self._state}: {self!r}")
            # False: someone may wait, the base class notifies them
            return self._settle_locked(result, exc)

    def set_result(self, result: Any) -> None:
        if not self._settle_fast(result, None):
            super().set_result(result)

    def set_exception(self, exception: Optional[BaseException]) -> None:
        if not self._settle_fast(None, exception):
            super().set_exception(exception)

def read_pub_ack(data: bytes, names: Dict[bytes, str]) -> Optional[PubAck]:
    """The PubAck in a plain ack as the server writes it, read without json; None for
    anything else (an error, fields this does not know), which json then reads.
    ``names`` caches the decoded stream names (a few per context)."""
    m = _ACK_RE.fullmatch(data)
    if m is None:
        return None
    raw, seq, domain, dup = m.groups()
    stream = names.get(raw)
    if stream is None:
        stream = raw.decode()
        if len(names) < 64:
            names[raw] = stream
    return PubAck(stream, int(seq), None if domain is None else domain.decode(),
                  True if dup else None)


_Pending = Tuple[AckFuture, str, float, float]  # future, subject, timeout, deadline


class AsyncPublisher:
    """The async-publish state of one JetStreamContext.

    Bookkeeping per message is one dict entry and one deque entry, under one lock on
    each side: acks with the context's default timeout are due in publish order, so
    their deadlines form a FIFO (``_fifo``); a per-call ``timeout`` goes to a heap.
    Both are trimmed from the front as acks arrive, so they stay about as long as
    the window. The timer thread sleeps until the earliest deadline."""

    def __init__(self, nc: ClientAPI, max_pending: int, ack_timeout: float) -> None:
        self._nc = nc
        self._max_pending = max_pending
        self._ack_timeout = ack_timeout
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)    # pending count changes
        self._timer_cond = threading.Condition(self._lock)
        self._pending: Dict[str, _Pending] = {}
        self._fifo: Deque[str] = collections.deque()  # default-timeout tokens, in order
        self._deadlines: List[Tuple[float, str]] = []  # per-call timeouts (a heap)
        self._sub: Optional[Subscription] = None
        self._prefix = ""
        self._plen = 0
        self._ids = itertools.count(1)
        self._timer: Optional[threading.Thread] = None
        self._remove_listener: Optional[Any] = None
        self._waiting = 0  # threads in _cond.wait (completed, a full window)
        self._streams: Dict[bytes, str] = {}  # stream names seen in acks, decoded once

    # ------------------------------------------------------------- public
    def pending(self) -> int:
        return len(self._pending)

    def completed(self, timeout: Optional[float] = None) -> None:
        """Wait until no ack is outstanding; ``TimeoutError`` if that takes over ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise core_errors.TimeoutError(
                        f"nats: {len(self._pending)} async publishes still wait for their ack "
                        f"after {timeout}s")
                self._waiting += 1
                try:
                    self._cond.wait(1.0 if left is None else min(left, 1.0))
                finally:
                    self._waiting -= 1

    def publish(self, subject: str, payload: bytes, headers: Optional[Dict[str, Any]],
                wait_stall: Optional[float], ack_timeout: Optional[float]) -> Future[PubAck]:
        """Register the ack and publish; takes no lock unless the window is full.

        The ack side settles under the lock while publishers keep going: with a lock
        here, publisher and ack thread convoyed on it (a context switch for every few
        messages). Entries are only added here, in this order: the window, then the
        deadline FIFO, so nobody trimming the FIFO under the lock meets a token it does
        not know yet. With several publishing threads the window may be exceeded by
        one message per thread."""
        if self._sub is None:
            self._start()
        pending = self._pending
        if len(pending) >= self._max_pending:
            with self._lock:
                self._wait_room(wait_stall)
        fut = AckFuture(self._lock)
        token = str(next(self._ids))
        if ack_timeout is None:
            timeout = self._ack_timeout
            pending[token] = (fut, subject, timeout, _monotonic() + timeout)
            self._fifo.append(token)
        else:
            self._add_timed(fut, subject, token, ack_timeout)
        if self._timer is None:
            self._start_timer()
        try:
            self._nc.publish(subject, payload, self._prefix + token, headers)
        except BaseException:
            self._settle(token)
            raise
        return fut

    # ------------------------------------------------------------ internals
    def _wait_room(self, wait_stall: Optional[float]) -> None:
        """Lock held: wait until the window has room, or raise TooManyStalledMsgsError."""
        deadline = None if wait_stall is None else time.monotonic() + wait_stall
        while len(self._pending) >= self._max_pending:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TooManyStalledMsgsError(
                    f"{len(self._pending)} acks outstanding (publish_async_max_pending="
                    f"{self._max_pending}) for longer than wait_stall={wait_stall}s; wait with "
                    "publish_async_completed() or raise the limit")
            self._waiting += 1
            try:
                self._cond.wait(1.0 if left is None else min(left, 1.0))
            finally:
                self._waiting -= 1
            if self._nc.is_closed:
                raise core_errors.ConnectionClosedError()

    def _add_timed(self, fut: AckFuture, subject: str, token: str, timeout: float) -> None:
        """An ack with a timeout of its own: its deadline goes to the heap."""
        with self._lock:
            deadline = _monotonic() + timeout
            self._pending[token] = (fut, subject, timeout, deadline)
            heapq.heappush(self._deadlines, (deadline, token))
            if self._timer is not None and self._deadlines[0][1] == token:
                self._timer_cond.notify()  # due before what the timer sleeps for

    def _start_timer(self) -> None:
        """Start the timer thread unless one runs (it may have just decided to end:
        see :meth:`_run_timer` for why a publish is never left without one)."""
        with self._lock:
            if self._timer is None:
                self._timer = threading.Thread(target=self._run_timer, daemon=True,
                                               name="natsync-js-ack-timer")
                self._timer.start()

    def _start(self) -> None:
        with self._lock:
            if self._sub is not None:
                return
            self._prefix = self._nc.new_inbox() + "."
            self._plen = len(self._prefix)
            self._sub = self._nc.subscribe(self._prefix + "*", cb=self._on_reply,
                                           pending_msgs_limit=0, pending_bytes_limit=0)
            self._remove_listener = self._nc.add_status_listener(self._on_status)

    def _pop_locked(self, token: str) -> Optional[_Pending]:
        """Take ``token``'s entry out of the window (lock held) and trim the FIFO."""
        entry = self._pending.pop(token, None)
        if entry is not None:
            fifo = self._fifo
            pending = self._pending
            while fifo and fifo[0] not in pending:
                fifo.popleft()
            if self._waiting:
                self._cond.notify_all()
        return entry

    def _settle(self, token: str) -> Optional[_Pending]:
        with self._lock:
            return self._pop_locked(token)

    def _on_reply(self, msg: Msg) -> None:
        ack = None if msg.status is not None else read_pub_ack(msg.data, self._streams)
        with self._lock:
            entry = self._pop_locked(msg.subject[self._plen:])
            if entry is None:
                return  # already timed out or failed
            if ack is not None and entry[0]._settle_locked(ack, None):
                return  # nobody waited on it yet: settled with the bookkeeping
        fut, subject = entry[0], entry[1]
        try:
            if ack is not None:
                fut.set_result(ack)
            else:
                self._resolve(fut, subject, msg)
        except _base.InvalidStateError:
            pass  # the application cancelled the future

    @staticmethod
    def _resolve(fut: Future[PubAck], subject: str, msg: Msg) -> None:
        if msg.status == 503:
            fut.set_exception(NoStreamResponseError(
                f"no stream took the message on {subject!r} (no responders)"))
            return
        try:
            resp = json.loads(msg.data)
            err = resp.get("error")
            if err is not None:
                fut.set_exception(api_error(err))
            elif "stream" in resp and "seq" in resp and len(resp) <= 4:
                fut.set_result(PubAck(resp["stream"], resp["seq"], resp.get("domain"),
                                      resp.get("duplicate")))
            else:
                fut.set_result(PubAck.from_response(resp))
        except (ValueError, AttributeError, TypeError) as exc:
            fut.set_exception(core_errors.ProtocolError(
                f"nats: the ack of an async publish on {subject!r} is not a JetStream ack: {exc}"))

    def _on_status(self, state: State) -> None:
        name = getattr(state, "name", "")
        if name == "RECONNECTING":
            self._fail_all(lambda subject: core_errors.ConnectionReconnectingError(
                f"nats: the connection was lost before the ack of the async publish on "
                f"{subject!r} arrived; the message may or may not be stored: publish it again "
                "with the same Nats-Msg-Id to be sure"))
        elif name == "CLOSED":
            self._fail_all(lambda subject: core_errors.ConnectionClosedError(
                f"nats: the connection closed before the ack of the async publish on "
                f"{subject!r} arrived"))
            remove = self._remove_listener
            if remove is not None:
                remove()

    def _fail_all(self, make_error: Any) -> None:
        with self._cond:
            # only the acks outstanding now: a publish racing this (it takes no lock)
            # stays in the window, buffered for the next connection
            pending = self._pending
            entries = [e for e in map(pending.pop, list(pending), itertools.repeat(None))
                       if e is not None]
            fifo = self._fifo
            while fifo and fifo[0] not in pending:
                fifo.popleft()
            self._cond.notify_all()
            self._timer_cond.notify()
        for fut, subject, _t, _d in entries:
            if not fut.done():
                fut.set_exception(make_error(subject))

    def _expire_locked(self, now: float, expired: List[_Pending]) -> float:
        """Move the entries due by ``now`` to ``expired``; the next deadline (or 0)."""
        pending = self._pending
        fifo = self._fifo
        while fifo:
            entry = pending.get(fifo[0])
            if entry is not None and entry[3] > now:
                break
            token = fifo.popleft()
            if entry is not None:
                del pending[token]
                expired.append(entry)
        heap = self._deadlines
        while heap and (heap[0][0] <= now or heap[0][1] not in pending):
            _d, token = heapq.heappop(heap)
            entry = pending.pop(token, None)
            if entry is not None:
                expired.append(entry)
        nxt = [pending[fifo[0]][3]] if fifo else []
        if heap:
            nxt.append(heap[0][0])
        return min(nxt) if nxt else 0.0

    def _run_timer(self) -> None:
        expired: List[_Pending] = []
        while True:
            with self._lock:
                now = _monotonic()
                nxt = self._expire_locked(now, expired)
                if expired:
                    self._cond.notify_all()
                stop = False
                if not self._pending:
                    # Publishers add to the window without the lock and then look
                    # whether a timer runs: clear the flag first, then look at the
                    # window again. One of the two sees the other's write, so a
                    # publish is never left without a timer.
                    self._timer = None
                    if self._pending:
                        self._timer = threading.current_thread()
                    else:
                        self._deadlines.clear()
                        stop = True
                if not stop and not expired:
                    # nothing due: sleep until the next deadline (a publish with a
                    # per-call timeout that is due sooner wakes the timer)
                    wait = max(0.0, nxt - now) + 0.001 if nxt else 1.0
                    self._timer_cond.wait(wait)
            for fut, subject, timeout, _d in expired:
                if not fut.done():
                    fut.set_exception(core_errors.TimeoutError(
                        f"nats: no ack for the async publish on {subject!r} within {timeout}s; "
                        "the message may or may not be stored"))
            expired = []
            if stop:
                return
