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

import heapq
import itertools
import json
import threading
import time
from concurrent.futures import Future, _base
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from natsync import errors as core_errors

from .api import PubAck
from .errors import NoStreamResponseError, TooManyStalledMsgsError, api_error

if TYPE_CHECKING:  # pragma: no cover
    from natsync._client_api import ClientAPI
    from natsync._state import State
    from natsync.msg import Msg
    from natsync.subscription import Subscription

__all__ = ["AsyncPublisher", "AckFuture"]

_FUTURE_LOCK = threading.Lock()  # guards AckFutures that have no Condition of their own yet
_DONE_STATES = (_base.CANCELLED, _base.CANCELLED_AND_NOTIFIED, _base.FINISHED)


class AckFuture(Future):  # type: ignore[type-arg]
    """A ``concurrent.futures.Future`` whose Condition is made only when someone waits.

    A plain Future builds a Condition (and its RLock) in ``__init__``; for a publish
    window of thousands of acks that nobody waits on one by one it was a third of the
    cost of ``publish_async``. Until the Condition exists nobody can be waiting, so
    settling the future only needs the state set under one shared lock; every
    waiting method (``result``, ``exception``, ``done``, ``wait``, callbacks) first
    makes the Condition and then behaves exactly like the base class.
    """

    def __init__(self) -> None:  # no super().__init__(): that would build the Condition
        self._state = _base.PENDING
        self._result = None
        self._exception = None
        self._waiters: List[Any] = []
        self._done_callbacks: List[Any] = []

    @property
    def _condition(self) -> threading.Condition:
        cond: Optional[threading.Condition] = self.__dict__.get("_cond")
        if cond is None:
            with _FUTURE_LOCK:
                cond = self.__dict__.get("_cond")
                if cond is None:
                    cond = threading.Condition()
                    self.__dict__["_cond"] = cond
        return cond

    @_condition.setter
    def _condition(self, cond: threading.Condition) -> None:
        self.__dict__["_cond"] = cond

    def _settle_fast(self, result: Any, exc: Optional[BaseException]) -> bool:
        with _FUTURE_LOCK:
            if "_cond" in self.__dict__:
                return False  # someone may wait: the base class notifies them
            if self._state in _DONE_STATES:
                raise _base.InvalidStateError(f"{self._state}: {self!r}")
            self._result = result
            self._exception = exc
            self._state = _base.FINISHED
        self._invoke_callbacks()  # type: ignore[attr-defined]
        return True

    def set_result(self, result: Any) -> None:
        if not self._settle_fast(result, None):
            super().set_result(result)

    def set_exception(self, exception: Optional[BaseException]) -> None:
        if not self._settle_fast(None, exception):
            super().set_exception(exception)

_Pending = Tuple["Future[PubAck]", str, float]


class AsyncPublisher:
    """The async-publish state of one JetStreamContext."""

    def __init__(self, nc: ClientAPI, max_pending: int, ack_timeout: float) -> None:
        self._nc = nc
        self._max_pending = max_pending
        self._ack_timeout = ack_timeout
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)    # pending count changes
        self._timer_cond = threading.Condition(self._lock)
        self._pending: Dict[str, _Pending] = {}
        self._deadlines: List[Tuple[float, str]] = []
        self._sub: Optional[Subscription] = None
        self._prefix = ""
        self._plen = 0
        self._ids = itertools.count(1)
        self._timer: Optional[threading.Thread] = None
        self._remove_listener: Optional[Any] = None
        self._waiting = 0  # threads in _cond.wait (completed, a full window)

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
        if self._sub is None:
            self._start()
        fut: Future[PubAck] = AckFuture()
        token = str(next(self._ids))
        timeout = self._ack_timeout if ack_timeout is None else ack_timeout
        with self._lock:
            if len(self._pending) >= self._max_pending:
                self._wait_room(wait_stall)
            deadline = time.monotonic() + timeout
            self._pending[token] = (fut, subject, timeout)
            heapq.heappush(self._deadlines, (deadline, token))
            if self._timer is None:
                self._timer = threading.Thread(target=self._run_timer, daemon=True,
                                               name="natsync-js-ack-timer")
                self._timer.start()
            elif len(self._deadlines) == 1:
                self._timer_cond.notify()
        try:
            self._nc.publish(subject, payload, reply=self._prefix + token, headers=headers)
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

    def _start(self) -> None:
        with self._lock:
            if self._sub is not None:
                return
            self._prefix = self._nc.new_inbox() + "."
            self._plen = len(self._prefix)
            self._sub = self._nc.subscribe(self._prefix + "*", cb=self._on_reply,
                                           pending_msgs_limit=0, pending_bytes_limit=0)
            self._remove_listener = self._nc.add_status_listener(self._on_status)

    def _settle(self, token: str) -> Optional[_Pending]:
        with self._lock:
            entry = self._pending.pop(token, None)
            if entry is not None and self._waiting:
                self._cond.notify_all()
            return entry

    def _on_reply(self, msg: Msg) -> None:
        entry = self._settle(msg.subject[self._plen:])
        if entry is None:
            return  # already timed out or failed
        fut, subject, _t = entry
        try:
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
            entries = list(self._pending.values())
            self._pending.clear()
            self._deadlines.clear()
            self._cond.notify_all()
            self._timer_cond.notify()
        for fut, subject, _t in entries:
            if not fut.done():
                fut.set_exception(make_error(subject))

    def _run_timer(self) -> None:
        expired: List[_Pending] = []
        while True:
            with self._lock:
                now = time.monotonic()
                while self._deadlines and (self._deadlines[0][0] <= now
                                           or self._deadlines[0][1] not in self._pending):
                    _d, token = heapq.heappop(self._deadlines)
                    entry = self._pending.pop(token, None)
                    if entry is not None:
                        expired.append(entry)
                if expired:
                    self._cond.notify_all()
                if not self._pending:
                    self._deadlines.clear()
                    self._timer = None
                    stop = True
                else:
                    stop = False
                    if not expired:
                        self._timer_cond.wait(max(0.0, self._deadlines[0][0] - now) + 0.001)
            for fut, subject, timeout in expired:
                if not fut.done():
                    fut.set_exception(core_errors.TimeoutError(
                        f"nats: no ack for the async publish on {subject!r} within {timeout}s; "
                        "the message may or may not be stored"))
            expired = []
            if stop:
                return
