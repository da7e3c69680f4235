"""A server that breaks the protocol after the handshake: the client reports a
ProtocolError, drops the connection and reconnects; it never hangs and never
buffers without bound."""

from __future__ import annotations

import time
from typing import Callable, List

import pytest

from natsync import errors
from tests.wire.conftest import Clients, Events, wait_for
from tests.wire.fakeserver import FakeConn, FakeServer, msg_frame

pytestmark = pytest.mark.timeout(30)

BAD_STREAMS = [
    pytest.param(b"FOO BAR\r\n", id="unknown-op"),
    pytest.param(b"\x00\xff\x10garbage\r\n", id="binary-garbage"),
    pytest.param(b"\r\n", id="empty-line"),
    pytest.param(b"MSG a 1 3\r\nhello\r\n", id="payload-longer-than-size"),
    pytest.param(b"MSG a 1 10\r\nhi\r\nPING\r\nPING\r\nxx", id="payload-shorter-than-size"),
    pytest.param(b"HMSG a 1 4 20\r\nNATS/1.0\r\n\r\nxxxxxxxxxxxx\r\n", id="hmsg-sizes-wrong"),
    pytest.param(b"HMSG a 1 30 20\r\n" + b"x" * 20 + b"\r\n", id="hmsg-header-over-total"),
    pytest.param(b"HMSG a 1 70000 80000\r\n", id="hmsg-header-over-64k"),
    pytest.param(b"MSG a 1 -5\r\n", id="negative-size"),
    pytest.param(b"MSG a 1 x\r\nhi\r\n", id="size-not-a-number"),
    pytest.param(b"MSG a one 2\r\nhi\r\n", id="sid-not-a-number"),
    pytest.param(b"MSG a 1 2 3 4\r\nhi\r\n", id="msg-too-many-args"),
    pytest.param(b"MSG a\r\n", id="msg-too-few-args"),
    pytest.param(b"MSG a 1 99999999999\r\n", id="size-over-hard-limit"),
    pytest.param(b"PING now\r\n", id="ping-with-args"),
    pytest.param(b"INFO {broken\r\n", id="async-info-bad-json"),
    pytest.param(b"MSG a 1 2 " + b"x" * 5000, id="control-line-over-4096"),
    pytest.param(msg_frame("a", 1, b"ok") + b"BOGUS\r\n", id="valid-then-garbage"),
]


@pytest.mark.parametrize("bad", BAD_STREAMS)
def test_protocol_violation_after_connect_reconnects(
    fake_server: FakeServer, clients: Clients, events: Events, bad: bytes
) -> None:
    nc, conn = clients.connect(fake_server, **events.callbacks())
    sub = nc.subscribe("a")
    nc.flush(timeout=2)
    conn.send(bad)

    events.wait_count("disconnected")
    # reported: to error_cb or at least as last_error (checked before the next
    # connection completes, which could overwrite it)
    reported = [e for e in events.errors if isinstance(e, errors.ProtocolError)]
    assert reported or isinstance(nc.last_error, errors.ProtocolError), (
        f"no ProtocolError reported; last_error={nc.last_error!r}, callbacks={events.log}")
    exc = reported[0] if reported else nc.last_error
    assert str(exc).startswith("nats:")
    # the client dropped the broken connection itself
    conn.wait_eof()
    assert nc.is_reconnecting

    conn2 = fake_server.accept()
    conn2.handshake()
    events.wait_count("reconnected")
    assert nc.is_connected
    # the subscription is live again on the new connection and works
    frames = conn2.wait_frames(lambda fs: any(f.op == "SUB" for f in fs))
    assert [f.short() for f in frames if f.op == "SUB"] == ["SUB a 1"]
    conn2.send_msg("a", 1, b"after")
    got = []
    while True:  # a valid MSG before the garbage may or may not have been delivered
        m = sub.next_msg(timeout=3)
        got.append(m.data)
        if m.data == b"after":
            break
    assert got in ([b"after"], [b"ok", b"after"])
    assert events.log.count("disconnected") == 1


@pytest.mark.parametrize(
    "prefix", [pytest.param(b"MSG a 1 ", id="msg"), pytest.param(b"INFO ", id="info")]
)
def test_endless_control_line_is_cut_off(
    fake_server: FakeServer, clients: Clients, events: Events, prefix: bytes
) -> None:
    """A control line that never ends: the client gives up after a bounded amount
    (4 KiB for MSG; INFO may legitimately be long but is bounded too) and drops
    the connection, instead of buffering what the server sends for ever."""
    nc, conn = clients.connect(fake_server, **events.callbacks())
    cap = 48 * 1024 * 1024
    sent = _stream_until_closed(conn, prefix, b"a" * 65536, cap)
    assert sent < cap, f"the client kept reading {sent} bytes of one control line"
    events.wait_count("disconnected")
    assert isinstance(nc.last_error, errors.ProtocolError) or any(
        isinstance(e, errors.ProtocolError) for e in events.errors
    ), nc.last_error
    conn2 = fake_server.accept()
    conn2.handshake()
    events.wait_count("reconnected")


def _stream_until_closed(conn: FakeConn, first: bytes, chunk: bytes, cap: int) -> int:
    """Send ``first`` then ``chunk`` repeatedly until the client hangs up or ``cap``."""
    sent = 0
    try:
        conn.send(first)
        sent += len(first)
        while sent < cap:
            conn.send(chunk)
            sent += len(chunk)
    except OSError:
        pass
    return sent


def test_msg_payload_never_completes_then_eof(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    """A MSG announcing more than ever comes, then EOF: a normal lost connection."""
    nc, conn = clients.connect(fake_server, **events.callbacks())
    nc.subscribe("a")
    nc.flush(timeout=2)
    conn.send(b"MSG a 1 1000\r\nonly-a-bit")
    conn.close()
    events.wait_count("disconnected")
    assert isinstance(nc.last_error, errors.StaleConnectionError)  # UnexpectedEOF is one
    conn2 = fake_server.accept()
    conn2.handshake()
    events.wait_count("reconnected")


def test_protocol_error_without_reconnect_closes(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    nc, conn = clients.connect(fake_server, allow_reconnect=False, **events.callbacks())
    nc.publish("x", b"1")
    nc.flush(timeout=2)  # nothing queued when the connection breaks (see the backlog test)
    conn.send(b"GARBAGE\r\n")
    events.wait_count("closed")
    assert nc.is_closed
    assert isinstance(nc.last_error, errors.ProtocolError) or any(
        isinstance(e, errors.ProtocolError) for e in events.errors
    )
    with pytest.raises(errors.ConnectionClosedError):
        nc.publish("x", b"2")
    conn.wait_eof()


def test_server_reset_is_a_lost_connection(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    nc, conn = clients.connect(fake_server, **events.callbacks())
    conn.abort()  # RST
    events.wait_count("disconnected")
    assert nc.is_reconnecting
    conn2 = fake_server.accept()
    conn2.handshake()
    events.wait_count("reconnected")
    nc.flush(timeout=2)


def test_client_survives_many_broken_connections(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    """Each new connection breaks in a different way; the client keeps coming back."""
    nc, conn = clients.connect(fake_server, **events.callbacks())
    breakers: List[bytes] = [b"NOPE\r\n", b"MSG a 1 1\r\nxx\r\n", b"-ERR 'Unknown Protocol Operation'\r\n"]
    for i, bad in enumerate(breakers, start=1):
        conn.send(bad)
        events.wait_count("disconnected", i)
        conn.wait_eof()
        conn = fake_server.accept()
        conn.handshake()
        events.wait_count("reconnected", i)
    nc.publish("still", b"alive")
    nc.flush(timeout=2)
    assert [f.short() for f in conn.frames if f.op == "PUB"] == ["PUB still 5 b'alive'"]
    wait_for(lambda: nc.stats["reconnects"] == len(breakers))


def test_lost_connection_without_reconnect_closes_promptly_with_a_backlog(
    fake_server_factory: Callable[..., FakeServer], clients: Clients, events: Events
) -> None:
    """allow_reconnect=False and the connection dies with messages still queued:
    the client closes at once (nobody can write them any more) and keeps them
    as unsent; it must not wait for a flusher that is gone."""
    srv = fake_server_factory(rcvbuf=16384)
    nc, conn = clients.connect(srv, allow_reconnect=False, pending_size=64 * 1024 * 1024,
                               **events.callbacks())
    conn.pause_reading()
    payload = b"x" * 1024
    for _ in range(6000):  # more than the kernel buffers take: the flusher blocks
        nc.publish("bulk", payload)
    time.sleep(0.3)
    conn.abort()
    # well under close()'s 5 s grace for a live flusher: there is none left
    events.wait_count("closed", timeout=3.0)
    assert nc.is_closed
    unsent = nc.unsent_messages()
    assert unsent and all(m.subject == "bulk" and m.data == payload for m in unsent)
