"""Frames from the server split at every possible place still arrive intact."""

from __future__ import annotations

import json
import random
from typing import Callable, List

import pytest

import natsync
from tests.wire.conftest import Clients, Events, wait_for
from tests.wire.fakeserver import FakeConn, FakeServer, hmsg_frame, msg_frame

pytestmark = pytest.mark.timeout(30)

BIG = bytes(range(256)) * 4 + b"\r\nMSG fake 1 3\r\nabc\r\n"  # looks like protocol inside


def _stream(port: int) -> bytes:
    """A server stream exercising every server->client operation."""
    info = {"server_id": "X", "version": "2.10.0", "proto": 1, "headers": True,
            "max_payload": 1048576, "connect_urls": [f"127.0.0.1:{port + 1}"]}
    return b"".join([
        msg_frame("a.one", 1, b"hello"),
        b"PING\r\n",
        hmsg_frame("b.two", 2, {"K": "v1", "Trace": "t-1"}, b"world", reply="reply.x"),
        b"INFO " + json.dumps(info).encode() + b"\r\n",
        msg_frame("a.empty", 1, b""),
        msg_frame("a.crlf", 1, b"\r\n\r\nPING\r\n", reply="r.1"),
        hmsg_frame("b.hdronly", 2, {"Only": "header"}, b""),
        b"+OK\r\n",
        msg_frame("a.big", 1, BIG),
        b"msg a.lower 1 2\r\nlo\r\n",  # ops are case-insensitive
        b"MSG\ta.tabs\t1\t3\r\ntab\r\n",  # any run of whitespace separates arguments
        b"PING\r\n",
        msg_frame("a.last", 1, b"bye"),
    ])


def _chunks_fixed(n: int) -> Callable[[bytes], List[bytes]]:
    def split(data: bytes) -> List[bytes]:
        return [data[i : i + n] for i in range(0, len(data), n)]

    return split


def _chunks_at_crlf(data: bytes) -> List[bytes]:
    """Cut between every CR and LF and right after every CRLF."""
    out: List[bytes] = []
    start = 0
    for i in range(len(data) - 1):
        if data[i : i + 2] == b"\r\n":
            out.append(data[start : i + 1])
            out.append(data[i + 1 : i + 2])
            start = i + 2
    out.append(data[start:])
    return [c for c in out if c]


def _chunks_random(data: bytes) -> List[bytes]:
    rnd = random.Random(1234)
    out: List[bytes] = []
    i = 0
    while i < len(data):
        n = rnd.choice([1, 2, 3, 5, 7, 11, 13, 64, 333, 1021])
        out.append(data[i : i + n])
        i += n
    return out


SPLITS = [
    pytest.param(_chunks_fixed(1), 0.0, id="byte-by-byte"),
    pytest.param(_chunks_fixed(1), 0.0005, id="byte-by-byte-delayed"),
    pytest.param(_chunks_fixed(2), 0.0, id="2"),
    pytest.param(_chunks_fixed(3), 0.001, id="3-delayed"),
    pytest.param(_chunks_fixed(7), 0.0, id="7"),
    pytest.param(_chunks_at_crlf, 0.001, id="between-cr-lf"),
    pytest.param(_chunks_random, 0.001, id="random-odd"),
]


@pytest.mark.parametrize(("split", "delay"), SPLITS)
def test_split_stream_arrives_intact(
    fake_server: FakeServer,
    clients: Clients,
    events: Events,
    split: Callable[[bytes], List[bytes]],
    delay: float,
) -> None:
    nc, conn = clients.connect(fake_server, **events.callbacks())
    sa = nc.subscribe("a.>")
    sb = nc.subscribe("b.>")
    nc.flush(timeout=2)  # the server has the SUBs
    data = _stream(fake_server.port)
    chunks = split(data)
    assert b"".join(chunks) == data
    conn.send_chunks(chunks, delay)

    got_a = [sa.next_msg(timeout=5) for _ in range(7)]
    got_b = [sb.next_msg(timeout=5) for _ in range(2)]
    assert [(m.subject, m.data, m.reply) for m in got_a] == [
        ("a.one", b"hello", ""),
        ("a.empty", b"", ""),
        ("a.crlf", b"\r\n\r\nPING\r\n", "r.1"),
        ("a.big", BIG, ""),
        ("a.lower", b"lo", ""),
        ("a.tabs", b"tab", ""),
        ("a.last", b"bye", ""),
    ]
    assert got_b[0].subject == "b.two" and got_b[0].data == b"world"
    assert got_b[0].reply == "reply.x"
    assert got_b[0].headers == {"K": "v1", "Trace": "t-1"}
    assert got_b[1].subject == "b.hdronly" and got_b[1].data == b""
    assert got_b[1].headers == {"Only": "header"}
    assert all(m.sid in (1, 2) for m in got_a + got_b)

    # both PINGs were answered, the INFO was applied, nothing was reported
    conn.wait_count("PONG", 2)
    events.wait_count("discovered")
    assert [u.port for u in nc.discovered_servers] == [fake_server.port + 1]
    assert nc.is_connected
    assert events.errors == []
    assert nc.stats["in_msgs"] == 9
    assert conn.eof is None


def test_many_messages_in_odd_chunks(fake_server: FakeServer, clients: Clients) -> None:
    """A long stream of messages cut at random places: every message, in order."""
    nc, conn = clients.connect(fake_server)
    sub = nc.subscribe("n")
    nc.flush(timeout=2)
    rnd = random.Random(99)
    payloads = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 300)))
                for _ in range(400)]
    data = b"".join(msg_frame("n", 1, p, reply=f"r.{i}" if i % 3 == 0 else "")
                    for i, p in enumerate(payloads))
    chunks: List[bytes] = []
    i = 0
    while i < len(data):
        n = rnd.randrange(1, 200)
        chunks.append(data[i : i + n])
        i += n
    conn.send_chunks(chunks)
    for i, p in enumerate(payloads):
        m = sub.next_msg(timeout=5)
        assert m.data == p, f"message {i} corrupted"
        assert m.reply == (f"r.{i}" if i % 3 == 0 else "")
    assert nc.is_connected


def test_split_hmsg_no_responders_status(fake_server: FakeServer, clients: Clients) -> None:
    """A 503 status HMSG split byte by byte resolves a request as NoRespondersError."""
    nc, conn = clients.connect(fake_server)
    bg = fake_server.background(lambda: _answer_request_with_503(conn))
    with pytest.raises(natsync.errors.NoRespondersError):
        nc.request("svc.none", b"q", timeout=3)
    bg.result()


def _answer_request_with_503(conn: FakeConn) -> None:
    frames = conn.wait_frames(lambda fs: any(f.op in ("PUB", "HPUB") for f in fs))
    pub = next(f for f in frames if f.op in ("PUB", "HPUB"))
    sub = next(f for f in frames if f.op == "SUB")
    sid = int(sub.args[-1])
    block = b"NATS/1.0 503\r\n\r\n"
    frame = (f"HMSG {pub.reply} {sid} {len(block)} {len(block)}\r\n".encode() + block + b"\r\n")
    conn.send(frame, chunk_size=1)


def test_pong_split_resolves_flush(fake_server: FakeServer, clients: Clients) -> None:
    nc, conn = clients.connect(fake_server, auto_pong=False)
    def answer() -> None:
        conn.wait_count("PING", 2)
        conn.send(b"PONG\r\n", chunk_size=1, delay=0.01)

    bg = fake_server.background(answer)
    nc.flush(timeout=3)
    bg.result()
    wait_for(lambda: nc.is_connected)
