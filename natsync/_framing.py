"""Framing one outgoing message: every check publish makes before anything is sent
(subject, reply, payload type and size, headers) and the PUB/HPUB frame."""

from __future__ import annotations

from typing import Optional, Union

from . import errors
from .msg import Headers
from .protocol import encode
from .protocol.headers import encode_headers
from .protocol.subjects import validate_subject

__all__ = ["frame_message", "too_big"]


def too_big(subject: str, n: int, max_payload: int) -> errors.Error:
    """The error for ``n`` payload bytes to ``subject`` over the server's limit."""
    return errors.MaxPayloadError(
        f"nats: maximum payload exceeded: {n} bytes to {subject!r}, the server allows "
        f"{max_payload}; split the message, store it in an Object Store, or raise "
        "max_payload in the server config"
    )


def frame_message(subject: str, payload: bytes, reply: str, headers: Optional[Headers],
                  max_payload: int) -> tuple[bytes, int]:
    """Validate and encode one message: (frame, payload length). Raises before anything
    is sent."""
    validate_subject(subject)
    if reply:
        validate_subject(reply)
    if type(payload) is bytes:
        data: Union[bytes, memoryview] = payload
    else:
        # memoryview: only the buffer protocol (bytes(5) would be five zero bytes);
        # a contiguous buffer is framed as it is, without a copy of its own
        try:
            view = memoryview(payload)
        except TypeError:
            raise errors.Error(
                f"nats: payload must be bytes-like (bytes, bytearray, memoryview), not "
                f"{type(payload).__name__}; encode text first, e.g. data.encode()") from None
        data = view.cast("B") if view.c_contiguous else view.tobytes()
    n = len(data)
    if headers:
        hdr = encode_headers(headers)
        if n + len(hdr) > max_payload:
            raise too_big(subject, n + len(hdr), max_payload)
        return encode.encode_hpub(subject, data, hdr, reply), n
    if n > max_payload:
        raise too_big(subject, n, max_payload)
    return encode.encode_pub(subject, data, reply), n
