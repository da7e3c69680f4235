"""Threaded services at scale: many publisher threads on one connection across
reconnects, thousands of callback subscriptions on the bounded callback pool, and
exact pending counts while a callback holds a batch. Lean (small counts); every
wait has a timeout; no timing assertions."""

from __future__ import annotations

import threading
from typing import Callable, Dict, Iterator, List, Tuple

import pytest

import natsync
from natsync import _dispatch, errors
from natsync.testing import NatsServer
from tests.conn_events import wait_until

FAST = dict(reconnect_time_wait=0.02, reconnect_jitter=0.0, max_reconnect_attempts=-1,
            reconnect_buf_size=None)


def sub_threads(nc: natsync.Client) -> List[str]:
    """The names of the callback threads (pool workers, supervisor) of ``nc``."""
    suffix = f"-{nc._id}"
    return [t.name for t in threading.enumerate()
            if t.name.startswith("natsync-sub-") and t.name.endswith(suffix)]


def join_and_check_order(ts: List[threading.Thread], nc: natsync.Client,
                         watcher: natsync.Client, sub: natsync.Subscription, per_thread: int,
                         source: Callable[[natsync.Msg], Tuple[int, ...]]) -> None:
    """Join the publishing threads, flush both sides, then check that each thread's
    ``per_thread`` messages (``source(msg)`` -> (thread, seq)) arrived once, in order."""
    for t in ts:
        t.join(120)
        assert not t.is_alive()
    nc.flush(30)
    watcher.flush(30)
    per: Dict[int, List[int]] = {k: [] for k in range(len(ts))}
    while True:
        try:
            k, i = source(sub.next_msg(2.0))
        except errors.TimeoutError:
            break
        per[k].append(i)
    for k in range(len(ts)):
        assert per[k] == list(range(per_thread)), f"thread {k}: {len(per[k])} of {per_thread}"


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer() as srv:
        yield srv


def test_eight_publishers_across_reconnects(server: NatsServer) -> None:
    """8 threads publish on one connection while it is broken and re-established:
    per-thread order holds, nothing is lost or duplicated, stats count every message."""
    per_thread = 3000
    watcher = natsync.connect(server.url)
    sub = watcher.subscribe("p8", pending_msgs_limit=-1, pending_bytes_limit=-1)
    watcher.flush()
    nc = natsync.connect(server.url, **FAST)
    start = threading.Barrier(9, timeout=20)

    def publisher(k: int) -> None:
        start.wait()
        for i in range(per_thread):
            nc.publish("p8", b"%d %d" % (k, i))

    ts = [threading.Thread(target=publisher, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    start.wait()
    for _ in range(4):
        nc.force_reconnect()
        wait_until(lambda: nc.is_connected)
    join_and_check_order(ts, nc, watcher, sub, per_thread,
                         lambda m: tuple(map(int, m.data.split())))  # data: "thread seq"
    st = nc.stats
    assert st["out_msgs"] == 8 * per_thread
    assert st["out_bytes"] == sum(len(b"%d %d" % (k, i)) for k in range(8) for i in range(per_thread))
    assert st["reconnects"] >= 1
    nc.close()
    watcher.close()


def test_requests_and_publishes_from_many_threads_combine_in_order(server: NatsServer) -> None:
    """6 threads each alternate a publish and a request on one connection, so requests
    written by their own thread carry the other threads' queued frames with them
    (combining), across forced reconnects: every publish arrives once, in its thread's
    order; every request is answered or fails with a clear error (one in flight at a
    reconnect may lose its reply); the stats count every message exactly."""
    n_threads, per_thread = 6, 400
    responder = natsync.connect(server.url)
    responder.subscribe("rq", cb=lambda m: m.respond(m.data))
    watcher = natsync.connect(server.url)
    sub = watcher.subscribe("mix.*", pending_msgs_limit=-1, pending_bytes_limit=-1)
    responder.flush()
    watcher.flush()
    nc = natsync.connect(server.url, **FAST)
    start = threading.Barrier(n_threads + 1, timeout=20)
    answered = [0] * n_threads
    lost: List[str] = []

    def worker(k: int) -> None:
        start.wait()
        for i in range(per_thread):
            nc.publish(f"mix.{k}", b"%d" % i)
            try:
                reply = nc.request("rq", b"%d %d" % (k, i), timeout=5)
            except (errors.TimeoutError, errors.NoRespondersError) as exc:
                lost.append(f"{k}/{i}: {exc}")  # a reply lost to a reconnect
                continue
            assert reply.data == b"%d %d" % (k, i)
            answered[k] += 1

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in ts:
        t.start()
    start.wait()
    for _ in range(2):
        wait_until(lambda: sum(answered) > 300)
        nc.force_reconnect()
        wait_until(lambda: nc.is_connected)
    join_and_check_order(ts, nc, watcher, sub, per_thread,
                         lambda m: (int(m.subject.split(".")[1]), int(m.data)))
    assert sum(answered) + len(lost) == n_threads * per_thread
    assert len(lost) <= 2 * n_threads, lost  # at most the requests in flight at each reconnect
    st = nc.stats
    assert st["out_msgs"] == 2 * n_threads * per_thread  # every publish and every request
    mux = nc._mux
    assert mux is not None and not mux.active and not mux.waiters  # nothing left behind
    for c in (nc, watcher, responder):
        c.close()


@pytest.mark.slow
def test_ten_thousand_subscriptions_churn_during_delivery(server: NatsServer) -> None:
    """10,000 callback subscriptions, subscribing and unsubscribing while messages are
    being delivered: each live subscription gets its messages in order, exactly once,
    on a bounded number of threads, and close() joins them all."""
    n = 10_000
    nc = natsync.connect(server.url)
    pub = natsync.connect(server.url)
    lock = threading.Lock()
    got: Dict[str, List[int]] = {}

    def cb(msg: natsync.Msg) -> None:
        with lock:
            got.setdefault(msg.subject, []).append(int(msg.data))

    subs = [nc.subscribe(f"k.{i}", cb=cb) for i in range(n)]
    nc.flush(30)
    churn_done = threading.Event()
    new_subs: List[natsync.Subscription] = []

    def churn() -> None:
        # while the first round is being delivered: drop every 4th, add 2,500 new ones
        for i in range(0, n, 4):
            subs[i].unsubscribe()
            new_subs.append(nc.subscribe(f"new.{i}", cb=cb))
        churn_done.set()

    churner = threading.Thread(target=churn)
    for i in range(n):
        pub.publish(f"k.{i}", b"0")
        if i == n // 10:
            churner.start()
    churner.join(120)
    assert churn_done.is_set()
    nc.flush(30)
    for i in range(n):
        pub.publish(f"k.{i}", b"1")
    for i in range(0, n, 4):
        pub.publish(f"new.{i}", b"7")
    pub.flush(30)
    stable = [f"k.{i}" for i in range(n) if i % 4]
    wait_until(lambda: all(len(got.get(s, ())) == 2 for s in stable)
               and all(got.get(f"new.{i}") for i in range(0, n, 4)), timeout=120)
    # the callback pool stayed bounded: not a thread per subscription
    assert len(sub_threads(nc)) <= _dispatch.MAX_WORKERS + 1
    pub.flush(30)
    with lock:
        for s in stable:
            assert got[s] == [0, 1], s
        for i in range(0, n, 4):
            assert got[f"new.{i}"] == [7]
            assert got.get(f"k.{i}", []) in ([], [0]), f"k.{i} got {got.get(f'k.{i}')} after unsubscribe"
    assert all(s.pending_msgs == 0 for s in subs[1:100])
    nc.close()
    pub.close()
    assert sub_threads(nc) == []


def test_pending_counts_exact_while_a_callback_holds_a_batch(server: NatsServer) -> None:
    """The worker takes a batch from the queue at once, but each message counts as
    pending until it is handed to the callback, and the pending limits count them so."""
    nc = natsync.connect(server.url)
    errs: List[BaseException] = []
    nc2 = natsync.connect(server.url, error_cb=errs.append)
    release = threading.Event()
    entered = threading.Event()
    seen: List[int] = []

    def blocked(msg: natsync.Msg) -> None:
        seen.append(int(msg.data))
        entered.set()
        release.wait(30)

    sub = nc2.subscribe("ex", cb=blocked, pending_msgs_limit=5)
    nc2.flush()
    nc.publish("ex", b"0")
    nc.flush()
    assert entered.wait(20)
    for i in range(1, 20):
        nc.publish("ex", b"%d" % i)
    nc.flush()
    wait_until(lambda: sub.pending_msgs + sub.dropped == 19)
    assert sub.pending_msgs == 5 and sub.dropped == 14
    assert sub.pending_bytes == 5  # one byte each
    assert sub.delivered == 1
    release.set()
    wait_until(lambda: sub.delivered == 6)
    assert seen == [0, 1, 2, 3, 4, 5]
    assert sub.pending_msgs == 0 and sub.pending_bytes == 0
    wait_until(lambda: any(isinstance(e, errors.SlowConsumerError) for e in errs))
    nc2.close()
    nc.close()


def test_pool_bound_and_a_dedicated_thread(server: NatsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """With every pool worker held by a blocking callback, a subscription made with
    dedicated_thread=True still gets its messages; the pool never grows past its bound,
    and the waiting pool subscription is served once a worker is free."""
    monkeypatch.setattr(_dispatch, "MAX_WORKERS", 2)
    nc = natsync.connect(server.url)
    release = threading.Event()
    blocked = threading.Semaphore(0)
    got: Dict[str, List[str]] = {"third": [], "own": []}
    own_thread: List[str] = []

    def block(msg: natsync.Msg) -> None:
        blocked.release()
        release.wait(30)

    def third(msg: natsync.Msg) -> None:
        got["third"].append(msg.subject)

    def own(msg: natsync.Msg) -> None:
        own_thread.append(threading.current_thread().name)
        got["own"].append(msg.subject)

    nc.subscribe("b1", cb=block)
    nc.subscribe("b2", cb=block)
    nc.subscribe("third", cb=third)
    s_own = nc.subscribe("own", cb=own, dedicated_thread=True)
    assert s_own.dedicated_thread
    nc.publish("b1")
    nc.publish("b2")
    nc.flush()
    assert blocked.acquire(timeout=20) and blocked.acquire(timeout=20)
    nc.publish("third")
    nc.publish("own")
    nc.flush()
    wait_until(lambda: got["own"] == ["own"])
    assert own_thread[0].startswith(f"natsync-sub-{s_own.sid}-")
    workers = [t for t in sub_threads(nc) if "worker" in t]
    assert len(workers) == 2 and got["third"] == []  # both workers are held
    release.set()
    wait_until(lambda: got["third"] == ["third"])
    nc.close()


def test_idle_workers_retire(server: NatsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_dispatch, "IDLE_TIMEOUT", 0.2)
    nc = natsync.connect(server.url)
    got: List[int] = []
    for i in range(50):
        nc.subscribe(f"r.{i}", cb=lambda m: got.append(1))
    for i in range(50):
        nc.publish(f"r.{i}")
    nc.flush()
    wait_until(lambda: len(got) == 50)
    wait_until(lambda: sub_threads(nc) == [])  # every worker (and the supervisor) retired
    # and work brings a worker back
    nc.publish("r.7")
    wait_until(lambda: len(got) == 51)
    nc.close()


def test_blocked_callback_does_not_hold_up_one_ready_in_the_same_read(server: NatsServer) -> None:
    """Two subscriptions become ready in one read while one worker is idle: the first
    blocks in its callback, the second is still served (by another worker)."""
    nc = natsync.connect(server.url)
    warm = threading.Event()
    release = threading.Event()
    fast_got = threading.Event()
    nc.subscribe("warm", cb=lambda m: warm.set())
    nc.publish("warm")
    assert warm.wait(20)  # one worker now, idle
    wait_until(lambda: len([t for t in sub_threads(nc) if "worker" in t]) == 1)
    for _ in range(5):  # in a row, so that both often land in one read
        release.clear()
        fast_got.clear()
        nc.subscribe("slow", cb=lambda m: release.wait(30), max_msgs=1)
        nc.subscribe("fast", cb=lambda m: fast_got.set(), max_msgs=1)
        nc.publish("slow")
        nc.publish("fast")
        nc.flush()
        assert fast_got.wait(20), "the fast subscription waited for the blocked one"
        release.set()
    nc.close()
