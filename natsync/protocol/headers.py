"""The ``NATS/1.0`` header block: encoding, parsing and status codes.

Wire format (what nats.go and nats-py send and the server emits)::

    NATS/1.0[ <status>[ <description>]]\\r\\n
    Key: value\\r\\n
    ...
    \\r\\n

``encode_headers`` writes ``Key: value`` with one space after the colon, keys
exactly as given, values stripped of surrounding spaces and tabs (both reference
clients trim values too), in mapping order, one line per value of a list.
``parse_headers`` accepts what the reference clients accept: CRLF or bare LF
line ends, any spaces or tabs around a value, repeated keys (returned as a list
in order), and an inline status such as ``NATS/1.0 503`` or
``NATS/1.0 408 Request Timeout``. Like nats-py it reports a status in the dict as
``"Status": "503"`` and ``"Description": "Request Timeout"`` as well.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from natsync.errors import BadHeaderError, ProtocolError
from natsync.protocol.subjects import (
    _BAD_VALUE_RE,
    _HEADER_KEY_RE,
    validate_header_key,
    validate_header_value,
)

__all__ = [
    "HEADER_LINE",
    "STATUS_HDR",
    "DESCRIPTION_HDR",
    "CTRL_100",
    "NOT_FOUND_STATUS",
    "REQUEST_TIMEOUT_STATUS",
    "CONFLICT_STATUS",
    "NO_RESPONDERS_STATUS",
    "HeaderValue",
    "Headers",
    "encode_headers",
    "parse_headers",
]

#: First bytes of every header block.
HEADER_LINE = b"NATS/1.0"
#: Key under which an inline status is reported ("503").
STATUS_HDR = "Status"
#: Key under which an inline status description is reported ("No Messages").
DESCRIPTION_HDR = "Description"

#: JetStream idle heartbeat or flow control request.
CTRL_100 = 100
#: JetStream pull: no messages / message not found.
NOT_FOUND_STATUS = 404
#: JetStream pull: request timeout or expired.
REQUEST_TIMEOUT_STATUS = 408
#: JetStream pull: conflict (e.g. consumer deleted, exceeded limits, leadership change).
CONFLICT_STATUS = 409
#: The server found no subscriber for a request.
NO_RESPONDERS_STATUS = 503

HeaderValue = Union[str, List[str]]
Headers = Dict[str, HeaderValue]

_HEADER_LINE_STR = "NATS/1.0"
_STATUS_LEN = 3


def encode_headers(headers: Mapping[str, Union[str, Sequence[str]]]) -> bytes:
    """Encode a header mapping to a ``NATS/1.0`` block ending with the blank line.

    A list or tuple value writes one line per item, in order. Raises
    ``BadHeaderError`` naming the key for an invalid key or value.
    """
    try:
        items = headers.items()
    except AttributeError:
        raise BadHeaderError(
            f"nats: headers must be a dict of str to str (or list of str), got {type(headers).__name__}"
        ) from None
    lines = ["NATS/1.0\r\n"]
    append = lines.append
    for key, value in items:
        if type(key) is not str or _HEADER_KEY_RE.fullmatch(key) is None:
            validate_header_key(key)
        if type(value) is str:
            if _BAD_VALUE_RE.search(value) is not None:
                validate_header_value(value, key)
            append(key + ": " + value.strip(" \t") + "\r\n")
        elif isinstance(value, (list, tuple)):
            if not value:
                raise BadHeaderError(
                    f"nats: invalid header value of header {key!r}: the list of values is "
                    "empty; give at least one value or leave the header out"
                )
            for item in value:
                if type(item) is not str or _BAD_VALUE_RE.search(item) is not None:
                    validate_header_value(item, key)
                append(_line(key, item))
        else:
            other: Any = value  # a str subclass passes, anything else raises
            validate_header_value(other, key)
            append(_line(key, other))
    append("\r\n")
    return "".join(lines).encode()


def _line(key: str, value: str) -> str:
    return key + ": " + value.strip(" \t") + "\r\n"


def parse_headers(raw: bytes) -> Tuple[Optional[Headers], Optional[int], str]:
    """Parse a header block into ``(headers, status, description)``.

    ``headers`` is None when the block has neither headers nor a status;
    ``status`` is None without an inline status. Raises ``ProtocolError`` for a
    block that does not start with ``NATS/1.0``, a bad status, a line without
    ``:`` or bytes that are not UTF-8.
    """
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"nats: protocol error: malformed message headers: not valid UTF-8 ({exc.reason} at byte "
            f"{exc.start}): {_show(raw)}"
        ) from None
    except AttributeError:
        raise ProtocolError(
            f"nats: protocol error: malformed message headers: expected bytes, got {type(raw).__name__}"
        ) from None
    if not text.startswith(_HEADER_LINE_STR):
        raise ProtocolError(
            f"nats: protocol error: malformed message headers: the block must start with "
            f"'NATS/1.0': {_show(raw)}"
        )
    # CRLF and bare LF both end a line (as in nats.go's textproto reader).
    lines = text.replace("\r\n", "\n").split("\n")
    first = lines[0]

    hdrs: Dict[str, Any] = {}
    status: Optional[int] = None
    description = ""
    if len(first) > 8:
        rest = first[8:].strip(" \t")
        if first[8] not in " \t" or (
            rest
            and (
                not rest[:_STATUS_LEN].isdigit()
                or not rest[:_STATUS_LEN].isascii()
                or len(rest) < _STATUS_LEN
                or (len(rest) > _STATUS_LEN and rest[_STATUS_LEN] not in " \t")
            )
        ):
            raise ProtocolError(
                f"nats: protocol error: malformed message headers: bad status line {first!r}, "
                "expected 'NATS/1.0' optionally followed by a 3-digit status code and a description"
            )
        if rest:
            code = rest[:_STATUS_LEN]
            status = int(code)
            hdrs[STATUS_HDR] = code
            if len(rest) > _STATUS_LEN:
                description = rest[_STATUS_LEN:].strip(" \t")
                if description:
                    hdrs[DESCRIPTION_HDR] = description

    for i in range(1, len(lines)):
        line = lines[i]
        if not line:
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise ProtocolError(
                f"nats: protocol error: malformed message headers: line {line!r} has no ':' "
                f"(expected 'Key: value')"
            )
        if not key:
            continue  # empty key: skipped, as nats.go does
        value = value.strip(" \t")
        old = hdrs.get(key)
        if old is None:
            hdrs[key] = value
        elif type(old) is list:
            old.append(value)
        else:
            hdrs[key] = [old, value]
    return (hdrs or None), status, description


def _show(raw: bytes) -> str:
    if len(raw) > 80:
        return repr(raw[:80]) + f"... ({len(raw)} bytes)"
    return repr(raw)
