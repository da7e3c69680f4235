"""JetStream through a domain: a leaf node with JetStream of its own, and a hub reached by domain."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

import natsync
from natsync.js import errors as jse
from natsync.testing import NatsServer, free_port

WAIT = 30.0


def _js_block(store: str, domain: str) -> str:
    return f'jetstream {{\n  store_dir: "{store}"\n  domain: {domain}\n}}\n'


@pytest.fixture
def hub_and_leaf(tmp_path: Any) -> Iterator[tuple[NatsServer, NatsServer]]:
    leaf_port = free_port()
    hub = NatsServer(name="hub", config=_js_block(os.path.join(str(tmp_path), "hub"), "hub")
                     + f'leafnodes {{\n  listen: "127.0.0.1:{leaf_port}"\n}}\n')
    leaf = NatsServer(name="leaf", config=_js_block(os.path.join(str(tmp_path), "leaf"), "leaf")
                      + f'leafnodes {{\n  remotes: [ {{ url: "nats-leaf://127.0.0.1:{leaf_port}" }} ]\n}}\n')
    try:
        hub.start()
        leaf.start()
        deadline = time.monotonic() + WAIT
        while not (hub.monitor("leafz").get("leafnodes") and leaf.monitor("leafz").get("leafnodes")):
            assert time.monotonic() < deadline, "the leaf node did not connect"
            time.sleep(0.05)
        yield hub, leaf
    finally:
        leaf.close()
        hub.close()


def test_the_whole_api_through_a_domain(hub_and_leaf: tuple[NatsServer, NatsServer]) -> None:
    hub, leaf = hub_and_leaf
    with natsync.connect(leaf.url) as nc:  # connected to the leaf only
        local = nc.jetstream()
        assert local.account_info().domain == "leaf"
        js = nc.jetstream(domain="hub")
        deadline = time.monotonic() + WAIT
        while True:  # the hub's API becomes reachable once leaf interest has propagated
            try:
                assert js.account_info().domain == "hub"
                break
            except (jse.JetStreamNotEnabledError, natsync.errors.TimeoutError):
                assert time.monotonic() < deadline, "the hub's JetStream is not reachable"
                time.sleep(0.1)
        js.add_stream(name="HUBS", subjects=["hubs.>"])
        assert "HUBS" not in local.stream_names()  # created in the hub, not in the leaf
        with natsync.connect(hub.url) as hnc:
            assert hnc.jsm().stream_info("HUBS").config.name == "HUBS"
        deadline = time.monotonic() + WAIT
        while True:  # the stream's subject interest reaches the leaf
            try:
                ack = js.publish("hubs.1", b"one", retry_attempts=0)
                break
            except jse.NoStreamResponseError:
                assert time.monotonic() < deadline, "the hub stream's subjects never reached the leaf"
                time.sleep(0.1)
        assert (ack.stream, ack.seq, ack.domain) == ("HUBS", 1, "hub")
        fut = js.publish_async("hubs.2", b"two")
        assert fut.result(timeout=WAIT).seq == 2

        psub = js.pull_subscribe("hubs.>", durable="reader", stream="HUBS")
        msgs = psub.fetch(2, timeout=WAIT)
        while len(msgs) < 2:
            msgs += psub.fetch(2 - len(msgs), timeout=WAIT)
        assert [m.data for m in msgs] == [b"one", b"two"]
        md = msgs[0].metadata  # the server may use either ack-subject form
        assert (md.stream, md.consumer, md.sequence.stream) == ("HUBS", "reader", 1)
        assert md.domain in (None, "hub"), msgs[0].reply
        for m in msgs:
            m.ack_sync(timeout=WAIT)
        assert js.consumer_info("HUBS", "reader").num_ack_pending == 0

        sub = js.subscribe("hubs.>", stream="HUBS", ordered_consumer=True)
        assert [sub.next_msg(timeout=WAIT).data for _ in range(2)] == [b"one", b"two"]
        sub.unsubscribe()
        assert js.get_msg("HUBS", 2).data == b"two"
        assert js.delete_stream("HUBS") is True
