"""Property tests (hypothesis) for the sans-IO protocol core."""

from __future__ import annotations

import json
from typing import Any, Optional

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from natsync.errors import BadSubjectError, ProtocolError
from natsync.protocol.encode import decode_pub, encode_hpub, encode_pub
from natsync.protocol.headers import encode_headers, parse_headers
from natsync.protocol.info import CHECKED_INFO_FIELDS
from natsync.protocol.parser import (
    MAX_INFO_LINE,
    OK_EVENT,
    PING_EVENT,
    PONG_EVENT,
    Err,
    Info,
    MsgEvent,
    Parser,
)
from natsync.protocol.subjects import validate_sub_subject, validate_subject

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies --------------------------------------------------------------

# Token characters: printable, no '.', whitespace or control characters;
# includes non-ASCII letters and the wildcard characters.
token_chars = st.characters(
    min_codepoint=0x21,
    max_codepoint=0x2FFF,
    blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
    blacklist_characters=".\x85",
)
tokens = st.text(token_chars, min_size=1, max_size=8)
subjects = st.lists(tokens, min_size=1, max_size=4).map(".".join)
replies = st.one_of(st.just(""), subjects)
payloads = st.binary(max_size=64)
sids = st.integers(min_value=0, max_value=2**40)
seps = st.sampled_from([b" ", b"\t", b"  ", b" \t "])

header_key_chars = st.characters(
    min_codepoint=0x21,
    max_codepoint=0x2FFF,
    blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
    blacklist_characters=":\x85",
)
header_keys = st.text(header_key_chars, min_size=1, max_size=12)
# Values: no CR/LF/surrogates and, since surrounding spaces and tabs are stripped
# on the wire, none at either end.
header_values = st.text(st.characters(codec="utf-8", blacklist_characters="\r\n"), max_size=16).map(
    lambda v: v.strip(" \t")
)
header_dicts = st.dictionaries(
    header_keys,
    st.one_of(header_values, st.lists(header_values, min_size=2, max_size=3)),
    max_size=5,
)

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=12))
# field names natsync checks (natsync.protocol.info) get valid values in test_info.py;
# here the keys avoid them, so any JSON value is valid
info_dicts = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k not in CHECKED_INFO_FIELDS),
    st.one_of(json_scalars, st.lists(json_scalars, max_size=3)),
    max_size=5,
)
err_texts = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="'"),
    max_size=30,
).map(str.strip)


def _case(op: bytes, flip: int) -> bytes:
    """Change the case of op's letters according to the bits of ``flip``."""
    out = bytearray(op)
    for i in range(len(out)):
        if flip >> i & 1:
            out[i : i + 1] = bytes(out[i : i + 1]).swapcase()
    return bytes(out)


@st.composite
def server_frames(draw: st.DrawFn) -> tuple[bytes, Any]:
    """One frame as a server could send it, and the event it must parse to."""
    kind = draw(st.sampled_from(["msg", "hmsg", "ping", "pong", "ok", "err", "info"]))
    flip = draw(st.integers(0, 31))
    sep = draw(seps)
    if kind in ("msg", "hmsg"):
        subject = draw(subjects)
        sid = draw(sids)
        reply = draw(replies)
        payload = draw(payloads)
        args = [subject.encode(), b"%d" % sid]
        if reply:
            args.append(reply.encode())
        if kind == "msg":
            header = None
            args.append(b"%d" % len(payload))
            body = payload
            op = _case(b"MSG", flip)
        else:
            header = draw(st.binary(max_size=40))
            args += [b"%d" % len(header), b"%d" % (len(header) + len(payload))]
            body = header + payload
            op = _case(b"HMSG", flip)
        frame = sep.join([op, *args]) + b"\r\n" + body + b"\r\n"
        return frame, MsgEvent(subject, sid, reply, payload, header)
    if kind == "ping":
        return _case(b"PING", flip) + b"\r\n", PING_EVENT
    if kind == "pong":
        return _case(b"PONG", flip) + b"\r\n", PONG_EVENT
    if kind == "ok":
        return _case(b"+OK", flip) + b"\r\n", OK_EVENT
    if kind == "err":
        text = draw(err_texts)
        return _case(b"-ERR", flip) + sep + b"'" + text.encode() + b"'\r\n", Err(text)
    info = draw(info_dicts)
    return _case(b"INFO", flip) + sep + json.dumps(info).encode() + b"\r\n", Info(info)


streams = st.lists(server_frames(), max_size=12)


def split_points(draw: st.DrawFn, length: int) -> list[int]:
    cuts = draw(st.lists(st.integers(0, length), max_size=12))
    return sorted(set(cuts))


def feed_in_pieces(parser: Parser, data: bytes, cuts: list[int]) -> list[Any]:
    out: list[Any] = []
    start = 0
    for cut in [*cuts, len(data)]:
        out.extend(parser.feed(data[start:cut]))
        start = cut
    return out


def run(data: bytes, cuts: Optional[list[int]] = None, **kwargs: Any) -> tuple[list[Any], bool]:
    """Feed data (whole, or cut at ``cuts``); return the events and whether it raised.
    Anything but ProtocolError propagates and fails the test."""
    parser = Parser(**kwargs)
    events: list[Any] = []
    pieces = [0, *(cuts or []), len(data)]
    try:
        for a, b in zip(pieces, pieces[1:]):
            events.extend(parser.feed(data[a:b]))
            assert parser.buffered <= MAX_INFO_LINE + parser.max_payload + 64
    except ProtocolError:
        # Once broken, always broken.
        try:
            parser.feed(b"PING\r\n")
        except ProtocolError:
            return events, True
        raise AssertionError("parser accepted input after a ProtocolError") from None
    return events, False


# -- (1) any split of a valid stream parses like the whole stream -------------


@SETTINGS
@given(frames=streams, data=st.data())
def test_any_split_parses_like_the_whole(frames: list[tuple[bytes, Any]], data: Any) -> None:
    stream = b"".join(f for f, _ in frames)
    expected = [e for _, e in frames]
    assert Parser().feed(stream) == expected
    cuts = split_points(data.draw, len(stream))
    assert feed_in_pieces(Parser(), stream, cuts) == expected


@FAST
@given(frames=streams)
def test_byte_by_byte_parses_like_the_whole(frames: list[tuple[bytes, Any]]) -> None:
    stream = b"".join(f for f, _ in frames)
    parser = Parser()
    out: list[Any] = []
    for i in range(len(stream)):
        out.extend(parser.feed(stream[i : i + 1]))
    assert out == [e for _, e in frames]
    assert parser.buffered == 0


# -- (2) encode_pub / encode_hpub then decode_pub is the identity -----------------


@SETTINGS
@given(subject=subjects, reply=replies, payload=st.binary(max_size=200))
def test_pub_roundtrip(subject: str, reply: str, payload: bytes) -> None:
    assert decode_pub(encode_pub(subject, payload, reply)) == (subject, reply, None, payload)


@SETTINGS
@given(subject=subjects, reply=replies, payload=st.binary(max_size=200), headers=header_dicts)
def test_hpub_roundtrip(subject: str, reply: str, payload: bytes, headers: Any) -> None:
    header = encode_headers(headers)
    frame = encode_hpub(subject, payload, header, reply)
    assert decode_pub(frame) == (subject, reply, header, payload)


@FAST
@given(subject=subjects, reply=replies, header=st.binary(max_size=50), payload=payloads)
def test_hpub_roundtrip_opaque_header(subject: str, reply: str, header: bytes, payload: bytes) -> None:
    assert decode_pub(encode_hpub(subject, payload, header, reply)) == (
        subject,
        reply,
        header,
        payload,
    )


# -- (3) encode_headers then parse_headers is the identity ------------------------


@SETTINGS
@given(headers=header_dicts)
def test_headers_roundtrip(headers: dict[str, Any]) -> None:
    parsed, status, description = parse_headers(encode_headers(headers))
    assert status is None and description == ""
    assert parsed == (headers or None)


@FAST
@given(headers=header_dicts, code=st.integers(100, 999), desc=err_texts)
def test_status_line_with_headers(headers: dict[str, Any], code: int, desc: str) -> None:
    block = encode_headers(headers)
    raw = (b"NATS/1.0 %d %s" % (code, desc.encode())).rstrip() + block[len(b"NATS/1.0") :]
    parsed, status, description = parse_headers(raw)
    assert status == code and description == desc
    expected: dict[str, Any] = {"Status": str(code)}
    if desc:
        expected["Description"] = desc
    for key, value in headers.items():
        if key in expected:  # a header line with the same key adds a value
            old = expected[key]
            new = value if isinstance(value, list) else [value]
            expected[key] = [old, *new]
        else:
            expected[key] = value
    assert parsed == expected


# -- (4) MSG frames: the parser returns the fields they were built from -----------


@SETTINGS
@given(subject=subjects, sid=sids, reply=replies, payload=st.binary(max_size=300), sep=seps)
def test_msg_frame_fields(subject: str, sid: int, reply: str, payload: bytes, sep: bytes) -> None:
    args = [b"MSG", subject.encode(), b"%d" % sid]
    if reply:
        args.append(reply.encode())
    args.append(b"%d" % len(payload))
    frame = sep.join(args) + b"\r\n" + payload + b"\r\n"
    (event,) = Parser().feed(frame)
    assert event == MsgEvent(subject, sid, reply, payload, None)
    assert (event.subject, event.sid, event.reply, event.payload, event.header) == (
        subject,
        sid,
        reply,
        payload,
        None,
    )


@FAST
@given(subject=subjects, reply=replies, payload=payloads)
def test_published_frame_parses_back_when_delivered(subject: str, reply: str, payload: bytes) -> None:
    # What the server delivers for a PUB is the same frame with MSG and a sid.
    frame = encode_pub(subject, payload, reply)
    delivered = b"MSG " + frame[4:].replace(b" ", b" 5 ", 1)
    assert Parser().feed(delivered) == [MsgEvent(subject, 5, reply, payload, None)]


@FAST
@given(subject=subjects)
def test_generated_subjects_are_valid(subject: str) -> None:
    validate_subject(subject)
    try:
        validate_sub_subject(subject)
    except BadSubjectError:
        assert "*" in subject or ">" in subject


# -- (5) garbage parses to events or raises ProtocolError, nothing else ---------

fragments = st.sampled_from(
    [
        b"MSG ",
        b"HMSG ",
        b"msg\t",
        b"PING",
        b"PONG",
        b"+OK",
        b"-ERR ",
        b"INFO ",
        b"\r\n",
        b"\r",
        b"\n",
        b" ",
        b"\t",
        b"0",
        b"1",
        b"2",
        b"12",
        b"-1",
        b"99999999999",
        b"foo",
        b"a.b",
        b"{",
        b"}",
        b'{"a":1}',
        b"[",
        b"'",
        b"\xff",
        b"\x00",
        b"NATS/1.0\r\n",
        # whole frames, so that garbage also contains valid stretches
        b"PING\r\n",
        b"+OK\r\n",
        b"MSG a 1 1\r\nx\r\n",
        b"msg a 1 r 0\r\n\r\n",
        b"HMSG a 1 1 2\r\nxy\r\n",
        b'INFO {"a":1}\r\n',
        b"-ERR 'x'\r\n",
    ]
)
garbage = st.one_of(
    st.binary(max_size=200),
    st.lists(fragments, max_size=40).map(b"".join),
)


@SETTINGS
@given(junk=garbage, data=st.data())
def test_garbage_never_raises_anything_but_protocol_error(junk: bytes, data: Any) -> None:
    cuts = split_points(data.draw, len(junk))
    for kwargs in ({}, {"max_control_line": 16, "max_payload": 8, "max_header_size": 4}):
        whole_events, whole_raised = run(junk, None, **kwargs)
        split_events, split_raised = run(junk, cuts, **kwargs)
        # Chunking never changes the outcome.
        assert whole_raised == split_raised
        if not whole_raised:
            assert whole_events == split_events


@SETTINGS
@given(frames=streams, data=st.data())
def test_mutated_streams_never_raise_anything_but_protocol_error(
    frames: list[tuple[bytes, Any]], data: Any
) -> None:
    stream = bytearray(b"".join(f for f, _ in frames))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        at = data.draw(st.integers(0, len(stream)))
        if action == "insert" or not stream:
            stream[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif action == "flip":
            at = min(at, len(stream) - 1)
            stream[at] ^= data.draw(st.integers(1, 255))
        else:
            del stream[at : at + data.draw(st.integers(1, 4))]
    junk = bytes(stream)
    cuts = split_points(data.draw, len(junk))
    whole_events, whole_raised = run(junk)
    split_events, split_raised = run(junk, cuts)
    assert whole_raised == split_raised
    if not whole_raised:
        assert whole_events == split_events


@FAST
@given(junk=st.binary(max_size=300))
def test_parse_headers_garbage(junk: bytes) -> None:
    try:
        parse_headers(junk)
    except ProtocolError:
        pass
    try:
        parse_headers(b"NATS/1.0\r\n" + junk)
    except ProtocolError:
        pass


@FAST
@given(junk=garbage)
def test_decode_pub_garbage(junk: bytes) -> None:
    try:
        decode_pub(junk)
    except ProtocolError:
        pass
