"""The handshake on the wire: what the client sends first, and how it fails
against a server that is not (or not quite) a NATS server."""

from __future__ import annotations

import builtins
import threading
import time
from typing import Any, List

import pytest

import natsync
from natsync import errors
from natsync._version import __version__
from tests.wire.conftest import Clients, Events, assert_no_thread_left, natsync_threads, wait_for
from tests.wire.fakeserver import FakeConn, FakeServer

pytestmark = pytest.mark.timeout(30)


# ---------------------------------------------------------------- 1. first bytes


def test_first_bytes_are_connect_then_ping(fake_server: FakeServer, clients: Clients) -> None:
    seen_at_pong: List[bytes] = []

    def serve() -> FakeConn:
        conn = fake_server.accept()
        conn.send_info()
        conn.expect_connect()
        time.sleep(0.1)  # anything else the client wrongly sends early arrives meanwhile
        seen_at_pong.append(conn.received)
        conn.set_auto_pong(True)
        conn.send_pong()
        return conn

    bg = fake_server.background(serve)
    nc = clients.new()
    nc.connect(fake_server.url, name="wire-1", connect_timeout=3.0)
    conn: FakeConn = bg.result()
    assert nc.is_connected

    first = seen_at_pong[0]
    connect_line, sep, rest = first.partition(b"\r\n")
    assert sep and connect_line.startswith(b"CONNECT {") and connect_line.endswith(b"}")
    assert rest == b"PING\r\n", f"before PONG the client sent exactly {first!r}"
    fields = conn.frames[0].connect_fields()
    assert fields["verbose"] is False
    assert fields["pedantic"] is False
    assert fields["headers"] is True
    assert fields["no_responders"] is True
    assert fields["echo"] is True
    assert fields["protocol"] == 1
    assert isinstance(fields["lang"], str) and fields["lang"]
    assert fields["version"] == __version__
    assert fields["name"] == "wire-1"
    assert "user" not in fields and "pass" not in fields and "auth_token" not in fields

    # and the connection works: publish + flush reach the server in order
    nc.publish("after.connect", b"x")
    nc.flush(timeout=2)
    ops = conn.ops()
    assert ops[:2] == ["CONNECT", "PING"]
    assert ops[2:] == ["PUB", "PING"]


def test_connect_flags_no_echo_pedantic_verbose(fake_server: FakeServer, clients: Clients) -> None:
    def serve() -> FakeConn:
        conn = fake_server.accept()
        conn.send_info()
        conn.expect_connect()
        conn.send(b"+OK\r\n")  # verbose: the real server acknowledges CONNECT
        conn.set_auto_pong(True)
        conn.send_pong()
        return conn

    bg = fake_server.background(serve)
    nc = clients.new()
    nc.connect(fake_server.url, no_echo=True, pedantic=True, verbose=True)
    conn: FakeConn = bg.result()
    fields = conn.frames[0].connect_fields()
    assert fields["echo"] is False
    assert fields["pedantic"] is True
    assert fields["verbose"] is True
    assert "name" not in fields
    assert nc.is_connected
    # +OK frames after the handshake are accepted too
    conn.send(b"+OK\r\n+OK\r\n")
    nc.flush(timeout=2)
    assert nc.is_connected


def test_user_and_password_from_url_in_connect(fake_server: FakeServer, clients: Clients) -> None:
    nc, conn = clients.connect(fake_server, servers=[f"nats://bob:s3cret@{fake_server.hostport}"])
    fields = conn.frames[0].connect_fields()
    assert fields["user"] == "bob" and fields["pass"] == "s3cret"
    assert nc.is_connected


def test_nothing_but_connect_and_ping_before_pong_after_failed_first_connect(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    # the first connection fails (closed at once), so connect() returns and the
    # client retries in the background; the app subscribes and publishes meanwhile
    first = fake_server.script(("close",))
    nc = clients.new()
    nc.connect(fake_server.url, retry_on_failed_connect=True, connect_timeout=3.0,
               reconnect_time_wait=0.05, reconnect_jitter=0.0, **events.callbacks())
    first.result()
    assert nc.is_reconnecting
    sub = nc.subscribe("s.a")
    nc.subscribe("s.q", queue="workers")
    for i in range(3):
        nc.publish("p.x", b"early-%d" % i)

    conn = fake_server.accept()
    conn.send_info()
    conn.expect_connect()
    # the app keeps going while the handshake is under way
    nc.publish("p.x", b"early-3")
    sub2 = nc.subscribe("s.b")
    time.sleep(0.2)
    frames = conn.frames
    assert [f.op for f in frames] == ["CONNECT", "PING"], conn.describe()
    assert conn.tail == b""
    assert nc.is_reconnecting

    conn.set_auto_pong(True)
    conn.send_pong()
    events.wait_count("reconnected")
    nc.publish("p.x", b"late")
    nc.flush(timeout=2)
    got = [f.short() for f in conn.frames[2:]]
    assert got == [
        "SUB s.a 1",
        "SUB s.q workers 2",
        "SUB s.b 3",
        "PUB p.x 7 b'early-0'",
        "PUB p.x 7 b'early-1'",
        "PUB p.x 7 b'early-2'",
        "PUB p.x 7 b'early-3'",
        "PUB p.x 4 b'late'",
        "PING",
    ], conn.describe()
    assert sub.sid == 1 and sub2.sid == 3


# ---------------------------------------------------------------- 2. not NATS


BAD_FIRST = [
    pytest.param(b"HTTP/1.1 400 Bad Request\r\n\r\n", id="http"),
    pytest.param(b"\x00\x01\xfe garbage \xff\r\n", id="binary-garbage"),
    pytest.param(b"PONG\r\n", id="pong-first"),
    pytest.param(b"MSG a 1 2\r\nhi\r\n", id="msg-first"),
    pytest.param(b"-ERR 'hello'\r\n", id="err-first"),
    pytest.param(b"\r\n", id="empty-line"),
    pytest.param(b"INFO {not json\r\n", id="info-bad-json"),
    pytest.param(b"INFO [1, 2]\r\n", id="info-not-object"),
    pytest.param(b"INFO\r\n", id="info-empty"),
    pytest.param(b"X" * 5000, id="long-line-no-crlf"),
    pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n", id="ssh-banner"),
]


@pytest.mark.parametrize("first", BAD_FIRST)
def test_not_nats_first_line_is_protocol_error(
    fake_server: FakeServer, clients: Clients, first: bytes
) -> None:
    before = natsync_threads()
    bg = fake_server.script(("send", first))
    nc = clients.new()
    t0 = time.monotonic()
    with pytest.raises(errors.ProtocolError) as ei:
        nc.connect(fake_server.url, connect_timeout=5.0, allow_reconnect=True)
    took = time.monotonic() - t0
    conn: FakeConn = bg.result()
    assert took < 4.0, f"ProtocolError came only after {took:.1f}s (waited for the timeout?)"
    assert str(ei.value).startswith("nats:")
    assert nc.is_closed
    assert_no_thread_left(before)
    # the client hung up and sent nothing (no CONNECT to a non-NATS server)
    conn.wait_eof()
    assert conn.received == b""


def test_garbage_instead_of_pong_is_protocol_error(
    fake_server: FakeServer, clients: Clients
) -> None:
    before = natsync_threads()
    bg = fake_server.script(("send_info",), ("expect_connect",), ("send", b"HELLO\r\n"))
    nc = clients.new()
    with pytest.raises(errors.ProtocolError):
        nc.connect(fake_server.url, connect_timeout=5.0)
    conn: FakeConn = bg.result()
    assert_no_thread_left(before)
    conn.wait_eof()
    assert conn.ops() == ["CONNECT", "PING"]


def test_info_split_across_reads_then_closed(fake_server: FakeServer, clients: Clients) -> None:
    # half an INFO, then EOF: an error (not a hang, not a ProtocolError claim on good data)
    before = natsync_threads()
    bg = fake_server.script(("send", b"INFO {\"server_id\":"), ("sleep", 0.05), ("close",))
    nc = clients.new()
    with pytest.raises(errors.Error) as ei:
        nc.connect(fake_server.url, connect_timeout=5.0)
    bg.result()
    assert not isinstance(ei.value, errors.TimeoutError), ei.value
    assert_no_thread_left(before)


# ---------------------------------------------------------------- 3. silent server


def _expect_connect_timeout(nc: natsync.Client, url: str, timeout: float) -> BaseException:
    t0 = time.monotonic()
    with pytest.raises(errors.TimeoutError) as ei:
        nc.connect(url, connect_timeout=timeout)
    took = time.monotonic() - t0
    assert isinstance(ei.value, builtins.TimeoutError)
    assert isinstance(ei.value, errors.Error)
    assert took < timeout + 2.0, f"connect took {took:.1f}s with connect_timeout={timeout}"
    return ei.value


def test_server_never_sends_info_times_out(fake_server: FakeServer, clients: Clients) -> None:
    before = natsync_threads()
    bg = fake_server.script(("wait_eof",))
    nc = clients.new()
    exc = _expect_connect_timeout(nc, fake_server.url, 0.5)
    assert "INFO" in str(exc) or "timed out" in str(exc)
    conn: FakeConn = bg.result()
    assert conn.received == b""
    assert_no_thread_left(before)


def test_server_never_sends_pong_times_out(fake_server: FakeServer, clients: Clients) -> None:
    before = natsync_threads()
    bg = fake_server.script(("send_info",), ("expect_connect",), ("wait_eof",))
    nc = clients.new()
    _expect_connect_timeout(nc, fake_server.url, 0.5)
    conn: FakeConn = bg.result()
    assert conn.ops() == ["CONNECT", "PING"]
    assert_no_thread_left(before)


def test_silent_server_with_retry_keeps_trying_then_closes_cleanly(
    fake_server: FakeServer, clients: Clients
) -> None:
    nc = clients.new()
    bg = fake_server.background(lambda: [fake_server.accept(), fake_server.accept()])
    nc.connect(fake_server.url, connect_timeout=0.3, retry_on_failed_connect=True,
               reconnect_time_wait=0.05, reconnect_jitter=0.0)
    assert nc.is_reconnecting
    assert isinstance(nc.last_error, errors.TimeoutError)
    conns: List[FakeConn] = bg.result()  # a second attempt came
    nc.close()
    assert nc.is_closed
    for c in conns:
        c.wait_eof()


# ---------------------------------------------------------------- 4. -ERR in the handshake


@pytest.mark.parametrize("pong_too", [False, True], ids=["err-only", "err-then-pong"])
def test_authorization_violation_in_handshake(
    fake_server: FakeServer, clients: Clients, pong_too: bool
) -> None:
    before = natsync_threads()
    steps: List[Any] = [("send_info", None), ("expect_connect",),
                        ("send", b"-ERR 'Authorization Violation'\r\n")]
    if pong_too:
        steps.append(("send", b"PONG\r\n"))
    steps.append(("close",))
    bg = fake_server.script(*steps)
    nc = clients.new()
    with pytest.raises(errors.AuthorizationError) as ei:
        nc.connect(f"nats://alice:wrong@{fake_server.hostport}", connect_timeout=3.0)
    conn: FakeConn = bg.result()
    exc = ei.value
    assert isinstance(exc, errors.AuthorizationViolationError)
    text = str(exc).lower()
    assert "authorization violation" in text
    assert "credentials" in text or "user" in text  # says what to check
    assert "wrong" not in str(exc), "the password leaked into the error message"
    assert conn.frames[0].connect_fields()["user"] == "alice"
    assert nc.is_closed
    assert_no_thread_left(before)


def test_authorization_violation_with_retry_is_reported_and_retried(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    def reject(conn: FakeConn) -> None:
        conn.send_info()
        conn.expect_connect()
        conn.send_err("Authorization Violation")
        conn.close()

    first = fake_server.script(reject)
    nc = clients.new()
    # retry_on_failed_connect: the rejection is not raised; the client retries
    # (max_reconnect_attempts=2), reports the rejection, then gives up and closes
    nc.connect(fake_server.url, retry_on_failed_connect=True, reconnect_time_wait=0.05,
               reconnect_jitter=0.0, max_reconnect_attempts=2, **events.callbacks())
    first.result()
    assert isinstance(nc.last_error, errors.AuthorizationError)
    conn2 = fake_server.script(reject)
    conn2.result()
    wait_for(lambda: nc.is_closed, 5.0, "the client to give up after max_reconnect_attempts")
    events.wait_count("closed")
    assert any(isinstance(e, errors.AuthorizationError) for e in events.errors), events.log


def test_info_and_err_in_one_packet_reports_the_server_error(
    fake_server: FakeServer, clients: Clients
) -> None:
    """nats-server at its connection limit sends INFO, then at once
    ``-ERR 'maximum connections exceeded'``, and closes (checked against
    nats-server 2.15 with max_connections: 1). Both usually arrive in one read;
    the client must report the server's reason, not a protocol violation."""
    before = natsync_threads()

    def serve(conn: FakeConn) -> None:
        conn.send(conn.info_bytes() + b"-ERR 'maximum connections exceeded'\r\n")
        conn.wait_eof()

    bg = fake_server.script(serve)
    nc = clients.new()
    with pytest.raises(errors.Error) as ei:
        nc.connect(fake_server.url, connect_timeout=3.0)
    bg.result()
    exc = ei.value
    assert not isinstance(exc, errors.ProtocolError), (
        f"expected the server's -ERR (ServerError, 'maximum connections exceeded'); got {exc!r}")
    assert isinstance(exc, errors.ServerError)
    assert "maximum connections" in str(exc).lower()
    assert_no_thread_left(before)


def test_info_then_err_in_separate_packets_reports_the_server_error(
    fake_server: FakeServer, clients: Clients
) -> None:
    """The same -ERR arriving after the client's CONNECT (a separate read)."""
    bg = fake_server.script(
        ("send_info",), ("expect_connect",),
        ("send", b"-ERR 'maximum connections exceeded'\r\n"), ("close",))
    nc = clients.new()
    with pytest.raises(errors.ServerError) as ei:
        nc.connect(fake_server.url, connect_timeout=3.0)
    bg.result()
    assert "maximum connections" in str(ei.value).lower()


def test_server_requires_tls_but_speaks_plain(fake_server: FakeServer, clients: Clients) -> None:
    """INFO says tls_required: the client starts TLS; a peer that then answers
    with plain text makes a TLS error, not a hang."""
    before = natsync_threads()

    def serve(conn: FakeConn) -> None:
        conn.send_info(tls_required=True)
        conn.wait_until(lambda: len(conn.received) > 0, 5, "a TLS ClientHello")
        conn.send(b"this is not TLS\r\n")
        conn.close()

    bg = fake_server.script(serve)
    nc = clients.new()
    with pytest.raises(errors.SecureConnFailedError):
        nc.connect(fake_server.url, connect_timeout=3.0)
    conn: FakeConn = bg.result()
    hello = conn.received
    assert hello[:1] == b"\x16" and hello[1:2] == b"\x03", f"not a TLS record: {hello[:8]!r}"
    assert_no_thread_left(before)


def test_tls_url_but_server_has_no_tls(fake_server: FakeServer, clients: Clients) -> None:
    before = natsync_threads()
    bg = fake_server.script(("send_info",), ("wait_eof",))
    nc = clients.new()
    with pytest.raises(errors.SecureConnWantedError) as ei:
        nc.connect(f"tls://{fake_server.hostport}", connect_timeout=3.0)
    conn: FakeConn = bg.result()
    assert conn.received == b""  # no CONNECT (and no credentials) in clear text
    assert "TLS" in str(ei.value)
    assert_no_thread_left(before)


def test_close_during_a_reconnect_handshake_is_prompt(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    """close() while the reconnect thread waits for a silent server's INFO does
    not wait out connect_timeout (10 s here)."""
    nc, conn1 = clients.connect(fake_server, connect_timeout=10.0, **events.callbacks())
    conn1.close()
    events.wait_count("disconnected")
    conn2 = fake_server.accept()  # the client now waits for INFO
    nc.publish("kept", b"1")
    closer = threading.Thread(target=nc.close, name="test-close", daemon=True)
    closer.start()
    events.wait_count("closed", timeout=3.0)
    closer.join(3.0)
    assert not closer.is_alive() and nc.is_closed
    conn2.wait_eof(timeout=3.0)
    assert [(m.subject, m.data) for m in nc.unsent_messages()] == [("kept", b"1")]
