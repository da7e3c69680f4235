"""The outbox: one lock-guarded deque of encoded frames, in two modes.

*Connected*: ``publish`` appends whole frames and the flusher thread takes them
all at once, joins them and writes them (coalescing). Past ``pending_size``
bytes a publisher waits (backpressure), bounded by ``flush_timeout``.

*Buffering* (reconnecting, or replaying after a reconnect): the same deque is
the reconnect buffer. Only message frames are kept (subscriptions are state,
re-sent from the subscription table), bounded by ``reconnect_buf_size`` bytes
and ``reconnect_buf_msgs`` messages; ``reconnect_buf_overflow`` decides what
happens to a frame that does not fit.

Frames are kept whole so that, when a write fails, the frames not fully handed
to the kernel go back to the front and are replayed whole on the next
connection: a partial frame is never sent.

Every method here runs under :attr:`Outbox.lock` (taken inside) and does no I/O.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Deque, Iterable, List, Optional

from . import errors


class Ctl(bytes):
    """A protocol command (SUB, UNSUB, PING, PONG): sent in order, never buffered."""

    __slots__ = ()


#: Outbox modes.
NEW, CONNECTED, BUFFERING, CLOSED = "new", "connected", "buffering", "closed"

#: Largest chunk the replay writes at once.
REPLAY_CHUNK = 256 * 1024


class Outbox:
    """Outbound frames, the reconnect buffer and their limits (see module docstring)."""

    def __init__(
        self,
        *,
        pending_size: int,
        buf_size: Optional[int],
        buf_msgs: Optional[int],
        overflow: str,
        flush_timeout: Optional[float],
    ) -> None:
        self.lock = threading.Lock()
        self.data_ready = threading.Condition(self.lock)  # the flusher waits here
        self.space = threading.Condition(self.lock)  # publishers and emptiness waiters
        self.frames: Deque[bytes] = deque()
        self.size = 0  # bytes of every frame in the deque
        self.buf_msgs = 0  # message frames held while buffering
        self.buf_bytes = 0
        self.mode = NEW
        self.gen = 0  # connection generation the flusher may serve
        self.flusher_idle = False
        self.in_flight = False  # the flusher holds a batch it is writing
        self.direct = False  # a caller writes one frame itself (see claim_direct_locked)
        self.space_waiters = 0
        self.pending_size = pending_size
        self.buf_size_limit = buf_size
        self.buf_msgs_limit = buf_msgs
        self.overflow = overflow
        self.flush_timeout = flush_timeout
        self.out_msgs = 0
        self.out_bytes = 0
        self.dropped = 0  # evicted by drop_oldest, in total
        self.drop_reported = False  # reported once per outage
        self.closed_reason = "the connection is closed"
        #: called (under the lock) with the error to report when drop_oldest evicts
        self.on_drop: Callable[[errors.Error], None] = lambda exc: None

    # ------------------------------------------------------------ publishing
    def put(self, frame: bytes, payload_len: int) -> None:
        """Accept one message frame, or raise; never loses an accepted frame."""
        with self.lock:
            n = len(frame)
            if self.mode is CONNECTED and self.size + n <= self.pending_size:
                self.frames.append(frame)
                self.size += n
                self.out_msgs += 1
                self.out_bytes += payload_len
                if self.flusher_idle:
                    self.flusher_idle = False
                    self.data_ready.notify()
                return
            self._put_slow(frame, payload_len)

    def _put_slow(self, frame: bytes, payload_len: int) -> None:
        n = len(frame)
        deadline: Optional[float] = None
        while True:
            mode = self.mode
            if mode is CONNECTED:
                if not self.frames or self.size + n <= self.pending_size:
                    self.frames.append(frame)
                    self.size += n
                    self._accepted(payload_len)
                    return
                blocked_by = "pending"
            elif mode is BUFFERING:
                self._check_never_fits(n)
                if self._fits(n):
                    self._buffer(frame)
                    self._accepted(payload_len)
                    return
                if self.overflow == "error":
                    raise self._full_error(n)
                if self.overflow == "drop_oldest":
                    self._evict_until_fits(n)
                    self._buffer(frame)
                    self._accepted(payload_len)
                    return
                blocked_by = "buffer"
            elif mode is NEW:
                raise errors.ConnectionClosedError(
                    "nats: not connected: call connect() before publishing"
                )
            else:
                raise errors.ConnectionClosedError(f"nats: {self.closed_reason}; message not sent")
            # wait for room: backpressure while connected, "block" while buffering
            if deadline is None and self.flush_timeout is not None:
                deadline = time.monotonic() + self.flush_timeout
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                if blocked_by == "buffer":
                    raise self._full_error(n, blocked=True)
                raise errors.FlushTimeoutError(
                    f"nats: flush timeout: {self.size} bytes are waiting to be written (pending_size "
                    f"{self.pending_size}) and none drained within flush_timeout={self.flush_timeout}s; "
                    "the server or network is slower than the publisher"
                )
            self.space_waiters += 1
            try:
                self.space.wait(5.0 if left is None else min(left, 5.0))
            finally:
                self.space_waiters -= 1

    def _accepted(self, payload_len: int) -> None:
        self.out_msgs += 1
        self.out_bytes += payload_len
        if self.mode is CONNECTED and self.flusher_idle:
            self.flusher_idle = False
            self.data_ready.notify()

    def _fits(self, n: int) -> bool:
        bl, ml = self.buf_size_limit, self.buf_msgs_limit
        return (bl is None or self.buf_bytes + n <= bl) and (ml is None or self.buf_msgs + 1 <= ml)

    def _check_never_fits(self, n: int) -> None:
        bl, ml = self.buf_size_limit, self.buf_msgs_limit
        if (bl is not None and n > bl) or (ml is not None and ml < 1):
            raise self._full_error(n, never=True)

    def _limits_text(self) -> str:
        b = "no byte limit" if self.buf_size_limit is None else f"reconnect_buf_size={self.buf_size_limit}"
        m = "no message limit" if self.buf_msgs_limit is None else f"reconnect_buf_msgs={self.buf_msgs_limit}"
        return f"{b}, {m}"

    def _full_error(self, n: int, *, never: bool = False, blocked: bool = False) -> errors.Error:
        state = f"buffered {self.buf_msgs} msgs / {self.buf_bytes} bytes"
        if never:
            why = f"a {n}-byte message can never fit the reconnect buffer ({self._limits_text()})"
        elif blocked:
            why = (f"the {n}-byte message did not fit within flush_timeout={self.flush_timeout}s "
                   f"({state}; {self._limits_text()})")
        else:
            why = f"the {n}-byte message does not fit ({state}; {self._limits_text()})"
        return errors.OutboundBufferLimitError(
            f"nats: outbound buffer limit exceeded while reconnecting: {why}. The message was not "
            "accepted. Raise the limits, use reconnect_buf_overflow='block' or 'drop_oldest', or "
            "retry after the reconnect."
        )

    def _buffer(self, frame: bytes) -> None:
        n = len(frame)
        self.frames.append(frame)
        self.size += n
        self.buf_msgs += 1
        self.buf_bytes += n

    def _evict_until_fits(self, n: int) -> None:
        evicted = 0
        while self.frames and not self._fits(n):
            old = self.frames.popleft()
            self.size -= len(old)
            self.buf_msgs -= 1
            self.buf_bytes -= len(old)
            evicted += 1
        self.dropped += evicted
        if evicted and not self.drop_reported:
            self.drop_reported = True
            self.on_drop(
                errors.OutboundBufferLimitError(
                    "nats: outbound buffer limit exceeded while reconnecting: "
                    f"reconnect_buf_overflow='drop_oldest' evicted the oldest buffered messages "
                    f"({self._limits_text()}); stats['reconnect_buf_dropped'] counts them"
                )
            )

    def put_ctl(self, frame: Ctl) -> bool:
        """Queue a protocol command in order with messages; only while connected."""
        with self.lock:
            return self.put_ctl_locked(frame)

    def put_ctl_locked(self, frame: Ctl) -> bool:
        if self.mode is not CONNECTED:
            return False
        self.frames.append(frame)
        self.size += len(frame)
        if self.flusher_idle:
            self.flusher_idle = False
            self.data_ready.notify()
        return True

    # --------------------------------------------------------------- flusher
    def take(self, gen: int, idle_timeout: float = 5.0) -> Optional[List[bytes]]:
        """Flusher: wait for frames and take them all; None when it must stop."""
        with self.lock:
            if self.in_flight:
                self.in_flight = False
                if self.space_waiters:
                    self.space.notify_all()
            while not self.frames:
                if self.mode is not CONNECTED or self.gen != gen:
                    return None
                self.flusher_idle = True
                self.data_ready.wait(idle_timeout)
            if self.mode is not CONNECTED or self.gen != gen:
                self.flusher_idle = False
                return None
            self.flusher_idle = False
            batch = list(self.frames)
            self.frames.clear()
            self.size = 0
            self.in_flight = True
            if self.space_waiters:
                self.space.notify_all()
            return batch

    # ----------------------------------------------------------- direct write
    def claim_direct_locked(self, frame: bytes, payload_len: int, is_msg: bool) -> bool:
        """Latency path (request, respond, flush): when nothing is queued or being
        written, the calling thread may write ``frame`` itself instead of waking the
        flusher. The caller must then hold the connection's write lock, write, and
        call :meth:`direct_done` (or :meth:`requeue_front` on failure)."""
        if self.mode is not CONNECTED or self.frames or self.in_flight or self.direct:
            return False
        self.direct = True
        if is_msg:
            self.out_msgs += 1
            self.out_bytes += payload_len
        return True

    def direct_done(self) -> None:
        with self.lock:
            self.direct = False
            if self.space_waiters:
                self.space.notify_all()

    def requeue_front(self, frames: Iterable[bytes], *, direct: bool = False) -> None:
        """Put frames a failed write did not fully hand over back at the front, in order."""
        with self.lock:
            if direct:
                self.direct = False
            else:
                self.in_flight = False
            keep = [f for f in frames if self.mode is CONNECTED or type(f) is not Ctl]
            self.frames.extendleft(reversed(keep))
            added = sum(len(f) for f in keep)
            self.size += added
            if self.mode is not CONNECTED:
                self.buf_msgs += len(keep)
                self.buf_bytes += added
            self.space.notify_all()

    # ----------------------------------------------------------- transitions
    def to_buffering_locked(self) -> None:
        """The connection is gone: keep whole message frames as the reconnect buffer."""
        self.mode = BUFFERING
        msgs = [f for f in self.frames if type(f) is not Ctl]
        self.frames = deque(msgs)
        self.buf_msgs = len(msgs)
        self.buf_bytes = self.size = sum(len(f) for f in msgs)
        self.drop_reported = False
        self.flusher_idle = False
        self.data_ready.notify_all()
        self.space.notify_all()

    def take_replay_locked(self, max_bytes: int = REPLAY_CHUNK) -> List[bytes]:
        """Reconnect thread: pop up to ``max_bytes`` of buffered frames, oldest first."""
        batch: List[bytes] = []
        got = 0
        frames = self.frames
        while frames and got < max_bytes:
            f = frames.popleft()
            batch.append(f)
            got += len(f)
        self.size -= got
        self.buf_msgs -= len(batch)
        self.buf_bytes -= got
        if batch:
            self.space.notify_all()
        return batch

    def to_connected_locked(self, gen: int) -> None:
        self.mode = CONNECTED
        self.gen = gen
        self.buf_msgs = 0
        self.buf_bytes = 0
        self.in_flight = False
        self.direct = False
        self.space.notify_all()

    def close_locked(self, reason: str) -> List[bytes]:
        """Close: return the message frames never sent, oldest first."""
        self.mode = CLOSED
        self.closed_reason = reason
        unsent = [f for f in self.frames if type(f) is not Ctl]
        self.frames.clear()
        self.size = self.buf_msgs = self.buf_bytes = 0
        self.data_ready.notify_all()
        self.space.notify_all()
        return unsent

    def wait_empty(self, deadline: float) -> bool:
        """Wait until every queued frame was handed to the socket (connected mode)."""
        with self.lock:
            while (self.frames or self.in_flight or self.direct) and self.mode is CONNECTED:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.space_waiters += 1
                try:
                    self.space.wait(left)
                finally:
                    self.space_waiters -= 1
            return not self.frames and not self.in_flight and not self.direct
