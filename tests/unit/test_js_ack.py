"""Ack-subject metadata (both forms) and ack payloads; JetStream Msg methods without a server."""

from __future__ import annotations

import datetime
import json

import pytest

from natsync import errors
from natsync.msg import Msg
from natsync.protocol import jsack


def test_v1_ack_subject() -> None:
    m = jsack.parse_metadata("$JS.ACK.ORDERS.worker.3.117.42.1700000000123456789.9")
    assert (m.stream, m.consumer, m.num_delivered, m.num_pending) == ("ORDERS", "worker", 3, 9)
    assert (m.sequence.stream, m.sequence.consumer) == (117, 42)
    assert m.domain is None
    assert m.timestamp == datetime.datetime.fromtimestamp(1700000000.123456789,
                                                          datetime.timezone.utc)


@pytest.mark.parametrize(("domain_token", "domain"), [("hub", "hub"), ("_", "")])
def test_v2_ack_subject_with_domain(domain_token: str, domain: str) -> None:
    reply = f"$JS.ACK.{domain_token}.ACCHASH.S.c.1.5.4.1700000000000000000.0.RANDOM"
    m = jsack.parse_metadata(reply)
    assert (m.domain, m.stream, m.consumer) == (domain, "S", "c")
    assert (m.sequence.stream, m.sequence.consumer, m.num_delivered, m.num_pending) == (5, 4, 1, 0)
    eleven = jsack.parse_metadata(reply.rsplit(".", 1)[0])
    assert eleven == m


@pytest.mark.parametrize("reply", ["", "_INBOX.x", "$JS.ACK.S.c.1.2.3", "$JS.ACK.S.c.x.2.3.4.5"])
def test_not_a_js_message(reply: str) -> None:
    with pytest.raises(errors.NotJSMessageError):
        jsack.parse_metadata(reply)


def test_payloads() -> None:
    assert jsack.nak_payload() == b"-NAK"
    body = jsack.nak_payload(1.5)
    assert body.startswith(b"-NAK ") and json.loads(body[5:]) == {"delay": 1_500_000_000}
    assert jsack.term_payload() == b"+TERM"
    assert jsack.term_payload("bad\r\ninput") == b"+TERM bad  input"


def test_msg_without_ack_subject_refuses_acks() -> None:
    m = Msg("foo", 1, "_INBOX.x", b"")
    for call in (m.ack, m.nak, m.in_progress, m.term):
        with pytest.raises(errors.NotJSMessageError):
            call()
    with pytest.raises(errors.NotJSMessageError):
        m.metadata  # noqa: B018
    assert m.is_acked is False
    assert Msg.Metadata is jsack.Metadata
