"""JetStream acknowledgements: ack payloads and the metadata in an ack subject.

A message delivered by a JetStream consumer has a reply subject of one of two forms::

    $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>          (9 tokens)
    $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>...]
                                                                                  (11 or more)

The domain is ``_`` when there is none. :func:`parse_metadata` reads either form;
the payload helpers build what an ack, nak, progress or term sends. Sans-IO: both
JetStream facades and ``Msg.ack()`` and friends use it.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import List, Optional

from natsync.errors import NotJSMessageError

__all__ = [
    "ACK", "NAK", "WPI", "TERM", "SequencePair", "Metadata", "parse_metadata",
    "nak_payload", "term_payload", "is_ack_subject",
]

ACK = b"+ACK"
NAK = b"-NAK"
WPI = b"+WPI"
TERM = b"+TERM"

_V1_TOKENS = 9
_V2_MIN_TOKENS = 11


@dataclass(frozen=True)
class SequencePair:
    """The consumer and stream sequence of a delivered message."""

    consumer: int
    stream: int


@dataclass(frozen=True)
class Metadata:
    """What the ack subject of a JetStream message tells (nats-py's ``Msg.Metadata``)."""

    sequence: SequencePair
    num_pending: int
    num_delivered: int
    timestamp: datetime.datetime
    stream: str
    consumer: str
    domain: Optional[str] = None

    SequencePair = SequencePair


def is_ack_subject(reply: str) -> bool:
    return reply.startswith("$JS.ACK.")


def _tokens(reply: Optional[str]) -> List[str]:
    if not reply or not reply.startswith("$JS.ACK."):
        raise NotJSMessageError(
            f"nats: not a JetStream message: its reply subject {reply!r} is not a $JS.ACK "
            "subject, so it cannot be acknowledged and has no metadata")
    tokens = reply.split(".")
    if len(tokens) == _V1_TOKENS or len(tokens) >= _V2_MIN_TOKENS:
        return tokens
    raise NotJSMessageError(
        f"nats: not a JetStream message: the ack subject {reply!r} has {len(tokens)} tokens "
        "(9, or 11 and more, expected)")


def parse_metadata(reply: Optional[str]) -> Metadata:
    """The metadata of the ack subject ``reply`` (either form); NotJSMessageError if none."""
    tokens = _tokens(reply)
    if len(tokens) == _V1_TOKENS:
        domain: Optional[str] = None
        rest = tokens[2:]
    else:
        domain = "" if tokens[2] == "_" else tokens[2]
        rest = tokens[4:]
    try:
        stream, consumer = rest[0], rest[1]
        delivered, sseq, cseq, ts, pending = (int(t) for t in rest[2:7])
    except ValueError:
        raise NotJSMessageError(f"nats: malformed JetStream ack subject {reply!r}") from None
    when = datetime.datetime.fromtimestamp(ts / 1e9, datetime.timezone.utc)
    return Metadata(
        sequence=SequencePair(consumer=cseq, stream=sseq),
        num_pending=pending,
        num_delivered=delivered,
        timestamp=when,
        stream=stream,
        consumer=consumer,
        domain=domain,
    )


def nak_payload(delay: Optional[float] = None) -> bytes:
    """``-NAK``, with ``{"delay": ns}`` when a redelivery delay (seconds) is given."""
    if delay is None or delay <= 0:
        return NAK
    return NAK + b" " + json.dumps({"delay": int(delay * 1e9)}).encode()


def term_payload(reason: Optional[str] = None) -> bytes:
    """``+TERM``, with the reason the server reports in its advisory when given."""
    if not reason:
        return TERM
    return TERM + b" " + reason.replace("\r", " ").replace("\n", " ").encode()
