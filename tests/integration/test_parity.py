"""nats-py parity of the core client against real servers: the life cycle (connect
again after close), what reaches error_cb and last_error, lame duck mode,
subscription edge cases and respond() headers."""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest

import natsync
from natsync import errors
from natsync.testing import NatsServer
from tests.conn_events import Events, wait_until

FAST: Dict[str, Any] = dict(reconnect_time_wait=0.05, reconnect_jitter=0.0,
                            max_reconnect_attempts=-1)


# ------------------------------------------------------------------ life cycle


def test_connect_again_after_close_starts_afresh(nats_server: NatsServer) -> None:
    nc = natsync.Client()
    nc.connect(nats_server.url, **FAST)
    old = nc.subscribe("life.a")
    nc.flush()
    assert nats_server.connz()["connections"][0]["subscriptions"] >= 1
    nc.close()
    assert nc.is_closed
    with pytest.raises(errors.ConnectionClosedError):
        old.next_msg(0.1)

    nc.connect(nats_server.url, **FAST)  # nats-py allows it: no error
    assert nc.is_connected and not nc.is_closed
    assert nc.client_id is not None and nc.connected_url is not None
    nc.flush()
    # no subscription came back from the earlier connection
    conns = nats_server.connz()["connections"]
    assert [c["subscriptions"] for c in conns] == [0]
    new = nc.subscribe("life.a")
    nc.publish("life.a", b"fresh")
    nc.flush()
    assert new.next_msg(5).data == b"fresh"
    assert old.pending_msgs == 0  # the old subscription got nothing
    assert nc.stats["reconnects"] == 0
    nc.close()


def test_connect_after_close_starts_with_an_empty_buffer(nats_server: NatsServer) -> None:
    nc = natsync.Client()
    nc.connect(nats_server.url, **FAST)
    nats_server.kill()
    wait_until(lambda: nc.is_reconnecting, "reconnecting")
    nc.publish("life.buf", b"never sent")
    assert nc.buffered_msgs == 1
    nc.close()
    assert [m.data for m in nc.unsent_messages()] == [b"never sent"]  # readable until connect
    nats_server.restart()
    watcher = natsync.connect(nats_server.url)
    sub = watcher.subscribe("life.buf")
    watcher.flush()
    nc.connect(nats_server.url, **FAST)
    assert nc.buffered_msgs == 0 and nc.unsent_messages() == []
    assert nc.stats["unsent_msgs"] == 0
    nc.publish("life.buf", b"new")
    nc.flush()
    assert sub.next_msg(5).data == b"new"
    with pytest.raises(errors.TimeoutError):
        sub.next_msg(0.2)  # the earlier close's message was not replayed
    nc.close()
    watcher.close()


def test_connect_on_a_connected_client_raises(nats_server: NatsServer) -> None:
    with natsync.connect(nats_server.url) as nc:
        with pytest.raises(errors.Error, match="already connected"):
            nc.connect(nats_server.url)
        assert nc.is_connected


def test_after_close_ids_and_url_are_none_and_last_error_kept(nats_server: NatsServer) -> None:
    nc = natsync.connect(nats_server.url)
    assert nc.client_id is not None and nc.client_ip == "127.0.0.1"
    nc.close()
    assert not nc.is_connected
    assert nc.connected_url is None and nc.client_id is None and nc.client_ip is None
    assert nc.last_error is None  # a clean close is not an error


def test_close_after_reconnect_keeps_the_loss_cause(nats_server: NatsServer) -> None:
    rec = Events()
    nc = natsync.connect(nats_server.url, **FAST, **rec.callbacks())
    nats_server.kill()
    rec.wait_count("disconnected")
    nats_server.restart()
    rec.wait_count("reconnected")
    cause = nc.last_error
    assert isinstance(cause, (errors.UnexpectedEOF, OSError)), cause
    nc.close()
    assert nc.last_error is cause  # close() added nothing


# ----------------------------------------------------------- error_cb, last_error


def test_every_failed_reconnect_attempt_reaches_error_cb(nats_server: NatsServer) -> None:
    rec = Events()
    nc = natsync.connect(nats_server.url, **FAST, **rec.callbacks())
    nats_server.kill()
    # the cause of the loss first, then one error per refused attempt
    rec.wait_for(lambda: len(rec.errors) >= 4, "a loss cause and three failed attempts")
    assert isinstance(rec.errors[0], (errors.UnexpectedEOF, OSError)), rec.errors[0]
    assert all(isinstance(e, ConnectionRefusedError) for e in rec.errors[1:4]), rec.errors
    assert nc.is_reconnecting
    assert isinstance(nc.last_error, ConnectionRefusedError)  # still retrying: not "gave up"
    assert rec.log.count("disconnected") == 1 and "closed" not in rec.log
    nats_server.restart()
    rec.wait_count("reconnected")
    nc.close()


def test_no_servers_error_only_once_given_up(nats_server: NatsServer) -> None:
    rec = Events()
    nc = natsync.connect(nats_server.url, reconnect_time_wait=0.05, reconnect_jitter=0.0,
                         max_reconnect_attempts=2, **rec.callbacks())
    nats_server.kill()
    rec.wait_count("closed")
    assert isinstance(nc.last_error, errors.NoServersError)
    assert str(nc.last_error).startswith("nats: no servers available for connection")
    # the loss cause, then one error per failed attempt (refused, or reset while the
    # server was dying); none of them is NoServersError
    attempts = rec.errors[1:]
    assert len(attempts) == 2, rec.errors
    assert all(isinstance(e, (OSError, errors.Error)) for e in attempts)
    assert not any(isinstance(e, errors.NoServersError) for e in rec.errors)
    nc.close()


def test_errors_connect_raises_do_not_reach_error_cb(nats_server: NatsServer) -> None:
    rec = Events()
    url = nats_server.url
    nats_server.kill()
    with pytest.raises(errors.NoServersError):
        natsync.connect(url, **rec.callbacks())
    assert rec.errors == [] and rec.log == []


def test_retry_on_failed_connect_reports_attempts(nats_server: NatsServer) -> None:
    rec = Events()
    url = nats_server.url
    nats_server.kill()
    nc = natsync.connect(url, retry_on_failed_connect=True, **FAST, **rec.callbacks())
    rec.wait_for(lambda: len(rec.errors) >= 2, "two failed attempts")
    assert all(isinstance(e, ConnectionRefusedError) for e in rec.errors[:2])
    nats_server.restart()
    wait_until(lambda: nc.is_connected, "connected")
    nc.close()


def test_reconnect_delay_cb_that_raises_is_reported_and_the_loop_goes_on(
    nats_server: NatsServer,
) -> None:
    rec = Events()

    def bad_delay(attempt: int) -> float:
        raise ValueError("oops")

    nc = natsync.connect(nats_server.url, reconnect_delay_cb=bad_delay, reconnect_time_wait=0.05,
                         max_reconnect_attempts=-1, **rec.callbacks())
    nats_server.kill()
    rec.wait_for(lambda: any("reconnect_delay_cb raised" in str(e) for e in rec.errors),
             "the delay callback's failure")
    assert nc.is_reconnecting
    nats_server.restart()
    rec.wait_count("reconnected")
    nc.close()


# ---------------------------------------------------------------- lame duck mode


@pytest.mark.slow
def test_lame_duck_mode_stays_then_moves_when_the_server_closes() -> None:
    ldm_conf = "lame_duck_grace_period: 2s\nlame_duck_duration: 30s\n"
    with NatsServer(config=ldm_conf) as a, NatsServer() as b:
        rec = Events()
        nc = natsync.connect([a.url, b.url], dont_randomize=True, **FAST, **rec.callbacks())
        assert nc.connected_url is not None and nc.connected_url.port == a.port
        sub = nc.subscribe("ldm.x")
        a.lame_duck()
        rec.wait_count("ldm")
        # still on a after the notice (the grace period has not run out)
        assert nc.connected_url is not None and nc.connected_url.port == a.port
        assert "disconnected" not in rec.log
        # the server closes this client after its grace period; then it moves
        rec.wait_count("reconnected")
        assert nc.connected_url is not None and nc.connected_url.port == b.port
        assert rec.log.index("ldm") < rec.log.index("disconnected") < rec.log.index("reconnected")
        nc.publish("ldm.x", b"on b")
        assert sub.next_msg(5).data == b"on b"
        nc.close()


# ------------------------------------------------------------------ subscriptions


@pytest.fixture(scope="module")
def shared_server() -> Iterator[NatsServer]:
    with NatsServer() as srv:
        yield srv


@pytest.fixture
def nc(shared_server: NatsServer) -> Iterator[natsync.Client]:
    client = natsync.connect(shared_server.url)
    yield client
    client.close()


def test_queue_with_whitespace_is_bad_subject(nc: natsync.Client) -> None:
    with pytest.raises(errors.BadSubjectError, match="queue group"):
        nc.subscribe("q.x", queue="my group")


def test_unsubscribe_after_auto_unsubscribe_limit_is_a_noop(nc: natsync.Client) -> None:
    sub = nc.subscribe("auto.limit", max_msgs=2)
    for i in range(3):
        nc.publish("auto.limit", b"%d" % i)
    nc.flush()
    assert [sub.next_msg(5).data, sub.next_msg(5).data] == [b"0", b"1"]
    sub.unsubscribe()  # already ended by its limit: no error
    sub.unsubscribe()
    other = nc.subscribe("auto.other")
    other.unsubscribe()
    with pytest.raises(errors.BadSubscriptionError):
        other.unsubscribe()  # an ordinary double unsubscribe still raises


def test_respond_echoes_request_headers_unless_given(nc: natsync.Client) -> None:
    def echo(msg: natsync.Msg) -> None:
        if msg.data == b"none":
            msg.respond(b"r", headers={})
        elif msg.data == b"own":
            msg.respond(b"r", headers={"X-Own": "1"})
        else:
            msg.respond(b"r")

    nc.subscribe("svc.echo", cb=echo)
    nc.flush()
    req_h = {"Trace-Id": "abc", "Multi": ["1", "2"]}
    assert nc.request("svc.echo", b"default", timeout=5, headers=req_h).headers == req_h
    assert nc.request("svc.echo", b"none", timeout=5, headers=req_h).headers is None
    assert nc.request("svc.echo", b"own", timeout=5, headers=req_h).headers == {"X-Own": "1"}
    assert nc.request("svc.echo", b"plain", timeout=5).headers is None


def test_permissions_violation_text_starts_like_nats_py(tmp_path: Any) -> None:
    conf = ('authorization { users = [ {user: u, password: p, '
            'permissions: {subscribe: {deny: ["foo"]}}} ] }')
    with NatsServer(config=conf) as srv:
        rec = Events()
        nc = natsync.connect(srv.url, user="u", password="p", **rec.callbacks())
        nc.subscribe("foo")
        rec.wait_for(lambda: len(rec.errors) >= 1, "the permissions violation")
        exc = rec.errors[0]
        assert isinstance(exc, errors.PermissionsViolationError)
        assert str(exc).startswith('nats: permissions violation for subscription to "foo"'), exc
        assert nc.is_connected
        nc.close()
