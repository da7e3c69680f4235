"""The sans-IO WebSocket layer (natsync.protocol.ws): upgrade request and answer
checks, frame encoding, and the decoder's streaming and its refusals; hypothesis
property tests: any split of a valid stream decodes the same, encode then decode
is the identity."""

from __future__ import annotations

import struct
from typing import List, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from natsync import errors
from natsync.options import build_options
from natsync.protocol import ws

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 1.3's example


def ok_response(key: str = KEY, extra: str = "") -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {ws.accept_key(key)}\r\n{extra}\r\n"
    ).encode()


def data_of(events: Sequence[ws.Event]) -> bytes:
    return b"".join(e for e in events if isinstance(e, bytes))


def controls_of(events: Sequence[ws.Event]) -> List[ws.Event]:
    return [e for e in events if not isinstance(e, bytes)]


# ------------------------------------------------------------------ handshake


def test_accept_key_matches_the_rfc_example() -> None:
    assert ws.accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_new_key_is_base64_of_16_bytes() -> None:
    assert ws.new_key(b"the sample nonce") == KEY
    with pytest.raises(ValueError):
        ws.new_key(b"short")


def test_upgrade_request_lines() -> None:
    req = ws.upgrade_request("example.com:8080", "/nats", KEY,
                             [("Authorization", "Bearer x"), ("Cookie", "jwt=abc")], no_masking=True)
    text = req.decode()
    assert text.endswith("\r\n\r\n")
    lines = text.split("\r\n")
    assert lines[0] == "GET /nats HTTP/1.1"
    assert "Host: example.com:8080" in lines
    assert "Upgrade: websocket" in lines and "Connection: Upgrade" in lines
    assert f"Sec-WebSocket-Key: {KEY}" in lines and "Sec-WebSocket-Version: 13" in lines
    assert "Nats-No-Masking: true" in lines
    assert "Authorization: Bearer x" in lines and "Cookie: jwt=abc" in lines
    assert "Nats-No-Masking" not in ws.upgrade_request("h", "", KEY).decode()
    assert ws.upgrade_request("h", "", KEY).startswith(b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("X-Bad", "a\r\nInjected: 1", "CR, LF"),
        ("Bad Name", "v", "not a valid HTTP header name"),
        ("", "v", "not a valid HTTP header name"),
        ("Sec-WebSocket-Key", "v", "set by the client"),
        ("upgrade", "v", "set by the client"),
    ],
)
def test_bad_headers_are_refused(name: str, value: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ws.check_header(name, value)
    with pytest.raises(ValueError, match=match):
        build_options("ws://h", ws_connection_headers={name: value})


def test_options_normalise_headers_and_hide_their_values() -> None:
    opts = build_options("ws://h", ws_connection_headers={"Cookie": ["a=1", "b=2"], "X-T": "s3cr3t"},
                         ws_proxy="http://u:pw@proxy:3128")
    assert opts.ws_header_list() == [("Cookie", "a=1"), ("Cookie", "b=2"), ("X-T", "s3cr3t")]
    text = repr(opts)
    assert "s3cr3t" not in text and "a=1" not in text and ":pw@" not in text
    assert build_options().ws_header_list() == []
    with pytest.raises(TypeError, match="ws_connection_headers"):
        build_options(ws_connection_headers=[("a", "b")])  # type: ignore[arg-type]


@pytest.mark.parametrize("proxy", ["proxy:3128", "https://p:1", "http://", "http://p:0", "http://p/x"])
def test_bad_proxy_urls_are_refused(proxy: str) -> None:
    with pytest.raises(ValueError, match="ws_proxy"):
        build_options(ws_proxy=proxy)


def test_split_response_waits_for_the_blank_line() -> None:
    full = ok_response() + b"\x82\x02hi"
    for i in range(len(full) - 4):
        part = full[:i]
        if b"\r\n\r\n" not in part:
            assert ws.split_response(part) is None
    done = ws.split_response(full)
    assert done is not None
    resp, rest = done
    assert resp.status == 101 and rest == b"\x82\x02hi"
    assert resp.headers["sec-websocket-accept"] == ws.accept_key(KEY)
    assert ws.check_response(resp, KEY) is False


def test_check_response_sees_the_no_masking_echo() -> None:
    done = ws.split_response(ok_response(extra="Nats-No-Masking: true\r\n"))
    assert done is not None
    assert ws.check_response(done[0], KEY) is True


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "404 Not Found instead of 101"),
        (b"HTTP/1.1 403 Forbidden\r\n\r\n", "403"),
        (b"HTTP/1.1 200 OK\r\n\r\n", "200 OK instead of 101"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n", "wrong Sec-WebSocket-Accept"),
        (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n", "Upgrade: websocket"),
        (ok_response(extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"), "extensions"),
    ],
)
def test_check_response_refuses(answer: bytes, match: str) -> None:
    done = ws.split_response(answer)
    assert done is not None
    with pytest.raises(errors.ProtocolError, match=match):
        ws.check_response(done[0], KEY)


def test_split_response_refuses_non_http_and_endless_heads() -> None:
    with pytest.raises(errors.ProtocolError, match="NATS client port"):
        ws.split_response(b"INFO {} \r\n")
    with pytest.raises(errors.ProtocolError, match="did not answer the WebSocket upgrade with HTTP"):
        ws.split_response(b"SSH-2.0-x\r\n\r\n")
    with pytest.raises(errors.ProtocolError, match="bytes"):
        ws.split_response(b"HTTP/1.1 101 OK\r\nX: " + b"a" * (ws.MAX_RESPONSE_HEAD + 10))


# ------------------------------------------------------------------ frames


def test_encode_frame_lengths_and_mask_bit() -> None:
    assert ws.encode_frame(b"hi") == b"\x82\x02hi"
    assert ws.encode_frame(b"x" * 126)[:4] == b"\x82\x7e\x00\x7e"
    assert ws.encode_frame(b"x" * 70000)[:10] == b"\x82\x7f" + struct.pack("!Q", 70000)
    masked = ws.encode_frame(b"Hello", b"\x37\xfa\x21\x3d", ws.OP_TEXT)
    assert masked == b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # RFC 6455 5.7
    with pytest.raises(ValueError):
        ws.encode_frame(b"x", b"abc")


def test_mask_is_an_involution_at_any_offset() -> None:
    key = b"\x01\x02\x03\x04"
    data = bytes(range(50))
    whole = ws.mask(data, key)
    assert ws.mask(whole, key) == data
    assert ws.mask(data[:7], key) + ws.mask(data[7:], key, 7) == whole
    assert ws.mask(b"", key) == b""


@pytest.mark.parametrize("n", [1, 3, 4, 1000, 32 * 1024, 32 * 1024 + 1, 100_003])
@pytest.mark.parametrize("offset", [0, 1, 3])
def test_mask_matches_the_byte_by_byte_definition(n: int, offset: int) -> None:
    key = b"\x9a\x07\xf3\x41"
    data = bytes((i * 7 + 3) % 256 for i in range(n))
    want = bytes(b ^ key[(i + offset) % 4] for i, b in enumerate(data))
    assert ws.mask(data, key, offset) == want


def test_decoder_streams_a_large_frame_as_it_arrives() -> None:
    dec = ws.FrameDecoder()
    frame = ws.encode_frame(b"a" * 1000)
    first = dec.feed(frame[:500])
    assert data_of(first) == b"a" * (500 - 4)  # 4 header bytes (126 + 16-bit length)
    assert data_of(dec.feed(frame[500:])) == b"a" * (1000 - 496)


def test_decoder_control_frames_and_continuations() -> None:
    stream = (
        ws.encode_frame(b"PI", opcode=ws.OP_BINARY, fin=False)
        + ws.encode_frame(b"hey", opcode=ws.OP_PING)
        + ws.encode_frame(b"NG\r\n", opcode=ws.OP_CONTINUATION)
        + ws.encode_frame(b"", opcode=ws.OP_PONG)
        + ws.encode_frame(ws.close_payload(1001, "going away"), opcode=ws.OP_CLOSE)
        + ws.encode_frame(b"after close is ignored")
    )
    dec = ws.FrameDecoder()
    events = dec.feed(stream)
    assert data_of(events) == b"PING\r\n"
    assert controls_of(events) == [ws.Ping(b"hey"), ws.Pong(b""), ws.Close(1001, "going away")]
    assert dec.closed
    assert dec.feed(b"\x82\x01x") == []
    assert ws.FrameDecoder().feed(b"\x88\x00") == [ws.Close(None, "")]


@pytest.mark.parametrize(
    ("stream", "match"),
    [
        (b"\x82\x81abcdx", "masked WebSocket frame"),
        (b"\x83\x00", "unknown opcode 0x3"),
        (b"\x8b\x00", "unknown opcode 0xb"),
        (b"\xc2\x00", "reserved bits"),
        (b"\x80\x00", "continuation frame with no message"),
        (b"\x02\x01a\x82\x01b", "before finishing the fragmented one"),
        (b"\x09\x00", "fragmented WebSocket control frame"),
        (b"\x89\x7e\x00\x80" + b"p" * 128, "control frame of 128 bytes"),
        (b"\x88\x01x", "close frame of 1 byte"),
        (b"\x82\x7f" + struct.pack("!Q", 2**40), "over the"),
    ],
)
def test_decoder_refuses(stream: bytes, match: str) -> None:
    with pytest.raises(errors.ProtocolError, match=match):
        ws.FrameDecoder().feed(stream)


def test_decoder_frame_cap_is_configurable() -> None:
    dec = ws.FrameDecoder(max_frame=10)
    assert data_of(dec.feed(ws.encode_frame(b"x" * 10))) == b"x" * 10
    with pytest.raises(errors.ProtocolError, match="11 bytes, over the 10-byte cap"):
        dec.feed(ws.encode_frame(b"x" * 11))


def test_server_side_decoder_unmasks_and_requires_masks() -> None:
    key = b"abcd"
    dec = ws.FrameDecoder(masked=True)
    assert data_of(dec.feed(ws.encode_frame(b"hello", key))) == b"hello"
    with pytest.raises(errors.ProtocolError, match="unmasked"):
        dec.feed(ws.encode_frame(b"hello"))


# ------------------------------------------------------------------ properties

# small payloads, and long ones around the 16-bit and 64-bit length encodings (built
# from a short random seed: hypothesis need not draw every byte)
_payloads = st.binary(max_size=200) | st.builds(
    lambda seed, n: (seed * (n // len(seed) + 1))[:n],
    st.binary(min_size=1, max_size=16),
    st.sampled_from([125, 126, 127, 65535, 65536, 70001]),
)
_frames = st.lists(
    st.tuples(
        st.sampled_from(["data", "fragmented", "ping", "pong"]),
        _payloads,
        st.binary(min_size=4, max_size=4),
    ),
    max_size=6,
)


def _build(spec: List[Tuple[str, bytes, bytes]], masked: bool) -> Tuple[bytes, bytes, List[ws.Event]]:
    out = []
    data = []
    controls: List[ws.Event] = []
    for kind, payload, key in spec:
        k = key if masked else None
        if kind == "data":
            out.append(ws.encode_frame(payload, k))
            data.append(payload)
        elif kind == "fragmented":
            half = len(payload) // 2
            out.append(ws.encode_frame(payload[:half], k, fin=False))
            out.append(ws.encode_frame(payload[half:], k, opcode=ws.OP_CONTINUATION))
            data.append(payload)
        else:
            small = payload[:ws.MAX_CONTROL_PAYLOAD]
            out.append(ws.encode_frame(small, k, opcode=ws.OP_PING if kind == "ping" else ws.OP_PONG))
            controls.append(ws.Ping(small) if kind == "ping" else ws.Pong(small))
    return b"".join(out), b"".join(data), controls


@settings(max_examples=60, deadline=None)
@given(spec=_frames, masked=st.booleans(), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_any_split_decodes_the_same(spec: List[Tuple[str, bytes, bytes]], masked: bool,
                                    cuts: List[int]) -> None:
    stream, data, controls = _build(spec, masked)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)])]
    dec = ws.FrameDecoder(masked=masked)
    events: List[ws.Event] = []
    for piece in pieces:
        events.extend(dec.feed(piece))
    assert data_of(events) == data
    assert controls_of(events) == controls


@settings(max_examples=60, deadline=None)
@given(payload=_payloads, key=st.none() | st.binary(min_size=4, max_size=4))
def test_encode_then_decode_is_the_identity(payload: bytes, key: bytes) -> None:
    dec = ws.FrameDecoder(masked=None)
    assert data_of(dec.feed(ws.encode_frame(payload, key))) == payload


@settings(max_examples=40, deadline=None)
@given(code=st.integers(min_value=1000, max_value=4999), reason=st.text(max_size=200))
def test_close_frames_round_trip(code: int, reason: str) -> None:
    frame = ws.encode_frame(ws.close_payload(code, reason), opcode=ws.OP_CLOSE)
    (ev,) = ws.FrameDecoder().feed(frame)
    assert isinstance(ev, ws.Close) and ev.code == code
    assert ev.reason == reason.encode()[:123].decode("utf-8", "replace")
