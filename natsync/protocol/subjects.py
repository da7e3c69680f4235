"""Validation of subjects, queue names and header fields before they are sent.

A subject is one or more non-empty tokens separated by ``.``; no token may hold
whitespace (ASCII or Unicode) or a control character, so nothing a caller passes
can split or inject a protocol line. Publish and reply subjects may contain the
wildcard characters (nats.go allows them; the server decides). Subscription
subjects must use ``*`` and ``>`` as whole tokens, with ``>`` only last.

The happy path is one precompiled ``fullmatch``; the slower diagnosis that
builds the error message runs only on failure.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from natsync.errors import BadHeaderError, BadSubjectError

__all__ = [
    "is_plain_subject",
    "validate_subject",
    "validate_sub_subject",
    "validate_queue",
    "validate_header_key",
    "validate_header_value",
]

# Characters never allowed in a subject token, queue or header key: Unicode
# whitespace (\s), C0 and C1 control characters, DEL, and lone surrogates
# (which cannot be encoded as UTF-8).
_BAD = r"\s\x00-\x1f\x7f-\x9f\ud800-\udfff"
_TOKEN = rf"[^.{_BAD}]+"
_SUBJECT_RE = re.compile(rf"{_TOKEN}(?:\.{_TOKEN})*")
_SUB_TOKEN = rf"(?:\*|[^.*>{_BAD}]+)"
_SUB_SUBJECT_RE = re.compile(rf"(?:{_SUB_TOKEN}\.)*(?:{_SUB_TOKEN}|>)")
_QUEUE_RE = re.compile(rf"[^{_BAD}]+")
_HEADER_KEY_RE = re.compile(rf"[^:{_BAD}]+")
_BAD_VALUE_RE = re.compile(r"[\r\n\ud800-\udfff]")
_BAD_CHAR_RE = re.compile(rf"[{_BAD}]")

_SUBJECT_RULE = "a subject is dot-separated non-empty tokens without whitespace or control characters"
_SUB_RULE = (
    "a subscription subject is dot-separated non-empty tokens without whitespace or "
    "control characters, where '*' and '>' are whole tokens and '>' is the last one"
)


def _type_name(value: Any) -> str:
    return type(value).__name__


def _bad_char(text: str) -> Optional[str]:
    """Describe the first forbidden character in ``text``, if any."""
    m = _BAD_CHAR_RE.search(text)
    if m is None:
        return None
    ch = m.group()
    if "\ud800" <= ch <= "\udfff":
        kind = "a lone surrogate (not encodable as UTF-8)"
    elif ch.isspace():
        kind = "whitespace"
    else:
        kind = "a control character"
    return f"{kind} {ch!r} at index {m.start()}"


def _subject_problem(subject: str, sub: bool) -> str:
    if subject == "":
        return "it is empty"
    bad = _bad_char(subject)
    if bad is not None:
        return f"it contains {bad}"
    tokens = subject.split(".")
    for i, token in enumerate(tokens):
        if token == "":
            if i == 0:
                return "it starts with '.'"
            if i == len(tokens) - 1:
                return "it ends with '.'"
            return f"token {i + 1} is empty ('..')"
    if sub:
        for i, token in enumerate(tokens):
            if token != "*" and token != ">" and ("*" in token or ">" in token):
                return (
                    f"token {token!r} mixes a wildcard with other characters; "
                    "'*' and '>' must be whole tokens"
                )
            if token == ">" and i != len(tokens) - 1:
                return "'>' is only allowed as the last token"
    return "it is malformed"  # pragma: no cover - the regexes and checks agree


def is_plain_subject(subject: str) -> bool:
    """True when ``subject`` (a str) is a valid publish subject made of printable ASCII.

    The fast check in front of the regex: a handful of C-level string methods, about
    half the cost of the ``fullmatch``. False says nothing (non-ASCII subjects may be
    valid): :func:`validate_subject` decides then."""
    return (subject.isascii() and subject.isprintable() and " " not in subject
            and ".." not in subject and subject != "" and subject[0] != "."
            and subject[-1] != ".")


def validate_subject(subject: str) -> None:
    """Check a publish or reply subject; raise ``BadSubjectError`` if invalid."""
    if type(subject) is str and (is_plain_subject(subject)
                                 or _SUBJECT_RE.fullmatch(subject) is not None):
        return
    if not isinstance(subject, str):
        raise BadSubjectError(f"nats: invalid subject: expected str, got {_type_name(subject)}")
    if _SUBJECT_RE.fullmatch(subject) is not None:  # a str subclass
        return
    raise BadSubjectError(
        f"nats: invalid subject {subject!r}: {_subject_problem(subject, False)}; {_SUBJECT_RULE}"
    )


def validate_sub_subject(subject: str) -> None:
    """Check a subscription subject (wildcards as whole tokens, '>' last)."""
    if type(subject) is str and _SUB_SUBJECT_RE.fullmatch(subject) is not None:
        return
    if not isinstance(subject, str):
        raise BadSubjectError(f"nats: invalid subject: expected str, got {_type_name(subject)}")
    if _SUB_SUBJECT_RE.fullmatch(subject) is not None:
        return
    raise BadSubjectError(
        f"nats: invalid subject {subject!r} for a subscription: "
        f"{_subject_problem(subject, True)}; {_SUB_RULE}"
    )


def validate_queue(queue: str) -> None:
    """Check a queue group name; raise ``BadSubjectError`` if invalid (as nats-py)."""
    if isinstance(queue, str) and _QUEUE_RE.fullmatch(queue) is not None:
        return
    if not isinstance(queue, str):
        raise BadSubjectError(
            f"nats: invalid subject: queue group name must be a str, got {_type_name(queue)}")
    problem = "it is empty" if queue == "" else f"it contains {_bad_char(queue)}"
    raise BadSubjectError(
        f"nats: invalid subject: queue group name {queue!r}: {problem}; a queue group name must be "
        "non-empty, without whitespace or control characters"
    )


def validate_header_key(key: str) -> None:
    """Check a header name; raise ``BadHeaderError`` if invalid."""
    if isinstance(key, str) and _HEADER_KEY_RE.fullmatch(key) is not None:
        return
    if not isinstance(key, str):
        raise BadHeaderError(f"nats: invalid header name: expected str, got {_type_name(key)}")
    if key == "":
        problem = "it is empty"
    elif ":" in key:
        problem = f"it contains ':' at index {key.index(':')}"
    else:
        problem = f"it contains {_bad_char(key)}"
    raise BadHeaderError(
        f"nats: invalid header name {key!r}: {problem}; a header name must be non-empty, "
        "without ':', whitespace or control characters"
    )


def validate_header_value(value: str, key: str = "") -> None:
    """Check a header value (``key`` only names it in the error message)."""
    if isinstance(value, str) and _BAD_VALUE_RE.search(value) is None:
        return
    where = f" of header {key!r}" if key else ""
    if not isinstance(value, str):
        raise BadHeaderError(
            f"nats: invalid header value{where}: expected str (or a list of str for a "
            f"multi-valued header), got {_type_name(value)}"
        )
    m = _BAD_VALUE_RE.search(value)
    assert m is not None
    ch = m.group()
    what = "a lone surrogate (not encodable as UTF-8)" if ch not in "\r\n" else repr(ch)
    raise BadHeaderError(
        f"nats: invalid header value{where}: {value!r} contains {what} at index {m.start()}; "
        "header values may not contain CR or LF"
    )
