"""natsync.jetstream (ADR-37) against real JetStream servers: fetch, next, messages(),
consume(), refill thresholds, deleted consumers, bad input, and many consumers at once.
Outages (SIGKILL, SIGSTOP, leader changes) are in test_jetstream_outages.py."""

from __future__ import annotations

import threading
import uuid
from typing import Any, List

import pytest

import natsync
import natsync.jetstream as jetstream
from natsync import errors
from natsync.jetstream import errors as jerrors
from natsync.js.errors import InvalidArgumentError
from natsync.testing import NatsServer

WAIT = 20.0


def uniq(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def stream_with(js: jetstream.JetStream, n: int, **cfg: Any) -> jetstream.Stream:
    name = uniq("S")
    st = js.create_stream(name=name, subjects=[f"{name}.>"], **cfg)
    nc = js.client
    for i in range(n):
        nc.publish(f"{name}.x", b"%d" % i)
    nc.flush(WAIT)
    info = st.get_info()
    deadline = WAIT
    while info.state.messages < n and deadline > 0:
        deadline -= 0.05
        threading.Event().wait(0.05)
        info = st.get_info()
    assert info.state.messages == n
    return st


class PullSniffer:
    """Counts the pull requests a consumer receives, seen from a second connection."""

    def __init__(self, server: NatsServer, stream: str, consumer: str) -> None:
        self.nc = natsync.connect(server.url)
        self.sub = self.nc.subscribe(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}")
        self.nc.flush(WAIT)

    def count(self) -> int:
        self.nc.flush(WAIT)
        return self.sub.pending_msgs

    def close(self) -> None:
        self.nc.close()


def test_new_and_management_names(nc: natsync.Client) -> None:
    js = jetstream.new(nc)
    assert js.api_prefix == "$JS.API"
    assert jetstream.new(nc, domain="hub").api_prefix == "$JS.hub.API"
    st = stream_with(js, 3)
    assert st.name in list(js.stream_names())
    assert any(i.config.name == st.name for i in js.list_streams())
    assert js.get_stream(st.name).info is not None
    assert js.account_info().streams >= 1
    assert js.get_message(st.name, 2).data == b"1"
    assert st.get_last_message_for_subject(f"{st.name}.x").data == b"2"
    c = st.create_consumer(name="c1", ack_policy="explicit")
    assert (c.name, c.stream_name) == ("c1", st.name)
    with pytest.raises(jerrors.APIError):  # create refuses an existing name with another config
        st.create_consumer(name="c1", ack_policy="explicit", description="other")
    c2 = st.update_consumer(name="c1", ack_policy="explicit", description="updated")
    assert c2.info.config.description == "updated"
    assert js.create_or_update_consumer(st.name, name="c2").name == "c2"
    assert sorted(js.consumer_names(st.name)) == ["c1", "c2"]
    assert {i.name for i in st.list_consumers()} == {"c1", "c2"}
    assert js.get_consumer(st.name, "c1").get_info().num_pending == 3
    st.delete_message(1)
    st.secure_delete_message(2)
    assert st.get_info().state.messages == 1
    st.purge()
    assert st.get_info().state.messages == 0
    assert st.delete_consumer("c2") and js.delete_consumer(st.name, "c1")
    assert js.delete_stream(st.name)


def test_fetch_returns_what_arrived_and_an_empty_batch_is_not_an_error(nc: natsync.Client) -> None:
    js = jetstream.new(nc)
    st = stream_with(js, 5)
    c = st.create_consumer(name="w", ack_policy="explicit")
    batch = c.fetch(max_messages=10, max_wait=1.0)
    got = [m.data for m in batch]
    assert got == [b"0", b"1", b"2", b"3", b"4"] and batch.error is None
    empty = c.fetch(max_messages=10, max_wait=1.0)
    assert list(empty) == [] and empty.error is None
    assert list(c.fetch_nowait(max_messages=5)) == []
    with pytest.raises(errors.TimeoutError):
        c.next(max_wait=1.0)
    nc.publish(f"{st.name}.x", b"late")
    msg = c.next(max_wait=5.0)
    assert msg.data == b"late" and msg.metadata.sequence.stream == 6
    msg.ack()
    by_bytes = c.fetch(max_bytes=1024, max_wait=1.0)
    assert list(by_bytes) == []


def test_bad_input_raises_before_any_request(js_server: NatsServer, nc: natsync.Client) -> None:
    js = jetstream.new(nc)
    st = stream_with(js, 0)
    c = st.create_consumer(name="w")
    sniff = PullSniffer(js_server, st.name, "w")
    try:
        for kwargs in (dict(max_messages=5, max_bytes=100), dict(max_wait=0.5),
                       dict(max_wait=10, heartbeat=6), dict(max_wait=0)):
            with pytest.raises(InvalidArgumentError):
                c.messages(**kwargs)
            with pytest.raises(InvalidArgumentError):
                c.consume(lambda m: None, **kwargs)
        for kwargs in (dict(max_messages=1, max_wait=0), dict(max_messages=1, max_wait=-1),
                       dict(max_messages=1, max_bytes=10), dict(), dict(max_messages=0),
                       dict(max_messages=1, max_wait=2, heartbeat=1.5)):
            with pytest.raises(InvalidArgumentError):
                c.fetch(**kwargs)
        with pytest.raises(InvalidArgumentError):
            c.next(max_wait=0)
        with pytest.raises(InvalidArgumentError):
            st.ordered_consumer(filter_subjects="not-a-list")
        assert sniff.count() == 0
    finally:
        sniff.close()


def test_messages_refill_threshold_keeps_pull_requests_few(js_server: NatsServer,
                                                            nc: natsync.Client) -> None:
    n, batch = 10_000, 200
    js = jetstream.new(nc)
    st = stream_with(js, n)
    c = st.create_consumer(name="w", ack_policy="explicit")
    sniff = PullSniffer(js_server, st.name, "w")
    seen = set()
    try:
        with c.messages(max_messages=batch) as msgs:
            for msg in msgs:
                seen.add(msg.data)
                msg.ack()
                if len(seen) == n:
                    break
            made = msgs.pull_requests
        nc.flush(WAIT)  # our last pull request reached the server
        observed = sniff.count()
    finally:
        sniff.close()
    assert len(seen) == n
    expected = n / (batch * 0.5)  # 100
    assert observed == made
    assert expected <= observed <= expected * 1.2, (observed, expected)
    assert c.get_info().num_ack_pending == 0


def test_consume_calls_back_on_its_own_thread_and_drains(nc: natsync.Client) -> None:
    js = jetstream.new(nc)
    st = stream_with(js, 300)
    c = st.create_consumer(name="w", ack_policy="explicit", ack_wait=1.0)
    got: List[bytes] = []
    threads = set()
    half = threading.Event()
    errs: List[BaseException] = []

    def cb(msg: natsync.Msg) -> None:
        threads.add(threading.current_thread().name)
        got.append(msg.data)
        msg.ack()
        if len(got) == 150:
            half.set()
        if len(got) == 10:
            raise RuntimeError("a failing callback is reported, not fatal")

    cc = c.consume(cb, max_messages=50, error_cb=errs.append)
    assert half.wait(WAIT)
    cc.drain()
    assert cc.closed().wait(WAIT)
    assert len(threads) == 1 and next(iter(threads)).startswith("natsync-consume-")
    assert any(isinstance(e, RuntimeError) for e in errs)
    assert len(got) == len(set(got)) >= 150
    rest = [m.data for m in c.fetch(max_messages=300, max_wait=4)]
    # drained: what consume() took was acked; the rest is still there (or redelivered
    # after ack_wait: what was in flight when the drain unsubscribed)
    assert set(rest) | set(got) == {b"%d" % i for i in range(300)}


def test_deleted_consumer_ends_messages_and_consume_with_a_clear_error(nc: natsync.Client) -> None:
    js = jetstream.new(nc)
    st = stream_with(js, 1)
    c = st.create_consumer(name="a", ack_policy="explicit")
    d = st.create_consumer(name="b", ack_policy="explicit")
    errs: List[BaseException] = []
    got = threading.Event()
    cc = d.consume(lambda m: got.set(), error_cb=errs.append)
    ms = c.messages(max_wait=2)
    assert next(ms).data == b"0"
    assert got.wait(WAIT)
    js.delete_consumer(st.name, "a")
    js.delete_consumer(st.name, "b")
    with pytest.raises(jerrors.ConsumerDeletedError, match="deleted"):
        for _ in ms:
            pass
    assert cc.closed().wait(WAIT)
    assert any(isinstance(e, jerrors.ConsumerDeletedError) for e in errs), errs
    ms.stop()


def test_ten_consumers_in_one_process_each_with_its_own_thread(nc: natsync.Client) -> None:
    js = jetstream.new(nc)
    n = 100
    st = stream_with(js, n)
    counts = [0] * 10
    done = [threading.Event() for _ in range(10)]
    names = [set() for _ in range(10)]  # type: List[set]

    def make_cb(i: int) -> Any:
        def cb(msg: natsync.Msg) -> None:
            names[i].add(threading.current_thread().name)
            counts[i] += 1
            msg.ack()
            if counts[i] == n:
                done[i].set()
        return cb

    ctxs = [st.create_consumer(name=f"c{i}", ack_policy="explicit").consume(make_cb(i),
                                                                             max_messages=20)
            for i in range(10)]
    try:
        for ev in done:
            assert ev.wait(WAIT)
    finally:
        for cc in ctxs:
            cc.stop()
    assert counts == [n] * 10
    all_names = set().union(*names)
    assert len(all_names) == 10 and all(len(s) == 1 for s in names)


def test_ordered_consumer_delivers_in_order_and_filters(nc: natsync.Client) -> None:
    js = jetstream.new(nc)
    st = stream_with(js, 50)
    nc.publish(f"{st.name}.y", b"other")
    oc = js.ordered_consumer(st.name, filter_subjects=[f"{st.name}.x"])
    with oc.messages(max_messages=10) as msgs:
        got = [m.data for _, m in zip(range(50), msgs)]
    assert got == [b"%d" % i for i in range(50)]
    # fetch goes on where messages() stopped
    oc2 = st.ordered_consumer()
    first = [m.data for m in oc2.fetch(max_messages=20, max_wait=2)]
    second = [m.data for m in oc2.fetch(max_messages=100, max_wait=1)]
    assert first + second == [b"%d" % i for i in range(50)] + [b"other"]
    oc2.close()


def test_message_acks_under_both_generations_of_names(nc: natsync.Client) -> None:
    js = jetstream.new(nc)
    st = stream_with(js, 0)
    acks = [js.publish(f"{st.name}.x", b"%d" % i) for i in range(5)]
    assert [a.sequence for a in acks] == [a.seq for a in acks] == [1, 2, 3, 4, 5]
    c = st.create_consumer(name="w", ack_policy="explicit", ack_wait=30.0)
    msgs = list(c.fetch(max_messages=5, max_wait=2))
    assert [m.metadata.sequence.stream for m in msgs] == [1, 2, 3, 4, 5]
    assert msgs[0].metadata.stream == st.name and msgs[0].metadata.consumer == "w"
    msgs[0].double_ack(timeout=5.0)
    msgs[1].in_progress()
    msgs[1].in_progress()  # not final: repeatable
    msgs[1].ack()
    msgs[2].term_with_reason("bad order")
    msgs[3].nak_with_delay(0.2)
    msgs[4].nak()
    with pytest.raises(errors.MsgAlreadyAckdError):
        msgs[0].double_ack()
    # the two naks come back (the delayed one later), nothing else does
    again = sorted(m.data for m in c.fetch(max_messages=5, max_wait=3))
    assert again == [b"3", b"4"]


def test_unknown_config_fields_are_natsync_errors(nc: natsync.Client) -> None:
    js = jetstream.new(nc)
    st = stream_with(js, 0)
    with pytest.raises(InvalidArgumentError, match="max_batch"):
        st.create_consumer(name="x", max_batch=5)
    with pytest.raises(InvalidArgumentError, match="subjectz"):
        js.create_stream(name=uniq("T"), subjectz=["t"])
