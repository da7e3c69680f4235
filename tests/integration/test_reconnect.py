"""Reconnection and the reconnect buffer against real servers: SIGKILL and
restart on the same port, clusters, lame duck mode. Every wait is on a state or
an event with a timeout; no sleep is used as synchronisation."""

from __future__ import annotations

import threading
import time
from typing import Any, List

import pytest

import natsync
from natsync import errors
from natsync.testing import NatsCluster, NatsServer
from tests.conn_events import Events, wait_until

FAST = dict(reconnect_time_wait=0.05, reconnect_jitter=0.0, max_reconnect_attempts=-1)


def numbered(n: int, start: int = 0) -> List[bytes]:
    return [b"%d" % i for i in range(start, start + n)]


def test_restart_buffers_1000_and_delivers_in_order(nats_server: NatsServer) -> None:
    ev = Events()
    nc = natsync.connect(nats_server.url, **FAST, **ev.callbacks())
    sub = nc.subscribe("r.seq", pending_msgs_limit=-1)
    nc.flush()
    nats_server.kill()
    ev.wait_count("disconnected")
    assert nc.is_reconnecting and not nc.is_connected
    for i in range(1000):
        nc.publish("r.seq", b"%d" % i)
    assert nc.buffered_msgs == 1000
    assert nc.buffered_bytes == sum(len(b"PUB r.seq %d\r\n%d\r\n" % (len(b"%d" % i), i))
                                    for i in range(1000))
    nats_server.restart()
    ev.wait_count("reconnected")
    assert nc.is_connected and nc.buffered_msgs == 0
    got = [sub.next_msg(5).data for _ in range(1000)]
    assert got == numbered(1000)
    assert nc.stats["reconnects"] == 1
    nc.close()
    # one disconnect per outage; a close while connected is a disconnect too (as nats-py)
    assert ev.log == ["disconnected", "reconnected", "disconnected", "closed"]


def _down(srv: NatsServer, **opts: Any) -> tuple[natsync.Client, Events]:
    ev = Events()
    nc = natsync.connect(srv.url, **{**FAST, **opts}, **ev.callbacks())
    srv.kill()
    ev.wait_count("disconnected")
    return nc, ev


def frame_len(subject: str, payload: bytes) -> int:
    return len(b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(payload), payload))


def test_message_limit_error_policy(nats_server: NatsServer) -> None:
    nc, ev = _down(nats_server, reconnect_buf_msgs=10)
    for p in numbered(10):
        nc.publish("lim", p)
    with pytest.raises(errors.OutboundBufferLimitError) as ei:
        nc.publish("lim", b"10")
    assert "outbound buffer limit exceeded" in str(ei.value)
    assert "reconnect_buf_msgs=10" in str(ei.value)
    assert nc.buffered_msgs == 10
    nats_server.restart()
    ev.wait_count("reconnected")
    assert nc.buffered_msgs == 0
    # the ten accepted messages were replayed: check through the server's counters
    wait_until(lambda: nats_server.varz()["in_msgs"] >= 10, what="10 messages at the server")
    assert nats_server.varz()["in_msgs"] == 10
    nc.close()


def test_byte_limit_exact(nats_server: NatsServer) -> None:
    one = frame_len("b", b"x" * 10)
    nine = frame_len("b", b"x" * 9)
    limit = one * 3 + nine
    nc, ev = _down(nats_server, reconnect_buf_size=limit)
    for _ in range(3):
        nc.publish("b", b"x" * 10)
    with pytest.raises(errors.OutboundBufferLimitError):
        nc.publish("b", b"x" * 10)  # would overshoot the limit by two bytes
    nc.publish("b", b"x" * 9)  # exactly fits
    assert nc.buffered_bytes == limit and nc.buffered_msgs == 4
    with pytest.raises(errors.OutboundBufferLimitError):
        nc.publish("b", b"")
    nc.close()
    assert [m.data for m in nc.unsent_messages()] == [b"x" * 10] * 3 + [b"x" * 9]


def test_zero_limit_buffers_nothing(nats_server: NatsServer) -> None:
    for opts in (dict(reconnect_buf_size=0), dict(reconnect_buf_msgs=0)):
        for policy in ("error", "block", "drop_oldest"):
            nats_server.restart() if not nats_server.is_running else None
            nc, ev = _down(nats_server, reconnect_buf_overflow=policy, **opts)
            t0 = time.monotonic()
            with pytest.raises(errors.OutboundBufferLimitError):
                nc.publish("z", b"")
            assert time.monotonic() - t0 < 2
            assert nc.buffered_msgs == 0
            nc.close()


def test_oversize_message_raises_under_every_policy(nats_server: NatsServer) -> None:
    for policy in ("error", "block", "drop_oldest"):
        if not nats_server.is_running:
            nats_server.restart()
        nc, ev = _down(nats_server, reconnect_buf_size=100, reconnect_buf_overflow=policy)
        nc.publish("o", b"small")
        with pytest.raises(errors.OutboundBufferLimitError):
            nc.publish("o", b"x" * 200)
        assert nc.buffered_msgs == 1  # nothing dropped for it
        nc.close()


def test_drop_oldest_policy(nats_server: NatsServer) -> None:
    nc, ev = _down(nats_server, reconnect_buf_msgs=5, reconnect_buf_overflow="drop_oldest")
    for p in numbered(20):
        nc.publish("drop", p)
    assert nc.buffered_msgs == 5
    assert nc.stats["reconnect_buf_dropped"] == 15
    drops = ev.wait_error(errors.OutboundBufferLimitError)
    assert len(drops) == 1  # once per outage
    nc.close()
    assert [m.data for m in nc.unsent_messages()] == numbered(5, start=15)
    assert nc.stats["unsent_msgs"] == 5


def test_drop_oldest_delivers_newest(nats_server: NatsServer) -> None:
    ev = Events()
    nc = natsync.connect(nats_server.url, reconnect_buf_msgs=5,
                         reconnect_buf_overflow="drop_oldest", **FAST, **ev.callbacks())
    sub = nc.subscribe("dd")
    nc.flush()
    nats_server.kill()
    ev.wait_count("disconnected")
    for p in numbered(12):
        nc.publish("dd", p)
    nats_server.restart()
    ev.wait_count("reconnected")
    assert [sub.next_msg(5).data for _ in range(5)] == numbered(5, start=7)
    nc.close()


def test_block_policy_waits_for_replay(nats_server: NatsServer) -> None:
    ev = Events()
    nc = natsync.connect(nats_server.url, reconnect_buf_msgs=5, reconnect_buf_overflow="block",
                         **FAST, **ev.callbacks())
    sub = nc.subscribe("blk", pending_msgs_limit=-1)
    nc.flush()
    nats_server.kill()
    ev.wait_count("disconnected")
    done = threading.Event()
    published: List[int] = []

    def publisher() -> None:
        for i in range(20):
            nc.publish("blk", b"%d" % i)
            published.append(i)
        done.set()

    t = threading.Thread(target=publisher)
    t.start()
    wait_until(lambda: len(published) == 5, what="5 accepted")
    assert not done.wait(0.2)  # the 6th is blocked: the buffer is full
    assert len(published) == 5 and nc.buffered_msgs == 5
    nats_server.restart()
    assert done.wait(15)
    t.join(5)
    assert [sub.next_msg(5).data for _ in range(20)] == numbered(20)
    nc.close()


def test_block_policy_bounded_by_flush_timeout(nats_server: NatsServer) -> None:
    nc, ev = _down(nats_server, reconnect_buf_msgs=2, reconnect_buf_overflow="block",
                   flush_timeout=0.2)
    nc.publish("bt", b"1")
    nc.publish("bt", b"2")
    t0 = time.monotonic()
    with pytest.raises(errors.OutboundBufferLimitError):
        nc.publish("bt", b"3")
    assert 0.15 <= time.monotonic() - t0 < 5
    assert nc.buffered_msgs == 2
    nc.close()


def test_block_policy_close_raises_closed(nats_server: NatsServer) -> None:
    nc, ev = _down(nats_server, reconnect_buf_msgs=1, reconnect_buf_overflow="block")
    nc.publish("bc", b"1")
    result: List[BaseException] = []

    def blocked() -> None:
        try:
            nc.publish("bc", b"2")
        except BaseException as e:
            result.append(e)

    t = threading.Thread(target=blocked)
    t.start()
    time.sleep(0.1)
    nc.close()
    t.join(5)
    assert len(result) == 1 and isinstance(result[0], errors.ConnectionClosedError)
    assert [m.data for m in nc.unsent_messages()] == [b"1"]


def test_unsent_after_attempts_exhausted(nats_server: NatsServer) -> None:
    ev = Events()
    nc = natsync.connect(nats_server.url, reconnect_time_wait=0.05, reconnect_jitter=0,
                         max_reconnect_attempts=2, **ev.callbacks())
    nats_server.kill()
    ev.wait_count("disconnected")
    nc.publish("u.a", b"1", headers={"H": "v"})
    nc.publish("u.b", b"2", reply="r")
    ev.wait_count("closed")
    assert nc.is_closed
    unsent = nc.unsent_messages()
    assert [(m.subject, m.data, m.reply, m.headers) for m in unsent] == [
        ("u.a", b"1", "", {"H": "v"}), ("u.b", b"2", "r", None)]
    assert nc.stats["unsent_msgs"] == 2
    assert isinstance(nc.last_error, errors.Error)
    with pytest.raises(errors.ConnectionClosedError):
        nc.publish("u.c", b"3")
    nc.close()


def test_unsent_after_close_while_reconnecting(nats_server: NatsServer) -> None:
    nc, ev = _down(nats_server)
    for p in numbered(7):
        nc.publish("uc", p)
    nc.close()
    assert [m.data for m in nc.unsent_messages()] == numbered(7)
    assert nc.stats["unsent_msgs"] == 7
    assert ev.log == ["disconnected", "closed"]


def test_flush_while_down_times_out_then_succeeds(nats_server: NatsServer) -> None:
    nc, ev = _down(nats_server)
    nc.publish("f", b"1")
    t0 = time.monotonic()
    with pytest.raises(errors.TimeoutError):
        nc.flush(timeout=0.3)
    assert time.monotonic() - t0 >= 0.25
    restarter = threading.Timer(0.3, nats_server.restart)
    restarter.start()
    nc.flush(timeout=15)  # waits for the reconnect, the replay and a PONG
    restarter.join()
    assert nc.is_connected
    assert nats_server.varz()["in_msgs"] == 1
    nc.close()


def test_continuous_publisher_across_restart(nats_server: NatsServer) -> None:
    ev = Events()
    stop = threading.Event()
    at_disconnect: List[int] = []
    counter = [0]

    def disconnected_cb() -> None:
        at_disconnect.append(counter[0])
        ev.disconnected_cb()

    nc = natsync.connect(nats_server.url, **FAST,
                         **{**ev.callbacks(), "disconnected_cb": disconnected_cb})
    sub = nc.subscribe("cont", pending_msgs_limit=-1)
    nc.flush()

    def publisher() -> None:
        while not stop.is_set():
            nc.publish("cont", b"%d" % counter[0])
            counter[0] += 1
            if counter[0] % 100 == 0:
                time.sleep(0.001)

    t = threading.Thread(target=publisher)
    t.start()
    wait_until(lambda: counter[0] > 2000)
    nats_server.kill()
    ev.wait_count("disconnected")
    wait_until(lambda: nc.buffered_msgs > 100)
    nats_server.restart()
    ev.wait_count("reconnected")
    wait_until(lambda: counter[0] > at_disconnect[0] + 5000 if at_disconnect else False)
    stop.set()
    t.join(10)
    nc.flush(10)
    total = counter[0]
    seen: List[int] = []
    while True:
        try:
            seen.append(int(sub.next_msg(1).data))
        except errors.TimeoutError:
            break
    assert seen == sorted(seen) and len(set(seen)) == len(seen)  # only ever increases
    after = set(range(at_disconnect[0], total))
    missing = after - set(seen)
    assert not missing, f"{len(missing)} messages published after disconnect were lost"
    nc.close()


def test_subscribe_unsubscribe_while_down_applied_once(nats_server: NatsServer) -> None:
    nc, ev = _down(nats_server)
    keep = nc.subscribe("keep")
    gone = nc.subscribe("gone")
    gone.unsubscribe()
    nats_server.restart()
    ev.wait_count("reconnected")
    nc.flush()
    subs = nats_server.subsz(subs=1)
    names = [s["subject"] for s in subs.get("subscriptions_list", [])]
    assert names.count("keep") == 1 and "gone" not in names
    nc.publish("keep", b"k")
    assert keep.next_msg(2).data == b"k"
    nc.close()


def test_auto_unsubscribe_carries_over(nats_server: NatsServer) -> None:
    ev = Events()
    nc = natsync.connect(nats_server.url, **FAST, **ev.callbacks())
    sub = nc.subscribe("au")
    sub.unsubscribe(limit=5)
    nc.publish("au", b"0")
    nc.publish("au", b"1")
    nc.flush()
    assert [sub.next_msg(2).data for _ in range(2)] == [b"0", b"1"]
    nats_server.kill()
    ev.wait_count("disconnected")
    nats_server.restart()
    ev.wait_count("reconnected")
    other = natsync.connect(nats_server.url)
    for i in range(2, 12):
        other.publish("au", b"%d" % i)
    other.flush()
    nc.flush()
    assert [m.data for m in sub] == [b"2", b"3", b"4"]
    other.close()
    nc.close()


def test_retry_on_failed_connect_server_starts_late() -> None:
    srv = NatsServer()
    ev = Events()
    try:
        nc = natsync.connect(srv.url, retry_on_failed_connect=True, **FAST, **ev.callbacks())
        assert nc.is_reconnecting
        sub = nc.subscribe("late")
        nc.publish("late", b"early bird")
        assert nc.buffered_msgs == 1
        srv.start()
        ev.wait_count("reconnected")
        assert sub.next_msg(5).data == b"early bird"
        nc.close()
    finally:
        srv.close()


def test_no_retry_fails_fast_without_threads() -> None:
    srv = NatsServer()  # not started
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(errors.NoServersError):
        natsync.connect(srv.url, connect_timeout=1)
    after = {t.name for t in threading.enumerate() if t.name.startswith("natsync-")}
    assert after <= before
    srv.close()


def test_reconnect_delay_cb_attempts(nats_server: NatsServer) -> None:
    attempts: List[int] = []
    ev = Events()

    def delay(n: int) -> float:
        attempts.append(n)
        return 0.02

    nc = natsync.connect(nats_server.url, reconnect_delay_cb=delay, max_reconnect_attempts=-1,
                         **ev.callbacks())
    nats_server.kill()
    ev.wait_count("disconnected")
    wait_until(lambda: len(attempts) >= 3)
    nats_server.restart()
    ev.wait_count("reconnected")
    assert attempts[:3] == [1, 2, 3]
    nc.close()


def test_force_reconnect(nats_server: NatsServer) -> None:
    ev = Events()
    nc = natsync.connect(nats_server.url, **FAST, **ev.callbacks())
    sub = nc.subscribe("fr")
    nc.force_reconnect()
    ev.wait_count("reconnected")
    nc.publish("fr", b"after")
    assert sub.next_msg(5).data == b"after"
    assert nc.stats["reconnects"] == 1
    nc.close()


def test_close_during_reconnect_loop_is_prompt(nats_server: NatsServer) -> None:
    nc, ev = _down(nats_server, reconnect_time_wait=30.0)
    t0 = time.monotonic()
    nc.close()
    assert time.monotonic() - t0 < 3
    assert nc.is_closed


@pytest.mark.slow
def test_cluster_failover_buffered_in_order() -> None:
    with NatsCluster(3) as cluster:
        a, b, _c = cluster.servers
        ev = Events()
        nc = natsync.connect(a.url, **FAST, **ev.callbacks())
        wait_until(lambda: len(nc.discovered_servers) >= 2 or len(nc.servers) >= 3,
                   what="cluster discovery")
        assert len(nc.servers) == 3
        watcher = natsync.connect(b.url)
        sub = watcher.subscribe("fo", pending_msgs_limit=-1)
        # the client may fail over to c: wait until c knows the watcher's interest. b
        # sends its route interest in order, so a probe subscribed after "fo" and
        # reached from c proves c has "fo" too
        probe_sub = watcher.subscribe("fo.probe")
        watcher.flush()
        prober = natsync.connect(_c.url)

        def probe_arrived() -> bool:
            prober.publish("fo.probe", b"?")
            prober.flush()
            try:
                probe_sub.next_msg(0.05)
            except errors.TimeoutError:
                return False
            return True

        wait_until(probe_arrived, timeout=30.0, what="c knows the watcher's interest")
        prober.close()
        a.kill()
        ev.wait_count("disconnected")
        for p in numbered(500):
            nc.publish("fo", p)
        ev.wait_count("reconnected")
        assert nc.connected_url is not None and nc.connected_url.port != a.port
        got = [sub.next_msg(10).data for _ in range(500)]
        assert got == numbered(500)
        nc.close()
        watcher.close()


@pytest.mark.slow
def test_lame_duck_client_stays_then_moves_within_the_cluster() -> None:
    with NatsCluster(2) as cluster:
        a, b = cluster.servers
        ev = Events()
        nc = natsync.connect([a.url, b.url], dont_randomize=True, **FAST, **ev.callbacks())
        assert nc.connected_url is not None and nc.connected_url.port == a.port
        a.lame_duck()
        ev.wait_count("ldm")
        # stays on a until the server closes it (after its grace period, 10 s by default)
        assert nc.connected_url is not None and nc.connected_url.port == a.port
        wait_until(lambda: nc.is_connected and nc.connected_url is not None
                   and nc.connected_url.port == b.port, timeout=60.0, what="moved to b")
        assert "disconnected" in ev.log
        nc.publish("ldm.ok", b"x")
        nc.flush(5)
        nc.close()


def test_close_aborts_a_hanging_reconnect_handshake(nats_server: NatsServer) -> None:
    """A reconnect stuck on a server that accepts but never speaks is aborted by close()."""
    import socket

    nc, ev = _down(nats_server, connect_timeout=30.0)
    silent = socket.socket()
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    silent.bind(("127.0.0.1", nats_server.port))
    silent.listen(8)
    try:
        wait_until(lambda: nc._dialing is not None, what="a dial in progress")
        t0 = time.monotonic()
        nc.close()
        assert time.monotonic() - t0 < 3
        assert nc.is_closed
    finally:
        silent.close()


def test_backoff_after_each_full_pass_uses_injected_random(nats_server: NatsServer) -> None:
    """wait + jitter is drawn once per full pass over the pool, from the injected
    source (no wall-clock assertions): reconnect_time_wait + random() * reconnect_jitter."""
    draws: List[float] = []

    def source() -> float:
        draws.append(0.5)
        return 0.5

    from natsync.backoff import Backoff

    delays: List[tuple] = []
    real = Backoff.delay

    def spy(self: Backoff, attempt: int, tls: bool) -> float:
        d = real(self, attempt, tls)
        delays.append((attempt, tls, d))
        return d

    Backoff.delay = spy  # type: ignore[method-assign]
    try:
        ev = Events()
        nc = natsync.connect(nats_server.url, reconnect_time_wait=0.02, reconnect_jitter=0.04,
                             reconnect_jitter_tls=5.0, reconnect_random=source,
                             max_reconnect_attempts=-1, **ev.callbacks())
        nats_server.kill()
        ev.wait_count("disconnected")
        wait_until(lambda: len(delays) >= 3)
        nats_server.restart()
        ev.wait_count("reconnected")
        nc.close()
    finally:
        Backoff.delay = real  # type: ignore[method-assign]
    assert [a for a, _t, _d in delays[:3]] == [1, 2, 3]
    assert all(t is False for _a, t, _d in delays)  # plain connection: reconnect_jitter
    assert all(abs(d - (0.02 + 0.5 * 0.04)) < 1e-9 for _a, _t, d in delays)
    assert len(draws) >= 3
