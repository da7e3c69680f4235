"""JetStream through an imported API prefix: account B uses the JetStream of account A."""

from __future__ import annotations

import pytest

import natsync
from natsync.js import errors as jse
from natsync.testing import NatsServer

WAIT = 30.0

ACCOUNTS = """
accounts {
  A: {
    jetstream: enabled
    users: [ {user: a, password: a} ]
    exports: [
      {service: "$JS.API.>", response_type: stream}
      {service: "$JS.ACK.>"}
      {service: "work.>"}
    ]
  }
  B: {
    users: [ {user: b, password: b} ]
    imports: [
      {service: {account: A, subject: "$JS.API.>"}, to: "fromA.API.>"}
      {service: {account: A, subject: "$JS.ACK.>"}}
      {service: {account: A, subject: "work.>"}}
    ]
  }
}
"""


@pytest.fixture
def server(nats_server_factory: object) -> NatsServer:
    return nats_server_factory(jetstream=True, config=ACCOUNTS)  # type: ignore[operator,no-any-return]


def test_imported_prefix(server: NatsServer) -> None:
    host_port = server.url.split("://", 1)[1]
    with natsync.connect(f"nats://a:a@{host_port}") as owner:
        owner.jetstream().add_stream(name="WORK", subjects=["work.>"])
        owner.jetstream().add_consumer("WORK", durable_name="shared")
    with natsync.connect(f"nats://b:b@{host_port}") as nc:
        with pytest.raises(jse.JetStreamNotEnabledError):
            nc.jsm().account_info()  # B has no JetStream of its own
        js = nc.jetstream(prefix="fromA.API")
        assert js.stream_info("WORK").config.subjects == ["work.>"]
        assert [c.name for c in js.consumers_info("WORK")] == ["shared"]
        ack = js.publish("work.1", b"job from B")
        assert (ack.stream, ack.seq) == ("WORK", 1)
        psub = js.pull_subscribe_bind("shared", stream="WORK")
        (msg,) = psub.fetch(1, timeout=WAIT)
        assert msg.data == b"job from B" and msg.metadata.stream == "WORK"
        msg.ack_sync(timeout=WAIT)
        assert js.consumer_info("WORK", "shared").num_ack_pending == 0
