"""AckFuture behaves as a concurrent.futures.Future, with its Condition made on demand."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from natsync.js.async_publish import AckFuture


def test_settled_before_anyone_waits() -> None:
    f = AckFuture()
    seen: list[object] = []
    f.add_done_callback(lambda fut: seen.append(fut.result()))
    f.set_result(7)
    assert f.done() and f.result(timeout=0) == 7 and seen == [7]
    late: list[object] = []
    f.add_done_callback(lambda fut: late.append(fut.result()))
    assert late == [7]
    with pytest.raises(concurrent.futures.InvalidStateError):
        f.set_result(8)
    g = AckFuture()
    g.set_exception(ValueError("no"))
    with pytest.raises(ValueError):
        g.result(timeout=0)
    assert isinstance(g.exception(timeout=0), ValueError)


def test_waiter_woken_by_another_thread() -> None:
    f = AckFuture()
    started = threading.Event()
    got: list[object] = []

    def waiter() -> None:
        started.set()
        got.append(f.result(timeout=10))

    t = threading.Thread(target=waiter)
    t.start()
    started.wait(10)
    with pytest.raises(concurrent.futures.TimeoutError):
        f.result(timeout=0.01)
    f.set_result("ack")
    t.join(10)
    assert got == ["ack"]


def test_wait_and_as_completed_and_cancel() -> None:
    futs = [AckFuture() for _ in range(3)]
    futs[0].set_result(0)
    done, pending = concurrent.futures.wait(futs, timeout=0)
    assert done == {futs[0]} and pending == set(futs[1:])
    threading.Timer(0.05, futs[1].set_result, args=(1,)).start()
    done, _ = concurrent.futures.wait(futs, timeout=10, return_when=concurrent.futures.FIRST_COMPLETED)
    assert futs[1] in done or futs[0] in done
    assert futs[2].cancel() and futs[2].cancelled()
    futs[1].result(timeout=10)
    assert sorted(f.result() for f in concurrent.futures.as_completed(futs[:2], timeout=10)) == [0, 1]
    with pytest.raises(concurrent.futures.InvalidStateError):
        futs[2].set_result(2)
