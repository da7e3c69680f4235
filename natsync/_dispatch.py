"""The callback pool: subscription callbacks on an elastic set of worker threads.

A subscription with a callback and messages to deliver is *ready*. A worker takes
one ready subscription and runs its callback on the queued messages until the
queue is empty (or, when other subscriptions wait for a worker, a slice of
:data:`SLICE` messages, after which the subscription goes to the back of the
line). A subscription is in the ready line or with one worker, never both and
never with two, so its messages are delivered in order, one at a time.

The first worker starts with the first ready subscription. After that a
supervisor thread watches the ready line: when subscriptions wait and no worker
took one for :data:`STALL` seconds (each worker is inside a callback that takes
long), it adds a worker, up to :data:`MAX_WORKERS`. Quick callbacks so keep to a
few workers (more threads would only share the GIL), while a slow callback holds
one worker and the others go on. Workers, and the supervisor, idle for
:data:`IDLE_TIMEOUT` seconds retire: ten thousand quiet subscriptions cost no
thread. A callback that blocks for long (or forever) is better given a thread of
its own (``subscribe(..., dedicated_thread=True)``), as more than
:data:`MAX_WORKERS` of them at once would hold up the other subscriptions.

Lock order: a subscription's lock is never held while the pool's lock is taken,
nor the other way round. No user code runs under either.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from typing import Deque, List, Optional, Protocol

log = logging.getLogger("natsync")


class Subscription(Protocol):
    """What the pool runs: a subscription's callback queue (without importing it)."""

    def _serve(self, budget: int) -> bool:
        """Deliver up to ``budget`` messages; True when more are left to serve."""

#: Most worker threads one client runs for callbacks at once.
MAX_WORKERS = 64
#: Seconds a worker waits for work before it retires.
IDLE_TIMEOUT = 5.0
#: Messages a worker delivers to one subscription before it lets a waiting one in.
SLICE = 256
#: Seconds subscriptions may wait while no worker takes one before a worker is added.
STALL = 0.005


class _Idle:
    """An idle worker's slot: ``schedule`` hands it a subscription and wakes it."""

    __slots__ = ("wake", "sub")

    def __init__(self) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()
        self.sub: Optional[Subscription] = None


class CallbackPool:
    """An elastic pool of callback workers for one client."""

    def __init__(self, client_id: int) -> None:
        self._lock = threading.Lock()
        self._watch = threading.Condition(self._lock)  # the supervisor waits here
        self._ready: Deque[Subscription] = deque()  # waiting for a worker, in order
        self._idle: List[_Idle] = []  # idle workers, the most recently idle last
        self._taken = 0  # subscriptions a worker took, in total (progress)
        self._workers: List[threading.Thread] = []
        self._supervisor: Optional[threading.Thread] = None
        self._watching = False  # the supervisor waits for work (not for a stall)
        self._closed = False
        self._max = MAX_WORKERS  # read now, not at import: tests may change them
        self._idle_timeout = IDLE_TIMEOUT
        self._stall = STALL
        self._client_id = client_id
        self._names = itertools.count(1)

    @property
    def workers(self) -> int:
        """Worker threads alive now."""
        return len(self._workers)

    @property
    def closed(self) -> bool:
        return self._closed

    def threads(self) -> List[threading.Thread]:
        """The pool's threads alive now (workers and supervisor), for diagnostics and
        for test harnesses that tell a leaked thread from one an open client still owns."""
        with self._lock:
            found = list(self._workers)
            if self._supervisor is not None:
                found.append(self._supervisor)
        return [t for t in found if t.is_alive()]

    def schedule(self, sub: Subscription) -> None:
        """``sub`` has become ready (the caller flagged it scheduled, under its lock)."""
        with self._lock:
            if self._closed:
                return
            if self._idle:  # hand it straight to an idle worker (the warmest one)
                slot = self._idle.pop()
                slot.sub = sub
                self._taken += 1
                slot.wake.release()
                return
            self._ready.append(sub)
            if not self._workers:
                self._spawn_locked()
            elif self._supervisor is None:
                self._supervisor = threading.Thread(
                    target=self._supervise, daemon=True,
                    name=f"natsync-sub-supervisor-{self._client_id}")
                self._supervisor.start()
            elif self._watching:
                self._watch.notify()

    def has_waiting(self) -> bool:
        """True when a ready subscription waits for a worker (read without the lock)."""
        return bool(self._ready)

    def _spawn_locked(self) -> None:
        t = threading.Thread(target=self._run, daemon=True,
                             name=f"natsync-sub-worker{next(self._names)}-{self._client_id}")
        self._workers.append(t)
        t.start()

    def _supervise(self) -> None:
        """Add a worker when subscriptions wait and no worker took one for ``stall``
        seconds (every worker is in a long callback); retire when idle for long."""
        me = threading.current_thread()
        with self._lock:
            while not self._closed:
                if self._ready and not self._idle:
                    seen = self._taken
                    # at the bound no worker can be added: look again less often
                    self._watch.wait(self._stall if len(self._workers) < self._max else 0.25)
                    if (self._ready and not self._idle and self._taken == seen
                            and len(self._workers) < self._max and not self._closed):
                        self._spawn_locked()
                    continue
                self._watching = True
                try:
                    woke = self._watch.wait(self._idle_timeout)
                finally:
                    self._watching = False
                if not woke and not self._ready:
                    break
            if self._supervisor is me:
                self._supervisor = None

    def _next(self, slot: _Idle) -> Optional[Subscription]:
        """A worker's next subscription: from the ready line, or handed over while it
        waits idle; None when the worker must end (closed, or idle too long)."""
        with self._lock:
            if self._ready:
                self._taken += 1
                return self._ready.popleft()
            if self._closed:
                return None
            self._idle.append(slot)
        got = slot.wake.acquire(True, self._idle_timeout)
        with self._lock:
            sub = slot.sub
            if sub is not None:  # handed over (maybe just as the wait timed out)
                slot.sub = None
                if not got:
                    slot.wake.acquire()  # released by the hand-over: take it back
                return sub
            if slot in self._idle:  # timed out (or woken by close): retire
                self._idle.remove(slot)
            elif not got:  # close() took the slot out and is releasing it
                slot.wake.acquire()
            return None

    def _run(self) -> None:
        me = threading.current_thread()
        slot = _Idle()
        while True:
            sub = self._next(slot)
            if sub is None:
                with self._lock:
                    if self._ready and not self._closed:
                        continue  # work came in as it retired: stay
                    self._workers.remove(me)
                return
            try:
                again = sub._serve(SLICE)
            except BaseException:  # pragma: no cover - _serve reports callback errors itself
                log.exception("natsync: callback worker failed")
                again = False
            if again:
                with self._lock:
                    if not self._closed:
                        self._ready.append(sub)

    def close(self, timeout: float) -> None:
        """Stop taking work, wake idle workers and join every thread (not the caller)."""
        with self._lock:
            self._closed = True
            self._ready.clear()
            idle, self._idle = self._idle, []
            for slot in idle:
                slot.wake.release()
            self._watch.notify_all()
            threads = list(self._workers)
            if self._supervisor is not None:
                threads.append(self._supervisor)
        me = threading.current_thread()
        deadline = time.monotonic() + timeout
        for t in threads:
            if t is not me:
                t.join(max(deadline - time.monotonic(), 0.0))
                if t.is_alive():
                    log.warning("natsync: a message callback did not return within %.1fs", timeout)
                    deadline = 0.0  # do not wait again for the others
