"""natsync.jetstream across outages, on real servers: SIGKILL and restart during
messages() and consume(), SIGSTOP/SIGCONT (missed heartbeats), an ordered consumer
across a restart, and a leader change of an R3 stream in a JetStream cluster.

Acked messages are confirmed by the server (ack_sync) and must never come back;
every published message must be acked in the end."""

from __future__ import annotations

import glob
import os
import signal
import threading
import time
from typing import Any, Callable, Iterator, List, Set

import pytest

import natsync
import natsync.jetstream as jetstream
from natsync import errors
from natsync.jetstream import errors as jerrors
from natsync.testing import NatsCluster, NatsServer

FAST = dict(reconnect_time_wait=0.1, reconnect_jitter=0.0, max_reconnect_attempts=-1)
WAIT = 60.0


class Log:
    """Thread-safe record of what a consumer saw, with bounded waits.

    ``acked``: acks the server confirmed; ``handled``: every message whose ack was
    sent (an ack whose confirmation was lost in an outage may still have been applied).
    ``gate``: cleared, the handler holds the next message before acking it."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.acked: Set[bytes] = set()
        self.handled: Set[bytes] = set()
        self.last_ack = 0.0
        self.redelivered_after_ack: List[bytes] = []
        self.errors: List[BaseException] = []
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()

    def error_cb(self, exc: BaseException) -> None:
        with self.cond:
            self.errors.append(exc)
            self.cond.notify_all()

    def handle(self, msg: natsync.Msg) -> None:
        if not self.gate.is_set():
            self.held.set()
            assert self.gate.wait(WAIT)
        with self.cond:
            if msg.data in self.acked:
                self.redelivered_after_ack.append(msg.data)
            self.handled.add(msg.data)
        try:
            msg.ack_sync(timeout=1.0)
        except errors.Error:
            return  # not confirmed (the server went away): it may be redelivered
        with self.cond:
            self.acked.add(msg.data)
            self.last_ack = time.time()
            self.cond.notify_all()

    def wait(self, pred: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        with self.cond:
            ok = self.cond.wait_for(pred, timeout)
        assert ok, f"{what} not reached in {timeout}s; acked={len(self.acked)} errors={self.errors}"


def wait_consumer_state_on_disk(server: NatsServer, log: Log, consumer: str = "w") -> None:
    """Wait until the server wrote the consumer's state (acks) after the last ack: a
    SIGKILL loses acks the server has confirmed but not yet written (it writes them
    lazily), and those come back after the restart, by the server's design."""
    store = server.store_dir
    assert store is not None
    deadline = time.monotonic() + WAIT
    while True:
        files = glob.glob(os.path.join(store, "**", "obs", consumer, "o.dat"), recursive=True)
        if files and os.path.getmtime(files[0]) > log.last_ack:
            return
        assert time.monotonic() < deadline, f"consumer state not written: {files}"
        time.sleep(0.05)


def hold_and_kill(server: NatsServer, log: Log) -> None:
    """Hold the handler, let the server write its state, SIGKILL it, restart it, release."""
    log.gate.clear()
    assert log.held.wait(WAIT)
    wait_consumer_state_on_disk(server, log)
    server.kill()
    server.restart()
    log.gate.set()


def publish(js: jetstream.JetStream, subject: str, start: int, n: int) -> Set[bytes]:
    sent = set()
    for i in range(start, start + n):
        js.publish(subject, b"%d" % i)
        sent.add(b"%d" % i)
    return sent


def settle(c: jetstream.Consumer) -> None:
    """Wait (consuming meanwhile) until the server has nothing pending for ``c``: acks
    whose confirmation was lost in the outage and not applied come back and are acked."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            info = c.get_info()
            if info.num_ack_pending == 0 and info.num_pending == 0:
                return
        except errors.Error:
            pass
        assert time.monotonic() < deadline, "the consumer did not settle"
        time.sleep(0.1)


def no_redelivery_after(c: jetstream.Consumer, ack_wait: float) -> None:
    """After ack_wait, nothing comes back: every acked message stays acked."""
    late = list(c.fetch(max_messages=100, max_wait=ack_wait + 1.0))
    assert late == []
    info = c.get_info()
    assert info.num_ack_pending == 0 and info.num_pending == 0


@pytest.fixture
def server() -> Iterator[NatsServer]:
    with NatsServer(jetstream=True) as srv:
        yield srv


def setup(nc: natsync.Client, ack_wait: float = 2.0) -> Any:
    js = jetstream.new(nc)
    st = js.create_stream(name="S", subjects=["s.>"], storage="file")
    c = st.create_consumer(name="w", ack_policy="explicit", ack_wait=ack_wait)
    return js, st, c


@pytest.mark.slow
def test_messages_goes_on_across_sigkill_and_restart(server: NatsServer) -> None:
    log = Log()
    nc = natsync.connect(server.url, error_cb=log.error_cb, **FAST)
    try:
        js, st, c = setup(nc)
        sent = publish(js, "s.a", 0, 100)
        failure: List[BaseException] = []
        msgs = c.messages(max_messages=10, max_wait=4)

        def run() -> None:
            try:
                for msg in msgs:
                    log.handle(msg)
            except BaseException as exc:  # reported to the test thread
                failure.append(exc)

        t = threading.Thread(target=run)
        t.start()
        try:
            log.wait(lambda: len(log.acked) >= 50, "50 acked")
            hold_and_kill(server, log)
            sent |= publish(js, "s.b", 100, 100)
            log.wait(lambda: log.handled == sent, "every message handled")
            settle(c)
            assert t.is_alive() and not failure, failure  # the outage did not end it
        finally:
            msgs.stop()
            t.join(WAIT)
        assert not t.is_alive() and not failure, failure
        assert log.redelivered_after_ack == []
        no_redelivery_after(c, 2.0)
    finally:
        nc.close()


@pytest.mark.slow
def test_consume_goes_on_across_sigkill_and_restart(server: NatsServer) -> None:
    log = Log()
    nc = natsync.connect(server.url, **FAST)
    try:
        js, st, c = setup(nc)
        sent = publish(js, "s.a", 0, 100)
        cc = c.consume(log.handle, max_messages=10, max_wait=4, error_cb=log.error_cb)
        log.wait(lambda: len(log.acked) >= 50, "50 acked")
        hold_and_kill(server, log)
        sent |= publish(js, "s.b", 100, 100)
        log.wait(lambda: log.handled == sent, "every message handled")
        settle(c)
        assert not cc.closed().is_set()
        cc.stop()
        assert cc.closed().is_set()
        assert log.redelivered_after_ack == []
        no_redelivery_after(c, 2.0)
    finally:
        nc.close()


@pytest.mark.slow
def test_missed_heartbeat_warning_on_sigstop_and_resume_on_sigcont(server: NatsServer) -> None:
    log = Log()
    nc = natsync.connect(server.url, **FAST)
    pid = server.pid
    assert pid is not None
    try:
        js, st, c = setup(nc, ack_wait=10.0)
        sent = publish(js, "s.a", 0, 10)
        cc = c.consume(log.handle, max_messages=10, max_wait=2, heartbeat=0.5,
                       error_cb=log.error_cb)
        log.wait(lambda: len(log.acked) == 10, "first 10 acked")
        os.kill(pid, signal.SIGSTOP)
        try:
            log.wait(lambda: any(isinstance(e, jerrors.MissedHeartbeatError) for e in log.errors),
                     "a missed-heartbeat warning")
        finally:
            os.kill(pid, signal.SIGCONT)
        sent |= publish(js, "s.b", 10, 10)
        log.wait(lambda: log.handled == sent, "consumption resumed")
        cc.stop()
        hb = [e for e in log.errors if isinstance(e, jerrors.MissedHeartbeatError)][0]
        assert "no heartbeat" in str(hb) and hb.consumer == "w"
    finally:
        nc.close()


@pytest.mark.slow
def test_ordered_consumer_across_restart_delivers_each_message_once_in_order(
        server: NatsServer) -> None:
    nc = natsync.connect(server.url, **FAST)
    try:
        js = jetstream.new(nc)
        js.create_stream(name="O", subjects=["o.>"], storage="file")
        publish(js, "o.x", 0, 100)
        oc = js.ordered_consumer("O")
        got: List[bytes] = []
        with oc.messages(max_messages=10, max_wait=2) as msgs:
            for msg in msgs:
                got.append(msg.data)
                if len(got) == 50:
                    server.kill()
                    server.restart()
                    publish(js, "o.x", 100, 50)
                if len(got) == 150:
                    break
        assert got == [b"%d" % i for i in range(150)]
        oc.close()
    finally:
        nc.close()


def retry(fn: Callable[[], Any], what: str) -> Any:
    """Call ``fn`` until it succeeds (the cluster's meta leader may be electing)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return fn()
        except errors.Error:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not succeed within {WAIT}s") from None
            time.sleep(0.25)


def wait_new_leader(cluster_info: Callable[[], Any], old: Any) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            info = cluster_info()
            if info is not None and info.leader and info.leader != old:
                return
        except errors.Error:
            pass
        assert time.monotonic() < deadline, f"no new leader after {old}"
        time.sleep(0.1)


@pytest.mark.slow
def test_messages_and_consume_go_on_across_leader_changes_of_an_r3_stream() -> None:
    """Leader stepdowns of the stream and its consumers while a consume() and a
    messages() run: both go on, nothing acked comes back, nothing is lost."""
    a, b = Log(), Log()
    with NatsCluster(3, jetstream=True) as cluster:
        nc = natsync.connect(cluster.urls, **FAST)
        try:
            js = jetstream.new(nc, timeout=10.0)
            st = retry(lambda: js.create_stream(name="R", subjects=["r.>"], num_replicas=3),
                       "create the R3 stream")
            ca = st.create_consumer(name="a", ack_policy="explicit", ack_wait=2.0, num_replicas=3)
            cb = st.create_consumer(name="b", ack_policy="explicit", ack_wait=2.0, num_replicas=3)
            sent = publish(js, "r.a", 0, 60)
            cc = ca.consume(a.handle, max_messages=10, max_wait=2, error_cb=a.error_cb)
            msgs = cb.messages(max_messages=10, max_wait=2, error_cb=b.error_cb)
            failure: List[BaseException] = []

            def run() -> None:
                try:
                    for msg in msgs:
                        b.handle(msg)
                except BaseException as exc:
                    failure.append(exc)

            t = threading.Thread(target=run)
            t.start()
            try:
                a.wait(lambda: len(a.acked) >= 20, "20 acked by consume()")
                b.wait(lambda: len(b.acked) >= 20, "20 acked by messages()")
                # the stream's leader steps down, then each consumer's, one at a time,
                # each once the previous one has a new leader
                old = retry(lambda: st.get_info().cluster, "stream info").leader
                nc.request("$JS.API.STREAM.LEADER.STEPDOWN.R", b"", timeout=10.0)
                wait_new_leader(lambda: st.get_info().cluster, old)
                for c in (ca, cb):
                    old = retry(lambda: c.get_info().cluster, "consumer info").leader  # noqa: B023
                    nc.request(f"$JS.API.CONSUMER.LEADER.STEPDOWN.R.{c.name}", b"", timeout=10.0)
                    wait_new_leader(lambda: c.get_info().cluster, old)  # noqa: B023
                sent |= retry(lambda: publish(js, "r.b", 60, 60), "publish after the stepdowns")
                for log in (a, b):
                    log.wait(lambda log=log: log.handled == sent, "every message handled",  # type: ignore[misc]
                             timeout=90.0)
                settle(ca)
                settle(cb)
                assert t.is_alive() and not failure, failure
                assert not cc.closed().is_set()
            finally:
                cc.stop()
                msgs.stop()
                t.join(WAIT)
            assert not failure, failure
            assert a.redelivered_after_ack == [] and b.redelivered_after_ack == []
            no_redelivery_after(ca, 2.0)
            no_redelivery_after(cb, 2.0)
        finally:
            nc.close()


@pytest.mark.slow
def test_consumer_lost_in_an_outage_ends_messages_with_a_clear_error(server: NatsServer) -> None:
    log = Log()
    nc = natsync.connect(server.url, **FAST)
    try:
        js = jetstream.new(nc)
        st = js.create_stream(name="M", subjects=["m.>"], storage="memory")
        c = st.create_consumer(name="w", ack_policy="explicit")
        js.publish("m.x", b"0")
        msgs = c.messages(max_messages=10, max_wait=2, error_cb=log.error_cb)
        assert next(msgs).data == b"0"
        server.kill()
        server.restart()  # a memory stream, and its consumer, do not survive this
        with pytest.raises(jerrors.ConsumerDeletedError, match="no longer exists"):
            next(msgs)
        assert any(isinstance(e, jerrors.JetStreamNotReadyError) for e in log.errors)
    finally:
        nc.close()


def test_closing_the_client_ends_an_ordered_consume(server: NatsServer) -> None:
    nc = natsync.connect(server.url, **FAST)
    js = jetstream.new(nc)
    js.create_stream(name="C", subjects=["c.>"])
    publish(js, "c.x", 0, 3)
    got: List[bytes] = []
    three = threading.Event()

    def cb(msg: natsync.Msg) -> None:
        got.append(msg.data)
        if len(got) == 3:
            three.set()

    cc = js.ordered_consumer("C").consume(cb, max_wait=2)
    assert three.wait(WAIT)
    nc.close()
    assert cc.closed().wait(WAIT)  # the consume thread ends with the client
    assert got == [b"0", b"1", b"2"]
