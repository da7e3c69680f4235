"""Msg: a received (or unsent) message, and ``respond()``."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Protocol, Union

from . import errors
from .protocol import jsack
from .protocol.headers import parse_headers

HeaderValue = Union[str, List[str]]
Headers = Dict[str, HeaderValue]

_UNPARSED: Any = object()


class MsgHost(Protocol):
    """What a message may ask of the client it arrived on (``respond``, JetStream acks).

    The client hands each message an object implementing it; a message never
    imports or names the client."""

    def respond(self, reply: str, data: bytes, headers: Optional[Headers],
                later: bool = False) -> None:
        """Publish a reply for a waiting requester: written at once when the connection
        is idle or, with ``later`` (more replies follow soon), queued for the flusher."""

    def publish(self, subject: str, payload: bytes = b"", reply: str = "",
                headers: Optional[Headers] = None) -> None:
        """``Client.publish``."""

    def request(self, subject: str, payload: bytes = b"", timeout: float = 0.5,
                headers: Optional[Headers] = None) -> Msg:
        """``Client.request``."""


class Msg:
    """A NATS message: ``subject``, ``reply``, ``data``, ``headers``, ``sid``.

    Headers are parsed on first access. ``respond()`` publishes to ``reply``
    through the connection the message arrived on.
    """

    __slots__ = ("subject", "sid", "reply", "data", "_hdr", "_headers", "_client", "_sub",
                 "_ackd", "_meta")

    #: nats-py spells the metadata type ``Msg.Metadata``.
    Metadata = jsack.Metadata

    def __init__(
        self,
        subject: str,
        sid: int = 0,
        reply: str = "",
        data: bytes = b"",
        header: Optional[bytes] = None,
        client: Optional[MsgHost] = None,
        headers: Optional[Headers] = None,
    ) -> None:
        self.subject = subject
        self.sid = sid
        self.reply = reply
        self.data = data
        self._hdr = header
        self._headers: Optional[Headers] = _UNPARSED if header is not None else headers
        self._client = client
        self._sub: Any = None  # the Subscription that delivered it (as nats-py)

    @property
    def headers(self) -> Optional[Headers]:
        h = self._headers
        if h is _UNPARSED:
            assert self._hdr is not None
            h = parse_headers(self._hdr)[0]
            self._headers = h
        return h

    @property
    def header(self) -> Optional[Headers]:
        """Alias of :attr:`headers` (nats-py has both spellings)."""
        return self.headers

    @property
    def status(self) -> Optional[int]:
        """The status code of a status message (e.g. 503 no responders), else None."""
        if self._hdr is None or len(self._hdr) < 12 or self._hdr[8:9] != b" ":
            return None
        code = self._hdr[9:12]
        return int(code) if code.isdigit() else None

    @property
    def is_status(self) -> bool:
        return self.status is not None

    def respond(self, data: bytes = b"", headers: Optional[Headers] = None) -> None:
        """Publish ``data`` to this message's reply subject.

        With ``headers=None`` the reply carries this message's headers (as nats-py's
        ``respond`` does); pass ``headers={}`` to send none."""
        if not self.reply:
            raise errors.Error(
                f"nats: message on {self.subject!r} has no reply subject, so it cannot be "
                "responded to; the sender must publish with reply= or use request()."
            )
        if self._client is None:
            raise errors.Error("nats: this message is not bound to a connection")
        if headers is None and self._hdr is not None:
            headers = self.headers
        self._client.respond(self.reply, data, headers)

    # ----------------------------------------------------- JetStream acks
    @property
    def is_acked(self) -> bool:
        """Whether a final ack (ack, ack_sync, nak, term) was sent for this message."""
        return bool(getattr(self, "_ackd", False))

    @property
    def metadata(self) -> jsack.Metadata:
        """The JetStream metadata in the ack subject (``NotJSMessageError`` if none)."""
        meta: Optional[jsack.Metadata] = getattr(self, "_meta", None)
        if meta is None:
            meta = jsack.parse_metadata(self.reply)
            self._meta = meta
        return meta

    def _ack_client(self, final: bool) -> MsgHost:
        if not self.reply or not self.reply.startswith("$JS.ACK."):
            raise errors.NotJSMessageError(
                f"nats: the message on {self.subject!r} is not a JetStream message (its reply "
                f"subject {self.reply!r} is not a $JS.ACK subject), so it cannot be acknowledged")
        if final and getattr(self, "_ackd", False):
            raise errors.MsgAlreadyAckdError(
                f"nats: the message on {self.subject!r} was already acknowledged (ack, nak or "
                "term); only in_progress() may be repeated", msg=self)
        if self._client is None:
            raise errors.Error("nats: this message is not bound to a connection")
        return self._client

    def ack(self) -> None:
        """Acknowledge a JetStream message (``+ACK``); the server will not redeliver it."""
        self._ack_client(True).publish(self.reply, jsack.ACK)
        self._ackd = True

    def ack_sync(self, timeout: float = 1.0) -> Msg:
        """Acknowledge and wait until the server confirms it (raises TimeoutError if not)."""
        resp = self._ack_client(True).request(self.reply, jsack.ACK, timeout=timeout)
        self._ackd = True
        return resp

    def nak(self, delay: Optional[float] = None) -> None:
        """Negatively acknowledge: redeliver now, or after ``delay`` seconds."""
        self._ack_client(True).publish(self.reply, jsack.nak_payload(delay))
        self._ackd = True

    def in_progress(self) -> None:
        """Tell the server the message is still being worked on (resets ack_wait); repeatable."""
        self._ack_client(False).publish(self.reply, jsack.WPI)

    def term(self, reason: Optional[str] = None) -> None:
        """Stop redelivering this message; ``reason`` goes to the server's advisory."""
        self._ack_client(True).publish(self.reply, jsack.term_payload(reason))
        self._ackd = True

    # nats.py v3 (natsync.jetstream) spells some of these differently; same acks.
    def double_ack(self, timeout: float = 1.0) -> None:
        """:meth:`ack_sync` under nats.py v3's name: ack and wait for the server's
        confirmation (TimeoutError if none comes within ``timeout``)."""
        self.ack_sync(timeout=timeout)

    def nak_with_delay(self, delay: float) -> None:
        """``nak(delay)`` under nats.py v3's name."""
        self.nak(delay)

    def term_with_reason(self, reason: str) -> None:
        """``term(reason)`` under nats.py v3's name."""
        self.term(reason)

    def __repr__(self) -> str:
        data = self.data if len(self.data) <= 64 else self.data[:64] + b"..."
        extra = f", reply={self.reply!r}" if self.reply else ""
        return f"<Msg subject={self.subject!r}{extra} data={data!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Msg):
            return NotImplemented
        return (
            self.subject == other.subject
            and self.reply == other.reply
            and self.data == other.data
            and self.headers == other.headers
        )

    __hash__ = None  # type: ignore[assignment]
