"""Subscription: a bounded per-subscription queue, next_msg/iteration, callbacks.

The reader thread hands each subscription its share of one socket read with
:meth:`Subscription._put_batch` (one lock and at most one wake-up per read). The
user takes messages with :meth:`next_msg` or by iterating, or they go to ``cb``:
by default on the client's callback pool (:mod:`natsync._dispatch`), which runs
one subscription on at most one worker at a time, so in order; with
``dedicated_thread=True`` on a thread owned by the subscription.

Counting: ``pending_msgs``/``pending_bytes`` count the messages received and not
yet handed to the application. A callback worker takes a batch of messages out
of the queue at once, but hands them over one by one, and each counts as pending
until its turn: the counts, and the pending limits checked against them, are
exact, as if the worker took one message at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from operator import attrgetter
from typing import TYPE_CHECKING, Callable, Deque, Iterator, List, Optional, Protocol

from . import errors
from ._signal import Signal
from .msg import Msg, MsgHost

if TYPE_CHECKING:  # pragma: no cover
    from ._dispatch import CallbackPool

log = logging.getLogger("natsync")

DEFAULT_SUB_PENDING_MSGS_LIMIT = 512 * 1024
DEFAULT_SUB_PENDING_BYTES_LIMIT = 128 * 1024 * 1024

#: Most messages a callback runner takes out of the queue at once.
BATCH = 256

MsgHandler = Callable[[Msg], None]

_data = attrgetter("data")
_NO_HAND: List[Msg] = []
_running = threading.local()  # .sub: the subscription whose callback this thread runs


def _size(msgs: List[Msg]) -> int:
    return sum(map(len, map(_data, msgs)))


def current_callback_subscription() -> Optional[Subscription]:
    """The subscription whose callback the calling thread is running, if any."""
    sub: Optional[Subscription] = getattr(_running, "sub", None)
    return sub


class SubscriptionHost(MsgHost, Protocol):
    """What a subscription may ask of its client: this list and :class:`MsgHost`'s.

    The client hands each subscription an object implementing it; a subscription
    never imports or names the client."""

    @property
    def is_closed(self) -> bool:
        """Whether the client is closed."""

    def report_error(self, exc: BaseException) -> None:
        """Pass an asynchronous error (a slow consumer) to error_cb."""

    def report_callback_error(self, exc: BaseException, subject: str) -> None:
        """A message callback raised: pass it to error_cb (or log it)."""

    def unsubscribe_sub(self, sub: Subscription, limit: int) -> None:
        """``sub.unsubscribe(limit)``."""

    def drain_sub(self, sub: Subscription, timeout: Optional[float]) -> None:
        """``sub.drain(timeout)``."""


class Subscription:
    """A subscription returned by :meth:`Client.subscribe`."""

    def __init__(
        self,
        client: SubscriptionHost,
        sid: int,
        subject: str,
        queue: str = "",
        cb: Optional[MsgHandler] = None,
        max_msgs: int = 0,
        pending_msgs_limit: int = DEFAULT_SUB_PENDING_MSGS_LIMIT,
        pending_bytes_limit: int = DEFAULT_SUB_PENDING_BYTES_LIMIT,
        *,
        pool: Optional[CallbackPool] = None,
    ) -> None:
        self._client = client
        self._sid = sid
        self._subject = subject
        self._queue = queue
        self._cb = cb
        self._max = max_msgs
        self._msgs_limit = pending_msgs_limit
        self._bytes_limit = pending_bytes_limit
        self._lock = threading.Lock()
        # made on first use (most subscriptions never need them)
        self._drained: Optional[threading.Condition] = None  # drain waits for emptiness here
        self._avail: Optional[Signal] = None  # consumers wait for messages here
        self._consumers_waiting = 0
        self._drain_waiters = 0
        self._q: Deque[Msg] = deque()
        self._pending_bytes = 0  # bytes of the queue and of the whole batch in hand
        self._hand = _NO_HAND  # the batch a callback runner took, handed over one by one
        self._hand_i = 0  # messages of _hand handed over so far
        self._hand_bytes = 0
        self._received = 0
        self._delivered = 0
        self._dropped = 0
        self._slow = False
        self._closed = False  # no further message will be queued
        self._discard = False  # closed and the queue dropped: no further delivery
        self._busy = False  # a callback runner holds this subscription
        self._scheduled = False  # waiting for, or held by, a pool worker
        self._pool = pool if cb is not None else None
        self._thread: Optional[threading.Thread] = None
        if cb is not None and pool is None:
            self._avail = Signal(self._lock)
            self._thread = threading.Thread(
                target=self._run_thread, name=f"natsync-sub-{sid}-{subject}"[:60], daemon=True
            )

    def _start(self) -> None:
        if self._thread is not None:
            self._thread.start()

    # ----------------------------------------------------------- properties
    @property
    def subject(self) -> str:
        return self._subject

    @property
    def queue(self) -> str:
        return self._queue

    @property
    def sid(self) -> int:
        return self._sid

    @property
    def pending_msgs(self) -> int:
        """Messages received and not yet handed to the application."""
        with self._lock:
            if self._discard:
                return 0
            return len(self._q) + len(self._hand) - self._hand_i

    @property
    def pending_bytes(self) -> int:
        """Payload bytes of the messages counted by :attr:`pending_msgs`."""
        with self._lock:
            return self._pending_bytes_locked()

    def _pending_bytes_locked(self) -> int:
        if self._discard:
            return 0
        hand = self._hand
        if not hand:
            return self._pending_bytes
        return self._pending_bytes - _size(hand[: self._hand_i])

    @property
    def delivered(self) -> int:
        """Messages handed to the application (returned by next_msg or passed to cb)."""
        with self._lock:
            return self._delivered + self._hand_i

    @property
    def dropped(self) -> int:
        """Messages dropped because a pending limit was reached (slow consumer)."""
        return self._dropped

    @property
    def received(self) -> int:
        """Messages that arrived for this subscription (delivered, pending or dropped)."""
        return self._received

    @property
    def max_msgs(self) -> int:
        return self._max

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def dedicated_thread(self) -> bool:
        """True when the callback runs on a thread of its own rather than the pool."""
        return self._thread is not None

    def set_pending_limits(self, msgs: int, bytes: int) -> None:  # noqa: A002 - nats-py's name
        """Set the pending limits; 0 or less means no limit on that dimension."""
        with self._lock:
            self._msgs_limit = msgs
            self._bytes_limit = bytes

    def pending_limits(self) -> tuple[int, int]:
        return self._msgs_limit, self._bytes_limit

    # --------------------------------------------------------- reader side
    def _put_batch(self, msgs: List[Msg], nbytes: int = -1) -> bool:
        """Queue this subscription's messages of one read (reader thread), oldest first;
        ``nbytes`` is their payload size when the caller knows it.

        Returns True when the auto-unsubscribe count is reached."""
        if nbytes < 0:
            nbytes = _size(msgs)
        schedule = False
        report = False
        with self._lock:
            if self._closed:
                return False
            mx = self._max
            if mx > 0 and self._received + len(msgs) > mx:
                msgs = msgs[: mx - self._received]
                nbytes = _size(msgs)
            k = len(msgs)
            self._received += k
            ml = self._msgs_limit
            bl = self._bytes_limit
            q = self._q
            # _pending_bytes counts the whole batch in hand, so it is an upper bound
            if (ml <= 0 or len(q) + len(self._hand) - self._hand_i + k <= ml) and (
                bl <= 0 or self._pending_bytes + nbytes <= bl
            ):
                q.extend(msgs)
                self._pending_bytes += nbytes
            else:
                report = self._put_limited_locked(msgs, ml, bl)
            done = mx > 0 and self._received >= mx
            if done:
                self._closed = True
                if self._avail is not None:
                    self._avail.notify_all()
                if self._drained is not None:
                    self._drained.notify_all()
            elif self._consumers_waiting and q:
                assert self._avail is not None
                self._avail.notify()
            if self._pool is not None and not self._scheduled and q:
                self._scheduled = schedule = True
        if schedule:
            assert self._pool is not None
            self._pool.schedule(self)
        if report:
            self._client.report_error(
                errors.SlowConsumerError(
                    f"nats: slow consumer, messages dropped subject: {self._subject}, sid: "
                    f"{self._sid}: pending "
                    f"limits ({ml} msgs, {bl} bytes) reached, messages are being dropped. Process "
                    "faster, or raise them with set_pending_limits().",
                    subject=self._subject,
                    sid=self._sid,
                    sub=self,
                )
            )
        return done

    def _put_limited_locked(self, msgs: List[Msg], ml: int, bl: int) -> bool:
        """Queue what fits the pending limits, drop the rest; True to report an episode."""
        q = self._q
        pending = len(q) + len(self._hand) - self._hand_i
        pbytes = self._pending_bytes_locked()
        extra = self._pending_bytes - pbytes  # handed over, still counted in _pending_bytes
        report = False
        for msg in msgs:
            n = len(msg.data)
            if (ml > 0 and pending >= ml) or (bl > 0 and pbytes + n > bl):
                self._dropped += 1
                if not self._slow:
                    self._slow = report = True
            else:
                q.append(msg)
                pending += 1
                pbytes += n
        self._pending_bytes = pbytes + extra
        return report

    def _take(self) -> Msg:
        """Pop the next message (next_msg); caller holds the lock and has checked the queue."""
        msg = self._q.popleft()
        self._pending_bytes -= len(msg.data)
        if self._slow:
            self._end_episode_locked(len(self._q), self._pending_bytes)
        return msg

    def _end_episode_locked(self, pending: int, pbytes: int) -> None:
        ml, bl = self._msgs_limit, self._bytes_limit
        if (ml <= 0 or pending <= ml // 2) and (bl <= 0 or pbytes <= bl // 2):
            self._slow = False  # the episode is over

    def _close(self, discard: bool) -> None:
        """No more messages arrive; with ``discard`` drop what is queued."""
        with self._lock:
            self._closed = True
            if discard:
                self._discard = True
                self._q.clear()
                self._pending_bytes = 0
            if self._avail is not None:
                self._avail.notify_all()
            if self._drained is not None:
                self._drained.notify_all()

    def _join(self, timeout: float) -> None:
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout)
            if t.is_alive():
                log.warning("natsync: callback of subscription %r did not return within %.1fs",
                            self._subject, timeout)

    def _in_own_callback(self) -> bool:
        """True when called from this subscription's own callback."""
        return getattr(_running, "sub", None) is self

    # ---------------------------------------------------------- user side
    def next_msg(self, timeout: Optional[float] = 1.0) -> Msg:
        """Return the next message, waiting up to ``timeout`` seconds (None: until closed).

        Raises :class:`natsync.errors.TimeoutError` when nothing arrives in time, and
        :class:`BadSubscriptionError` (or :class:`ConnectionClosedError`) once the
        subscription is closed and empty.
        """
        if self._cb is not None:
            raise errors.Error(
                "nats: next_msg() cannot be used on a subscription with a callback; "
                "subscribe without cb= to pull messages"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._q:
                if self._closed:
                    raise self._closed_error()
                left = 5.0 if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    raise errors.TimeoutError(
                        f"nats: timeout: no message on {self._subject!r} within {timeout}s"
                    )
                if self._avail is None:
                    self._avail = Signal(self._lock)
                self._consumers_waiting += 1
                try:
                    self._avail.wait(min(left, 5.0))
                finally:
                    self._consumers_waiting -= 1
            msg = self._take()
            self._delivered += 1
            if not self._q and self._drain_waiters:
                assert self._drained is not None
                self._drained.notify_all()  # wake a drain waiting for empty
            return msg

    def _closed_error(self) -> errors.Error:
        if self._client.is_closed:
            return errors.ConnectionClosedError(
                f"nats: connection closed: subscription {self._subject!r} has no more messages"
            )
        return errors.BadSubscriptionError(
            f"nats: invalid subscription: {self._subject!r} is closed (unsubscribed, drained or its "
            "max_msgs reached) and has no more messages"
        )

    def __iter__(self) -> Iterator[Msg]:
        while True:
            try:
                yield self.next_msg(timeout=None)
            except (errors.BadSubscriptionError, errors.ConnectionClosedError):
                return

    @property
    def messages(self) -> Iterator[Msg]:
        """Iterate over messages until the subscription ends (nats-py's spelling)."""
        return iter(self)

    def unsubscribe(self, limit: int = 0) -> None:
        """Unsubscribe now, or with ``limit > 0`` after that many messages in total."""
        self._client.unsubscribe_sub(self, limit)

    def drain(self, timeout: Optional[float] = None) -> None:
        """Stop interest, deliver what is pending to the callback or next_msg, then remove."""
        self._client.drain_sub(self, timeout)

    def _wait_drained(self, deadline: float) -> bool:
        """Wait until the queue is empty and no callback runs (True) or the deadline passes."""
        with self._lock:
            while self._q or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if self._drained is None:
                    self._drained = threading.Condition(self._lock)
                self._drain_waiters += 1
                try:
                    self._drained.wait(min(left, 5.0))
                finally:
                    self._drain_waiters -= 1
            return True

    # ----------------------------------------------------- callback runner
    def _serve(self, budget: int) -> bool:
        """Run the callback on queued messages, in order, until the queue is empty
        (returns False) or, once ``budget`` messages are done while another
        subscription waits for a worker, returns True to be served again later.
        Only one thread at a time runs this for a subscription."""
        cb = self._cb
        assert cb is not None
        lock = self._lock
        q = self._q
        pool = self._pool
        served = 0
        prev = getattr(_running, "sub", None)
        _running.sub = self
        try:
            while True:
                with lock:
                    hand = self._hand
                    if hand:  # the previous batch is all handed over (or discarded)
                        self._delivered += self._hand_i
                        if not self._discard:
                            self._pending_bytes -= self._hand_bytes
                        self._hand = _NO_HAND
                        self._hand_i = 0
                    k = len(q)
                    if not k or (pool is not None and pool.closed):  # a discard empties q
                        self._busy = False
                        self._scheduled = False
                        if self._drain_waiters:
                            assert self._drained is not None
                            self._drained.notify_all()
                        return False
                    if served >= budget and pool is not None and pool.has_waiting():
                        self._busy = False
                        return True  # still scheduled: the worker puts it back in line
                    if k > BATCH:
                        hand = [q.popleft() for _ in range(BATCH)]
                    else:
                        hand = list(q)
                        q.clear()
                    self._hand = hand
                    self._hand_bytes = _size(hand)
                    self._busy = True
                    if self._slow:
                        self._end_episode_locked(len(q) + len(hand), self._pending_bytes)
                i = 0
                for msg in hand:
                    if self._discard:
                        break
                    i += 1
                    self._hand_i = i
                    try:
                        cb(msg)
                    except Exception as exc:  # the client goes on; the error is reported
                        self._client.report_callback_error(exc, self._subject)
                served += i
        finally:
            _running.sub = prev

    def _run_thread(self) -> None:
        """A dedicated callback thread: serve whenever messages are queued, until closed."""
        avail = self._avail
        assert avail is not None
        while True:
            with self._lock:
                while not self._q:
                    if self._closed:
                        if self._drained is not None:
                            self._drained.notify_all()
                        return
                    self._consumers_waiting += 1
                    try:
                        avail.wait(5.0)
                    finally:
                        self._consumers_waiting -= 1
                if self._discard:
                    return
            self._serve(BATCH)

    def __repr__(self) -> str:
        q = f" queue={self._queue!r}" if self._queue else ""
        return f"<Subscription sid={self._sid} subject={self._subject!r}{q}>"
