"""Unit tests for natsync.protocol.subjects."""

from __future__ import annotations

from typing import Any

import pytest

from natsync.errors import BadHeaderError, BadSubjectError
from natsync.protocol.subjects import (
    validate_header_key,
    validate_header_value,
    validate_queue,
    validate_sub_subject,
    validate_subject,
)

VALID_BOTH = [
    "foo",
    "foo.bar",
    "a.b.c.d.e",
    "_INBOX.abc123.1",
    "$JS.API.STREAM.INFO.x",
    "foo-bar_baz.q~!@#%^&()=+,;'\"[]{}|/\\",
    "caf\u00e9.\u00fc\u00f1\u00ee.\u2603",
    "1.2.3",
    "*",
    ">",
    "foo.*",
    "foo.>",
    "*.bar.>",
    "*.*",
]

# Whitespace and control characters that may never appear.
BAD_CHARS = [
    " ",
    "\t",
    "\r",
    "\n",
    "\f",
    "\v",
    "\x00",
    "\x01",
    "\x1b",
    "\x1f",
    "\x7f",
    "\x85",
    "\x9f",
    "\u00a0",
    "\u2028",
    "\u2029",
    "\u3000",
    "\ud800",
]


# -- validate_subject --------------------------------------------------------


@pytest.mark.parametrize("subject", VALID_BOTH + ["foo*", "a>b", "foo.>.bar", ">.a", "a.b*"])
def test_valid_publish_subjects(subject: str) -> None:
    validate_subject(subject)


def test_str_subclass_is_accepted() -> None:
    class S(str):
        pass

    validate_subject(S("a.b"))
    validate_sub_subject(S("a.>"))


@pytest.mark.parametrize(
    ("subject", "problem"),
    [
        ("", "it is empty"),
        (".", "starts with '.'"),
        (".a", "starts with '.'"),
        ("a.", "ends with '.'"),
        ("a..b", "token 2 is empty"),
        ("a.b..", "token 3 is empty"),
        ("foo bar", "whitespace ' ' at index 3"),
        ("foo\r\nPUB x 1", "whitespace '\\\\r' at index 3"),
        ("foo\x00", "control character '\\\\x00' at index 3"),
        ("foo\ud800", "lone surrogate"),
    ],
)
def test_invalid_publish_subjects(subject: str, problem: str) -> None:
    with pytest.raises(BadSubjectError, match=problem) as info:
        validate_subject(subject)
    message = str(info.value)
    assert repr(subject) in message
    assert "dot-separated non-empty tokens" in message


@pytest.mark.parametrize("char", BAD_CHARS)
@pytest.mark.parametrize("template", ["{}", "a{}", "{}b", "a.{}.b", "a.b{}c"])
def test_whitespace_and_control_chars_rejected_everywhere(char: str, template: str) -> None:
    subject = template.format(char)
    with pytest.raises(BadSubjectError):
        validate_subject(subject)
    with pytest.raises(BadSubjectError):
        validate_sub_subject(subject)


@pytest.mark.parametrize("value", [None, b"foo", 1, ["a"]])
def test_non_str_subject(value: Any) -> None:
    with pytest.raises(BadSubjectError, match=f"expected str, got {type(value).__name__}"):
        validate_subject(value)
    with pytest.raises(BadSubjectError, match="expected str"):
        validate_sub_subject(value)


# -- validate_sub_subject ------------------------------------------------------


@pytest.mark.parametrize("subject", VALID_BOTH)
def test_valid_subscription_subjects(subject: str) -> None:
    validate_sub_subject(subject)


@pytest.mark.parametrize(
    ("subject", "problem"),
    [
        ("foo*", "mixes a wildcard"),
        ("foo.b*r", "mixes a wildcard"),
        ("*a.b", "mixes a wildcard"),
        ("a>", "mixes a wildcard"),
        ("a.>>", "mixes a wildcard"),
        ("**", "mixes a wildcard"),
        (">.a", "'>' is only allowed as the last token"),
        ("foo.>.bar", "'>' is only allowed as the last token"),
        (">.>", "'>' is only allowed as the last token"),
        ("a..>", "token 2 is empty"),
        ("foo.>.", "ends with '.'"),
        ("", "it is empty"),
        ("a b.>", "whitespace"),
    ],
)
def test_invalid_subscription_subjects(subject: str, problem: str) -> None:
    with pytest.raises(BadSubjectError, match=problem) as info:
        validate_sub_subject(subject)
    assert repr(subject) in str(info.value)
    assert "'*' and '>' are whole tokens" in str(info.value)


# -- validate_queue -------------------------------------------------------------


@pytest.mark.parametrize("queue", ["workers", "a.b", "q-1_x", "*", "caf\u00e9", "a..b"])
def test_valid_queues(queue: str) -> None:
    validate_queue(queue)


@pytest.mark.parametrize(
    ("queue", "problem"),
    [
        ("", "it is empty"),
        ("my queue", "whitespace ' '"),
        ("q\r\nUNSUB 1", "whitespace '\\\\r'"),
        ("q\x00", "control character"),
        ("q\u00a0", "whitespace"),
    ],
)
def test_invalid_queues(queue: str, problem: str) -> None:
    with pytest.raises(BadSubjectError, match=problem) as info:
        validate_queue(queue)
    assert str(info.value).startswith("nats: invalid subject")
    assert repr(queue) in str(info.value)


def test_non_str_queue() -> None:
    with pytest.raises(BadSubjectError, match="must be a str, got bytes"):
        validate_queue(b"q")  # type: ignore[arg-type]


# -- header fields -------------------------------------------------------------


@pytest.mark.parametrize("key", ["K", "Nats-Msg-Id", "x_y.z", "K\u00e9", "!#$%&'*+-.^_`|~"])
def test_valid_header_keys(key: str) -> None:
    validate_header_key(key)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "it is empty"),
        ("A B", "whitespace"),
        ("A:", "contains ':'"),
        ("A\r", "whitespace"),
        ("A\x01", "control character"),
    ],
)
def test_invalid_header_keys(key: str, problem: str) -> None:
    with pytest.raises(BadHeaderError, match=problem) as info:
        validate_header_key(key)
    assert repr(key) in str(info.value)


def test_non_str_header_key() -> None:
    with pytest.raises(BadHeaderError, match="expected str, got int"):
        validate_header_key(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "v", " spaced ", "a: b", "\t\x00\x7f", "\u2603"])
def test_valid_header_values(value: str) -> None:
    validate_header_value(value)


@pytest.mark.parametrize("value", ["\r", "\n", "a\r\nb", "trailing\n"])
def test_invalid_header_values(value: str) -> None:
    with pytest.raises(BadHeaderError, match="may not contain CR or LF"):
        validate_header_value(value)
    with pytest.raises(BadHeaderError, match="of header 'Key'"):
        validate_header_value(value, "Key")


def test_non_str_header_value() -> None:
    with pytest.raises(BadHeaderError, match="expected str .*got int"):
        validate_header_value(5)  # type: ignore[arg-type]
