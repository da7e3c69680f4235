"""JetStream management and publish with acks, against a real nats-server with JetStream."""

from __future__ import annotations

import os
import threading

import pytest

import natsync
from natsync import errors as core_errors
from natsync.js import api
from natsync.js import errors as jse
from natsync.testing import NatsServer
from tests.conn_events import wait_until

WAIT = 20.0


def test_stream_lifecycle(nc: natsync.Client) -> None:
    js = nc.jetstream()
    info = js.add_stream(name="ORDERS", subjects=["orders.>"], storage=api.StorageType.MEMORY,
                         max_msgs=100, duplicate_window=30.0, description="orders")
    assert info.config.name == "ORDERS" and info.config.subjects == ["orders.>"]
    assert info.config.storage is api.StorageType.MEMORY and info.config.duplicate_window == 30.0
    assert info.state.messages == 0 and info.created is not None

    info = js.update_stream(info.config.evolve(max_msgs=200, description="more"))
    assert info.config.max_msgs == 200 and info.config.description == "more"
    assert js.stream_info("ORDERS").config.max_msgs == 200

    js.add_stream(api.StreamConfig(name="OTHER", subjects=["other"]))
    assert {s.config.name for s in js.streams_info()} == {"ORDERS", "OTHER"}
    assert set(js.stream_names()) == {"ORDERS", "OTHER"}
    assert js.find_stream_name_by_subject("orders.eu.1") == "ORDERS"
    with pytest.raises(jse.NotFoundError):
        js.find_stream_name_by_subject("nowhere")
    with pytest.raises(jse.StreamNameAlreadyInUseError):
        js.add_stream(name="ORDERS", subjects=["different"])
    assert js.delete_stream("OTHER") is True
    with pytest.raises(jse.StreamNotFoundError) as exc:
        js.stream_info("OTHER")
    assert exc.value.code == 404 and exc.value.err_code == 10059


def test_stream_info_subjects_filter_and_purge(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="P", subjects=["p.*"])
    for i in range(6):
        js.publish(f"p.{i % 3}", str(i).encode())
    info = js.stream_info("P", subjects_filter="p.*")
    assert info.state.subjects == {"p.0": 2, "p.1": 2, "p.2": 2}
    assert js.purge_stream("P", subject="p.0") is True
    assert js.stream_info("P").state.messages == 4
    assert js.purge_stream("P", keep=1) is True
    assert js.stream_info("P").state.messages == 1
    js.publish("p.1", b"x")
    js.publish("p.1", b"y")
    last = js.stream_info("P").state.last_seq
    assert js.purge_stream("P", seq=last) is True  # up to, not including, last
    state = js.stream_info("P").state
    assert state.messages == 1 and state.first_seq == last
    assert js.purge_stream("P") is True
    assert js.stream_info("P").state.messages == 0


def test_publish_ack_dedupe_and_expectations(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="E", subjects=["e.>"], duplicate_window=60.0)
    ack = js.publish("e.a", b"one", headers={"Nats-Msg-Id": "m1"})
    assert (ack.stream, ack.seq, ack.duplicate) == ("E", 1, None)
    again = js.publish("e.a", b"one", headers={api.Header.MSG_ID: "m1"})
    assert (again.seq, again.duplicate) == (1, True)
    assert js.stream_info("E").state.messages == 1

    with pytest.raises(jse.StreamNotMatchError) as exc:
        js.publish("e.a", b"x", stream="WRONG")
    assert exc.value.err_code == 10060
    assert js.publish("e.a", b"two", stream="E").seq == 2
    with pytest.raises(jse.WrongLastSequenceError):
        js.publish("e.a", b"x", headers={"Nats-Expected-Last-Sequence": "1"})
    assert js.publish("e.a", b"3", headers={"Nats-Expected-Last-Sequence": "2"}).seq == 3
    with pytest.raises(jse.WrongLastSequenceError):
        js.publish("e.b", b"x", headers={"Nats-Expected-Last-Subject-Sequence": "3"})
    assert js.publish("e.a", b"4", headers={"Nats-Expected-Last-Subject-Sequence": "3",
                                           "Nats-Msg-Id": "m4"}).seq == 4
    with pytest.raises(jse.WrongLastMsgIDError):
        js.publish("e.a", b"x", headers={"Nats-Expected-Last-Msg-Id": "nope"})
    hdrs = {"Nats-Msg-Id": "m5", "Nats-Expected-Last-Msg-Id": "m4"}
    assert js.publish("e.a", b"5", headers=hdrs).seq == 5
    assert hdrs == {"Nats-Msg-Id": "m5", "Nats-Expected-Last-Msg-Id": "m4"}  # not modified
    assert js.stream_info("E").state.messages == 5


def test_dedupe_window_expires(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="W", subjects=["w"], duplicate_window=1.0)
    assert js.publish("w", b"1", headers={"Nats-Msg-Id": "same"}).seq == 1
    assert js.publish("w", b"1", headers={"Nats-Msg-Id": "same"}).duplicate is True

    def accepted_again() -> bool:
        ack = js.publish("w", b"1", headers={"Nats-Msg-Id": "same"})
        return not ack.duplicate

    wait_until(accepted_again, "the duplicate window to pass")
    assert js.stream_info("W").state.messages == 2


def test_four_threads_publish_at_once(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="T", subjects=["t.*"])
    seqs: list[int] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(50):
                ack = js.publish(f"t.{n}", f"{n}-{i}".encode(), headers={"Nats-Msg-Id": f"{n}-{i}"})
                with lock:
                    seqs.append(ack.seq)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 3)
    assert not failures
    assert sorted(seqs) == list(range(1, 201))
    info = js.stream_info("T", subjects_filter="t.*")
    assert info.state.messages == 200 and info.state.subjects == {f"t.{n}": 50 for n in range(4)}


def test_publish_without_stream_retries_then_raises(nc: natsync.Client) -> None:
    js = nc.jetstream()
    before = nc.stats["in_msgs"]
    with pytest.raises(jse.NoStreamResponseError) as exc:
        js.publish("no.stream.here", b"x", retry_wait=0.01)
    assert "no stream" in str(exc.value)
    assert nc.stats["in_msgs"] - before == 3  # the first attempt and 2 retries, each a 503


def test_publish_retries_until_the_stream_appears(js_server: NatsServer, nc: natsync.Client) -> None:
    js = nc.jetstream()
    result: list[object] = []
    before = nc.stats["in_msgs"]
    t = threading.Thread(target=lambda: result.append(
        js.publish("late.1", b"x", retry_attempts=400, retry_wait=0.05)))
    t.start()
    try:
        wait_until(lambda: nc.stats["in_msgs"] > before, "a first 503 answer")
        with natsync.connect(js_server.url) as admin:
            admin.jsm().add_stream(name="LATE", subjects=["late.*"])
    finally:
        t.join(WAIT)
    assert len(result) == 1
    ack = result[0]
    assert isinstance(ack, api.PubAck) and (ack.stream, ack.seq) == ("LATE", 1)


def test_get_msg_direct_and_delete(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="G", subjects=["g.*"], allow_direct=True)
    js.publish("g.a", b"a1", headers={"X-Tag": ["one", "two"]})
    js.publish("g.b", b"b1")
    js.publish("g.a", b"a2")
    m = js.get_msg("G", 1)
    assert (m.subject, m.seq, m.data, m.stream) == ("g.a", 1, b"a1", "G")
    assert m.headers == {"X-Tag": ["one", "two"]} and m.time is not None
    d = js.get_msg("G", 1, direct=True)
    assert (d.subject, d.seq, d.data) == ("g.a", 1, b"a1")
    assert d.headers is not None and d.headers["X-Tag"] == ["one", "two"]
    for direct in (False, True):
        last = js.get_last_msg("G", "g.a", direct=direct)
        assert (last.seq, last.data) == (3, b"a2")
        nxt = js.get_msg("G", 2, subject="g.a", next=True, direct=direct)
        assert (nxt.seq, nxt.data) == (3, b"a2")
        with pytest.raises(jse.MsgNotFoundError):
            js.get_msg("G", 99, direct=direct)
    assert js.delete_msg("G", 1) is True
    with pytest.raises(jse.NotFoundError):
        js.get_msg("G", 1)
    assert js.stream_info("G").state.messages == 2


def test_consumers(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="C", subjects=["c.>"])
    durable = js.add_consumer("C", durable_name="dur", max_ack_pending=7,
                              backoff=[1.0, 2.0], max_deliver=4, metadata={"team": "a"})
    assert durable.name == "dur" and durable.config.ack_wait == 1.0  # backoff[0]
    assert durable.config.backoff == [1.0, 2.0] and durable.config.max_ack_pending == 7
    assert durable.config.metadata is not None and durable.config.metadata["team"] == "a"
    named = js.add_consumer("C", api.ConsumerConfig(
        name="named", filter_subject="c.x", deliver_policy=api.DeliverPolicy.LAST,
        ack_policy=api.AckPolicy.ALL, inactive_threshold=60.0, ack_wait=12.5))
    assert named.config.ack_wait == 12.5 and named.config.inactive_threshold == 60.0
    assert named.config.filter_subject == "c.x" and named.config.ack_policy is api.AckPolicy.ALL
    multi = js.add_consumer("C", name="multi", filter_subjects=["c.a", "c.b"],
                            ack_policy=api.AckPolicy.NONE)
    assert multi.config.filter_subjects == ["c.a", "c.b"]
    eph = js.add_consumer("C", inactive_threshold=30.0)
    assert eph.name and eph.config.durable_name is None
    names = {c.name for c in js.consumers_info("C")}
    assert names == {"dur", "named", "multi", eph.name}
    assert js.consumer_info("C", "dur").config.max_deliver == 4
    assert js.stream_info("C").state.consumer_count == 4
    assert js.delete_consumer("C", "named") is True
    with pytest.raises(jse.ConsumerNotFoundError):
        js.consumer_info("C", "named")


def test_pause_and_resume_consumer(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="PZ", subjects=["pz"])
    js.add_consumer("PZ", durable_name="d")
    paused = js.pause_consumer("PZ", "d", "2099-01-01T00:00:00Z")
    assert paused.paused is True
    assert js.consumer_info("PZ", "d").paused is True
    resumed = js.resume_consumer("PZ", "d")
    assert resumed.paused is False
    assert not js.consumer_info("PZ", "d").paused


def test_account_info(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="A", subjects=["acct"])
    info = js.account_info()
    assert info.streams == 1 and info.limits.max_streams == -1 and info.api.total > 0


def test_bad_input_raises_before_sending(nc: natsync.Client) -> None:
    js = nc.jetstream()
    nc.flush()
    sent = nc.stats["out_msgs"]
    for bad in ("a.b", "a*", "a>", "a b", ""):
        with pytest.raises(jse.InvalidStreamNameError):
            js.add_stream(name=bad, subjects=["x"])
        with pytest.raises(jse.InvalidStreamNameError):
            js.stream_info(bad)
        with pytest.raises(jse.InvalidConsumerNameError):
            js.add_consumer("S", durable_name=bad or "x.y")
        with pytest.raises(jse.InvalidConsumerNameError):
            js.consumer_info("S", bad)
    with pytest.raises(core_errors.BadTimeoutError):
        js.publish("x", b"", timeout=0)
    with pytest.raises(core_errors.BadTimeoutError):
        nc.jetstream(timeout=-1)
    with pytest.raises(jse.InvalidArgumentError):
        js.add_consumer("S", name="a", durable_name="b")
    with pytest.raises(jse.InvalidArgumentError):
        js.get_msg("S")
    assert nc.stats["out_msgs"] == sent


def test_without_jetstream_the_error_says_to_enable_it(nats_server: NatsServer) -> None:
    with natsync.connect(nats_server.url) as nc:
        with pytest.raises(jse.JetStreamNotEnabledError) as exc:
            nc.jsm().account_info()
        assert "JetStream is not enabled" in str(exc.value) and "-js" in str(exc.value)
        assert isinstance(exc.value, jse.ServiceUnavailableError)
        with pytest.raises(jse.NoStreamResponseError):
            nc.jetstream().publish("foo", b"x", retry_attempts=0)


def test_domain(tmp_path: object, nats_server_factory: object) -> None:
    store = os.path.join(str(tmp_path), "js")
    srv = nats_server_factory(  # type: ignore[operator]
        config=f'jetstream {{\n  store_dir: "{store}"\n  domain: hub\n}}')
    with natsync.connect(srv.url) as nc:
        js = nc.jetstream(domain="hub")
        js.add_stream(name="D", subjects=["d"])
        ack = js.publish("d", b"x")
        assert (ack.stream, ack.seq, ack.domain) == ("D", 1, "hub")
        assert js.account_info().domain == "hub"
        assert nc.jsm(prefix="$JS.hub.API").stream_info("D").state.messages == 1
        with pytest.raises(jse.JetStreamNotEnabledError) as exc:
            nc.jsm(domain="elsewhere").account_info()
        assert "elsewhere" in str(exc.value)


def test_msg_ttl(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="TTL", subjects=["ttl.*"], allow_msg_ttl=True)
    js.publish("ttl.keep", b"stays")
    ack = js.publish("ttl.short", b"goes", msg_ttl=1.5)
    assert js.get_msg("TTL", ack.seq).headers == {"Nats-TTL": "1500ms"}
    wait_until(lambda: js.stream_info("TTL").state.messages == 1, "the message to expire")
    assert js.get_last_msg("TTL", "ttl.keep").data == b"stays"
    with pytest.raises(jse.InvalidArgumentError):
        js.publish("ttl.x", b"", msg_ttl=0.5)  # under the server's minimum of 1 s
