"""Watching an Object Store bucket: each object's info as it changes.

:class:`ObjectWatcher` reads the infos an ordered consumer delivers on
``$O.<bucket>.M.>`` without a thread of its own: ``updates(timeout)`` and
iteration take the next one from the subscription. One ``None`` marks the end of
the state that existed when the watch started (nats-py's marker).
"""

from __future__ import annotations

import collections
import datetime
import json
import time
from dataclasses import dataclass, field
from typing import Any, Deque, Iterator, Optional

from .. import errors
from .api import ObjectInfo

__all__ = ["ObjectWatcher", "iso_time"]


def iso_time(when: Any) -> Optional[str]:
    """A server time (datetime or RFC 3339 str) as RFC 3339 UTC text."""
    if isinstance(when, datetime.datetime):
        return when.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    return when if isinstance(when, str) else None


@dataclass
class ObjectWatcher:
    """The infos of a bucket as they change; see :meth:`ObjectStore.watch`."""

    _sub: Any
    ignore_deletes: bool = False
    init_done: bool = False
    marker_now: bool = False
    _ready: Deque[Optional[ObjectInfo]] = field(default_factory=collections.deque)

    def __post_init__(self) -> None:
        if self.marker_now:
            self._ready.append(None)

    def stop(self) -> None:
        """Stop watching; an iteration in another thread ends."""
        try:
            self._sub.unsubscribe()
        except errors.Error:
            pass

    def _take(self, msg: Any) -> None:
        try:
            info = ObjectInfo.from_response(json.loads(msg.data or b""))
        except (ValueError, TypeError, AttributeError):
            info = None  # not object info: skipped, as nats.go does
        md = msg.metadata
        if info is not None and not (self.ignore_deletes and info.deleted):
            info.mtime = iso_time(getattr(md, "timestamp", None)) or info.mtime
            self._ready.append(info)
        if not self.init_done and md.num_pending == 0:
            self.init_done = True
            self._ready.append(None)

    def updates(self, timeout: float = 5.0) -> Optional[ObjectInfo]:
        """The next info, or None (the end of the initial state); TimeoutError past ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self._ready:
            left = deadline - time.monotonic()
            if left <= 0:
                raise errors.TimeoutError(f"nats: no object store update within {timeout:g}s")
            self._take(self._sub.next_msg(timeout=left))
        return self._ready.popleft()

    def __iter__(self) -> Iterator[Optional[ObjectInfo]]:
        return self

    def __next__(self) -> Optional[ObjectInfo]:
        while not self._ready:
            try:
                msg = self._sub.next_msg(timeout=None)
            except (errors.BadSubscriptionError, errors.ConnectionClosedError):
                raise StopIteration from None
            self._take(msg)
        return self._ready.popleft()

    def __enter__(self) -> ObjectWatcher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
