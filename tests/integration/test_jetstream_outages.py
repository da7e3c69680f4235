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


@pytest.mark.slow
def test_consume_goes_on_across_leader_changes_of_an_r3_stream() -> None:
    log = Log()
    with NatsCluster(3, jetstream=True) as cluster:
        nc = natsync.connect(cluster.urls, **FAST)
        try:
            js = jetstream.new(nc, timeout=10.0)
            deadline = time.monotonic() + WAIT
            while True:  # the meta leader needs a moment after the routes form
                try:
                    st = js.create_stream(name="R", subjects=["r.>"], num_replicas=3)
                    break
                except errors.Error:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.25)
            c = st.create_consumer(name="w", ack_policy="explicit", ack_wait=2.0, num_replicas=3)
            sent = publish(js, "r.a", 0, 60)
            cc = c.consume(log.handle, max_messages=10, max_wait=2, error_cb=log.error_cb)
            log.wait(lambda: len(log.acked) >= 30, "30 acked")
            before = st.get_info().cluster
            nc.request("$JS.API.STREAM.LEADER.STEPDOWN.R", b"", timeout=10.0)
            nc.request("$JS.API.CONSUMER.LEADER.STEPDOWN.R.w", b"", timeout=10.0)
            sent |= publish(js, "r.b", 60, 60)
            log.wait(lambda: log.handled == sent, "every message handled", timeout=60.0)
            settle(c)
            after = st.get_info().cluster
            assert before is not None and after is not None
            assert before.leader != after.leader
            cc.stop()
            assert log.redelivered_after_ack == []
            no_redelivery_after(c, 2.0)
        finally:
            nc.close()
