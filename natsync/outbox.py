"""The outbox: encoded frames on their way to the socket, in two modes.

*Connected*: ``publish`` appends its frame to one ``bytearray`` **without taking
the lock** (one C-level append, atomic under the GIL), and the payload size to a
deque that the flusher folds into ``out_msgs``/``out_bytes`` under the lock, so no
count is lost and publishers never queue on a lock (with 8 publisher threads a
lock here became a convoy). The flusher takes everything at once and writes it
(coalescing). Past ``pending_size`` bytes a publisher takes the locked slow path and
waits (backpressure), bounded by ``flush_timeout``; concurrent publishers can pass
the check together, so the buffer may exceed ``pending_size`` by at most one frame
per publishing thread.

*Direct writes and combining*: a request or a reply may be written by its own
thread when nothing is queued or being written (:meth:`Outbox.claim_direct_locked`),
saving the flusher's wake-up. While it writes, frames that other threads queue wake
nobody: the direct writer takes them (:meth:`Outbox.take_direct`) and writes them
too, in one write, before it lets go (bounded; then the flusher takes over). Under
load this coalesces many requests or replies into one write, which is cheaper for
the client and for the server than a write each.

*Buffering* (reconnecting, or replaying after a reconnect): a deque of whole
message frames is the reconnect buffer, filled under the lock only. Subscriptions
are state, re-sent from the subscription table, so only message frames are kept,
bounded by ``reconnect_buf_size`` bytes and ``reconnect_buf_msgs`` messages;
``reconnect_buf_overflow`` decides what happens to a frame that does not fit.

The byte buffer holds whole frames only, and the frame boundaries are recovered
from the protocol itself (:func:`encode.split_frames`) when needed: when a write
fails, the frames not fully handed to the kernel go back to the front and are
replayed whole on the next connection, so a partial frame is never sent. A publish
that raced the moment the connection was lost (it saw *connected*) is moved into
the reconnect buffer (or, after close, into the unsent messages): accepted frames
are never lost. Such a frame was accepted under ``pending_size``, like the frames
queued at that moment, so it is kept even past the reconnect buffer's limits.

Every method but :meth:`Outbox.put` runs under :attr:`Outbox.lock` (taken inside,
or by the caller for ``*_locked``) and does no I/O.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Deque, Iterable, List, Optional, Tuple

from . import errors
from ._signal import Signal
from .protocol.encode import is_msg_frame, split_frames


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
        self.data_ready = Signal(self.lock)  # the flusher waits here
        self.space = threading.Condition(self.lock)  # publishers and emptiness waiters
        #: connected mode: whole frames as bytes, appended without the lock; never rebound
        self.buf = bytearray()
        #: payload sizes of the messages appended without the lock, not yet counted
        self.lens: Deque[int] = deque()
        #: buffering mode: the reconnect buffer, whole message frames, under the lock
        self.frames: Deque[bytes] = deque()
        self.buf_msgs = 0  # message frames in ``frames``
        self.buf_bytes = 0
        self.mode = NEW
        self.gen = 0  # connection generation the flusher may serve
        self.flusher_idle = False
        self.in_flight = False  # the flusher holds a batch it is writing
        #: a caller is the writer (see claim_direct_locked): it writes its own frame,
        #: then what was queued meanwhile, so nobody wakes the flusher for that
        self.direct = False
        self.space_waiters = 0
        self.pending_size = pending_size
        self.buf_size_limit = buf_size
        self.buf_msgs_limit = buf_msgs
        self.overflow = overflow
        self.flush_timeout = flush_timeout
        self.out_msgs = 0  # counted under the lock (see counts())
        self.out_bytes = 0
        self.dropped = 0  # evicted by drop_oldest, in total
        self.drop_reported = False  # reported once per outage
        self.closed_reason = "the connection is closed"
        #: after close: the message frames never sent, oldest first (grows if a
        #: publish raced the close)
        self.unsent: List[bytes] = []
        #: called (under the lock) with the error to report when drop_oldest evicts
        self.on_drop: Callable[[errors.Error], None] = lambda exc: None

    @property
    def size(self) -> int:
        """Bytes waiting: the connected-mode buffer plus the reconnect buffer."""
        return len(self.buf) + self.buf_bytes

    # ------------------------------------------------------------ publishing
    def put(self, frame: bytes, payload_len: int) -> None:
        """Accept one message frame, or raise; never loses an accepted frame.

        The fast path takes no lock: the append and the size check are each one
        atomic operation under the GIL (see the module docstring)."""
        buf = self.buf
        if self.mode is CONNECTED and len(buf) + len(frame) <= self.pending_size:
            buf += frame
            self.lens.append(payload_len)
            # read after the append (see take_direct): a direct writer
            # writes what is queued before it lets go, so it needs no flusher
            if self.mode is not CONNECTED:
                self._late()
            elif self.flusher_idle and not self.direct:
                self._wake()
            return
        with self.lock:
            self._put_slow(frame, payload_len)

    def _wake(self) -> None:
        with self.lock:
            self._wake_locked()

    def _wake_locked(self) -> None:
        """Wake the idle flusher, unless a direct writer will take what is queued."""
        if self.flusher_idle and not self.direct:
            self.flusher_idle = False
            self.data_ready.notify()

    def _late(self) -> None:
        """A lock-free append raced a change of mode: move it where it belongs."""
        with self.lock:
            self._sweep_locked()

    def _drain_buf_locked(self) -> bytearray:
        buf = self.buf
        k = len(buf)  # appends after this point stay in buf, whole
        data = buf[:k]
        del buf[:k]
        return data

    def _take_all_locked(self) -> bytearray:
        """Everything queued, for a writer; the lock-free publishes in it are counted."""
        data = self._drain_buf_locked()
        self._count_locked()
        return data

    def _sweep_locked(self) -> None:
        """Outside connected mode: frames found in the byte buffer (a publish that raced
        the mode change) go to the reconnect buffer, or after close to ``unsent``."""
        if not self.buf or self.mode is CONNECTED:
            return
        msgs = [f for f in split_frames(self._drain_buf_locked()) if is_msg_frame(f)]
        if self.mode is BUFFERING:
            self.frames.extend(msgs)
            self.buf_msgs += len(msgs)
            self.buf_bytes += sum(map(len, msgs))
            if self.space_waiters:
                self.space.notify_all()
        else:  # closed (or closing): older buffered frames first
            self.unsent.extend(self.frames)
            self.frames.clear()
            self.buf_msgs = self.buf_bytes = 0
            self.unsent.extend(msgs)

    def _put_slow(self, frame: bytes, payload_len: int) -> None:
        n = len(frame)
        deadline: Optional[float] = None
        while True:
            mode = self.mode
            if mode is CONNECTED:
                buf = self.buf
                if not buf or len(buf) + n <= self.pending_size:
                    buf += frame
                    self._accepted(payload_len)
                    return
                blocked_by = "pending"
            elif mode is BUFFERING:
                self._sweep_locked()
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
                    "nats: connection closed: not connected; call connect() before publishing"
                )
            else:
                raise errors.ConnectionClosedError(f"nats: connection closed: "
                    f"{self.closed_reason}; message not sent")
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
        if self.mode is CONNECTED:
            self._wake_locked()

    def counts(self) -> Tuple[int, int]:
        """``(out_msgs, out_bytes)``, exact: every accepted message counted once."""
        with self.lock:
            self._count_locked()
            return self.out_msgs, self.out_bytes

    def _count_locked(self) -> None:
        lens = self.lens
        k = len(lens)  # publishers append on the right while we pop on the left
        if k:
            pop = lens.popleft
            total = 0
            for _ in range(k):
                total += pop()
            self.out_msgs += k
            self.out_bytes += total

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
        self.frames.append(frame)
        self.buf_msgs += 1
        self.buf_bytes += len(frame)

    def _evict_until_fits(self, n: int) -> None:
        evicted = 0
        while self.frames and not self._fits(n):
            old = self.frames.popleft()
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
        self.buf += frame
        self._wake_locked()
        return True

    # --------------------------------------------------------------- flusher
    def take(self, gen: int, idle_timeout: float = 5.0) -> Optional[bytearray]:
        """Flusher: wait for frames and take them all; None when it must stop."""
        with self.lock:
            if self.in_flight:
                self.in_flight = False
                if self.space_waiters:
                    self.space.notify_all()
            buf = self.buf
            # a direct writer writes what is queued before it lets go (take_direct)
            while not buf or self.direct:
                if self.mode is not CONNECTED or self.gen != gen:
                    return None
                # idle first, then look again: a publisher appends, then reads the flag
                self.flusher_idle = True
                if not buf or self.direct:
                    self.data_ready.wait(idle_timeout)
                self.flusher_idle = False
            if self.mode is not CONNECTED or self.gen != gen:
                return None
            data = self._take_all_locked()
            self.in_flight = True
            if self.space_waiters:
                self.space.notify_all()
            return data

    # ----------------------------------------------------------- direct write
    def claim_direct_locked(self, frame: bytes, payload_len: int, is_msg: bool) -> bool:
        """Latency path (request, respond, flush): when nothing is queued or being
        written, the calling thread may write ``frame`` itself instead of waking the
        flusher. The caller must then hold the connection's write lock, write, and
        call :meth:`take_direct` until it returns None (or :meth:`requeue_front` on
        failure)."""
        if self.mode is not CONNECTED or self.buf or self.in_flight or self.direct:
            return False
        self.direct = True
        if is_msg:
            self.out_msgs += 1
            self.out_bytes += payload_len
        return True

    def gather_locked(self, gen: int) -> Optional[bytearray]:
        """A direct writer of connection ``gen`` that let other threads run before its
        write (see ``Connection.write_direct``): the frames they queued meanwhile, to
        go out with its own in one write (it stays the writer)."""
        if self.gen != gen or self.mode is not CONNECTED or not self.buf:
            return None
        return self._take_all_locked()

    def take_direct(self, gen: int, more: bool = True) -> Optional[bytearray]:
        """A direct writer of connection ``gen`` wrote what it had (it still holds the
        write lock): with ``more``, the frames queued meanwhile, to write as well
        (coalesced: the threads that queued them woke nobody); None when it is done,
        and then it no longer is the writer.

        The claim is dropped *before* the buffer is looked at, and a lock-free
        :meth:`put` appends *before* it reads ``direct``: so either the put sees no
        writer and wakes the flusher, or this sees its frame. Without ``more`` (a
        writer that wrote enough for others), queued frames go to the flusher."""
        with self.lock:
            if self.gen != gen:
                return None  # a newer connection: its state is not ours to change
            self.direct = False
            if self.space_waiters:
                self.space.notify_all()
            if not self.buf or self.in_flight or self.mode is not CONNECTED:
                return None  # nothing left, or the flusher (or the reconnect) has it
            if not more:
                self._wake_locked()
                return None
            self.direct = True
            return self._take_all_locked()

    def requeue_front(self, frames: Iterable[bytes], *, direct: bool = False,
                      gen: Optional[int] = None, wake: bool = False) -> None:
        """Put frames a failed write did not fully hand over back at the front, in order.
        With ``wake`` (nothing of them was written and the connection goes on) the
        flusher is woken for them; otherwise the connection is being dropped and the
        reconnect takes them."""
        with self.lock:
            if direct:
                if gen is None or gen == self.gen:
                    self.direct = False
            else:
                self.in_flight = False
            frames = list(frames)
            if self.mode is CONNECTED:
                self.buf[0:0] = b"".join(frames)
                if wake:
                    self._wake_locked()
            else:
                keep = [f for f in frames if is_msg_frame(f)]
                self.frames.extendleft(reversed(keep))
                self.buf_msgs += len(keep)
                self.buf_bytes += sum(map(len, keep))
            self.space.notify_all()

    # ----------------------------------------------------------- transitions
    def to_buffering_locked(self) -> None:
        """The connection is gone: keep whole message frames as the reconnect buffer."""
        self.mode = BUFFERING  # first: a publish racing this sees it and sweeps
        msgs = [f for f in self.frames if is_msg_frame(f)]
        msgs += [f for f in split_frames(self._drain_buf_locked()) if is_msg_frame(f)]
        self.frames = deque(msgs)
        self.buf_msgs = len(msgs)
        self.buf_bytes = sum(map(len, msgs))
        self.drop_reported = False
        self.flusher_idle = False
        self.data_ready.notify_all()
        self.space.notify_all()

    def take_replay_locked(self, max_bytes: int = REPLAY_CHUNK) -> List[bytes]:
        """Reconnect thread: pop up to ``max_bytes`` of buffered frames, oldest first."""
        self._sweep_locked()
        batch: List[bytes] = []
        got = 0
        frames = self.frames
        while frames and got < max_bytes:
            f = frames.popleft()
            batch.append(f)
            got += len(f)
        self.buf_msgs -= len(batch)
        self.buf_bytes -= got
        if batch:
            self.space.notify_all()
        return batch

    def to_connected_locked(self, gen: int) -> None:
        self.mode = CONNECTED
        self.gen = gen
        if self.frames:  # not expected (the replay empties it); keep them first, in order
            self.buf[0:0] = b"".join(self.frames)
            self.frames.clear()
        self.buf_msgs = 0
        self.buf_bytes = 0
        self.in_flight = False
        self.direct = False
        self.space.notify_all()

    def stop_locked(self, reason: str) -> None:
        """Closing: accept nothing more and wake every waiter; the frames stay until
        :meth:`close_locked` collects them."""
        self.mode = CLOSED
        self.closed_reason = reason
        self.data_ready.notify_all()
        self.space.notify_all()

    def close_locked(self, reason: str) -> List[bytes]:
        """Close: return the message frames never sent, oldest first. The list is
        :attr:`unsent`, which a publish racing the close still lands in."""
        self.mode = CLOSED
        self.closed_reason = reason
        self.unsent.extend(f for f in self.frames if is_msg_frame(f))
        self.unsent.extend(f for f in split_frames(self._drain_buf_locked()) if is_msg_frame(f))
        self.frames.clear()
        self.buf_msgs = self.buf_bytes = 0
        self._count_locked()
        self.data_ready.notify_all()
        self.space.notify_all()
        return self.unsent

    def wait_empty(self, deadline: float) -> bool:
        """Wait until every queued frame was handed to the socket (connected mode)."""
        with self.lock:
            while (self.buf or self.in_flight or self.direct) and self.mode is CONNECTED:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.space_waiters += 1
                try:
                    self.space.wait(left)
                finally:
                    self.space_waiters -= 1
            return not self.buf and not self.in_flight and not self.direct
