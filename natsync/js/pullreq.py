"""The JSON body of a JetStream pull request (``$JS.API.CONSUMER.MSG.NEXT``).

Shared by ``natsync.js`` fetch and the ``natsync.jetstream`` consume/fetch/next.
Durations are seconds here and nanoseconds on the wire (ADR-13).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from .names import validate_batch

__all__ = ["pull_request", "next_subject"]

_NS = 1_000_000_000


def pull_request(
    batch: int,
    expires: Optional[float] = None,
    no_wait: bool = False,
    max_bytes: Optional[int] = None,
    heartbeat: Optional[float] = None,
    min_pending: Optional[int] = None,
    min_ack_pending: Optional[int] = None,
    group: Optional[str] = None,
    priority: Optional[int] = None,
) -> bytes:
    """The encoded pull request; a batch < 1 raises ``InvalidArgumentError``."""
    validate_batch(batch)
    req: Dict[str, Any] = {"batch": batch}
    if expires is not None and expires > 0:
        req["expires"] = int(expires * _NS)
    if no_wait:
        req["no_wait"] = True
    if max_bytes:
        req["max_bytes"] = int(max_bytes)
    if heartbeat:
        req["idle_heartbeat"] = int(heartbeat * _NS)
    if min_pending is not None:
        req["min_pending"] = min_pending
    if min_ack_pending is not None:
        req["min_ack_pending"] = min_ack_pending
    if group is not None:
        req["group"] = group
    if priority is not None:
        req["priority"] = priority
    return json.dumps(req, separators=(",", ":")).encode()


def next_subject(prefix: str, stream: str, consumer: str) -> str:
    """The subject a pull request is published to."""
    return f"{prefix}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
