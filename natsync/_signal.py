"""Signal: a lean condition variable on a plain ``threading.Lock``.

``threading.Condition`` supports any lock (RLock included) and checks ownership on
every call, in Python; a subscription's queue hand-off (the reader thread notifies,
a consumer waits) runs once per message, so it uses this instead: the same
semantics for a plain Lock that the caller holds, with less work per call. As with
Condition, a waiter must re-check its predicate after waking (a wake-up may be
spurious or stolen by another consumer).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Deque, Optional

_allocate_lock = threading.Lock

__all__ = ["Signal"]


class Signal:
    """Wait for a change of state guarded by ``lock`` (held by every caller)."""

    __slots__ = ("_lock", "_waiters")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._waiters: Deque[threading.Lock] = deque()  # one pre-acquired lock per waiter

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Release the lock, wait for a notify (or ``timeout`` seconds), re-take the lock.
        True when notified."""
        w = _allocate_lock()
        w.acquire()
        waiters = self._waiters
        waiters.append(w)
        self._lock.release()
        got = False
        try:
            got = w.acquire(True, -1 if timeout is None else max(timeout, 0.0))
        finally:
            self._lock.acquire()
            if not got:
                try:
                    waiters.remove(w)
                except ValueError:  # notified as the wait ended: the caller re-checks anyway
                    pass
        return got

    def notify(self) -> None:
        """Wake one waiter, if any."""
        if self._waiters:
            self._waiters.popleft().release()

    def notify_all(self) -> None:
        """Wake every waiter."""
        waiters = self._waiters
        while waiters:
            waiters.popleft().release()

    @property
    def waiting(self) -> int:
        """Threads waiting now."""
        return len(self._waiters)
