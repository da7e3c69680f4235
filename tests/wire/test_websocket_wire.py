"""WebSocket on the wire, against the scripted fake server speaking WebSocket by
hand: nothing before the 101, bad upgrade answers, bad frames during the
handshake and once connected, server close and ping frames, fragmented input.
Every failure is a clear natsync error; nothing hangs; no thread is left."""

from __future__ import annotations

import time
from typing import Callable, List, Optional

import pytest

import natsync
from natsync import errors
from natsync.protocol import ws
from tests.wire.conftest import (
    CLIENT_DEFAULTS,
    Clients,
    Events,
    assert_no_thread_left,
    natsync_threads,
)
from tests.wire.fakeserver import DEFAULT_TIMEOUT, FakeConn, FakeServer

pytestmark = pytest.mark.timeout(30)


class WSConn:
    """The server side of one WebSocket connection on a :class:`FakeConn`."""

    def __init__(self, conn: FakeConn) -> None:
        self.conn = conn
        self.request = b""

    def read_request(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        self.conn.wait_until(lambda: b"\r\n\r\n" in self.conn.received, timeout,
                             "the upgrade request")
        self.request = self.conn.received.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        return self.request.decode()

    def key(self) -> str:
        for line in self.request.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "sec-websocket-key":
                return value.strip()
        raise AssertionError(f"no Sec-WebSocket-Key in {self.request!r}")

    def upgrade(self, extra: str = "", accept: Optional[str] = None) -> None:
        self.read_request()
        acc = accept if accept is not None else ws.accept_key(self.key())
        self.conn.send((
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {acc}\r\n{extra}\r\n").encode())

    def events(self) -> List[ws.Event]:
        raw = self.conn.received[len(self.request):]
        return ws.FrameDecoder(masked=True).feed(raw)

    def nats(self) -> bytes:
        return b"".join(e for e in self.events() if isinstance(e, bytes))

    def send_nats(self, data: bytes) -> None:
        self.conn.send(ws.encode_frame(data))

    def wait_nats(self, needle: bytes, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.conn.wait_until(lambda: needle in self.nats(), timeout, f"{needle!r} over WebSocket")

    def handshake(self) -> None:
        self.upgrade()
        self.send_nats(self.conn.info_bytes())
        self.wait_nats(b"PING\r\n")
        self.send_nats(b"PONG\r\n")


def ws_url(server: FakeServer) -> str:
    return f"ws://127.0.0.1:{server.port}"


def connect(clients: Clients, server: FakeServer, **options: object) -> natsync.Client:
    nc = clients.new()
    nc.connect(ws_url(server), **dict(CLIENT_DEFAULTS, **options))
    return nc


def connect_fails(clients: Clients, server: FakeServer, script: object,
                  exc: type[BaseException], match: str, **options: object) -> BaseException:
    before = natsync_threads()
    bg = server.background(script, "ws")  # type: ignore[arg-type]
    with pytest.raises(exc, match=match) as info:
        connect(clients, server, allow_reconnect=False, **options)
    bg.result()
    assert_no_thread_left(before)
    return info.value


# ------------------------------------------------------------------ the upgrade


def test_nothing_is_sent_before_the_101(fake_server: FakeServer, clients: Clients) -> None:
    seen: List[bytes] = []

    def serve() -> WSConn:
        w = WSConn(fake_server.accept())
        w.read_request()
        time.sleep(0.1)  # anything the client wrongly sends early arrives meanwhile
        seen.append(w.conn.received)
        w.upgrade()
        w.send_nats(w.conn.info_bytes())
        w.wait_nats(b"PING\r\n")
        w.send_nats(b"PONG\r\n")
        return w

    bg = fake_server.background(serve)
    nc = connect(clients, fake_server, ws_connection_headers={"Authorization": "Bearer t0k"})
    w: WSConn = bg.result()
    assert seen[0] == w.request, "the client wrote past its upgrade request before the 101"
    lines = w.request.decode().split("\r\n")
    assert lines[0] == "GET / HTTP/1.1" and f"Host: 127.0.0.1:{fake_server.port}" in lines
    assert "Authorization: Bearer t0k" in lines
    assert w.nats().startswith(b"CONNECT {") and nc.is_connected
    assert all(isinstance(e, bytes) for e in w.events())


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "404 Not Found instead of 101"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "400"),
        (b"INFO {\"server_id\":\"x\"} \r\n", "looks like a NATS client port"),
    ],
)
def test_bad_upgrade_answers(fake_server: FakeServer, clients: Clients, answer: bytes,
                             match: str) -> None:
    def serve() -> None:
        w = WSConn(fake_server.accept())
        w.read_request()
        w.conn.send(answer)

    connect_fails(clients, fake_server, serve, errors.ProtocolError, match)


def test_bad_accept_key(fake_server: FakeServer, clients: Clients) -> None:
    def serve() -> None:
        WSConn(fake_server.accept()).upgrade(accept=ws.accept_key("c29tZXRoaW5nIGVsc2U="))

    connect_fails(clients, fake_server, serve, errors.ProtocolError, "wrong Sec-WebSocket-Accept")


def test_unrequested_no_masking_is_refused(fake_server: FakeServer, clients: Clients) -> None:
    def serve() -> None:
        WSConn(fake_server.accept()).upgrade(extra="Nats-No-Masking: true\r\n")

    connect_fails(clients, fake_server, serve, errors.ProtocolError, "did not ask for")


def test_silent_server_times_out(fake_server: FakeServer, clients: Clients) -> None:
    def serve() -> None:
        w = WSConn(fake_server.accept())
        w.read_request()
        w.conn.wait_eof(10)

    connect_fails(clients, fake_server, serve, errors.ConnectTimeoutError, "timed out",
                  connect_timeout=0.5)


def test_server_hangs_up_on_the_upgrade(fake_server: FakeServer, clients: Clients) -> None:
    def serve() -> None:
        w = WSConn(fake_server.accept())
        w.read_request()
        w.conn.close()

    connect_fails(clients, fake_server, serve, errors.UnexpectedEOF, "instead of answering")


# ------------------------------------------------------------------ bad frames


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (ws.encode_frame(b"INFO {} \r\n", b"abcd"), "masked WebSocket frame"),
        (b"\x85\x00", "unknown opcode 0x5"),
        (b"\x82\x7f" + (2**40).to_bytes(8, "big"), "over the"),
        (b"\xa2\x00", "reserved bits"),
    ],
)
def test_bad_frames_during_the_handshake(fake_server: FakeServer, clients: Clients, frame: bytes,
                                         match: str) -> None:
    def serve() -> None:
        w = WSConn(fake_server.accept())
        w.upgrade()
        w.conn.send(frame)
        w.conn.wait_eof(10)

    connect_fails(clients, fake_server, serve, errors.ProtocolError, match)


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (b"\x8c\x00", "unknown opcode 0xc"),
        (ws.encode_frame(b"MSG a 1 0\r\n\r\n", b"wxyz"), "masked"),
        (b"\x82\x7f" + (2**63).to_bytes(8, "big"), "over the"),
    ],
)
def test_bad_frames_once_connected_lose_the_connection(fake_server: FakeServer, clients: Clients,
                                                       frame: bytes, match: str) -> None:
    ev = Events()

    def serve() -> WSConn:
        w = WSConn(fake_server.accept())
        w.handshake()
        return w

    bg = fake_server.background(serve)
    nc = connect(clients, fake_server, **ev.callbacks())
    w: WSConn = bg.result()
    bg2 = fake_server.background(serve, "again")  # the client reconnects
    w.conn.send(frame)
    err = ev.wait_error(errors.ProtocolError)[0]
    assert match in str(err)
    ev.wait_count("reconnected")
    bg2.result()
    assert nc.is_connected
    # the client said why it hung up (close 1002) before reconnecting
    w.conn.wait_eof()
    assert ws.Close(1002, "protocol error") in w.events()


def test_server_close_frame_names_its_code(fake_server: FakeServer, clients: Clients) -> None:
    ev = Events()

    def serve() -> WSConn:
        w = WSConn(fake_server.accept())
        w.handshake()
        return w

    bg = fake_server.background(serve)
    nc = connect(clients, fake_server, allow_reconnect=False, **ev.callbacks())
    w: WSConn = bg.result()
    w.conn.send(ws.encode_frame(ws.close_payload(1008, "policy"), opcode=ws.OP_CLOSE))
    ev.wait_count("closed")
    assert isinstance(nc.last_error, errors.UnexpectedEOF)
    assert "code 1008: policy" in str(nc.last_error)
    w.conn.wait_eof()
    assert ws.Close(1008, "") in w.events()  # echoed, as RFC 6455 5.5.1 asks


def test_ping_frames_are_answered_and_fragments_joined(fake_server: FakeServer,
                                                       clients: Clients) -> None:
    def serve() -> WSConn:
        w = WSConn(fake_server.accept())
        w.upgrade()
        info = w.conn.info_bytes()
        # INFO in three fragments, a ping between them, the frames cut byte by byte
        stream = (ws.encode_frame(info[:5], fin=False)
                  + ws.encode_frame(b"hi", opcode=ws.OP_PING)
                  + ws.encode_frame(info[5:20], opcode=ws.OP_CONTINUATION, fin=False)
                  + ws.encode_frame(info[20:], opcode=ws.OP_CONTINUATION))
        w.conn.send(stream, chunk_size=1)
        w.wait_nats(b"PING\r\n")
        w.send_nats(b"PONG\r\n")
        return w

    bg = fake_server.background(serve)
    nc = connect(clients, fake_server)
    w: WSConn = bg.result()
    w.conn.wait_until(lambda: ws.Pong(b"hi") in w.events(), DEFAULT_TIMEOUT, "the pong")
    sub = nc.subscribe("frag")
    w.wait_nats(b"SUB frag 1\r\n")
    w.conn.send(ws.encode_frame(b"MSG frag 1 5\r\nhel", fin=False)
                + ws.encode_frame(b"lo\r\n", opcode=ws.OP_CONTINUATION))
    assert sub.next_msg(5).data == b"hello"


def test_one_frame_per_flusher_write(fake_server_factory: Callable[..., FakeServer],
                                     clients: Clients) -> None:
    server = fake_server_factory(rcvbuf=4096)

    def serve() -> WSConn:
        w = WSConn(server.accept())
        w.handshake()
        return w

    bg = server.background(serve)
    nc = connect(clients, server, pending_size=16 * 1024 * 1024)
    w: WSConn = bg.result()
    w.conn.pause_reading()
    payload = b"p" * 1024
    n = 2000  # 2 MB: more than the socket buffers hold, so the flusher's writes block
    for _ in range(n):  # and what queues meanwhile goes out coalesced
        nc.publish("many", payload)
    w.conn.resume_reading()
    w.conn.wait_until(lambda: w.nats().count(b"PUB many 1024\r\n") == n, 15, f"{n} PUBs")
    frames = [e for e in w.events() if isinstance(e, bytes)]
    assert len(frames) < n / 4, f"{len(frames)} frames for {n} publishes"


# ------------------------------------------------------------------ the proxy


def test_proxy_that_refuses_the_tunnel(fake_server: FakeServer, clients: Clients) -> None:
    def serve() -> None:
        c = fake_server.accept()
        c.wait_until(lambda: b"\r\n\r\n" in c.received, DEFAULT_TIMEOUT, "CONNECT")
        assert c.received.startswith(b"CONNECT 127.0.0.1:9 HTTP/1.1\r\n")
        c.send(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")

    before = natsync_threads()
    bg = fake_server.background(serve, "proxy")
    nc = clients.new()
    with pytest.raises(errors.NoServersError, match="502 Bad Gateway"):
        nc.connect("ws://127.0.0.1:9", ws_proxy=f"http://127.0.0.1:{fake_server.port}",
                   **dict(CLIENT_DEFAULTS, allow_reconnect=False))
    bg.result()
    assert_no_thread_left(before)


def test_silent_proxy_times_out(fake_server: FakeServer, clients: Clients) -> None:
    def serve() -> None:
        c = fake_server.accept()
        c.wait_eof(10)

    before = natsync_threads()
    bg = fake_server.background(serve, "proxy")
    nc = clients.new()
    with pytest.raises(errors.ConnectTimeoutError):
        nc.connect("ws://127.0.0.1:9", ws_proxy=f"http://127.0.0.1:{fake_server.port}",
                   **dict(CLIENT_DEFAULTS, allow_reconnect=False, connect_timeout=0.5))
    bg.result()
    assert_no_thread_left(before)


def test_tls_of_the_client_port_does_not_apply_to_websocket(fake_server: FakeServer,
                                                            clients: Clients) -> None:
    # a server whose client port requires TLS may say so in the INFO it sends over a
    # plain websocket listener: TLS, if any, is the websocket's (wss://), not the INFO's
    def serve() -> WSConn:
        w = WSConn(fake_server.accept())
        w.upgrade()
        w.send_nats(w.conn.info_bytes(tls_required=True))
        w.wait_nats(b"PING\r\n")
        w.send_nats(b"PONG\r\n")
        return w

    bg = fake_server.background(serve)
    nc = connect(clients, fake_server, tls=False)
    w: WSConn = bg.result()
    assert nc.is_connected
    assert b'"tls_required": false' in w.nats() or b'"tls_required":false' in w.nats()


def test_unreachable_proxy_is_named(clients: Clients) -> None:
    from natsync.testing import free_port

    port = free_port()  # nothing listens there
    nc = clients.new()
    with pytest.raises(errors.NoServersError, match=f"ws_proxy 127.0.0.1:{port}"):
        nc.connect("ws://127.0.0.1:9", ws_proxy=f"http://127.0.0.1:{port}",
                   **dict(CLIENT_DEFAULTS, allow_reconnect=False))


def test_close_sends_a_normal_close_frame(fake_server: FakeServer, clients: Clients) -> None:
    def serve() -> WSConn:
        w = WSConn(fake_server.accept())
        w.handshake()
        return w

    bg = fake_server.background(serve)
    nc = connect(clients, fake_server)
    w: WSConn = bg.result()
    nc.publish("last", b"words")
    nc.close()  # hands over what is queued, then says goodbye
    w.conn.wait_eof()
    events = w.events()
    assert b"PUB last 5\r\nwords\r\n" in w.nats()
    assert events[-1] == ws.Close(1000, ""), events[-3:]
