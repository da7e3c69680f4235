"""Server operations on a live connection: PING, a silent server, async INFO
(discovery, lame duck), and -ERR."""

from __future__ import annotations

from typing import Callable

import pytest

from natsync import errors
from tests.wire.conftest import Clients, Events, wait_for
from tests.wire.fakeserver import FakeServer

pytestmark = pytest.mark.timeout(30)


# ---------------------------------------------------------------- 7. stale connection


def test_silent_server_is_declared_stale_and_client_reconnects(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    nc, conn = clients.connect(
        fake_server, auto_pong=False, ping_interval=0.1, max_outstanding_pings=2,
        **events.callbacks(),
    )
    events.wait_count("disconnected", timeout=5)
    assert isinstance(nc.last_error, errors.StaleConnectionError), nc.last_error
    assert "stale" in str(nc.last_error).lower()
    conn.wait_eof()
    # exactly max_outstanding_pings PINGs went unanswered before giving up
    pings = [f for f in conn.frames[2:] if f.op == "PING"]
    assert len(pings) == 2, conn.describe()

    conn2 = fake_server.accept()
    conn2.handshake(auto_pong=True)
    events.wait_count("reconnected")
    assert nc.is_connected
    # answered PINGs keep the connection up
    conn2.wait_count("PING", 1 + 5)
    assert nc.is_connected
    assert events.log.count("disconnected") == 1
    assert conn2.eof is None


def test_pongs_reset_the_outstanding_count(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    """Answering late (but before the limit) is fine: the count resets on PONG."""
    nc, conn = clients.connect(
        fake_server, auto_pong=False, ping_interval=0.2, max_outstanding_pings=3,
        **events.callbacks(),
    )
    for round_ in range(1, 4):
        conn.wait_count("PING", 1 + 2 * round_)  # handshake PING + 2 per round
        conn.send_pong()
        conn.send_pong()
    assert nc.is_connected
    assert events.log.count("disconnected") == 0


# ---------------------------------------------------------------- 8. server PING


def test_server_ping_gets_pong(fake_server: FakeServer, clients: Clients) -> None:
    nc, conn = clients.connect(fake_server)
    conn.send_ping()
    conn.wait_count("PONG", 1)
    conn.send(b"PING\r\nPING\r\nping\r\n")
    frames = conn.wait_count("PONG", 4)
    assert [f.op for f in frames[2:]] == ["PONG"] * 4
    assert nc.is_connected


def test_server_ping_answered_in_order_with_publishes(
    fake_server: FakeServer, clients: Clients
) -> None:
    nc, conn = clients.connect(fake_server)
    nc.publish("one", b"1")
    nc.flush(timeout=2)
    conn.send_ping()
    conn.wait_count("PONG", 1)
    nc.publish("two", b"2")
    nc.flush(timeout=2)
    assert [f.short() for f in conn.frames[2:]] == [
        "PUB one 1 b'1'", "PING", "PONG", "PUB two 1 b'2'", "PING"]


def test_server_ping_during_handshake_is_answered(
    fake_server: FakeServer, clients: Clients
) -> None:
    def serve() -> None:
        conn = fake_server.accept()
        conn.send_info()
        conn.expect_connect()
        conn.send_ping()
        conn.wait_count("PONG", 1)
        conn.set_auto_pong(True)
        conn.send_pong()

    bg = fake_server.background(serve)
    nc = clients.new()
    nc.connect(fake_server.url)
    bg.result()
    assert nc.is_connected


# ---------------------------------------------------------------- 9. async INFO


def test_async_info_connect_urls_discovered(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    nc, conn = clients.connect(fake_server, **events.callbacks())
    assert nc.discovered_servers == []
    urls = ["127.0.0.1:14222", "127.0.0.2:14223"]
    conn.send_info(connect_urls=urls)
    events.wait_count("discovered")
    wait_for(lambda: len(nc.discovered_servers) == 2)
    assert sorted((u.hostname, u.port) for u in nc.discovered_servers) == [
        ("127.0.0.1", 14222), ("127.0.0.2", 14223)]
    assert len(nc.servers) == 3
    # the same list again is not news; one more URL is
    conn.send_info(connect_urls=urls)
    conn.send_info(connect_urls=urls + ["127.0.0.3:14224"])
    events.wait_count("discovered", 2)
    nc.flush(timeout=2)
    assert events.log.count("discovered") == 2
    assert len(nc.discovered_servers) == 3
    # the server itself in connect_urls is not "discovered"
    conn.send_info(connect_urls=[fake_server.hostport])
    nc.flush(timeout=2)
    assert events.log.count("discovered") == 2
    assert nc.is_connected


def test_async_info_updates_max_payload(fake_server: FakeServer, clients: Clients) -> None:
    nc, conn = clients.connect(fake_server)
    assert nc.max_payload == 1048576
    conn.send_info(max_payload=1000)
    wait_for(lambda: nc.max_payload == 1000)
    with pytest.raises(errors.MaxPayloadError):
        nc.publish("big", b"x" * 1001)
    nc.publish("ok", b"x" * 1000)
    nc.flush(timeout=2)
    assert [f.op for f in conn.frames].count("PUB") == 1


def test_lame_duck_single_server_stays(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    nc, conn = clients.connect(fake_server, **events.callbacks())
    conn.send_info(ldm=True)
    events.wait_count("ldm")
    nc.flush(timeout=2)
    assert nc.is_connected
    assert events.log.count("disconnected") == 0


def test_lame_duck_stays_until_the_server_closes_then_moves(
    fake_server_factory: Callable[..., FakeServer], clients: Clients, events: Events
) -> None:
    """Lame duck mode: the callback runs and the client stays on the server (moving
    every client at the first notice would be a stampede); when the server closes
    the connection over its grace period, the client moves as after any loss."""
    a = fake_server_factory()
    b = fake_server_factory()
    nc, conn_a = clients.connect(a, servers=[a.url, b.url], **events.callbacks())
    sub = nc.subscribe("x")
    nc.flush(timeout=2)
    assert nc.connected_url is not None and nc.connected_url.port == a.port
    conn_a.send_info(ldm=True)
    events.wait_count("ldm")
    nc.publish("still.a", b"1")
    nc.flush(timeout=2)  # a round trip on a after the notice: still connected there
    assert nc.is_connected and nc.connected_url.port == a.port
    assert conn_a.eof is None and events.log.count("disconnected") == 0
    assert [f.short() for f in conn_a.frames if f.op == "PUB"] == ["PUB still.a 1 b'1'"]
    conn_a.close()  # the server's grace period reaches this client
    conn_b = b.accept()
    conn_b.handshake()
    events.wait_count("reconnected")
    assert nc.connected_url is not None and nc.connected_url.port == b.port
    frames = conn_b.wait_frames(lambda fs: any(f.op == "SUB" for f in fs))
    assert [f.short() for f in frames if f.op == "SUB"] == ["SUB x 1"]
    conn_b.send_msg("x", 1, b"from-b")
    assert sub.next_msg(timeout=2).data == b"from-b"
    kinds = events.log
    assert kinds.index("ldm") < kinds.index("disconnected") < kinds.index("reconnected")


def test_lame_duck_with_discovered_server_stays_then_moves(
    fake_server_factory: Callable[..., FakeServer], clients: Clients, events: Events
) -> None:
    """The second server is known only from connect_urls, announced with the LDM INFO."""
    a = fake_server_factory()
    b = fake_server_factory()
    nc, conn_a = clients.connect(a, **events.callbacks())
    conn_a.send_info(ldm=True, connect_urls=[a.hostport, b.hostport])
    events.wait_count("ldm")
    nc.flush(timeout=2)
    assert nc.is_connected and events.log.count("disconnected") == 0
    assert [u.port for u in nc.discovered_servers] == [b.port]
    conn_a.close()
    conn_b = b.accept()
    conn_b.handshake()
    events.wait_count("reconnected")
    assert nc.connected_url is not None and nc.connected_url.port == b.port


# ---------------------------------------------------------------- 10. -ERR


@pytest.mark.parametrize(
    "text",
    ['Permissions Violation for Publish to "x"', 'Permissions Violation for Subscription to "y"'],
)
def test_permissions_violation_reported_connection_stays(
    fake_server: FakeServer, clients: Clients, events: Events, text: str
) -> None:
    nc, conn = clients.connect(fake_server, **events.callbacks())
    nc.publish("x", b"denied")
    nc.flush(timeout=2)
    conn.send_err(text)
    exc = events.wait_error(errors.PermissionsViolationError)[0]
    assert isinstance(exc, errors.AuthorizationError)
    # nats-py's text first (lower case), then natsync's advice
    assert str(exc).startswith("nats: " + text.lower())
    assert "stays open" in str(exc) or "permission" in str(exc).lower()
    # still the same connection
    nc.publish("y", b"allowed")
    nc.flush(timeout=2)
    assert nc.is_connected
    assert conn.eof is None
    assert events.log.count("disconnected") == 0
    assert [f.short() for f in conn.frames if f.op == "PUB"] == [
        "PUB x 6 b'denied'", "PUB y 7 b'allowed'"]
    assert nc.stats["errors_received"] == 1


@pytest.mark.parametrize(
    "text", ["Stale Connection", "Unknown Protocol Operation", "Maximum Connections Exceeded"]
)
def test_fatal_err_reported_and_client_reconnects(
    fake_server: FakeServer, clients: Clients, events: Events, text: str
) -> None:
    nc, conn = clients.connect(fake_server, **events.callbacks())
    conn.send_err(text)
    # the real server closes after these; the client must not wait for that
    events.wait_count("disconnected")
    assert any(str(e).startswith("nats: " + text.lower()) for e in events.errors), events.log
    conn.wait_eof()
    conn2 = fake_server.accept()
    conn2.handshake()
    events.wait_count("reconnected")
    assert nc.is_connected


def test_authorization_violation_after_connect_reconnects(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    nc, conn = clients.connect(fake_server, **events.callbacks())
    conn.send_err("Authorization Violation")
    conn.close()
    exc = events.wait_error(errors.AuthorizationViolationError)[0]
    assert "authorization violation" in str(exc).lower()
    events.wait_count("disconnected")
    conn2 = fake_server.accept()
    conn2.handshake()
    events.wait_count("reconnected")
