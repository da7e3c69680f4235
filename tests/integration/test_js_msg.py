"""JetStream message acks on a real server: ack, ack_sync, nak(delay), in_progress, term."""

from __future__ import annotations

import json

import pytest

import natsync
from natsync import errors
from natsync.js import api
from natsync.msg import Msg


@pytest.fixture
def nc(nc: natsync.Client) -> natsync.Client:
    """The shared client (tests/integration/conftest.py, which deletes the streams after
    each test), with this module's stream M."""
    nc.jsm().add_stream(name="M", subjects=["m.>"])
    return nc


def _next(nc: natsync.Client, consumer: str, expires: float = 5.0) -> Msg:
    """One message by a raw pull request (independent of the pull subscription layer)."""
    return _pull(nc, consumer, {"batch": 1, "expires": int(expires * 1e9)}, expires + 5)


def _pull(nc: natsync.Client, consumer: str, req: dict, timeout: float) -> Msg:
    inbox = nc.new_inbox()
    sub = nc.subscribe(inbox)
    try:
        nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.M.{consumer}", json.dumps(req).encode(), reply=inbox)
        return sub.next_msg(timeout=timeout)
    finally:
        sub.unsubscribe()


def _no_msg(nc: natsync.Client, consumer: str) -> bool:
    return _pull(nc, consumer, {"batch": 1, "no_wait": True}, 5).status in (404, 408)


def test_ack_metadata_and_double_ack(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.publish("m.1", b"one")
    js.add_consumer("M", durable_name="c", ack_wait=30.0)
    msg = _next(nc, "c")
    assert msg.data == b"one"
    md = msg.metadata
    assert (md.stream, md.consumer, md.sequence.stream, md.sequence.consumer) == ("M", "c", 1, 1)
    assert md.num_delivered == 1 and md.num_pending == 0
    msg.in_progress()
    msg.in_progress()  # repeatable, not final
    assert not msg.is_acked
    msg.ack_sync(timeout=5)
    assert msg.is_acked
    for again in (msg.ack, msg.nak, msg.term):
        with pytest.raises(errors.MsgAlreadyAckdError):
            again()
    info = js.consumer_info("M", "c")
    assert info.ack_floor is not None and info.ack_floor.stream_seq == 1
    assert info.num_ack_pending == 0


def test_nak_redelivers_and_term_stops(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.publish("m.1", b"x")
    js.add_consumer("M", durable_name="n", ack_wait=30.0)
    first = _next(nc, "n")
    first.nak()
    second = _next(nc, "n")
    assert second.data == b"x" and second.metadata.num_delivered == 2
    second.nak(delay=0.2)
    third = _next(nc, "n")
    assert third.metadata.num_delivered == 3
    third.term("cannot process")
    nc.flush()
    assert _no_msg(nc, "n")
    assert js.consumer_info("M", "n").num_ack_pending == 0


def test_unacked_is_redelivered_after_ack_wait(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.publish("m.1", b"y")
    js.add_consumer("M", api.ConsumerConfig(durable_name="w", ack_wait=1.0))
    first = _next(nc, "w")
    assert first.metadata.num_delivered == 1
    again = _next(nc, "w", expires=10.0)  # arrives once ack_wait passed
    assert again.data == b"y" and again.metadata.num_delivered == 2
    again.ack_sync(timeout=5)
    assert _no_msg(nc, "w")
