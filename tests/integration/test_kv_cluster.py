"""Key/Value on a 3-node JetStream cluster: an R3 bucket and its watch outlive the leader."""

from __future__ import annotations

import time
from typing import Any, Callable

import pytest

import natsync
from natsync import errors as core_errors
from natsync.js import errors as jse
from natsync.testing import NatsCluster

WAIT = 60.0

pytestmark = pytest.mark.slow

_TRANSIENT = (core_errors.TimeoutError, jse.NoStreamResponseError, jse.ServiceUnavailableError,
              core_errors.ConnectionReconnectingError)


def _until(what: str, attempt: Callable[[], Any]) -> Any:
    """``attempt()`` until it stops failing with a transient error (a leader election)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return attempt()
        except _TRANSIENT:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _stream_leader(js: Any, name: str) -> str:
    def leader() -> str:
        info = js.stream_info(name)
        if info.cluster is None or not info.cluster.leader:
            raise jse.ServiceUnavailableError(description="no leader yet")
        return str(info.cluster.leader)

    return str(_until("a stream leader", leader))


def test_r3_bucket_and_its_watch_outlive_the_leader(js_cluster: NatsCluster) -> None:
    with natsync.connect(js_cluster.urls, max_reconnect_attempts=-1,
                         reconnect_time_wait=0.1) as nc:
        js = nc.jetstream(timeout=5.0)
        kv = js.create_key_value(bucket="r3kv", history=5, replicas=3)
        rev = kv.put("a", b"1")
        leader = _stream_leader(js, "KV_r3kv")
        with kv.watchall() as w:
            first = w.updates(timeout=WAIT)
            assert (first.key, first.value) == ("a", b"1")
            assert w.updates(timeout=WAIT) is None
            js_cluster.server_named(leader).kill()

            def cas() -> int:
                try:
                    return int(kv.update("a", b"2", last=rev))
                except jse.KeyWrongLastSequenceError:
                    # an earlier attempt was stored but its ack was lost with the leader
                    entry = kv.get("a")
                    assert entry.value == b"2", entry
                    return int(entry.revision or 0)

            rev2 = _until("the update", cas)
            update = w.updates(timeout=WAIT)
            assert (update.key, update.value, update.revision) == ("a", b"2", rev2)
            assert _until("a read", lambda: kv.get("a")).value == b"2"
            assert _stream_leader(js, "KV_r3kv") != leader
