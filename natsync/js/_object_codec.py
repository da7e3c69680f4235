"""Object Store wire details (ADR-20): subjects, name encoding, digests, the stored JSON.

Pure: no I/O. The dataclasses themselves (``ObjectInfo``, ``ObjectMeta``, ...) are in
:mod:`natsync.js.api`, with nats-py's names; what is here makes the bytes match what
nats.go, nats-py and the ``nats`` CLI write, so objects move freely between them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Dict, List

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DIGEST_PREFIX",
    "ZERO_TIME",
    "chunk_subject",
    "decode_digest",
    "digest_value",
    "encode_name",
    "info_json",
    "is_valid_bucket",
    "meta_subject",
    "normalize_headers",
    "stream_name",
]

DEFAULT_CHUNK_SIZE = 128 * 1024
DIGEST_PREFIX = "SHA-256="
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's time.Time{}: what Go and natsync store as mtime

_BUCKET_RE = re.compile(r"^[a-zA-Z0-9_-]+$")


def is_valid_bucket(bucket: object) -> bool:
    """A bucket name is 1 or more of ``a-z A-Z 0-9 _ -`` (ADR-20's restricted term)."""
    return isinstance(bucket, str) and _BUCKET_RE.match(bucket) is not None


def stream_name(bucket: str) -> str:
    return f"OBJ_{bucket}"


def encode_name(name: str) -> str:
    """The object's name as it appears in its meta subject: padded base64url of its UTF-8."""
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii")


def meta_subject(bucket: str, name: str) -> str:
    return f"$O.{bucket}.M.{encode_name(name)}"


def chunk_subject(bucket: str, nuid: str) -> str:
    return f"$O.{bucket}.C.{nuid}"


def digest_value(sha256_digest: bytes) -> str:
    """``SHA-256=`` and the padded base64url of the digest, as ADR-20 writes it."""
    return DIGEST_PREFIX + base64.urlsafe_b64encode(sha256_digest).decode("ascii")


def decode_digest(value: str) -> bytes:
    """The 32 bytes of a stored digest; ``ValueError`` when it is not a SHA-256 digest.

    The algorithm name is read case-insensitively (older Go clients wrote
    ``sha-256=``); missing padding and the standard base64 alphabet are accepted.
    """
    algo, sep, text = value.partition("=")
    if not sep or algo.upper() != "SHA-256":
        raise ValueError(f"digest {value!r} is not of the form SHA-256=<base64url>")
    text = _pad(text.strip().replace("+", "-").replace("/", "_"))
    try:
        raw = base64.b64decode(text.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"digest {value!r} is not valid base64url: {exc}") from None
    if len(raw) != 32:
        raise ValueError(f"digest {value!r} has {len(raw)} bytes, a SHA-256 digest has 32")
    return raw


def _pad(text: str) -> str:
    body = text.rstrip("=")
    return body + "=" * (-len(body) % 4)


def info_json(info: Any) -> bytes:
    """The JSON stored for an ``ObjectInfo``: as every client writes it.

    ``mtime`` is Go's zero time (never stored, ADR-20); header values are lists of
    strings, the form Go's ``http.Header`` reads; unknown fields are kept.
    """
    result = info.as_dict()
    result["mtime"] = ZERO_TIME
    if info.headers:
        result["headers"] = normalize_headers(info.headers)
    for key in ("size", "chunks"):
        result.setdefault(key, 0)
    return json.dumps(result, separators=(",", ":")).encode()


def normalize_headers(headers: Dict[str, Any]) -> Dict[str, List[str]]:
    """Headers as Go stores them, every value a list of strings (``{"k": "v"}`` -> ``["v"]``)."""
    out: Dict[str, List[str]] = {}
    for key, val in headers.items():
        if isinstance(val, (list, tuple)):
            out[str(key)] = [str(v) for v in val]
        else:
            out[str(key)] = [str(val)]
    return out
