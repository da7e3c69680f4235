"""natsync._signal.Signal: the lean condition variable of the subscription queues."""

from __future__ import annotations

import threading
from typing import Callable, List

from natsync._signal import Signal

WAIT = 10.0


def start_waiters(target: Callable[[], None], n: int, lock: threading.Lock, sig: Signal,
                  then: Callable[[Signal], None]) -> List[threading.Thread]:
    """Start ``n`` threads running ``target``; once all wait on ``sig``, call ``then(sig)``."""
    ts = [threading.Thread(target=target) for _ in range(n)]
    for t in ts:
        t.start()
    ev = threading.Event()
    while True:
        with lock:
            if sig.waiting == n:
                then(sig)
                return ts
        ev.wait(0.005)


def test_notify_wakes_one_waiter_and_the_lock_is_held_again() -> None:
    lock = threading.Lock()
    sig = Signal(lock)
    woke: List[bool] = []
    held: List[bool] = []

    def waiter() -> None:
        with lock:
            woke.append(sig.wait(WAIT))
            held.append(lock.locked())

    ts = start_waiters(waiter, 2, lock, sig, Signal.notify)
    ev = threading.Event()
    ts_alive = lambda: sum(t.is_alive() for t in ts)  # noqa: E731
    for _ in range(2000):
        if ts_alive() == 1:
            break
        ev.wait(0.005)
    assert ts_alive() == 1 and woke == [True] and held == [True]
    with lock:
        assert sig.waiting == 1
        sig.notify_all()
    for t in ts:
        t.join(WAIT)
    assert woke == [True, True] and held == [True, True]


def test_a_wait_that_times_out_returns_false_and_leaves_no_trace() -> None:
    lock = threading.Lock()
    sig = Signal(lock)
    with lock:
        assert sig.wait(0.01) is False
        assert lock.locked()
        assert sig.waiting == 0
        sig.notify()  # nobody waits: nothing happens


def test_notify_all_wakes_every_waiter() -> None:
    lock = threading.Lock()
    sig = Signal(lock)
    done = threading.Barrier(6)

    def waiter() -> None:
        with lock:
            sig.wait(WAIT)
        done.wait(WAIT)

    ts = start_waiters(waiter, 5, lock, sig, Signal.notify_all)
    done.wait(WAIT)
    for t in ts:
        t.join(WAIT)
    assert not any(t.is_alive() for t in ts)
