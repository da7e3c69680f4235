"""Sans-IO WebSocket (RFC 6455) for the client side: the upgrade and the framing.

No sockets here: the transport (``natsync/_ws.py``) writes what these functions
build and feeds what it reads.

* :func:`upgrade_request` builds the HTTP/1.1 ``GET`` that asks for the upgrade;
  :func:`split_response` finds the server's answer in the bytes read so far and
  :func:`check_response` accepts only a ``101`` with the right
  ``Sec-WebSocket-Accept``, and says whether the server agreed to unmasked
  client frames (nats-server's ``Nats-No-Masking: true`` echo).
* :func:`encode_frame` makes one frame, masked with a caller-supplied key (a
  client must mask unless the server agreed otherwise).
* :class:`FrameDecoder` turns a byte stream into data (``bytes``, streamed: the
  payload of a large frame comes out as it arrives) and control frames
  (:class:`Ping`, :class:`Pong`, :class:`Close`). Anything a server must not
  send - a masked frame, a reserved bit, an unknown opcode, a fragmented or
  oversize control frame, a frame larger than the cap - raises
  :class:`~natsync.errors.ProtocolError` naming the cause.

NATS rides in binary data frames and its parser takes a byte stream, so data
frame boundaries (and fragmentation into continuation frames) carry no meaning
for the caller: the decoder hands data on as soon as it has it.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from ..errors import ProtocolError

__all__ = [
    "DEFAULT_MAX_FRAME",
    "MAX_CONTROL_PAYLOAD",
    "MAX_RESPONSE_HEAD",
    "NO_MASKING_HEADER",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Close",
    "FrameDecoder",
    "Ping",
    "Pong",
    "Response",
    "accept_key",
    "check_response",
    "close_payload",
    "encode_frame",
    "mask",
    "new_key",
    "upgrade_request",
    "split_response",
]

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_DATA_OPS = (OP_CONTINUATION, OP_TEXT, OP_BINARY)
_CONTROL_OPS = (OP_CLOSE, OP_PING, OP_PONG)

#: Largest frame payload accepted from a server (nats-server's own cap on a WebSocket
#: message is 64 MiB); a longer frame is a :class:`ProtocolError`.
DEFAULT_MAX_FRAME = 64 * 1024 * 1024
#: RFC 6455 5.5: control frames carry at most 125 bytes.
MAX_CONTROL_PAYLOAD = 125
#: Longest HTTP answer to the upgrade accepted (status line and headers).
MAX_RESPONSE_HEAD = 16 * 1024
#: The nats-server request header asking to skip client-side masking; the server
#: echoes it in the 101 when it agrees.
NO_MASKING_HEADER = "Nats-No-Masking"

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_RESERVED_HEADERS = frozenset(
    {"upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
     "sec-websocket-extensions", "sec-websocket-accept", NO_MASKING_HEADER.lower()}
)
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class Ping(NamedTuple):
    payload: bytes


class Pong(NamedTuple):
    payload: bytes


class Close(NamedTuple):
    """A close frame: ``code`` is None when the frame carried no status."""

    code: Optional[int]
    reason: str


Event = Union[bytes, Ping, Pong, Close]
#: what the encoders take: bytes or a view of them (no copy needed)
Buffer = Union[bytes, bytearray, memoryview]


# --------------------------------------------------------------------- handshake

def new_key(nonce: bytes) -> str:
    """The ``Sec-WebSocket-Key`` for 16 random bytes."""
    if len(nonce) != 16:
        raise ValueError("a WebSocket key is made of 16 random bytes")
    return base64.b64encode(nonce).decode("ascii")


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key``."""
    digest = hashlib.sha1(key.encode("ascii") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def check_header(name: str, value: str) -> None:
    """Raise ``ValueError`` for a header that cannot go into the upgrade request."""
    if not isinstance(name, str) or not isinstance(value, str):
        raise TypeError("nats: WebSocket header names and values must be str")
    if not name or any(ch not in _TOKEN_CHARS for ch in name):
        raise ValueError(f"nats: {name!r} is not a valid HTTP header name")
    if any(ch in "\r\n\0" for ch in value):
        raise ValueError(f"nats: the value of WebSocket header {name!r} contains CR, LF or NUL")
    if name.lower() in _RESERVED_HEADERS:
        raise ValueError(
            f"nats: WebSocket header {name!r} is set by the client itself; leave it out"
        )


def upgrade_request(host: str, path: str, key: str,
                    headers: Sequence[Tuple[str, str]] = (), no_masking: bool = False) -> bytes:
    """The HTTP/1.1 request that asks ``host`` (``host[:port]``) for the upgrade."""
    lines = [
        f"GET {path or '/'} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if no_masking:
        lines.append(f"{NO_MASKING_HEADER}: true")
    for name, value in headers:
        check_header(name, value)
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class Response(NamedTuple):
    """The server's answer to the upgrade: status, reason, headers (lower-case names)."""

    status: int
    reason: str
    headers: Dict[str, str]


def split_response(data: bytes, where: str = "the server") -> Optional[Tuple[Response, bytes]]:
    """The HTTP answer at the start of ``data`` and the bytes after it, or None if
    the answer is not complete yet. Raises :class:`ProtocolError` for an answer that
    is not HTTP or is longer than :data:`MAX_RESPONSE_HEAD`."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if len(data) > MAX_RESPONSE_HEAD:
            raise ProtocolError(
                f"nats: {where} sent more than {MAX_RESPONSE_HEAD} bytes without ending its "
                "answer to the WebSocket upgrade; is it an HTTP server?")
        if not b"HTTP/".startswith(data[:5]):
            raise _not_http(data, where)
        return None
    if end > MAX_RESPONSE_HEAD:
        raise ProtocolError(
            f"nats: {where} answered the WebSocket upgrade with more than "
            f"{MAX_RESPONSE_HEAD} bytes of headers")
    head = data[:end].decode("latin-1")
    status_line, *header_lines = head.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise _not_http(data, where)
    headers: Dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"nats: {where} sent a malformed HTTP header line {line[:80]!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    reason = parts[2] if len(parts) > 2 else ""
    return Response(int(parts[1]), reason, headers), data[end + 4:]


def _not_http(data: bytes, where: str) -> ProtocolError:
    hint = " (it looks like a NATS client port: use nats://)" if data.startswith(b"INFO") else ""
    return ProtocolError(
        f"nats: {where} did not answer the WebSocket upgrade with HTTP: got {data[:40]!r}{hint}")


def _has_token(value: str, token: str) -> bool:
    return any(t.strip().lower() == token for t in value.split(","))


def check_response(resp: Response, key: str, where: str = "the server") -> bool:
    """Accept the server's answer to the upgrade or raise :class:`ProtocolError`.

    Returns True when the server echoed ``Nats-No-Masking: true`` (then the
    client may send unmasked frames).
    """
    if resp.status != 101:
        advice = {
            400: "the server rejected the request",
            401: "the server wants credentials (ws_connection_headers can carry them)",
            403: "the server refused this client (allowed origins or credentials)",
            404: "check the URL's path and that the port is the server's websocket port",
        }.get(resp.status, "is this the server's websocket port?")
        raise ProtocolError(
            f"nats: {where} answered the WebSocket upgrade with {resp.status} {resp.reason}"
            f" instead of 101 Switching Protocols; {advice}")
    h = resp.headers
    if not _has_token(h.get("upgrade", ""), "websocket"):
        raise ProtocolError(f"nats: {where} answered 101 without 'Upgrade: websocket'")
    if not _has_token(h.get("connection", ""), "upgrade"):
        raise ProtocolError(f"nats: {where} answered 101 without 'Connection: Upgrade'")
    got = h.get("sec-websocket-accept")
    if got != accept_key(key):
        raise ProtocolError(
            f"nats: {where} answered the WebSocket upgrade with a wrong Sec-WebSocket-Accept "
            f"({got!r}); a proxy in the way may be mangling the handshake")
    if h.get("sec-websocket-extensions"):
        raise ProtocolError(
            f"nats: {where} enabled WebSocket extensions the client did not ask for: "
            f"{h['sec-websocket-extensions']!r}")
    return h.get(NO_MASKING_HEADER.lower(), "").strip().lower() == "true"


# --------------------------------------------------------------------- frames

#: bytes masked per big-integer XOR: larger integers get slower per byte (cache), so a
#: long payload is masked in slices of this size (a multiple of 4: the key stays aligned)
_MASK_SLICE = 32 * 1024


def mask(data: Buffer, key: bytes, offset: int = 0) -> bytes:
    """``data`` XOR the 4-byte ``key`` repeated, starting at key byte ``offset % 4``.

    Big-integer XORs: C speed without a per-byte Python loop.
    """
    parts = _masked_parts(data, key, offset)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _masked_parts(data: Buffer, key: bytes, offset: int = 0) -> List[bytes]:
    n = len(data)
    if not n:
        return [b""]
    k = offset % 4
    if k:
        key = key[k:] + key[:k]
    fb = int.from_bytes
    if n <= _MASK_SLICE:
        return [(fb(data, "little") ^ fb((key * ((n >> 2) + 1))[:n], "little")).to_bytes(n, "little")]
    step = _MASK_SLICE
    kint = fb(key * (step >> 2), "little")
    view = memoryview(data)
    out = []
    end = n - n % step
    for i in range(0, end, step):
        out.append((fb(view[i:i + step], "little") ^ kint).to_bytes(step, "little"))
    if end < n:
        r = n - end
        out.append((fb(view[end:], "little") ^ fb((key * ((r >> 2) + 1))[:r], "little"))
                   .to_bytes(r, "little"))
    view.release()
    return out


def _header(opcode: int, length: int, masked: bool, fin: bool) -> bytes:
    b0 = (0x80 if fin else 0) | opcode
    m = 0x80 if masked else 0
    if length < 126:
        return struct.pack("!BB", b0, m | length)
    if length < 0x10000:
        return struct.pack("!BBH", b0, m | 126, length)
    return struct.pack("!BBQ", b0, m | 127, length)


def encode_frame(payload: Buffer, mask_key: Optional[bytes] = None, opcode: int = OP_BINARY,
                 fin: bool = True) -> bytes:
    """One frame carrying ``payload``; masked when ``mask_key`` (4 bytes) is given."""
    if mask_key is None:
        return b"".join((_header(opcode, len(payload), False, fin), payload))
    if len(mask_key) != 4:
        raise ValueError("a WebSocket mask key is 4 bytes")
    parts = _masked_parts(payload, mask_key)
    return b"".join((_header(opcode, len(payload), True, fin), mask_key, *parts))


def close_payload(code: int, reason: str = "") -> bytes:
    """The body of a close frame: the status code, then the reason (cut to fit)."""
    body = reason.encode("utf-8")[:MAX_CONTROL_PAYLOAD - 2]
    return struct.pack("!H", code) + body


class FrameDecoder:
    """Bytes from the server in, data and control frames out (see the module doc).

    ``masked``: False (a client: masked frames are an error), True (frames must
    be masked, as a server receives them) or None (either).
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, masked: Optional[bool] = False,
                 where: str = "the server") -> None:
        self.max_frame = max_frame
        self.masked = masked
        self.where = where
        self.closed = False
        self._buf = b""
        #: payload bytes still to come of the data frame being read
        self._left = 0
        self._key: Optional[bytes] = None
        self._keypos = 0
        #: a fragmented data message is in progress (continuations expected)
        self._fragmented = False

    def feed(self, data: bytes) -> List[Event]:
        """Decode what ``data`` completes; keep the rest for the next call."""
        if self.closed:
            return []
        if self._buf:
            data = self._buf + data
            self._buf = b""
        out: List[Event] = []
        pos = 0
        n = len(data)
        while pos < n:
            left = self._left
            if left:
                end = min(pos + left, n)
                chunk = data[pos:end]
                if self._key is not None:
                    chunk = mask(chunk, self._key, self._keypos)
                    self._keypos += end - pos
                out.append(chunk)
                self._left = left - (end - pos)
                pos = end
                continue
            if n - pos < 2:
                break
            b0 = data[pos]
            b1 = data[pos + 1]
            length = b1 & 0x7F
            hlen = 2
            if length == 126:
                hlen = 4
            elif length == 127:
                hlen = 10
            is_masked = bool(b1 & 0x80)
            if is_masked:
                hlen += 4
            if n - pos < hlen:
                break
            if length == 126:
                length = struct.unpack_from("!H", data, pos + 2)[0]
            elif length == 127:
                length = struct.unpack_from("!Q", data, pos + 2)[0]
            self._check(b0, length, is_masked)
            key = data[pos + hlen - 4:pos + hlen] if is_masked else None
            opcode = b0 & 0x0F
            if opcode in _CONTROL_OPS:
                if n - pos - hlen < length:
                    break
                payload = data[pos + hlen:pos + hlen + length]
                if key is not None:
                    payload = mask(payload, key)
                pos += hlen + length
                ev = self._control(opcode, payload)
                out.append(ev)
                if type(ev) is Close:
                    self.closed = True
                    return out
                continue
            self._fragmented = not (b0 & 0x80)
            pos += hlen
            self._left = length
            self._key = key
            self._keypos = 0
        if pos < n:
            self._buf = data[pos:]
        return out

    def _check(self, b0: int, length: int, is_masked: bool) -> None:
        where = self.where
        opcode = b0 & 0x0F
        if b0 & 0x70:
            raise ProtocolError(
                f"nats: {where} sent a WebSocket frame with reserved bits set "
                f"(0x{b0 & 0x70:02x}); no extension was negotiated")
        if opcode in _CONTROL_OPS:
            if not b0 & 0x80:
                raise ProtocolError(f"nats: {where} sent a fragmented WebSocket control frame")
            if length > MAX_CONTROL_PAYLOAD:
                raise ProtocolError(
                    f"nats: {where} sent a WebSocket control frame of {length} bytes "
                    f"(at most {MAX_CONTROL_PAYLOAD} allowed)")
        elif opcode in _DATA_OPS:
            if opcode == OP_CONTINUATION and not self._fragmented:
                raise ProtocolError(
                    f"nats: {where} sent a WebSocket continuation frame with no message to continue")
            if opcode != OP_CONTINUATION and self._fragmented:
                raise ProtocolError(
                    f"nats: {where} started a new WebSocket message before finishing the "
                    "fragmented one")
        else:
            raise ProtocolError(f"nats: {where} sent a WebSocket frame with unknown opcode 0x{opcode:x}")
        if length > self.max_frame:
            raise ProtocolError(
                f"nats: {where} sent a WebSocket frame of {length} bytes, over the "
                f"{self.max_frame}-byte cap")
        if self.masked is False and is_masked:
            raise ProtocolError(
                f"nats: {where} sent a masked WebSocket frame; a server must not mask (RFC 6455 5.1)")
        if self.masked is True and not is_masked:
            raise ProtocolError(f"nats: {where} sent an unmasked WebSocket frame")

    def _control(self, opcode: int, payload: bytes) -> Event:
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        if not payload:
            return Close(None, "")
        if len(payload) < 2:
            raise ProtocolError(f"nats: {self.where} sent a WebSocket close frame of 1 byte")
        code = struct.unpack_from("!H", payload)[0]
        return Close(code, payload[2:].decode("utf-8", "replace"))
