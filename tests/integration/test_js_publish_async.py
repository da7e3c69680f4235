"""publish_async: futures, the window, ack timeouts, and no future left waiting."""

from __future__ import annotations

import threading
from concurrent.futures import wait

import pytest

import natsync
from natsync import errors as core_errors
from natsync.js import api
from natsync.js import errors as jse
from natsync.testing import NatsServer

WAIT = 30.0


@pytest.fixture
def nc(nc: natsync.Client) -> natsync.Client:
    """The shared client (tests/integration/conftest.py, which deletes the streams after
    each test), with this module's stream AP."""
    nc.jsm().add_stream(name="AP", subjects=["ap.>"])
    return nc


def test_publish_async_acks_every_message(nc: natsync.Client) -> None:
    js = nc.jetstream(publish_async_max_pending=50)
    futs = [js.publish_async(f"ap.{i % 3}", str(i).encode(), headers={"Nats-Msg-Id": str(i)})
            for i in range(300)]
    js.publish_async_completed(timeout=WAIT)
    assert js.publish_async_pending() == 0
    acks = [f.result(timeout=0) for f in futs]
    assert all(isinstance(a, api.PubAck) and a.stream == "AP" for a in acks)
    assert sorted(a.seq for a in acks) == list(range(1, 301))
    dup = js.publish_async("ap.0", b"0", headers={"Nats-Msg-Id": "0"}).result(timeout=WAIT)
    assert dup.duplicate is True
    assert js.stream_info("AP").state.messages == 300


def test_publish_async_errors_settle_the_future(nc: natsync.Client) -> None:
    js = nc.jetstream()
    f = js.publish_async("no.stream.for.this", b"x")
    with pytest.raises(jse.NoStreamResponseError):
        f.result(timeout=WAIT)
    f = js.publish_async("ap.x", b"x", stream="OTHER")
    with pytest.raises(jse.StreamNotMatchError):
        f.result(timeout=WAIT)
    js.publish_async_completed(timeout=WAIT)


def test_ack_timeout_and_stalled_window(nc: natsync.Client) -> None:
    js = nc.jetstream(publish_async_max_pending=2)
    silent = nc.subscribe("silent.>")  # takes the message, never acks: no 503 either
    first = js.publish_async("silent.1", b"a", timeout=0.5)
    js.publish_async("silent.2", b"b", timeout=30)
    with pytest.raises(jse.TooManyStalledMsgsError):
        js.publish_async("silent.3", b"c", wait_stall=0.05)
    with pytest.raises(core_errors.TimeoutError):
        first.result(timeout=WAIT)
    assert js.publish_async_pending() == 1
    # the window has room again once the first one timed out
    third = js.publish_async("ap.ok", b"c", wait_stall=WAIT)
    assert third.result(timeout=WAIT).stream == "AP"
    with pytest.raises(core_errors.TimeoutError):
        js.publish_async_completed(timeout=0.2)
    silent.unsubscribe()


def test_futures_fail_when_the_connection_is_lost(nats_server_factory: object) -> None:
    srv = nats_server_factory(jetstream=True)  # type: ignore[operator]
    with natsync.connect(srv.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1) as nc:
        js = nc.jetstream()
        nc.subscribe("quiet")
        fut = js.publish_async("quiet", b"never acked", timeout=600)
        nc.flush()
        srv.kill()
        done, _ = wait([fut], timeout=WAIT)
        assert done
        with pytest.raises(core_errors.ConnectionReconnectingError) as exc:
            fut.result(timeout=0)
        assert "Nats-Msg-Id" in str(exc.value)
        srv.restart()
        nc.flush(timeout=WAIT)
        js.add_stream(name="R", subjects=["r"])
        assert js.publish_async("r", b"after").result(timeout=WAIT).seq == 1


def test_close_fails_outstanding_futures(js_server: NatsServer) -> None:
    nc = natsync.connect(js_server.url)
    js = nc.jetstream()
    nc.subscribe("mute")
    fut = js.publish_async("mute", b"x", timeout=600)
    nc.close()
    with pytest.raises(core_errors.ConnectionClosedError):
        fut.result(timeout=WAIT)
    assert js.publish_async_pending() == 0


def test_threads_share_one_window_and_every_future_settles(nc: natsync.Client) -> None:
    """Publishers add to the window without a lock: with four threads and a small
    window that keeps filling up, every future gets its own ack and none is lost."""
    js = nc.jetstream(publish_async_max_pending=16)
    futs: list[list[object]] = [[] for _ in range(4)]

    def publisher(k: int) -> None:
        for i in range(250):
            futs[k].append(js.publish_async(f"ap.{k}", b"%d" % i, wait_stall=WAIT))

    threads = [threading.Thread(target=publisher, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    js.publish_async_completed(timeout=WAIT)
    assert js.publish_async_pending() == 0
    seqs = [f.result(timeout=0).seq for per in futs for f in per]  # type: ignore[attr-defined]
    assert sorted(seqs) == list(range(1, 1001))
    assert js.stream_info("AP").state.messages == 1000


def test_the_ack_timer_ends_when_idle_and_comes_back(nc: natsync.Client) -> None:
    """The timer thread lives only while acks are due; a publish after it ended
    starts a new one, so an unacknowledged message still times out."""
    def timers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "natsync-js-ack-timer"}

    js = nc.jetstream(timeout=0.3)
    before = timers()
    js.publish_async("ap.a", b"1").result(timeout=WAIT)
    ours = timers() - before
    assert len(ours) == 1
    timer = ours.pop()
    timer.join(WAIT)  # it ends once the last deadline passed with nothing due
    assert not timer.is_alive()
    silent = nc.subscribe("quiet.>")
    lost = js.publish_async("quiet.x", b"nobody acks")
    with pytest.raises(core_errors.TimeoutError, match="no ack for the async publish"):
        lost.result(timeout=WAIT)
    assert js.publish_async("ap.b", b"2").result(timeout=WAIT).stream == "AP"
    silent.unsubscribe()
