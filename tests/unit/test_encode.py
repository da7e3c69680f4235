"""Unit tests for natsync.protocol.encode: exact frames and decode_pub."""

from __future__ import annotations

import json

import pytest

from natsync.errors import ProtocolError
from natsync.protocol.encode import (
    CRLF,
    PING,
    PONG,
    decode_pub,
    encode_connect,
    encode_hpub,
    encode_pub,
    encode_sub,
    encode_unsub,
    is_msg_frame,
    split_frames,
)

HDR = b"NATS/1.0\r\nFoo: bar\r\n\r\n"


def test_constants() -> None:
    assert PING == b"PING\r\n"
    assert PONG == b"PONG\r\n"
    assert CRLF == b"\r\n"


def test_connect_is_compact_json() -> None:
    fields = {"verbose": False, "pedantic": False, "name": "w 1", "lang": "python", "protocol": 1}
    frame = encode_connect(fields)
    assert frame == (
        b'CONNECT {"verbose":false,"pedantic":false,"name":"w 1","lang":"python","protocol":1}\r\n'
    )
    assert frame.startswith(b"CONNECT ") and frame.endswith(b"\r\n")
    assert json.loads(frame[8:-2]) == fields


def test_connect_accepts_any_mapping_and_escapes_non_ascii() -> None:
    from types import MappingProxyType

    frame = encode_connect(MappingProxyType({"name": "caf\u00e9\r\n"}))
    assert frame == b'CONNECT {"name":"caf\\u00e9\\r\\n"}\r\n'
    assert frame.count(b"\r\n") == 1


def test_pub() -> None:
    assert encode_pub("foo.bar", b"hello") == b"PUB foo.bar 5\r\nhello\r\n"
    assert encode_pub("foo", b"") == b"PUB foo 0\r\n\r\n"


def test_pub_with_reply() -> None:
    assert encode_pub("foo", b"hi", "_INBOX.1") == b"PUB foo _INBOX.1 2\r\nhi\r\n"
    assert encode_pub("foo", b"hi", reply="") == b"PUB foo 2\r\nhi\r\n"


def test_pub_utf8_subject_and_bytes_like_payloads() -> None:
    assert encode_pub("caf\u00e9", b"x") == b"PUB caf\xc3\xa9 1\r\nx\r\n"
    assert encode_pub("a", bytearray(b"xy")) == b"PUB a 2\r\nxy\r\n"  # type: ignore[arg-type]
    assert encode_pub("a", memoryview(b"xyz")) == b"PUB a 3\r\nxyz\r\n"  # type: ignore[arg-type]


def test_pub_binary_payload_with_crlf() -> None:
    payload = b"\r\nPUB x 1\r\n\x00\xff"
    assert encode_pub("a", payload) == b"PUB a %d\r\n%s\r\n" % (len(payload), payload)


def test_hpub() -> None:
    n = len(HDR)
    assert encode_hpub("foo", b"hi", HDR) == b"HPUB foo %d %d\r\n%shi\r\n" % (n, n + 2, HDR)
    assert encode_hpub("foo", b"hi", HDR, "rep") == (b"HPUB foo rep %d %d\r\n%shi\r\n" % (n, n + 2, HDR))
    assert encode_hpub("foo", b"", HDR) == b"HPUB foo %d %d\r\n%s\r\n" % (n, n, HDR)


def test_hpub_matches_the_protocol_doc_example() -> None:
    # From the NATS protocol documentation (HPUB section).
    hdr = b"NATS/1.0\r\nBar: Baz\r\n\r\n"
    assert encode_hpub("FOO", b"Hello NATS!", hdr, "INBOX.22") == (
        b"HPUB FOO INBOX.22 22 33\r\nNATS/1.0\r\nBar: Baz\r\n\r\nHello NATS!\r\n"
    )


def test_sub() -> None:
    assert encode_sub("foo.*", 1) == b"SUB foo.* 1\r\n"
    assert encode_sub("foo.>", 42, "workers") == b"SUB foo.> workers 42\r\n"
    assert encode_sub("foo", 3, queue="") == b"SUB foo 3\r\n"


def test_unsub() -> None:
    assert encode_unsub(1) == b"UNSUB 1\r\n"
    assert encode_unsub(1, 0) == b"UNSUB 1\r\n"
    assert encode_unsub(7, 5) == b"UNSUB 7 5\r\n"
    assert encode_unsub(7, max_msgs=1) == b"UNSUB 7 1\r\n"


# -- decode_pub ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "reply", "payload"),
    [("foo", "", b"hello"), ("a.b.c", "_INBOX.x", b""), ("x", "y", b"\r\n\x00PUB 1 2\r\n")],
)
def test_decode_pub_roundtrip(subject: str, reply: str, payload: bytes) -> None:
    assert decode_pub(encode_pub(subject, payload, reply)) == (subject, reply, None, payload)


@pytest.mark.parametrize(("reply", "payload"), [("", b"data"), ("r.1", b""), ("", b"")])
def test_decode_hpub_roundtrip(reply: str, payload: bytes) -> None:
    frame = encode_hpub("sub.j", payload, HDR, reply)
    assert decode_pub(frame) == ("sub.j", reply, HDR, payload)


def test_decode_pub_tolerates_other_clients_spacing() -> None:
    # nats-py writes "PUB subject  size" (an empty reply between two spaces).
    assert decode_pub(b"PUB foo  5\r\nhello\r\n") == ("foo", "", None, b"hello")
    assert decode_pub(b"HPUB foo  12 14\r\nNATS/1.0\r\n\r\nhi\r\n") == (
        "foo",
        "",
        b"NATS/1.0\r\n\r\n",
        b"hi",
    )
    assert decode_pub(bytearray(b"pub\tfoo\t1\r\nx\r\n")) == ("foo", "", None, b"x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"PUB foo 5",
        b"SUB foo 1\r\n",
        b"PUB foo\r\n\r\n",
        b"PUB foo a b c 1\r\nx\r\n",
        b"PUB foo x\r\nx\r\n",
        b"PUB foo 5\r\nhi\r\n",
        b"PUB foo 2\r\nhello\r\n",
        b"PUB foo 2\r\nhixx",
        b"PUB foo -1\r\n\r\n",
        b"HPUB foo 5 3\r\nabc\r\n",
        b"HPUB foo 3\r\nabc\r\n",
        b"PUB \xff 1\r\nx\r\n",
        b"PUB foo 1\r\nx\r\nPUB foo 1\r\nx\r\n",
    ],
)
def test_decode_pub_rejects_malformed_frames(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_pub(frame)


def test_split_frames_recovers_each_frame_in_order() -> None:
    frames = [
        encode_pub("a", b"x\r\ny"),  # CRLF inside a payload is not a boundary
        encode_sub("a.>", 7, "q"),
        encode_hpub("h", b"body", b"NATS/1.0\r\nK: v\r\n\r\n", "r"),
        PING,
        encode_unsub(7, 2),
        encode_pub("empty", b""),
        PONG,
    ]
    got = split_frames(bytearray(b"".join(frames)))
    assert got == frames
    assert [is_msg_frame(f) for f in got] == [True, False, True, False, False, True, False]
    assert split_frames(b"") == []


@pytest.mark.parametrize("data", [b"PUB a 5\r\nab", b"PUB a\r\nx\r\n", b"SUB a 1"])
def test_split_frames_rejects_a_cut_frame(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        split_frames(data)
