"""The Key/Value watcher: entries from an ordered consumer, with ADR-8's init marker.

A watch is an ordered push consumer on the bucket's stream (deliver last per subject,
all, new, or from a revision), which the JetStream layer resets across gaps,
reconnects and server restarts. Each message's metadata says how many newer messages
the consumer still had to deliver (``num_pending``); the first message with none
left is the last initial value, and the watcher yields one ``None`` right after it.
When the consumer had nothing to deliver when it was made (an empty bucket, or
``updates_only``), the ``None`` comes first. That is nats.go's rule; it never sends
the marker before the last initial value (nats.py#842).

Without a callback the watcher has no thread: ``updates()`` and iteration pull from
the subscription on the caller's thread. With ``cb=`` one watcher thread does the
same and calls ``cb`` for each item.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any, Callable, ClassVar, Deque, Iterator, Optional, Union

from natsync import errors as core_errors

from ._kv_entry import KV_DEL, KV_PURGE, UNKNOWN_MARKER, Entry, operation

__all__ = ["KeyWatcher", "StopIterSentinel"]

log = logging.getLogger("natsync.js.kv")

#: Longest single wait on the subscription; a stop() wakes a waiter sooner.
_WAIT_SLICE = 5.0


class StopIterSentinel:
    """What :meth:`KeyWatcher.updates` returns once the watcher has stopped (nats-py's name)."""

    def __repr__(self) -> str:
        return "KeyWatcher.STOP_ITER"


Item = Union[Entry, None, StopIterSentinel]


class KeyWatcher:
    """What ``kv.watch(...)`` returns: iterate it, call :meth:`updates`, then :meth:`stop`.

    ``for entry in watcher`` yields the initial entries, one ``None``, then live
    updates, until the watcher is stopped or its client closed. Also a context
    manager that stops it on exit. Safe to use from several threads (one pulls at a
    time).
    """

    STOP_ITER: ClassVar[StopIterSentinel] = StopIterSentinel()

    def __init__(self, bucket: str, pre: str, *, ignore_deletes: bool = False,
                 timeout: float = 5.0) -> None:
        self._bucket = bucket
        self._pre = pre
        self._ignore_deletes = ignore_deletes
        self._timeout = timeout
        self._lock = threading.Lock()  # guards _ready, _init_done, _stopped
        self._pull = threading.Lock()  # one thread pulls from the subscription at a time
        self._ready: Deque[Optional[Entry]] = deque()
        self._init_done = False
        self._stopped = False
        self._sub: Any = None
        self._thread: Optional[threading.Thread] = None
        self._cb: Optional[Callable[[Optional[Entry]], None]] = None
        self._on_error: Optional[Callable[[BaseException], None]] = None  # error_cb's way

    # ------------------------------------------------------------------ start

    def _start(self, sub: Any, *, updates_only: bool = False,
               cb: Optional[Callable[[Optional[Entry]], None]] = None,
               on_error: Optional[Callable[[BaseException], None]] = None) -> None:
        """Adopt the ordered subscription ``sub``; queue the marker now when nothing is pending."""
        self._sub = sub
        try:
            if updates_only:
                self._mark_init()
            else:
                info = sub.consumer_info()
                delivered = info.delivered.consumer_seq if info.delivered is not None else 0
                # Nothing delivered yet and nothing to deliver: the bucket had nothing that
                # matched. Otherwise the message that leaves nothing pending brings the marker.
                if not info.num_pending and not delivered:
                    self._mark_init()
        except BaseException:
            self._unsubscribe()
            raise
        if cb is not None:
            self._cb = cb
            self._on_error = on_error
            self._thread = threading.Thread(
                target=self._run_cb, name=f"natsync-kv-watch-{self._bucket}", daemon=True)
            self._thread.start()

    def _mark_init(self) -> None:
        with self._lock:
            if not self._init_done:
                self._init_done = True
                self._ready.append(None)

    # ------------------------------------------------------------------ messages

    def _process(self, msg: Any) -> None:
        """Turn one stream message into an entry (and the marker after the last initial one)."""
        try:
            meta = msg.metadata
            pending = int(meta.num_pending)
            revision = int(meta.sequence.stream)
        except (AttributeError, TypeError, ValueError, core_errors.Error):
            return  # not a stream message (a control message the layer let through)
        op = operation(msg.headers)
        entry: Optional[Entry] = None
        if op != UNKNOWN_MARKER and not (self._ignore_deletes and op in (KV_DEL, KV_PURGE)):
            entry = Entry(
                bucket=self._bucket,
                key=msg.subject[len(self._pre):],
                value=msg.data,
                revision=revision,
                delta=pending,
                created=meta.timestamp,
                operation=op,
            )
        with self._lock:
            if entry is not None:
                self._ready.append(entry)
            if pending == 0 and not self._init_done:
                self._init_done = True
                self._ready.append(None)

    # ------------------------------------------------------------------ consuming

    def updates(self, timeout: Optional[float] = 5.0) -> Item:
        """The next item: an :class:`Entry`, the ``None`` marker, or :attr:`STOP_ITER`
        once stopped. Raises :class:`natsync.errors.TimeoutError` when nothing comes
        within ``timeout`` seconds (None: wait until there is something or it stops)."""
        if self._cb is not None and threading.current_thread() is not self._thread:
            raise core_errors.Error(
                "nats: updates() cannot be used on a watcher with a callback: its thread "
                "already takes every update; watch without cb= to pull them")
        return self._next(timeout)

    def _next(self, timeout: Optional[float]) -> Item:
        if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
            raise core_errors.BadTimeoutError(
                f"nats: timeout must be a positive number of seconds or None, got {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._pull.acquire(timeout=-1 if timeout is None else timeout):
            raise self._timeout_error(timeout)
        try:
            while True:
                with self._lock:
                    if self._stopped:
                        return self.STOP_ITER
                    if self._ready:
                        return self._ready.popleft()
                left = _WAIT_SLICE if deadline is None else min(deadline - time.monotonic(), _WAIT_SLICE)
                if left <= 0:
                    raise self._timeout_error(timeout)
                try:
                    msg = self._sub.next_msg(timeout=left)
                except core_errors.TimeoutError:
                    continue
                except core_errors.Error:
                    # unsubscribed, or the client closed: the watch is over
                    with self._lock:
                        if not self._ready:
                            self._stopped = True
                    continue
                self._process(msg)
        finally:
            self._pull.release()

    def _timeout_error(self, timeout: Optional[float]) -> core_errors.TimeoutError:
        return core_errors.TimeoutError(
            f"nats: no update from the watcher of bucket {self._bucket!r} within {timeout}s")

    def initial(self) -> Iterator[Entry]:
        """The initial entries, up to the ``None`` marker (each within the context's timeout)."""
        while True:
            item = self.updates(self._timeout)
            if item is None or isinstance(item, StopIterSentinel):
                return
            yield item

    def __iter__(self) -> KeyWatcher:
        return self

    def __next__(self) -> Optional[Entry]:
        item = self.updates(timeout=None)
        if isinstance(item, StopIterSentinel):
            raise StopIteration
        return item

    def _run_cb(self) -> None:
        cb = self._cb
        assert cb is not None
        for item in self:
            try:
                cb(item)
            except Exception as exc:
                if self._on_error is not None:  # to error_cb, as for a message callback
                    self._on_error(exc)
                else:
                    log.exception("natsync: watch callback of bucket %r raised; the watch goes on",
                                  self._bucket)

    # ------------------------------------------------------------------ stop

    def stop(self) -> None:
        """Stop watching: remove the consumer, end iteration, join the callback thread."""
        with self._lock:
            already = self._stopped
            self._stopped = True
            self._ready.clear()
        if not already:
            self._unsubscribe()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=self._timeout + _WAIT_SLICE)

    def _unsubscribe(self) -> None:
        sub = self._sub
        if sub is None:
            return
        try:
            sub.unsubscribe()
        except core_errors.Error:
            pass  # already gone (the client closed)

    def __enter__(self) -> KeyWatcher:
        return self

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<KeyWatcher bucket={self._bucket!r}{' stopped' if self._stopped else ''}>"
