"""AckFuture behaves as a concurrent.futures.Future, with its Condition made on demand."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest

from natsync.js.api import PubAck
from natsync.js.async_publish import AckFuture, read_pub_ack

_LOCK = threading.Lock()  # the publisher lock an AckFuture shares


def test_settled_before_anyone_waits() -> None:
    f = AckFuture(_LOCK)
    seen: list[object] = []
    f.add_done_callback(lambda fut: seen.append(fut.result()))
    f.set_result(7)
    assert f.done() and f.result(timeout=0) == 7 and seen == [7]
    late: list[object] = []
    f.add_done_callback(lambda fut: late.append(fut.result()))
    assert late == [7]
    with pytest.raises(concurrent.futures.InvalidStateError):
        f.set_result(8)
    g = AckFuture(_LOCK)
    g.set_exception(ValueError("no"))
    with pytest.raises(ValueError):
        g.result(timeout=0)
    assert isinstance(g.exception(timeout=0), ValueError)


def test_waiter_woken_by_another_thread() -> None:
    f = AckFuture(_LOCK)
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
    futs = [AckFuture(_LOCK) for _ in range(3)]
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


def test_settle_locked_only_while_nobody_can_wait() -> None:
    """The publisher settles a future under its own lock only while no Condition exists;
    once someone waits (or a callback is added) the base class must notify them."""
    f = AckFuture(_LOCK)
    with _LOCK:
        assert f._settle_locked("ack", None)
    assert f.done() and f.result(timeout=0) == "ack"
    with _LOCK:
        assert not f._settle_locked("again", None)  # settled already
    assert f.result(timeout=0) == "ack"

    g = AckFuture(_LOCK)
    seen: list[object] = []
    g.add_done_callback(lambda fut: seen.append(fut.result()))
    with _LOCK:
        assert not g._settle_locked("ack", None)  # a callback waits: not settled here
    assert not g.done()
    g.set_result("ack")
    assert seen == ["ack"]

    h = AckFuture(_LOCK)
    assert h.cancel()
    with _LOCK:
        assert not h._settle_locked("ack", None)
    assert h.cancelled()


def test_read_pub_ack_reads_the_server_forms_and_leaves_the_rest_to_json() -> None:
    names: dict[bytes, str] = {}
    ack = read_pub_ack(b'{"stream":"ORDERS","seq":42}', names)
    assert ack == PubAck("ORDERS", 42, None, None)
    ack = read_pub_ack(b'{"stream":"ORDERS","seq":43,"domain":"hub","duplicate":true}', names)
    assert ack == PubAck("ORDERS", 43, "hub", True)
    assert read_pub_ack(b'{"stream":"\xc3\xa9t\xc3\xa9","seq":1}', names) == PubAck("\u00e9t\u00e9", 1)
    assert names[b"ORDERS"] == "ORDERS"
    # errors, other field orders and fields it does not know: None (json reads them)
    for raw in (b'{"error":{"code":503,"err_code":10077,"description":"x"}}',
                b'{"seq":1,"stream":"ORDERS"}',
                b'{"stream":"ORDERS","seq":1,"batch":"b","count":2}',
                b'{"stream":"OR\\"DERS","seq":1}', b"", b"+OK"):
        assert read_pub_ack(raw, names) is None
