"""Repeated outages under continuous load: the races a single restart would not
show. Bounded in count and time; every wait has a timeout."""

from __future__ import annotations

import threading
import time
from typing import List, Tuple

import natsync
from natsync import errors
from natsync.testing import NatsServer
from tests.conn_events import wait_until

FAST = dict(reconnect_time_wait=0.02, reconnect_jitter=0.0, max_reconnect_attempts=-1,
            reconnect_buf_size=None)


def drain_all(sub: natsync.Subscription) -> List[int]:
    out: List[int] = []
    while True:
        try:
            out.append(int(sub.next_msg(1.0).data))
        except errors.TimeoutError:
            return out


def test_repeated_kill_restart_with_continuous_publisher(nats_server: NatsServer) -> None:
    """Five SIGKILL/restart cycles while a thread publishes non-stop on the client that
    also subscribes: the sequence only ever increases (no duplicate, no reordering) and
    every message published while disconnected arrives."""
    outages: List[Tuple[int, int]] = []  # (first seq published while down, first after up)
    state = {"seq": 0, "down_from": -1}
    lock = threading.Lock()
    reconnected = threading.Event()

    def on_disc() -> None:
        with lock:
            state["down_from"] = state["seq"]

    def on_reco() -> None:
        with lock:
            outages.append((state["down_from"], state["seq"]))
        reconnected.set()

    nc = natsync.connect(nats_server.url, disconnected_cb=on_disc, reconnected_cb=on_reco, **FAST)
    sub = nc.subscribe("stress", pending_msgs_limit=-1, pending_bytes_limit=-1)
    nc.flush()
    stop = threading.Event()

    def publisher() -> None:
        while not stop.is_set():
            with lock:
                i = state["seq"]
                state["seq"] += 1
            nc.publish("stress", b"%d" % i)
            if i % 200 == 0:
                time.sleep(0.0005)

    t = threading.Thread(target=publisher)
    t.start()
    try:
        for _ in range(5):
            start = state["seq"]
            wait_until(lambda start=start: state["seq"] > start + 2000)
            # the replayed messages reached the server and came back (same connection)
            # before the next kill: bytes in flight at a kill are not covered (at-most-once)
            nc.flush(15)
            reconnected.clear()
            nats_server.kill()
            wait_until(lambda: nc.is_reconnecting or reconnected.is_set())
            nats_server.restart()
            assert reconnected.wait(15)
    finally:
        stop.set()
        t.join(10)
    nc.flush(15)
    got = drain_all(sub)
    assert got == sorted(got) and len(set(got)) == len(got)
    received = set(got)
    assert len(outages) == 5
    for down_from, up_at in outages:
        missing = [i for i in range(down_from, up_at) if i not in received]
        assert not missing, f"{len(missing)} of the messages published while down were lost"
    assert nc.stats["reconnects"] == 5
    nc.close()


def test_force_reconnect_storm_keeps_order(nats_server: NatsServer) -> None:
    """Forced reconnects in a row while publishing from several threads: per-thread order
    holds, nothing is duplicated, and (the server never went away) nothing is lost."""
    watcher = natsync.connect(nats_server.url)
    sub = watcher.subscribe("storm", pending_msgs_limit=-1, pending_bytes_limit=-1)
    watcher.flush()
    nc = natsync.connect(nats_server.url, **FAST)
    stop = threading.Event()
    counts = [0, 0, 0]

    def publisher(k: int) -> None:
        while not stop.is_set() and counts[k] < 20000:
            nc.publish("storm", b"%d" % (k * 10_000_000 + counts[k]))
            counts[k] += 1

    ts = [threading.Thread(target=publisher, args=(k,)) for k in range(3)]
    for th in ts:
        th.start()
    for _ in range(10):
        time.sleep(0.02)
        nc.force_reconnect()
        wait_until(lambda: nc.is_connected)
    stop.set()
    for th in ts:
        th.join(10)
    nc.flush(15)
    watcher.flush(15)
    got = drain_all(sub)
    per: List[List[int]] = [[], [], []]
    for v in got:
        per[v // 10_000_000].append(v % 10_000_000)
    for k in range(3):
        assert per[k] == list(range(counts[k])), f"thread {k}: {len(per[k])} of {counts[k]}"
    assert nc.stats["reconnects"] >= 1
    nc.close()
    watcher.close()
