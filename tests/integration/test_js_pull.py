"""Pull subscriptions and fetch on a real server: statuses, orphans, restarts, redelivery."""

from __future__ import annotations

import time

import pytest

import natsync
from natsync import errors as core_errors
from natsync.js import api
from natsync.js import errors as jse
from natsync.testing import NatsServer
from tests.js_support import wait_consumer_state_written

WAIT = 30.0


@pytest.fixture
def nc(nc: natsync.Client) -> natsync.Client:
    """The shared client (tests/integration/conftest.py, which deletes the streams after
    each test), with this module's stream PL."""
    nc.jsm().add_stream(name="PL", subjects=["pl.>"])
    return nc


def test_fetch_batches_and_acks(nc: natsync.Client) -> None:
    js = nc.jetstream()
    for i in range(25):
        js.publish("pl.a", str(i).encode())
    psub = js.pull_subscribe("pl.a", durable="worker")
    got = []
    while len(got) < 25:
        msgs = psub.fetch(10, timeout=3.0)  # the last batch is partial: it ends at the timeout
        assert 1 <= len(msgs) <= 10
        for m in msgs:
            m.ack()
            got.append(int(m.data))
    assert got == list(range(25))
    assert psub.delivered == 25
    nc.flush()
    with pytest.raises(jse.FetchTimeoutError):
        psub.fetch(5, timeout=0.5)
    with pytest.raises(core_errors.TimeoutError):  # also the natsync and builtin TimeoutError
        psub.fetch(1, timeout=0.3)
    info = psub.consumer_info()
    assert info.num_ack_pending == 0 and info.num_pending == 0
    # binding again to the durable continues where it stopped
    js.publish("pl.a", b"25")
    again = js.pull_subscribe_bind("worker", stream="PL")
    (m,) = again.fetch(1, timeout=WAIT)
    assert m.data == b"25" and m.metadata.consumer == "worker"
    m.ack_sync(timeout=WAIT)


def test_fetch_returns_partial_batch_when_time_is_up(nc: natsync.Client) -> None:
    js = nc.jetstream()
    for i in range(3):
        js.publish("pl.p", str(i).encode())
    psub = js.pull_subscribe("pl.p", durable="partial")
    msgs = psub.fetch(10, timeout=1.0)
    assert [m.data for m in msgs] == [b"0", b"1", b"2"]


def test_no_orphan_pull_request_delays_the_next_fetch(nc: natsync.Client) -> None:
    js = nc.jetstream()
    psub = js.pull_subscribe("pl.o", durable="orphan")
    with pytest.raises(jse.FetchTimeoutError):
        psub.fetch(1, timeout=0.5)
    js.publish("pl.o", b"1")
    js.publish("pl.o", b"2")
    got = [m.data for m in psub.fetch(2, timeout=WAIT)]
    while len(got) < 2:
        got += [m.data for m in psub.fetch(2 - len(got), timeout=WAIT)]
    assert got == [b"1", b"2"]
    assert js.consumer_info("PL", "orphan").num_waiting <= 1


def test_ephemeral_pull_and_unacked_redelivery(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.publish("pl.e", b"x")
    psub = js.pull_subscribe("pl.e", config=api.ConsumerConfig(ack_wait=1.0))
    (first,) = psub.fetch(1, timeout=WAIT)
    assert first.metadata.num_delivered == 1
    (again,) = psub.fetch(1, timeout=WAIT)  # not acked: back after ack_wait
    assert again.data == b"x" and again.metadata.num_delivered == 2
    again.term()
    name = psub.consumer
    psub.unsubscribe()
    with pytest.raises(jse.NotFoundError):
        js.consumer_info("PL", name)


def test_fetch_with_heartbeat_and_bad_input(nc: natsync.Client) -> None:
    js = nc.jetstream()
    psub = js.pull_subscribe("pl.h", durable="hb")
    js.publish("pl.h", b"1")
    assert [m.data for m in psub.fetch(5, timeout=2.0, heartbeat=0.5)] == [b"1"]
    nc.flush()
    sent = nc.stats["out_msgs"]
    for bad in (0, -1):
        with pytest.raises(jse.InvalidArgumentError):
            psub.fetch(bad)
    with pytest.raises(core_errors.BadTimeoutError):
        psub.fetch(1, timeout=0)
    with pytest.raises(core_errors.BadTimeoutError):
        psub.fetch(1, timeout=1.0, heartbeat=0.9)
    assert nc.stats["out_msgs"] == sent


def test_fetch_from_a_deleted_consumer_raises(nc: natsync.Client) -> None:
    js = nc.jetstream()
    psub = js.pull_subscribe("pl.x", durable="gone")
    js.delete_consumer("PL", "gone")
    with pytest.raises(jse.APIError):
        psub.fetch(1, timeout=2.0)


@pytest.mark.slow
def test_acked_never_redelivered_unacked_redelivered_across_restart(
        nats_server_factory: object) -> None:
    srv = nats_server_factory(jetstream=True)  # type: ignore[operator]
    with natsync.connect(srv.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1) as nc:
        js = nc.jetstream()
        js.add_stream(name="RS", subjects=["rs"])
        for i in range(10):
            js.publish("rs", str(i).encode())
        psub = js.pull_subscribe("rs", durable="d", config=api.ConsumerConfig(ack_wait=2.0))
        first = psub.fetch(10, timeout=WAIT)
        while len(first) < 10:
            first += psub.fetch(10 - len(first), timeout=WAIT)
        for m in first[:6]:
            m.ack_sync(timeout=WAIT)
        wait_consumer_state_written(srv.store_dir, "RS", "d", time.time())
        srv.kill()
        srv.restart()
        nc.flush(timeout=WAIT)
        seen: list[int] = []
        deadline = time.monotonic() + WAIT
        while len(seen) < 4 and time.monotonic() < deadline:
            try:
                msgs = psub.fetch(4 - len(seen), timeout=3.0)  # full batch: returns at once
            except (core_errors.TimeoutError, jse.APIError):
                continue
            for m in msgs:
                seen.append(int(m.data))
                assert m.metadata.num_delivered >= 2
                m.ack_sync(timeout=WAIT)
        assert sorted(seen) == [6, 7, 8, 9]
        with pytest.raises(jse.FetchTimeoutError):
            psub.fetch(1, timeout=3.0)  # ack_wait passed: acked ones never come back


def _wait_for(cond: object, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_fetch_past_the_consumers_request_limits_warns_and_times_out(
        js_server: NatsServer) -> None:
    """ADR-13: a 409 'Exceeded MaxRequestBatch/MaxRequestExpires' is a warning: the server
    ends that pull request and the consumer goes on. An empty fetch ending so is a
    timeout, as in nats-py, not an APIError; the warning goes to error_cb."""
    errors: list[BaseException] = []
    with natsync.connect(js_server.url, error_cb=errors.append) as nc:
        js = nc.jetstream()
        js.add_stream(name="PW", subjects=["pw"])
        js.publish("pw", b"1")
        js.add_consumer("PW", api.ConsumerConfig.from_response({
            "durable_name": "lim", "ack_policy": "explicit",
            "max_batch": 2, "max_expires": 1_000_000_000}))  # fields the dataclass lacks
        psub = js.pull_subscribe_bind("lim", "PW")

        def warned(text: str) -> bool:
            return any(isinstance(e, jse.APIError) and e.code == 409
                       and (e.description or "").startswith(text) for e in errors)

        with pytest.raises(jse.FetchTimeoutError) as batch_exc:
            psub.fetch(5, timeout=1.0)  # more than max_batch
        assert isinstance(batch_exc.value, core_errors.TimeoutError)
        assert not isinstance(batch_exc.value, jse.APIError)
        assert "409 Exceeded MaxRequestBatch" in str(batch_exc.value)
        _wait_for(lambda: warned("Exceeded MaxRequestBatch"), "the MaxRequestBatch warning")

        with pytest.raises(jse.FetchTimeoutError) as expires_exc:
            psub.fetch(1, timeout=4.0)  # the request expires after max_expires
        assert "409 Exceeded MaxRequestExpires" in str(expires_exc.value)
        _wait_for(lambda: warned("Exceeded MaxRequestExpires"), "the MaxRequestExpires warning")

        msgs = psub.fetch(2, timeout=1.0)  # within the limits: the consumer went on
        assert [m.data for m in msgs] == [b"1"]
        msgs[0].ack_sync(timeout=WAIT)
        js.delete_stream("PW")


def test_fetch_from_a_push_consumer_still_raises(nc: natsync.Client) -> None:
    """A terminal 409 ('Consumer is push based') keeps raising APIError."""
    js = nc.jetstream()
    js.add_consumer("PL", durable_name="pushed", deliver_subject=nc.new_inbox())
    psub = js.pull_subscribe_bind("pushed", "PL")
    with pytest.raises(jse.APIError) as exc:
        psub.fetch(1, timeout=2.0)
    assert exc.value.code == 409
    assert "push based" in (exc.value.description or "")
