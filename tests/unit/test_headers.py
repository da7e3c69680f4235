"""Unit tests for natsync.protocol.headers: encoding, parsing, status lines."""

from __future__ import annotations

from typing import Any

import pytest

from natsync.errors import BadHeaderError, ProtocolError
from natsync.protocol.headers import (
    CONFLICT_STATUS,
    CTRL_100,
    DESCRIPTION_HDR,
    HEADER_LINE,
    NO_RESPONDERS_STATUS,
    NOT_FOUND_STATUS,
    REQUEST_TIMEOUT_STATUS,
    STATUS_HDR,
    encode_headers,
    parse_headers,
)


def test_constants() -> None:
    assert HEADER_LINE == b"NATS/1.0"
    assert STATUS_HDR == "Status"
    assert DESCRIPTION_HDR == "Description"
    assert (CTRL_100, NOT_FOUND_STATUS, REQUEST_TIMEOUT_STATUS, CONFLICT_STATUS) == (
        100,
        404,
        408,
        409,
    )
    assert NO_RESPONDERS_STATUS == 503


# -- encode ----------------------------------------------------------------------


def test_encode_matches_the_reference_clients_bytes() -> None:
    # nats-py and nats.go both write "Key: value" lines after "NATS/1.0" and end
    # with an empty line.
    assert encode_headers({"Foo": "bar", "Nats-Msg-Id": "1"}) == (
        b"NATS/1.0\r\nFoo: bar\r\nNats-Msg-Id: 1\r\n\r\n"
    )


def test_encode_empty_mapping() -> None:
    assert encode_headers({}) == b"NATS/1.0\r\n\r\n"


def test_encode_keeps_key_case_and_order() -> None:
    assert encode_headers({"b": "1", "A": "2", "a": "3", "X-CamelCase": "4"}) == (
        b"NATS/1.0\r\nb: 1\r\nA: 2\r\na: 3\r\nX-CamelCase: 4\r\n\r\n"
    )


def test_encode_multi_valued() -> None:
    assert encode_headers({"K": ["1", "2", "3"], "L": ("x",), "M": "y"}) == (
        b"NATS/1.0\r\nK: 1\r\nK: 2\r\nK: 3\r\nL: x\r\nM: y\r\n\r\n"
    )


def test_encode_strips_values_like_the_reference_clients() -> None:
    assert encode_headers({"K": "  v w \t", "E": ""}) == b"NATS/1.0\r\nK: v w\r\nE: \r\n\r\n"


def test_encode_utf8() -> None:
    assert encode_headers({"K\u00e9": "v\u00fc"}) == "NATS/1.0\r\nK\u00e9: v\u00fc\r\n\r\n".encode()


def test_encode_allows_str_subclasses() -> None:
    class S(str):
        pass

    assert encode_headers({S("K"): S("v")}) == b"NATS/1.0\r\nK: v\r\n\r\n"


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ({"": "v"}, "invalid header name '': it is empty"),
        ({"A B": "v"}, "invalid header name 'A B': it contains whitespace ' '"),
        ({"A\tB": "v"}, "whitespace"),
        ({"A:B": "v"}, "invalid header name 'A:B': it contains ':'"),
        ({"A\rB": "v"}, "'A\\\\rB'"),
        ({"A\nB": "v"}, "whitespace '\\\\n'"),
        ({"A\x00B": "v"}, "control character '\\\\x00'"),
        ({"A\x7f": "v"}, "control character"),
        ({"A\u00a0": "v"}, "whitespace"),
        ({"K": "a\r\nInjected: 1"}, "header value of header 'K'.*contains '\\\\r'"),
        ({"K": "a\nb"}, "of header 'K'.*contains '\\\\n'"),
        ({"K": "a\rb"}, "may not contain CR or LF"),
        ({"K": ["ok", "bad\n"]}, "of header 'K'.*'bad\\\\n'"),
        ({"K": "\ud800"}, "lone surrogate"),
        ({"K\ud800": "v"}, "lone surrogate"),
        ({"K": 1}, "header value of header 'K': expected str .*got int"),
        ({"K": b"v"}, "of header 'K': expected str .*got bytes"),
        ({"K": None}, "got NoneType"),
        ({"K": ["a", 2]}, "of header 'K': expected str .*got int"),
        ({"K": []}, "header 'K'.*list of values is empty"),
        ({"K": {"a": "b"}}, "got dict"),
        ({1: "v"}, "invalid header name: expected str, got int"),
        ({b"K": "v"}, "expected str, got bytes"),
    ],
)
def test_encode_rejects_invalid_headers(headers: Any, match: str) -> None:
    with pytest.raises(BadHeaderError, match=match):
        encode_headers(headers)


def test_encode_rejects_non_mapping() -> None:
    with pytest.raises(BadHeaderError, match="headers must be a dict"):
        encode_headers([("K", "v")])  # type: ignore[arg-type]


# -- parse -------------------------------------------------------------------------


def test_parse_plain_headers() -> None:
    raw = b"NATS/1.0\r\nFoo: bar\r\nNats-Msg-Id: 1\r\n\r\n"
    assert parse_headers(raw) == ({"Foo": "bar", "Nats-Msg-Id": "1"}, None, "")


def test_parse_no_headers_no_status() -> None:
    assert parse_headers(b"NATS/1.0\r\n\r\n") == (None, None, "")
    assert parse_headers(b"NATS/1.0\r\n") == (None, None, "")
    assert parse_headers(b"NATS/1.0") == (None, None, "")
    assert parse_headers(b"NATS/1.0  \r\n\r\n") == (None, None, "")


def test_parse_no_responders_status() -> None:
    assert parse_headers(b"NATS/1.0 503\r\n\r\n") == ({"Status": "503"}, 503, "")


def test_parse_status_with_description() -> None:
    assert parse_headers(b"NATS/1.0 408 Request Timeout\r\n\r\n") == (
        {"Status": "408", "Description": "Request Timeout"},
        408,
        "Request Timeout",
    )
    assert parse_headers(b"NATS/1.0 404 No Messages\r\n\r\n")[1:] == (404, "No Messages")
    assert parse_headers(b"NATS/1.0\t409  Consumer Deleted \r\n\r\n")[1:] == (
        409,
        "Consumer Deleted",
    )


def test_parse_status_with_headers() -> None:
    # A JetStream idle heartbeat, as the server sends it.
    raw = b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1016\r\nNats-Last-Stream: 1024\r\n\r\n"
    headers, status, desc = parse_headers(raw)
    assert status == CTRL_100 and desc == "Idle Heartbeat"
    assert headers == {
        "Status": "100",
        "Description": "Idle Heartbeat",
        "Nats-Last-Consumer": "1016",
        "Nats-Last-Stream": "1024",
    }


def test_parse_flow_control_request() -> None:
    assert parse_headers(b"NATS/1.0 100 FlowControl Request\r\n\r\n")[1:] == (
        100,
        "FlowControl Request",
    )


def test_parse_multi_valued_keeps_order() -> None:
    raw = b"NATS/1.0\r\nK: 1\r\nOther: x\r\nK: 2\r\nK: 3\r\n\r\n"
    assert parse_headers(raw) == ({"K": ["1", "2", "3"], "Other": "x"}, None, "")


def test_parse_keys_are_case_sensitive() -> None:
    raw = b"NATS/1.0\r\nfoo: 1\r\nFoo: 2\r\nFOO: 3\r\n\r\n"
    assert parse_headers(raw)[0] == {"foo": "1", "Foo": "2", "FOO": "3"}


def test_parse_strips_values() -> None:
    raw = b"NATS/1.0\r\nA:no-space\r\nB:   spaced  \r\nC:\t tabbed\t\r\nD:\r\nE: a: b\r\n\r\n"
    assert parse_headers(raw)[0] == {
        "A": "no-space",
        "B": "spaced",
        "C": "tabbed",
        "D": "",
        "E": "a: b",
    }


def test_parse_accepts_bare_lf() -> None:
    assert parse_headers(b"NATS/1.0 503\nA: 1\nB: 2\n\n") == (
        {"Status": "503", "A": "1", "B": "2"},
        503,
        "",
    )


def test_parse_skips_empty_keys_like_nats_go() -> None:
    assert parse_headers(b"NATS/1.0\r\n: v\r\nK: v\r\n\r\n")[0] == {"K": "v"}


def test_parse_go_encoding() -> None:
    # nats.go writes headers with http.Header.Write: sorted keys, "Key: value".
    raw = b"NATS/1.0\r\nA: 1\r\nB: x\r\nB: y\r\nNats-Msg-Id: abc\r\n\r\n"
    assert parse_headers(raw)[0] == {"A": "1", "B": ["x", "y"], "Nats-Msg-Id": "abc"}


def test_parse_utf8() -> None:
    raw = "NATS/1.0\r\nK\u00e9: v\u00fc \u2603\r\n\r\n".encode()
    assert parse_headers(raw)[0] == {"K\u00e9": "v\u00fc \u2603"}


def test_parse_accepts_bytearray_and_memoryview() -> None:
    raw = b"NATS/1.0\r\nK: v\r\n\r\n"
    assert parse_headers(bytearray(raw))[0] == {"K": "v"}  # type: ignore[arg-type]
    assert parse_headers(memoryview(raw).tobytes())[0] == {"K": "v"}


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"", "must start with 'NATS/1.0'"),
        (b"HTTP/1.1 200 OK\r\n\r\n", "must start with 'NATS/1.0'"),
        (b"nats/1.0\r\n\r\n", "must start with 'NATS/1.0'"),
        (b"NATS/1.0\r\nno colon here\r\n\r\n", "line 'no colon here' has no ':'"),
        (b"NATS/1.00\r\n\r\n", "bad status line"),
        (b"NATS/1.0 abc\r\n\r\n", "bad status line"),
        (b"NATS/1.0 50\r\n\r\n", "bad status line"),
        (b"NATS/1.0 5030\r\n\r\n", "bad status line"),
        (b"NATS/1.0 \xd9\xa3\xd9\xa3\xd9\xa3\r\n\r\n", "bad status line"),
        (b"NATS/1.0\r\nK: \xff\r\n\r\n", "not valid UTF-8"),
    ],
)
def test_parse_rejects_malformed(raw: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        parse_headers(raw)


def test_parse_rejects_non_bytes() -> None:
    with pytest.raises(ProtocolError, match="expected bytes"):
        parse_headers("NATS/1.0\r\n\r\n")  # type: ignore[arg-type]


def test_roundtrip_examples() -> None:
    for headers in (
        {"A": "1"},
        {"A": ["1", "2"], "b": "x y", "Nats-Expected-Last-Sequence": "10"},
        {"Status": "keeps a plain key", "X": ""},
    ):
        assert parse_headers(encode_headers(headers)) == (headers, None, "")
