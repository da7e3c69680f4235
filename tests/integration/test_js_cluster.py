"""JetStream on a 3-node cluster: an R3 stream keeps every acked message when its leader dies."""

from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

import pytest

import natsync
from natsync import errors as core_errors
from natsync.js import api
from natsync.js import errors as jse
from natsync.testing import NatsCluster

WAIT = 60.0
T = TypeVar("T")

pytestmark = pytest.mark.slow


def _stream_leader(js: object, name: str) -> str:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            info = js.stream_info(name)  # type: ignore[attr-defined]
            if info.cluster is not None and info.cluster.leader:
                return str(info.cluster.leader)
        except (jse.Error, core_errors.TimeoutError):
            pass
        assert time.monotonic() < deadline, "no stream leader"
        time.sleep(0.1)


def _retry(fn: Callable[[], T]) -> T:
    """``fn()``, retried while the cluster elects new leaders after the kill."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return fn()
        except (jse.ServiceUnavailableError, jse.ServerError, core_errors.TimeoutError,
                core_errors.NoRespondersError):
            assert time.monotonic() < deadline, "the cluster did not recover"
            time.sleep(0.2)


def test_r3_stream_keeps_every_acked_message_when_the_leader_dies(
        js_cluster: NatsCluster) -> None:
    with natsync.connect(js_cluster.urls, max_reconnect_attempts=-1,
                         reconnect_time_wait=0.1) as nc:
        js = nc.jetstream(timeout=5.0)
        js.add_stream(name="R3", subjects=["r3.>"], num_replicas=3, duplicate_window=120.0)
        leader = _stream_leader(js, "R3")
        acked: dict[str, int] = {}
        failed_attempts = 0
        half = threading.Event()
        stop = threading.Event()
        errors: list[BaseException] = []

        def publisher() -> None:
            nonlocal failed_attempts
            i = 0
            try:
                while not stop.is_set() and i < 400:
                    msg_id = f"m-{i}"
                    try:
                        ack = js.publish(f"r3.{i}", str(i).encode(), timeout=2.0,
                                         headers={"Nats-Msg-Id": msg_id}, retry_attempts=8)
                    except (core_errors.TimeoutError, jse.NoStreamResponseError,
                            jse.ServiceUnavailableError, core_errors.ConnectionReconnectingError):
                        failed_attempts += 1  # not acked: retried with the same id below
                        continue
                    acked[msg_id] = ack.seq
                    i += 1
                    if i == 100:
                        half.set()
            except BaseException as exc:
                errors.append(exc)
            finally:
                half.set()

        t = threading.Thread(target=publisher)
        t.start()
        try:
            assert half.wait(WAIT)
            js_cluster.server_named(leader).kill()
            t.join(WAIT * 3)
        finally:
            stop.set()
            t.join(WAIT)
        assert not errors, errors
        assert len(acked) == 400
        new_leader = _stream_leader(js, "R3")
        assert new_leader != leader
        info = _retry(lambda: js.stream_info("R3"))
        assert info.state.messages == 400  # every acked message, no duplicate
        psub = _retry(lambda: js.pull_subscribe(
            "r3.>", durable="check", stream="R3",
            config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE)))
        seen = set()
        while len(seen) < 400:
            for m in psub.fetch(100, timeout=10.0):
                seen.add(m.data)
        assert seen == {str(i).encode() for i in range(400)}
