"""Subscription: a bounded per-subscription queue, next_msg/iteration, callback thread.

The reader thread calls :meth:`Subscription._put` for each message; the user
takes messages with :meth:`next_msg`, by iterating, or through ``cb`` which runs
on a thread owned by this subscription (in order, never on the reader thread).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Callable, Deque, Iterator, Optional

from . import errors
from .msg import Msg

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client

log = logging.getLogger("natsync")

DEFAULT_SUB_PENDING_MSGS_LIMIT = 512 * 1024
DEFAULT_SUB_PENDING_BYTES_LIMIT = 128 * 1024 * 1024

MsgHandler = Callable[[Msg], None]


class Subscription:
    """A subscription returned by :meth:`Client.subscribe`."""

    def __init__(
        self,
        client: Client,
        sid: int,
        subject: str,
        queue: str = "",
        cb: Optional[MsgHandler] = None,
        max_msgs: int = 0,
        pending_msgs_limit: int = DEFAULT_SUB_PENDING_MSGS_LIMIT,
        pending_bytes_limit: int = DEFAULT_SUB_PENDING_BYTES_LIMIT,
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
        self._cond = threading.Condition(self._lock)  # emptiness: drain waits here
        self._avail = threading.Condition(self._lock)  # consumers wait for messages here
        self._consumers_waiting = 0
        self._q: Deque[Msg] = deque()
        self._pending_bytes = 0
        self._received = 0
        self._delivered = 0
        self._dropped = 0
        self._slow = False
        self._closed = False  # no further message will be queued
        self._busy = False  # callback running
        self._thread: Optional[threading.Thread] = None
        if cb is not None:
            self._thread = threading.Thread(
                target=self._run_callbacks, name=f"natsync-sub-{sid}-{subject}"[:60], daemon=True
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
        return len(self._q)

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def delivered(self) -> int:
        """Messages handed to the application (returned by next_msg or passed to cb)."""
        return self._delivered

    @property
    def dropped(self) -> int:
        """Messages dropped because a pending limit was reached (slow consumer)."""
        return self._dropped

    @property
    def max_msgs(self) -> int:
        return self._max

    @property
    def is_closed(self) -> bool:
        return self._closed

    def set_pending_limits(self, msgs: int, bytes: int) -> None:  # noqa: A002 - nats-py's name
        """Set the pending limits; 0 or less means no limit on that dimension."""
        with self._lock:
            self._msgs_limit = msgs
            self._bytes_limit = bytes

    def pending_limits(self) -> tuple[int, int]:
        return self._msgs_limit, self._bytes_limit

    # --------------------------------------------------------- reader side
    def _put(self, msg: Msg) -> bool:
        """Queue ``msg`` (reader thread). Returns True when the auto-unsubscribe count is reached."""
        n = len(msg.data)
        with self._lock:
            if self._closed:
                return False
            self._received += 1
            ml = self._msgs_limit
            bl = self._bytes_limit
            if (ml > 0 and len(self._q) >= ml) or (bl > 0 and self._pending_bytes + n > bl):
                self._dropped += 1
                report = not self._slow
                self._slow = True
            else:
                report = False
                msg._sub = self
                self._q.append(msg)
                self._pending_bytes += n
                if self._consumers_waiting:
                    self._avail.notify()
            done = self._max > 0 and self._received >= self._max
            if done:
                self._closed = True
                self._avail.notify_all()
                self._cond.notify_all()
        if report:
            self._client._report_async(
                errors.SlowConsumerError(
                    f"nats: slow consumer on subject {self._subject!r} (sid {self._sid}): pending "
                    f"limits ({ml} msgs, {bl} bytes) reached, messages are being dropped. Process "
                    "faster, or raise them with set_pending_limits().",
                    subject=self._subject,
                    sid=self._sid,
                    sub=self,
                )
            )
        return done

    def _take(self) -> Msg:
        """Pop the next message; caller holds the lock and has checked the queue."""
        msg = self._q.popleft()
        self._pending_bytes -= len(msg.data)
        if self._slow:
            ml, bl = self._msgs_limit, self._bytes_limit
            if (ml <= 0 or len(self._q) <= ml // 2) and (bl <= 0 or self._pending_bytes <= bl // 2):
                self._slow = False  # the episode is over
        return msg

    def _close(self, discard: bool) -> None:
        """No more messages arrive; with ``discard`` drop what is queued."""
        with self._lock:
            self._closed = True
            if discard:
                self._q.clear()
                self._pending_bytes = 0
            self._avail.notify_all()
            self._cond.notify_all()

    def _join(self, timeout: float) -> None:
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout)
            if t.is_alive():
                log.warning("natsync: callback of subscription %r did not return within %.1fs",
                            self._subject, timeout)

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
                        f"nats: no message on {self._subject!r} within {timeout}s"
                    )
                self._consumers_waiting += 1
                try:
                    self._avail.wait(min(left, 5.0))
                finally:
                    self._consumers_waiting -= 1
            msg = self._take()
            self._delivered += 1
            if not self._q:
                self._cond.notify_all()  # wake a drain waiting for empty
            return msg

    def _closed_error(self) -> errors.Error:
        if self._client.is_closed:
            return errors.ConnectionClosedError(
                f"nats: the connection is closed; subscription {self._subject!r} has no more messages"
            )
        return errors.BadSubscriptionError(
            f"nats: subscription {self._subject!r} is closed (unsubscribed, drained or its "
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
        self._client._unsubscribe(self, limit)

    def drain(self, timeout: Optional[float] = None) -> None:
        """Stop interest, deliver what is pending to the callback or next_msg, then remove."""
        self._client._drain_sub(self, timeout)

    def _wait_drained(self, deadline: float) -> bool:
        """Wait until the queue is empty and no callback runs (True) or the deadline passes."""
        with self._lock:
            while self._q or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # ------------------------------------------------------ callback thread
    def _run_callbacks(self) -> None:
        cb = self._cb
        assert cb is not None
        lock = self._lock
        cond = self._cond
        avail = self._avail
        q = self._q
        while True:
            with lock:
                self._busy = False
                while not q:
                    if self._closed:
                        cond.notify_all()
                        return
                    cond.notify_all()  # empty: wake a drain
                    self._consumers_waiting += 1
                    avail.wait(5.0)
                    self._consumers_waiting -= 1
                msg = self._take()
                self._busy = True
            try:
                cb(msg)
            except Exception as exc:  # the client goes on; the error is reported
                self._client._report_callback_error(exc, self._subject)
            self._delivered += 1

    def __repr__(self) -> str:
        q = f" queue={self._queue!r}" if self._queue else ""
        return f"<Subscription sid={self._sid} subject={self._subject!r}{q}>"
