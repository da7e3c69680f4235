"""Validation of JetStream names and arguments, before anything is sent.

Stream and consumer names become subject tokens and file names on the server,
so they must not contain ``.``, ``*``, ``>``, ``/``, ``\\`` or whitespace (the
rule nats.go and the server apply). Shared by both JetStream facades.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from natsync import errors as core_errors

from .errors import InvalidArgumentError, InvalidConsumerNameError, InvalidStreamNameError

__all__ = ["validate_stream_name", "validate_consumer_name", "validate_batch", "validate_timeout"]

_BAD_CHARS = frozenset(".*>/\\ \t\r\n\f\v")


def _bad(name: str) -> Optional[str]:
    for ch in name:
        if ch in _BAD_CHARS or ch.isspace():
            return ch
    return None


def _validate_name(name: Any, kind: str, error: Callable[[str], Exception]) -> str:
    """Return ``name`` or raise ``error`` saying why it is no valid ``kind`` name."""
    if not isinstance(name, str) or not name:
        raise error(f"{kind} name is required (a non-empty str), got {name!r}")
    ch = _bad(name)
    if ch is not None:
        raise error(
            f"invalid {kind} name {name!r}: it contains {ch!r}; {kind} names may not contain "
            "'.', '*', '>', '/', '\\' or whitespace")
    return name


def validate_stream_name(name: Any) -> str:
    """Return ``name`` or raise :class:`InvalidStreamNameError` saying why."""
    return _validate_name(name, "stream", InvalidStreamNameError)


def validate_consumer_name(name: Any) -> str:
    """Return ``name`` or raise :class:`InvalidConsumerNameError` saying why."""
    return _validate_name(name, "consumer", InvalidConsumerNameError)


def validate_batch(batch: Any) -> int:
    """A pull batch must be an int >= 1."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InvalidArgumentError(f"batch must be an int of at least 1, got {batch!r}")
    return batch


def validate_timeout(timeout: Any, what: str = "timeout") -> float:
    """A timeout must be a positive number of seconds (BadTimeoutError otherwise)."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise core_errors.BadTimeoutError(
            f"nats: {what} must be a positive number of seconds, got {timeout!r}")
    return float(timeout)
