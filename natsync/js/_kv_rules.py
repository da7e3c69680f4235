"""Key/Value names and rules with no I/O: key and bucket validation, the bucket's
stream configuration (ADR-8, ADR-48) and its status. Re-exported by
:mod:`natsync.js.kv`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from . import api
from . import errors as js_errors

__all__ = [
    "DEFAULT_PURGE_DELETES_OLDER_THAN",
    "KV_DUPLICATE_WINDOW",
    "KV_MAX_HISTORY",
    "KV_PRE_TEMPLATE",
    "KV_STREAM_TEMPLATE",
    "VALID_BUCKET_RE",
    "VALID_KEY_RE",
    "BucketStatus",
    "is_valid_bucket",
    "is_valid_key",
    "stream_config",
    "validate_bucket",
    "validate_filter",
    "validate_key",
]

KV_STREAM_TEMPLATE = "KV_{bucket}"
KV_PRE_TEMPLATE = "$KV.{bucket}."
KV_MAX_HISTORY = 64
#: The duplicate window of a bucket: two minutes, or the bucket's TTL when that is shorter.
KV_DUPLICATE_WINDOW = 120.0
DEFAULT_PURGE_DELETES_OLDER_THAN = 30 * 60

VALID_BUCKET_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
VALID_KEY_RE = re.compile(r"^[-/_=\.a-zA-Z0-9]+$")
_VALID_FILTER_RE = re.compile(r"^[-/_=\.a-zA-Z0-9*>]+$")

# --------------------------------------------------------------------------- validation


def is_valid_key(key: Any) -> bool:
    """A key is ``[-/_=.a-zA-Z0-9]+`` that neither starts nor ends with ``.`` nor holds ``..``."""
    return (
        isinstance(key, str)
        and bool(key)
        and key[0] != "."
        and key[-1] != "."
        and ".." not in key
        and VALID_KEY_RE.match(key) is not None
    )


def validate_key(key: Any) -> str:
    """Return ``key`` or raise :class:`~natsync.js.errors.InvalidKeyError` saying why."""
    if is_valid_key(key):
        return str(key)
    raise js_errors.InvalidKeyError(
        f"invalid key {key!r}: a key is a non-empty str of letters, digits and '-/_=.', that "
        "does not start or end with '.' and has no '..' (e.g. 'app.db.url')"
    )


def validate_filter(pattern: Any) -> str:
    """A key pattern for watch/keys: a key whose tokens may also be ``*``, or ``>`` last."""
    if isinstance(pattern, str) and pattern and _VALID_FILTER_RE.match(pattern):
        tokens = pattern.split(".")
        last = len(tokens) - 1
        ok = all(
            tok and (("*" not in tok and ">" not in tok) or tok == "*" or (tok == ">" and i == last))
            for i, tok in enumerate(tokens)
        )
        if ok:
            return pattern
    raise js_errors.InvalidKeyError(
        f"invalid key pattern {pattern!r}: use a key, with '*' for one whole token or '>' as the "
        "last token for the rest (e.g. 'app.*.url', 'app.>', '>')"
    )


def is_valid_bucket(bucket: Any) -> bool:
    """A bucket name is ``[a-zA-Z0-9_-]+``."""
    return isinstance(bucket, str) and VALID_BUCKET_RE.match(bucket) is not None


def validate_bucket(bucket: Any) -> str:
    """Return ``bucket`` or raise :class:`~natsync.js.errors.InvalidBucketNameError`."""
    if is_valid_bucket(bucket):
        return str(bucket)
    raise js_errors.InvalidBucketNameError(
        f"invalid bucket name {bucket!r}: use only letters, digits, '_' and '-' (e.g. 'app-config')"
    )


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class BucketStatus:
    """The status of a bucket: its stream's info, read through KV names."""

    stream_info: api.StreamInfo
    bucket: str

    @property
    def values(self) -> int:
        """How many messages (values, history and markers) the bucket holds."""
        return int(self.stream_info.state.messages or 0)

    @property
    def history(self) -> int:
        """How many revisions of a key are kept."""
        return int(self.stream_info.config.max_msgs_per_subject)

    @property
    def ttl(self) -> Optional[float]:
        """How long a value lives, in seconds (None or 0: forever)."""
        return self.stream_info.config.max_age

    @property
    def marker_ttl(self) -> Optional[float]:
        """How long the server keeps its limit markers, in seconds (None: no markers)."""
        return self.stream_info.config.subject_delete_marker_ttl

    @property
    def bytes(self) -> int:
        """The size of the bucket in bytes."""
        return int(self.stream_info.state.bytes or 0)

    @property
    def backing_store(self) -> str:
        return "JetStream"

    @property
    def is_compressed(self) -> bool:
        comp = self.stream_info.config.compression
        return comp is not None and comp != api.StoreCompression.NONE


# --------------------------------------------------------------------------- bucket config


def stream_config(config: api.KeyValueConfig) -> api.StreamConfig:
    """The stream that holds the bucket ``config`` describes (ADR-8, ADR-48).

    Raises before anything is sent when the bucket name or history is out of range.
    """
    bucket = validate_bucket(config.bucket)
    history = config.history if config.history is not None else 1
    if isinstance(history, bool) or not isinstance(history, int):
        raise js_errors.BadBucketError(description=f"history must be an int from 1 to 64, got {history!r}")
    if history > KV_MAX_HISTORY:
        raise js_errors.KeyHistoryTooLargeError(
            description=f"history {history} is more than the maximum of {KV_MAX_HISTORY}")
    if history < 1:
        raise js_errors.BadBucketError(description=f"history must be from 1 to 64, got {history}")
    ttl = config.ttl
    if ttl is not None and ttl < 0:
        raise js_errors.BadBucketError(description=f"ttl must be 0 (no limit) or more seconds, got {ttl}")
    window = KV_DUPLICATE_WINDOW
    if ttl and ttl < window:
        window = ttl
    marker_ttl = config.limit_marker_ttl
    if marker_ttl is not None and marker_ttl != 0 and marker_ttl < 1:
        raise js_errors.BadBucketError(
            description=f"limit_marker_ttl must be at least 1 second, got {marker_ttl}")
    return api.StreamConfig(
        name=KV_STREAM_TEMPLATE.format(bucket=bucket),
        description=config.description,
        subjects=[f"$KV.{bucket}.>"],
        allow_direct=True if config.direct is None else bool(config.direct),
        allow_rollup_hdrs=True,
        allow_msg_ttl=True,
        deny_delete=True,
        discard=api.DiscardPolicy.NEW,
        duplicate_window=window,
        max_age=ttl,
        max_bytes=config.max_bytes,
        max_consumers=-1,
        max_msg_size=config.max_value_size,
        max_msgs=-1,
        max_msgs_per_subject=history,
        num_replicas=config.replicas,
        storage=config.storage,
        placement=config.placement,
        republish=config.republish,
        subject_delete_marker_ttl=marker_ttl or None,
    )
