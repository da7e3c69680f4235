"""Push subscriptions and the ordered consumer on a real server, restarts included."""

from __future__ import annotations

import threading
import time

import pytest

import natsync
from natsync.js import api
from natsync.js import errors as jse
from natsync.msg import Msg
from natsync.testing import NatsServer
from tests.js_support import wait_consumer_state_written

WAIT = 30.0


@pytest.fixture
def nc(nc: natsync.Client) -> natsync.Client:
    """The shared client (tests/integration/conftest.py, which deletes the streams after
    each test), with this module's stream PS."""
    nc.jsm().add_stream(name="PS", subjects=["ps.>"])
    return nc


def _wait_for(cond: object, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _read(sub: object, n: int) -> list[Msg]:
    return [sub.next_msg(timeout=WAIT) for _ in range(n)]  # type: ignore[attr-defined]


def test_ordered_consumer_reads_in_order(nc: natsync.Client) -> None:
    js = nc.jetstream()
    for i in range(30):
        js.publish(f"ps.{i % 2}", str(i).encode())
    sub = js.subscribe("ps.>", ordered_consumer=True)
    got = _read(sub, 30)
    assert [m.data for m in got] == [str(i).encode() for i in range(30)]
    assert [m.metadata.sequence.stream for m in got] == list(range(1, 31))
    js.publish("ps.0", b"late")
    assert sub.next_msg(timeout=WAIT).data == b"late"
    with pytest.raises(natsync.errors.TimeoutError):
        sub.next_msg(timeout=0.2)
    info = sub.consumer_info()
    assert info.config.ack_policy is api.AckPolicy.NONE and info.config.flow_control
    sub.unsubscribe()
    assert js.consumers_info("PS") == []


def test_ordered_consumer_deliver_policy_and_headers_only(nc: natsync.Client) -> None:
    js = nc.jetstream()
    for i in range(5):
        js.publish("ps.h", b"x" * 100, headers={"N": str(i)})
    sub = js.subscribe("ps.h", ordered_consumer=True, deliver_policy=api.DeliverPolicy.LAST,
                       headers_only=True)
    m = sub.next_msg(timeout=WAIT)
    assert m.headers is not None and m.headers["N"] == "4" and m.data == b""
    assert m.headers["Nats-Msg-Size"] == "100"
    sub.unsubscribe()


def test_ordered_consumer_recreates_after_consumer_deleted(nc: natsync.Client) -> None:
    js = nc.jetstream()
    for i in range(5):
        js.publish("ps.d", str(i).encode())
    sub = js.subscribe("ps.d", ordered_consumer=True, idle_heartbeat=0.5)
    assert [m.data for m in _read(sub, 5)] == [b"0", b"1", b"2", b"3", b"4"]
    first = sub.consumer
    js.delete_consumer("PS", first)
    for i in range(5, 10):
        js.publish("ps.d", str(i).encode())
    assert [m.data for m in _read(sub, 5)] == [b"5", b"6", b"7", b"8", b"9"]
    assert sub.consumer != first
    sub.unsubscribe()


def test_ordered_consumer_across_restart(nats_server_factory: object) -> None:
    srv = nats_server_factory(jetstream=True)  # type: ignore[operator]
    with natsync.connect(srv.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1) as nc:
        js = nc.jetstream()
        js.add_stream(name="R", subjects=["r"])
        for i in range(20):
            js.publish("r", str(i).encode())
        sub = js.subscribe("r", ordered_consumer=True, idle_heartbeat=0.5)
        assert [m.data for m in _read(sub, 10)] == [str(i).encode() for i in range(10)]
        srv.kill()
        srv.restart()
        nc.flush(timeout=WAIT)
        for i in range(20, 30):
            js.publish("r", str(i).encode(), timeout=WAIT)
        rest = _read(sub, 20)
        assert [m.data for m in rest] == [str(i).encode() for i in range(10, 30)]
        assert [m.metadata.sequence.stream for m in rest] == list(range(11, 31))
        with pytest.raises(natsync.errors.TimeoutError):
            sub.next_msg(timeout=0.3)
        sub.unsubscribe()


def test_ordered_consumer_flow_control(nc: natsync.Client) -> None:
    js = nc.jetstream()
    payload = b"z" * 32 * 1024
    for i in range(200):
        js.publish_async("ps.fc", payload, headers={"I": str(i)})
    js.publish_async_completed(timeout=WAIT)
    spy = nc.subscribe("$JS.FC.>")  # sees the answers this client sends
    sub = js.subscribe("ps.fc", ordered_consumer=True)
    got = []
    for i in range(200):
        m = sub.next_msg(timeout=WAIT)
        got.append(int(m.headers["I"]))  # type: ignore[index,arg-type]
        if i % 50 == 0:
            time.sleep(0.05)  # a slow reader: the server waits for flow-control answers
    assert got == list(range(200))
    nc.flush()  # the answers are back in the spy's queue before the PONG
    sub.unsubscribe()
    fc_replies = [spy.next_msg(timeout=WAIT).subject for _ in range(spy.pending_msgs)]
    spy.unsubscribe()
    assert fc_replies, "the server asked for flow control and got an answer"
    assert len(fc_replies) == len(set(fc_replies)), "each flow-control request answered once"


def test_durable_push_with_callback_auto_acks(nc: natsync.Client) -> None:
    js = nc.jetstream()
    seen: list[bytes] = []
    done = threading.Event()

    def cb(msg: Msg) -> None:
        seen.append(msg.data)
        if len(seen) == 10:
            done.set()

    sub = js.subscribe("ps.cb", durable="dur", cb=cb)
    for i in range(10):
        js.publish("ps.cb", str(i).encode())
    assert done.wait(WAIT)
    assert seen == [str(i).encode() for i in range(10)]
    _wait_for(lambda: js.consumer_info("PS", "dur").num_ack_pending == 0, "acks")
    info = js.consumer_info("PS", "dur")
    assert info.ack_floor is not None and info.ack_floor.stream_seq == 10
    with pytest.raises(jse.Error):
        js.subscribe("ps.cb", durable="dur")  # already bound
    sub.unsubscribe()


def test_manual_ack_redelivers_unacked(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.publish("ps.m", b"a")
    js.publish("ps.m", b"b")
    sub = js.subscribe("ps.m", durable="man", config=api.ConsumerConfig(ack_wait=1.0))
    a = sub.next_msg(timeout=WAIT)
    b = sub.next_msg(timeout=WAIT)
    a.ack()
    again = sub.next_msg(timeout=WAIT)  # b, after ack_wait
    assert (a.data, b.data, again.data) == (b"a", b"b", b"b")
    assert again.metadata.num_delivered == 2
    again.ack()
    sub.unsubscribe()


def test_deliver_group_shares_messages(nc: natsync.Client) -> None:
    js = nc.jetstream()
    got: dict[str, list[bytes]] = {"a": [], "b": []}
    lock = threading.Lock()

    def make(name: str):  # type: ignore[no-untyped-def]
        def cb(msg: Msg) -> None:
            with lock:
                got[name].append(msg.data)
        return cb

    s1 = js.subscribe("ps.q", queue="workers", cb=make("a"))
    s2 = js.subscribe("ps.q", queue="workers", cb=make("b"))
    for i in range(40):
        js.publish("ps.q", str(i).encode())
    _wait_for(lambda: len(got["a"]) + len(got["b"]) == 40, "40 deliveries")
    assert sorted(got["a"] + got["b"]) == sorted(str(i).encode() for i in range(40))
    assert js.consumer_info("PS", "workers").config.deliver_group == "workers"
    with pytest.raises(jse.Error):
        js.subscribe("ps.q", durable="workers")  # a deliver group needs queue=
    s1.unsubscribe()
    s2.unsubscribe()


def test_missed_heartbeats_reach_error_cb(js_server: NatsServer) -> None:
    errors: list[BaseException] = []
    with natsync.connect(js_server.url, error_cb=errors.append) as nc:
        js = nc.jetstream()
        js.add_stream(name="HB", subjects=["hb"])
        sub = js.subscribe("hb", durable="hbd", idle_heartbeat=0.3)
        js.delete_consumer("HB", "hbd")
        _wait_for(lambda: any(isinstance(e, (jse.ConsumerNotActiveError,
                                             jse.ConsumerDeletedError)) for e in errors),
                  "a heartbeat alarm")
        sub.unsubscribe()
        js.delete_stream("HB")


@pytest.mark.slow
def test_durable_push_acks_survive_sigkill(nats_server_factory: object) -> None:
    srv = nats_server_factory(jetstream=True)  # type: ignore[operator]
    with natsync.connect(srv.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1) as nc:
        js = nc.jetstream()
        js.add_stream(name="DP", subjects=["dp"])
        for i in range(10):
            js.publish("dp", str(i).encode())
        sub = js.subscribe("dp", durable="dpc", manual_ack=True,
                           config=api.ConsumerConfig(ack_wait=2.0))
        first = _read(sub, 10)
        assert [int(m.data) for m in first] == list(range(10))
        for m in first[:6]:
            m.ack_sync(timeout=WAIT)
        wait_consumer_state_written(srv.store_dir, "DP", "dpc", time.time())
        srv.kill()
        srv.restart()
        nc.flush(timeout=WAIT)
        again = _read(sub, 4)  # the unacked ones, after ack_wait
        assert sorted(int(m.data) for m in again) == [6, 7, 8, 9]
        assert all(m.metadata.num_delivered >= 2 for m in again)
        for m in again:
            m.ack_sync(timeout=WAIT)
        with pytest.raises(natsync.errors.TimeoutError):
            sub.next_msg(timeout=3.0)  # past ack_wait: the acked ones never come back
        sub.unsubscribe()


def _monitor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate()
            if t.name.startswith("natsync-js-heartbeats") and t.is_alive()]


def test_slow_consumer_gap_is_reported_as_sequence_mismatch(js_server: NatsServer) -> None:
    """Messages the client dropped as a slow consumer: the next heartbeat's
    Nats-Last-Consumer shows the gap, reported once to error_cb with where to resume."""
    errors: list[BaseException] = []
    got: list[Msg] = []
    release = threading.Event()

    def cb(msg: Msg) -> None:
        release.wait(WAIT)  # the first message blocks the callback: the rest piles up
        got.append(msg)

    with natsync.connect(js_server.url, error_cb=errors.append) as nc:
        js = nc.jetstream()
        js.add_stream(name="SM", subjects=["sm"])
        sub = js.subscribe("sm", cb=cb, idle_heartbeat=0.5, pending_msgs_limit=4,
                           config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE))
        for i in range(30):  # past the 4 pending, they are dropped
            js.publish("sm", str(i).encode())
        _wait_for(lambda: (sub.consumer_info().delivered or api.SequenceInfo(0, 0))
                  .consumer_seq == 30, "the server to deliver all 30")
        release.set()
        _wait_for(lambda: any(isinstance(e, jse.ConsumerSequenceMismatchError) for e in errors),
                  "a sequence mismatch report")
        assert any(isinstance(e, natsync.errors.SlowConsumerError) for e in errors)
        assert 0 < len(got) < 30
        mism = [e for e in errors if isinstance(e, jse.ConsumerSequenceMismatchError)]
        last = got[-1].metadata.sequence
        assert mism[0].last_consumer_sequence == 30
        assert mism[0].consumer_sequence == last.consumer
        assert mism[0].stream_resume_sequence == last.stream + 1
        # resuming from there gets what was lost
        again = js.subscribe("sm", ordered_consumer=True, deliver_policy=api.DeliverPolicy
                             .BY_START_SEQUENCE, config=api.ConsumerConfig(
                                 opt_start_seq=mism[0].stream_resume_sequence))
        rest = _read(again, 30 - last.stream)
        assert [int(m.data) for m in rest] == list(range(last.stream, 30))
        again.unsubscribe()
        sub.unsubscribe()
        assert len(mism) == 1  # once per gap, though every heartbeat since showed it
        js.delete_stream("SM")


def test_heartbeat_alarms_run_on_one_monitor_thread_per_client(js_server: NatsServer) -> None:
    """Three watched subscriptions, one monitor thread; an alarm once per silence, again
    after heartbeats came back and stopped again; no monitor left after unsubscribe."""
    errors: list[BaseException] = []
    with natsync.connect(js_server.url, error_cb=errors.append) as nc:
        js = nc.jetstream()
        js.add_stream(name="HM", subjects=["hm.*"])
        before = len(_monitor_threads())
        deliver = nc.new_inbox()
        watched = js.subscribe("hm.a", durable="hma", idle_heartbeat=0.2,
                               config=api.ConsumerConfig(deliver_subject=deliver))
        others = [js.subscribe(f"hm.{s}", idle_heartbeat=0.2) for s in "bc"]
        assert len(_monitor_threads()) == before + 1

        def alarms() -> int:
            return sum(isinstance(e, jse.ConsumerNotActiveError) and "'hma'" in str(e)
                       for e in errors)

        config = js.consumer_info("HM", "hma").config
        js.delete_consumer("HM", "hma")  # its heartbeats stop
        _wait_for(lambda: alarms() == 1, "the first alarm")
        time.sleep(1.5)  # the silence goes on for more than 2 alarm periods: no repeat
        assert alarms() == 1
        js.add_consumer("HM", config=config)  # heartbeats again, on the same deliver subject
        js.publish("hm.a", b"back")
        assert watched.next_msg(timeout=WAIT).data == b"back"
        js.delete_consumer("HM", "hma")
        _wait_for(lambda: alarms() == 2, "the alarm of the second silence")
        assert not any(isinstance(e, jse.ConsumerNotActiveError) and "'hma'" not in str(e)
                       for e in errors)  # the others kept beating
        for s in [watched, *others]:
            s.unsubscribe()
        _wait_for(lambda: len(_monitor_threads()) == before, "the monitor thread to end")
        js.delete_stream("HM")
