"""Unit tests for natsync.protocol.parser: every op, every error, splits, limits."""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest

from natsync.errors import ProtocolError
from natsync.protocol.parser import (
    MAX_CONTROL_LINE,
    MAX_HEADER_SIZE,
    MAX_INFO_LINE,
    MAX_PAYLOAD_LIMIT,
    OK_EVENT,
    PING_EVENT,
    PONG_EVENT,
    Err,
    Info,
    MsgEvent,
    Ok,
    Parser,
    Ping,
    Pong,
)

HDR = b"NATS/1.0\r\nFoo: bar\r\n\r\n"


def feed_all(data: bytes, **kwargs: Any) -> list[Any]:
    return Parser(**kwargs).feed(data)


def feed_bytewise(data: bytes, **kwargs: Any) -> list[Any]:
    p = Parser(**kwargs)
    out: list[Any] = []
    for i in range(len(data)):
        out.extend(p.feed(data[i : i + 1]))
    return out


def raises_protocol(data: bytes, match: str, **kwargs: Any) -> Parser:
    p = Parser(**kwargs)
    with pytest.raises(ProtocolError, match=match):
        p.feed(data)
    return p


# -- constants and events ---------------------------------------------------


def test_constants() -> None:
    assert MAX_CONTROL_LINE == 4096
    assert MAX_HEADER_SIZE == 64 * 1024
    assert MAX_PAYLOAD_LIMIT == 64 * 1024 * 1024
    assert MAX_INFO_LINE >= MAX_CONTROL_LINE


def test_singletons_are_the_fieldless_events() -> None:
    assert PING_EVENT == Ping() and type(PING_EVENT) is Ping
    assert PONG_EVENT == Pong() and type(PONG_EVENT) is Pong
    assert OK_EVENT == Ok() and type(OK_EVENT) is Ok
    assert Ping._fields == Pong._fields == Ok._fields == ()


@pytest.mark.parametrize(
    "event",
    [Info({"a": 1}), MsgEvent("s", 1, "", b"x", None), PING_EVENT, PONG_EVENT, OK_EVENT, Err("x")],
)
def test_events_are_immutable_and_slotted(event: Any) -> None:
    assert isinstance(event, tuple)
    assert not hasattr(event, "__dict__")
    with pytest.raises(AttributeError):
        setattr(event, "anything", 1)  # noqa: B010


def test_msg_event_fields() -> None:
    ev = MsgEvent("a.b", 7, "r", b"data", None)
    assert (ev.subject, ev.sid, ev.reply, ev.payload, ev.header) == ("a.b", 7, "r", b"data", None)


# -- each op -----------------------------------------------------------------


def test_info() -> None:
    info = {"server_id": "X", "max_payload": 1048576, "headers": True, "connect_urls": ["a:1"]}
    events = feed_all(b"INFO " + json.dumps(info).encode() + b"\r\n")
    assert events == [Info(info)]
    assert type(events[0]) is Info


def test_msg_without_reply() -> None:
    assert feed_all(b"MSG foo.bar 9 5\r\nhello\r\n") == [MsgEvent("foo.bar", 9, "", b"hello", None)]


def test_msg_with_reply() -> None:
    events = feed_all(b"MSG foo 1 _INBOX.x.y 3\r\nabc\r\n")
    assert events == [MsgEvent("foo", 1, "_INBOX.x.y", b"abc", None)]


def test_msg_empty_payload() -> None:
    assert feed_all(b"MSG foo 1 0\r\n\r\n") == [MsgEvent("foo", 1, "", b"", None)]


def test_msg_payload_may_contain_crlf_and_protocol_text() -> None:
    payload = b"\r\nMSG x 1 2\r\nPING\r\n\r\n"
    data = b"MSG foo 1 %d\r\n%s\r\nPING\r\n" % (len(payload), payload)
    assert feed_all(data) == [MsgEvent("foo", 1, "", payload, None), PING_EVENT]


def test_msg_binary_payload_and_utf8_subject() -> None:
    payload = bytes(range(256))
    subject = "caf\u00e9.\u00fc"
    data = b"MSG %s 3 256\r\n%s\r\n" % (subject.encode(), payload)
    assert feed_all(data) == [MsgEvent(subject, 3, "", payload, None)]


def test_hmsg_without_reply() -> None:
    data = b"HMSG foo 2 %d %d\r\n%shi\r\n" % (len(HDR), len(HDR) + 2, HDR)
    assert feed_all(data) == [MsgEvent("foo", 2, "", b"hi", HDR)]


def test_hmsg_with_reply_and_empty_payload() -> None:
    hdr = b"NATS/1.0 503\r\n\r\n"
    data = b"HMSG _INBOX.a 4 _INBOX.b %d %d\r\n%s\r\n" % (len(hdr), len(hdr), hdr)
    assert feed_all(data) == [MsgEvent("_INBOX.a", 4, "_INBOX.b", b"", hdr)]


def test_ping_pong_ok() -> None:
    events = feed_all(b"PING\r\nPONG\r\n+OK\r\n")
    assert events == [PING_EVENT, PONG_EVENT, OK_EVENT]
    assert events[0] is PING_EVENT and events[1] is PONG_EVENT and events[2] is OK_EVENT


@pytest.mark.parametrize(
    ("line", "text"),
    [
        (b"-ERR 'Authorization Violation'\r\n", "Authorization Violation"),
        (b"-ERR  'Stale Connection'  \r\n", "Stale Connection"),
        (b"-ERR\t'Unknown Protocol Operation'\r\n", "Unknown Protocol Operation"),
        (
            b"-ERR 'Permissions Violation for Publish to \"foo\"'\r\n",
            'Permissions Violation for Publish to "foo"',
        ),
        (b"-ERR no quotes here\r\n", "no quotes here"),
        (b"-ERR\r\n", ""),
    ],
)
def test_err(line: bytes, text: str) -> None:
    assert feed_all(line) == [Err(text)]


def test_mixed_stream_in_order() -> None:
    data = (
        b'INFO {"server_id":"a"}\r\n'
        b"PING\r\n"
        b"MSG a 1 1\r\nx\r\n"
        b"HMSG b 2 %d %d\r\n%sy\r\n"
        b"-ERR 'oops'\r\n"
        b"+OK\r\n"
        b"PONG\r\n"
    ) % (len(HDR), len(HDR) + 1, HDR)
    expected = [
        Info({"server_id": "a"}),
        PING_EVENT,
        MsgEvent("a", 1, "", b"x", None),
        MsgEvent("b", 2, "", b"y", HDR),
        Err("oops"),
        OK_EVENT,
        PONG_EVENT,
    ]
    assert feed_all(data) == expected
    assert feed_bytewise(data) == expected


# -- case and whitespace -----------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"msg foo 1 2\r\nhi\r\n",
        b"Msg foo 1 2\r\nhi\r\n",
        b"mSG foo 1 2\r\nhi\r\n",
        b"MSG\tfoo\t1\t2\r\nhi\r\n",
        b"MSG  foo   1    2  \r\nhi\r\n",
        b"msg \t foo \t 1 \t 2\r\nhi\r\n",
    ],
)
def test_msg_case_and_whitespace(data: bytes) -> None:
    assert feed_all(data) == [MsgEvent("foo", 1, "", b"hi", None)]
    assert feed_bytewise(data) == [MsgEvent("foo", 1, "", b"hi", None)]


def test_msg_reply_with_tabs_lowercase() -> None:
    assert feed_all(b"msg\tfoo\t1\tbar\t2\r\nhi\r\n") == [MsgEvent("foo", 1, "bar", b"hi", None)]


@pytest.mark.parametrize("op", [b"hmsg", b"Hmsg", b"HMSG"])
@pytest.mark.parametrize("sep", [b" ", b"\t", b"  \t "])
def test_hmsg_case_and_whitespace(op: bytes, sep: bytes) -> None:
    args = [op, b"foo", b"1", b"r", str(len(HDR)).encode(), str(len(HDR) + 2).encode()]
    data = sep.join(args) + b"\r\n" + HDR + b"hi\r\n"
    assert feed_all(data) == [MsgEvent("foo", 1, "r", b"hi", HDR)]


@pytest.mark.parametrize(
    ("data", "event"),
    [
        (b"ping\r\n", PING_EVENT),
        (b"Ping\r\n", PING_EVENT),
        (b"PING \r\n", PING_EVENT),
        (b"pong\r\n", PONG_EVENT),
        (b"PONG\t\r\n", PONG_EVENT),
        (b"+ok\r\n", OK_EVENT),
        (b"-err 'x'\r\n", Err("x")),
        (b'info {"a":1}\r\n', Info({"a": 1})),
        (b'INFO\t {"a":1} \r\n', Info({"a": 1})),
    ],
)
def test_other_ops_case_insensitive(data: bytes, event: Any) -> None:
    assert feed_all(data) == [event]


# -- partial input -----------------------------------------------------------


def test_partial_control_line_is_kept() -> None:
    p = Parser()
    assert p.feed(b"MSG foo 1") == []
    assert p.buffered == 9
    assert p.feed(b" 3\r") == []
    assert p.feed(b"\nab") == []
    assert p.feed(b"c") == []
    assert p.feed(b"\r") == []
    assert p.feed(b"\nPI") == [MsgEvent("foo", 1, "", b"abc", None)]
    assert p.buffered == 2
    assert p.feed(b"NG\r\n") == [PING_EVENT]
    assert p.buffered == 0


def test_crlf_split_between_feeds() -> None:
    p = Parser()
    assert p.feed(b"PING\r") == []
    assert p.feed(b"\n") == [PING_EVENT]


def test_large_payload_in_small_chunks() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    data = b"MSG big 1 %d\r\n%s\r\nPONG\r\n" % (len(payload), payload)
    p = Parser()
    out: list[Any] = []
    for i in range(0, len(data), 1000):
        out.extend(p.feed(data[i : i + 1000]))
    assert out == [MsgEvent("big", 1, "", payload, None), PONG_EVENT]
    assert p.buffered == 0


def test_empty_feed() -> None:
    p = Parser()
    assert p.feed(b"") == []
    p.feed(b"PI")
    assert p.feed(b"") == []
    assert p.feed(b"NG\r\n") == [PING_EVENT]


def test_bytes_like_input_is_accepted() -> None:
    p = Parser()
    assert p.feed(bytearray(b"MSG a 1 1\r\nx")) == []  # type: ignore[arg-type]
    assert p.feed(memoryview(b"\r\nPING\r\n")) == [MsgEvent("a", 1, "", b"x", None), PING_EVENT]  # type: ignore[arg-type]


def test_input_buffer_reuse_does_not_corrupt_pending_data() -> None:
    # A caller reusing one bytearray for recv_into must not change what the parser kept.
    p = Parser()
    buf = bytearray(b"MSG a 1 3\r\nab")
    assert p.feed(buf) == []  # type: ignore[arg-type]
    buf[:] = b"XXXXXXXXXXXXX"
    assert p.feed(b"c\r\n") == [MsgEvent("a", 1, "", b"abc", None)]


def test_payload_types() -> None:
    hdata = b"HMSG a 1 %d %d\r\n%sx\r\n" % (len(HDR), len(HDR) + 1, HDR)
    for ev in feed_all(b"MSG a 1 1\r\nx\r\n" + hdata):
        assert type(ev.payload) is bytes
        assert type(ev.subject) is str and type(ev.reply) is str and type(ev.sid) is int
    assert type(feed_all(hdata)[0].header) is bytes


# -- msg_factory and max_payload -------------------------------------------


def test_msg_factory_receives_the_fields() -> None:
    calls: list[tuple[str, int, str, bytes, Optional[bytes]]] = []

    def factory(subject: str, sid: int, reply: str, payload: bytes, hdr: Optional[bytes]) -> str:
        calls.append((subject, sid, reply, payload, hdr))
        return f"msg{len(calls)}"

    data = b"MSG a 1 r 2\r\nhi\r\nmsg b 2 0\r\n\r\nHMSG c 3 %d %d\r\n%sz\r\nhmsg d 4 q %d %d\r\n%s\r\n" % (
        len(HDR),
        len(HDR) + 1,
        HDR,
        len(HDR),
        len(HDR),
        HDR,
    )
    assert Parser(msg_factory=factory).feed(data + b"PING\r\n") == [
        "msg1",
        "msg2",
        "msg3",
        "msg4",
        PING_EVENT,
    ]
    assert calls == [
        ("a", 1, "r", b"hi", None),
        ("b", 2, "", b"", None),
        ("c", 3, "", b"z", HDR),
        ("d", 4, "q", b"", HDR),
    ]


def test_msg_factory_exception_is_not_disguised() -> None:
    def factory(*args: Any) -> Any:
        raise ValueError("factory bug")

    with pytest.raises(ValueError, match="factory bug"):
        Parser(msg_factory=factory).feed(b"MSG a 1 1\r\nx\r\n")


def test_max_payload_is_a_public_attribute() -> None:
    p = Parser(max_payload=10)
    assert p.max_payload == 10
    assert p.feed(b"MSG a 1 10\r\n0123456789\r\n") == [MsgEvent("a", 1, "", b"0123456789", None)]
    p.max_payload = 4
    with pytest.raises(ProtocolError, match="size 5 exceeds the limit of 4"):
        p.feed(b"MSG a 1 5\r\n01234\r\n")


def test_raising_max_payload_after_info() -> None:
    p = Parser(max_payload=4)
    p.max_payload = 100
    assert p.feed(b"MSG a 1 50\r\n" + b"x" * 50 + b"\r\n")[0].payload == b"x" * 50


def test_control_line_at_the_limit_is_accepted() -> None:
    line = b"MSG " + b"s" * 88 + b" 1 1"
    assert len(line) == 96
    assert feed_all(line + b"\r\nx\r\n", max_control_line=96)[0].subject == "s" * 88
    assert feed_bytewise(line + b"\r\nx\r\n", max_control_line=96)[0].subject == "s" * 88


def test_info_may_exceed_max_control_line() -> None:
    urls = [f"nats-{i}.nats.example.svc.cluster.local:4222" for i in range(200)]
    line = b"INFO " + json.dumps({"connect_urls": urls}).encode() + b"\r\n"
    assert len(line) > MAX_CONTROL_LINE
    assert feed_all(line) == [Info({"connect_urls": urls})]
    p = Parser()
    out: list[Any] = []
    for i in range(0, len(line), 100):
        out.extend(p.feed(line[i : i + 100]))
    assert out == [Info({"connect_urls": urls})]


# -- errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"FOO bar\r\n", "unknown operation b'FOO'"),
        (b"PUB foo 1\r\n", "unknown operation b'PUB'"),
        (b"HTTP/1.1 400 Bad Request\r\n", "unknown operation"),
        (b"\r\n", "empty control line"),
        (b"   \r\n", "empty control line"),
        (b"MSG\r\n", "wrong number of arguments for MSG"),
        (b"MSG foo 1\r\n", "wrong number of arguments for MSG"),
        (b"MSG foo 1 r x 3\r\n", "wrong number of arguments for MSG"),
        (b"msg foo\r\n", "wrong number of arguments for MSG"),
        (b"HMSG foo 1 2\r\n", "wrong number of arguments for HMSG"),
        (b"HMSG foo 1 r q 2 3\r\n", "wrong number of arguments for HMSG"),
        (b"hmsg foo 1\r\n", "wrong number of arguments for HMSG"),
        (b"MSG foo 1 abc\r\n", "size b'abc' is not a non-negative integer"),
        (b"MSG foo 1 r 1.5\r\n", "size b'1.5' is not a non-negative integer"),
        (b"msg foo 1 abc\r\n", "size b'abc' is not a non-negative integer"),
        (b"MSG foo 1 -3\r\n", "negative message size"),
        (b"msg foo 1 -3\r\n", "not a non-negative integer"),
        (b"MSG foo x 3\r\nabc\r\n", "sid b'x' is not a non-negative integer"),
        (b"HMSG foo 1 x 3\r\n", "header size b'x' is not a non-negative integer"),
        (b"HMSG foo 1 3 y\r\n", "total size b'y' is not a non-negative integer"),
        (b"HMSG foo 1 5 3\r\nabc\r\n", "header size 5 is larger than total size 3"),
        (b"hmsg foo 1 5 3\r\nabc\r\n", "header size 5 is larger than total size 3"),
        (b"MSG foo 1 3\r\nabcd\r\n", "not followed by CRLF"),
        (b"MSG foo 1 3\r\nab\r\n\r\n", "not followed by CRLF"),
        (b"msg foo 1 3\r\nabcd\r\n", "not followed by CRLF"),
        (b"HMSG foo 1 1 3\r\nabcd\r\n", "not followed by CRLF"),
        (b"MSG \xff\xfe 1 1\r\nx\r\n", "subject is not valid UTF-8"),
        (b"MSG a 1 \xff 1\r\nx\r\n", "reply subject is not valid UTF-8"),
        (b"PING x\r\n", "PING takes no arguments"),
        (b"pong 1\r\n", "PONG takes no arguments"),
        (b"+OK ok\r\n", r"\+OK takes no arguments"),
        (b"INFO\r\n", "INFO without a JSON object"),
        (b"INFO {not json}\r\n", "INFO is not valid JSON"),
        (b"INFO [1, 2]\r\n", "INFO must be a JSON object, got list"),
        (b'INFO "x"\r\n', "INFO must be a JSON object, got str"),
        (b"INFO " + b"[" * 3000 + b"\r\n", "INFO is not valid JSON"),
        (b"INFO \xff\r\n", "INFO is not valid JSON"),
    ],
)
def test_malformed_input(data: bytes, match: str) -> None:
    raises_protocol(data, match)
    # The same fault is found whatever the chunking.
    p = Parser()
    with pytest.raises(ProtocolError, match=match):
        for i in range(len(data)):
            p.feed(data[i : i + 1])


def test_error_message_names_the_line() -> None:
    with pytest.raises(ProtocolError) as info:
        Parser().feed(b"MSG foo.bar 1 abc\r\n")
    assert "MSG foo.bar 1 abc" in str(info.value)


def test_size_over_max_payload_is_rejected_before_the_payload_arrives() -> None:
    p = Parser(max_payload=1000)
    with pytest.raises(ProtocolError, match="message size 1001 exceeds the limit of 1000"):
        p.feed(b"MSG foo 1 1001\r\n")
    p = Parser(max_payload=1000)
    with pytest.raises(ProtocolError, match="message size 1001 exceeds the limit of 1000"):
        p.feed(b"HMSG foo 1 10 1001\r\n")
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        Parser().feed(b"MSG foo 1 %d\r\n" % (MAX_PAYLOAD_LIMIT + 1))


def test_header_over_max_header_size() -> None:
    with pytest.raises(ProtocolError, match="header size 101 exceeds the limit of 100"):
        Parser(max_header_size=100).feed(b"HMSG foo 1 101 200\r\n")
    with pytest.raises(ProtocolError, match="header size 101 exceeds the limit of 100"):
        Parser(max_header_size=100).feed(b"hmsg foo 1 101 200\r\n")
    n = MAX_HEADER_SIZE + 1
    with pytest.raises(ProtocolError, match=f"header size {n} exceeds"):
        Parser().feed(b"HMSG foo 1 %d %d\r\n" % (n, n))


def test_long_control_line_detected_as_soon_as_it_passes_the_limit() -> None:
    p = Parser(max_control_line=50)
    p.feed(b"MSG " + b"x" * 40)
    p.feed(b"y" * 6)  # 50 bytes: still possible
    assert p.buffered == 50
    p.feed(b"\r")  # 50 bytes and a CR: the CRLF may follow
    with pytest.raises(ProtocolError, match="control line longer than 50 bytes"):
        p.feed(b"z")


def test_long_control_line_in_one_chunk_without_crlf() -> None:
    with pytest.raises(ProtocolError, match="longer than 4096 bytes without CRLF"):
        Parser().feed(b"x" * 4097)
    assert Parser().feed(b"x" * 4096) == []


def test_long_control_line_with_crlf_later_in_the_chunk() -> None:
    with pytest.raises(ProtocolError, match="longer than 4096"):
        Parser().feed(b"MSG " + b"a" * 5000 + b" 1 1\r\nx\r\n")


def test_garbage_without_crlf_is_never_buffered_without_bound() -> None:
    p = Parser()
    with pytest.raises(ProtocolError, match="longer than 4096"):
        for _ in range(10_000):
            p.feed(b"garbage ")
            assert p.buffered <= MAX_CONTROL_LINE + 1


def test_info_line_is_still_bounded() -> None:
    p = Parser()
    p.feed(b"INFO {")
    chunk = b" " * 65536
    with pytest.raises(ProtocolError, match=f"longer than {MAX_INFO_LINE} bytes"):
        for _ in range(MAX_INFO_LINE // len(chunk) + 2):
            p.feed(chunk)
    assert p.buffered <= MAX_INFO_LINE + 1


def test_control_lines_dripping_in_byte_by_byte_are_not_reparsed_each_time() -> None:
    # A 300 KB INFO fed one byte per feed: linear work (a re-join per byte would be
    # ~45 GB of copying and trip the test timeout).
    info = {"connect_urls": ["x" * 100] * 3000}
    line = b"INFO " + json.dumps(info).encode() + b"\r\n"
    p = Parser()
    out: list[Any] = []
    for i in range(len(line)):
        out.extend(p.feed(line[i : i + 1]))
    assert out == [Info(info)]
    assert p.buffered == 0


def test_partial_line_containing_a_bare_lf_is_still_completed() -> None:
    p = Parser()
    assert p.feed(b"-ERR 'a\nb") == []
    assert p.feed(b"c") == []
    assert p.feed(b"'\r") == []
    assert p.feed(b"\n") == [Err("a\nbc")]


def test_parser_is_dead_after_an_error() -> None:
    p = raises_protocol(b"BOGUS\r\n", "unknown operation")
    with pytest.raises(ProtocolError, match="unusable after an earlier protocol error"):
        p.feed(b"PING\r\n")
    with pytest.raises(ProtocolError, match="unknown operation"):
        p.feed(b"")


def test_events_before_an_error_in_the_same_chunk_are_not_returned_but_parser_dies() -> None:
    p = Parser()
    with pytest.raises(ProtocolError):
        p.feed(b"PING\r\nNOPE\r\n")
    with pytest.raises(ProtocolError):
        p.feed(b"PING\r\n")
