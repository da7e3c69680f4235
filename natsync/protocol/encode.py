"""Pure encoders for client-to-server protocol frames.

Encoders do not validate: the client checks subjects, queues and headers once,
before calling them. Each builds its frame with one bytes ``%`` formatting (a
single allocation; the payload is copied once). Payloads may be any bytes-like
object with one-byte items (bytes, bytearray, a C-contiguous byte memoryview).
"""

from __future__ import annotations

import json
from typing import Any, List, Mapping, Optional, Tuple, Union

from natsync.errors import ProtocolError

__all__ = [
    "PING",
    "PONG",
    "CRLF",
    "encode_connect",
    "encode_pub",
    "encode_hpub",
    "encode_sub",
    "encode_unsub",
    "decode_pub",
    "split_frames",
    "is_msg_frame",
]

#: What the message encoders frame: bytes, or a buffer with one-byte items.
Payload = Union[bytes, bytearray, memoryview]

PING = b"PING\r\n"
PONG = b"PONG\r\n"
CRLF = b"\r\n"


def encode_connect(fields: Mapping[str, Any]) -> bytes:
    """``CONNECT {json}\\r\\n`` with compact JSON."""
    return b"CONNECT %s\r\n" % json.dumps(dict(fields), separators=(",", ":")).encode()


def encode_pub(subject: str, payload: Payload, reply: str = "") -> bytes:
    """``PUB <subject> [reply] <size>\\r\\n<payload>\\r\\n``."""
    if reply:
        return b"PUB %s %s %d\r\n%s\r\n" % (
            subject.encode(),
            reply.encode(),
            len(payload),
            payload,
        )
    return b"PUB %s %d\r\n%s\r\n" % (subject.encode(), len(payload), payload)


def encode_hpub(subject: str, payload: Payload, header: bytes, reply: str = "") -> bytes:
    """``HPUB <subject> [reply] <hdr_size> <total_size>\\r\\n<header><payload>\\r\\n``;
    ``header`` is an encoded block (see ``headers.encode_headers``)."""
    hlen = len(header)
    if reply:
        return b"HPUB %s %s %d %d\r\n%s%s\r\n" % (
            subject.encode(),
            reply.encode(),
            hlen,
            hlen + len(payload),
            header,
            payload,
        )
    return b"HPUB %s %d %d\r\n%s%s\r\n" % (
        subject.encode(),
        hlen,
        hlen + len(payload),
        header,
        payload,
    )


def encode_sub(subject: str, sid: int, queue: str = "") -> bytes:
    """``SUB <subject> [queue] <sid>\\r\\n``."""
    if queue:
        return b"SUB %s %s %d\r\n" % (subject.encode(), queue.encode(), sid)
    return b"SUB %s %d\r\n" % (subject.encode(), sid)


def encode_unsub(sid: int, max_msgs: int = 0) -> bytes:
    """``UNSUB <sid> [max_msgs]\\r\\n``; ``max_msgs`` 0 writes no count."""
    if max_msgs:
        return b"UNSUB %d %d\r\n" % (sid, max_msgs)
    return b"UNSUB %d\r\n" % sid


def decode_pub(frame: bytes) -> Tuple[str, str, Optional[bytes], bytes]:
    """Inverse of ``encode_pub``/``encode_hpub``: ``(subject, reply, header, payload)``,
    ``header`` None for PUB. Raises ``ProtocolError`` if ``frame`` is not exactly
    one well-formed PUB or HPUB frame."""
    frame = bytes(frame)
    eol = frame.find(CRLF)
    if eol < 0:
        raise ProtocolError(f"nats: not a PUB/HPUB frame (no CRLF): {frame[:80]!r}")
    args = frame[:eol].split()
    op = args[0].upper() if args else b""
    if op == b"PUB":
        base = 3
    elif op == b"HPUB":
        base = 4
    else:
        raise ProtocolError(f"nats: not a PUB/HPUB frame: {frame[:80]!r}")
    if len(args) not in (base, base + 1):
        raise ProtocolError(f"nats: wrong number of arguments in {frame[:eol]!r}")
    try:
        subject = args[1].decode()
        reply = args[2].decode() if len(args) == base + 1 else ""
        sizes = [int(a) for a in args[-1 if op == b"PUB" else -2 :]]
    except ValueError:
        raise ProtocolError(f"nats: malformed PUB/HPUB line {frame[:eol]!r}") from None
    total = sizes[-1]
    hlen = sizes[0] if op == b"HPUB" else 0
    start = eol + 2
    if min(sizes) < 0 or hlen > total or len(frame) != start + total + 2 or not frame.endswith(CRLF):
        raise ProtocolError(f"nats: PUB/HPUB frame size does not match its control line {frame[:eol]!r}")
    if op == b"HPUB":
        return subject, reply, frame[start : start + hlen], frame[start + hlen : start + total]
    return subject, reply, None, frame[start : start + total]


def split_frames(data: Union[bytes, bytearray]) -> List[bytes]:
    """Cut a run of client frames (PUB, HPUB, SUB, UNSUB, PING, PONG, CONNECT) back
    into whole frames, in order. The outbound buffer keeps bytes, not frames; this
    recovers the boundaries when it must (a failed write, a lost connection), so that
    only whole frames are replayed. Raises ``ProtocolError`` on bytes that are not a
    run of whole frames."""
    frames: List[bytes] = []
    pos = 0
    end = len(data)
    while pos < end:
        eol = data.find(CRLF, pos)
        if eol < 0:
            raise ProtocolError(f"nats: incomplete frame in the outbound buffer: {data[pos:pos + 80]!r}")
        nxt = eol + 2
        op = data[pos:pos + 5]
        if op[:4] == b"PUB " or op == b"HPUB ":
            try:
                size = int(data[pos:eol].rsplit(None, 1)[1])
            except (IndexError, ValueError):
                raise ProtocolError(f"nats: malformed frame line {data[pos:eol]!r}") from None
            nxt += size + 2
            if nxt > end:
                raise ProtocolError(f"nats: truncated frame in the outbound buffer: {data[pos:eol]!r}")
        frames.append(bytes(data[pos:nxt]))
        pos = nxt
    return frames


def is_msg_frame(frame: bytes) -> bool:
    """True for a PUB or HPUB frame (a message), False for a protocol command."""
    return frame[:4] == b"PUB " or frame[:5] == b"HPUB "
