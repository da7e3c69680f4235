"""The natsync exception tree.

Every exception natsync raises is one of these (or a subclass). Names follow
nats-py's ``nats.errors`` so ported code keeps its ``except`` clauses::

    Error
    ├── TimeoutError (also builtins.TimeoutError)
    │   ├── FlushTimeoutError
    │   ├── DrainTimeoutError
    │   └── ConnectTimeoutError        handshake did not complete within connect_timeout
    ├── NoRespondersError
    ├── ConnectionClosedError
    ├── ConnectionReconnectingError
    ├── ConnectionDrainingError
    ├── OutboundBufferLimitError
    ├── NoServersError
    ├── AuthorizationError
    │   ├── AuthorizationViolationError
    │   ├── AuthenticationExpiredError
    │   └── PermissionsViolationError   (reported, connection stays up)
    ├── InvalidUserCredentialsError
    ├── StaleConnectionError
    │   └── UnexpectedEOF
    ├── SecureConnRequiredError
    ├── SecureConnWantedError
    ├── SecureConnFailedError
    ├── BadSubjectError
    ├── BadHeaderError
    ├── BadSubscriptionError
    ├── BadTimeoutError
    ├── MaxPayloadError
    ├── SlowConsumerError
    ├── ProtocolError
    ├── ServerError                    a -ERR from the server not covered above
    ├── MsgAlreadyAckdError            a second final ack of a JetStream message
    ├── NotJSMessageError              an ack or metadata asked of a non-JetStream message
    └── natsync.js.errors.Error        JetStream errors (see natsync.js.errors)

Each message says what went wrong and, where it helps, what to do next.
"""

from __future__ import annotations

import builtins
from typing import Any, Optional

__all__ = [
    "Error",
    "TimeoutError",
    "FlushTimeoutError",
    "DrainTimeoutError",
    "ConnectTimeoutError",
    "NoRespondersError",
    "ConnectionClosedError",
    "ConnectionReconnectingError",
    "ConnectionDrainingError",
    "OutboundBufferLimitError",
    "NoServersError",
    "AuthorizationError",
    "AuthorizationViolationError",
    "AuthenticationExpiredError",
    "PermissionsViolationError",
    "InvalidUserCredentialsError",
    "StaleConnectionError",
    "UnexpectedEOF",
    "SecureConnRequiredError",
    "SecureConnWantedError",
    "SecureConnFailedError",
    "BadSubjectError",
    "BadHeaderError",
    "BadSubscriptionError",
    "BadTimeoutError",
    "MaxPayloadError",
    "SlowConsumerError",
    "ProtocolError",
    "ServerError",
    "MsgAlreadyAckdError",
    "NotJSMessageError",
    "from_server_err",
]


class Error(Exception):
    """Root of every natsync exception."""

    default_message = "nats: error"

    def __init__(self, message: Optional[str] = None, *args: Any) -> None:
        super().__init__(message if message is not None else self.default_message, *args)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.default_message


class TimeoutError(Error, builtins.TimeoutError):  # noqa: A001 - nats-py's name
    default_message = "nats: timeout"


class FlushTimeoutError(TimeoutError):
    default_message = "nats: flush timeout"


class DrainTimeoutError(TimeoutError):
    default_message = "nats: draining connection timed out"


class ConnectTimeoutError(TimeoutError):
    default_message = "nats: connect timed out"


class NoRespondersError(Error):
    default_message = "nats: no responders available for request"


class ConnectionClosedError(Error):
    default_message = "nats: connection closed"


class ConnectionReconnectingError(Error):
    default_message = "nats: connection reconnecting"


class ConnectionDrainingError(Error):
    default_message = "nats: connection draining"


class OutboundBufferLimitError(Error):
    default_message = "nats: outbound buffer limit exceeded"


class NoServersError(Error):
    default_message = "nats: no servers available for connection"


class AuthorizationError(Error):
    default_message = "nats: authorization failed"


class AuthorizationViolationError(AuthorizationError):
    default_message = "nats: authorization violation: the server rejected the credentials"


class AuthenticationExpiredError(AuthorizationError):
    default_message = "nats: user authentication expired: renew the credentials"


class PermissionsViolationError(AuthorizationError):
    default_message = "nats: permissions violation"


class InvalidUserCredentialsError(Error):
    default_message = "nats: invalid user credentials"


class StaleConnectionError(Error):
    default_message = "nats: stale connection"


class UnexpectedEOF(StaleConnectionError):
    default_message = "nats: unexpected EOF"


class SecureConnRequiredError(Error):
    default_message = "nats: secure connection required"


class SecureConnWantedError(Error):
    default_message = "nats: secure connection not available"


class SecureConnFailedError(Error):
    default_message = "nats: secure connection failed"


class BadSubjectError(Error):
    default_message = "nats: invalid subject"


class BadHeaderError(Error):
    default_message = "nats: invalid header"


class BadSubscriptionError(Error):
    default_message = "nats: invalid subscription"


class BadTimeoutError(Error):
    default_message = "nats: timeout invalid"


class MaxPayloadError(Error):
    default_message = "nats: maximum payload exceeded"


class SlowConsumerError(Error):
    """Messages were dropped for a subscription past its pending limits."""

    default_message = "nats: slow consumer, messages dropped"

    def __init__(
        self,
        message: Optional[str] = None,
        *,
        subject: str = "",
        sid: int = 0,
        sub: Any = None,
    ) -> None:
        super().__init__(message)
        self.subject = subject
        self.sid = sid
        self.sub = sub


class ProtocolError(Error):
    default_message = "nats: protocol error"


class ServerError(Error):
    default_message = "nats: server error"


class MsgAlreadyAckdError(Error):
    """A JetStream message was already given a final ack (ack, nak or term)."""

    default_message = "nats: message was already acknowledged"

    def __init__(self, message: Optional[str] = None, msg: Any = None) -> None:
        super().__init__(message)
        self.msg = msg


class NotJSMessageError(Error):
    """The message did not come from JetStream: it has no $JS.ACK reply subject."""

    default_message = "nats: not a JetStream message"


def from_server_err(text: str, where: str = "") -> Error:
    """Map the text of a server ``-ERR`` to the most specific exception, with advice.

    The message starts as nats-py's does (``"nats: "`` and the server's text in
    lower case, e.g. ``nats: permissions violation for subscription to "foo"``),
    so code matching on it keeps working; natsync's advice follows."""
    low = text.strip().strip("'").lower()
    head = f"nats: {low}"
    at = f" ({where})" if where else ""
    if "permissions violation" in low:
        return PermissionsViolationError(
            f"{head}{at}: this user may not use that subject; "
            "fix the subject or the user's permissions. The connection stays open."
        )
    if "authorization violation" in low:
        return AuthorizationViolationError(
            f"{head}{at}: the server rejected the credentials; "
            "check user/password, token, NKey or creds file."
        )
    if "expired" in low:
        return AuthenticationExpiredError(
            f"{head}{at}: the user's credentials expired; issue new ones "
            "(a fresh JWT or creds file) and connect again."
        )
    if "revoked" in low or "authentication timeout" in low or "account" in low and "auth" in low:
        return AuthorizationError(f"{head}{at}: the server refused this account or user.")
    if "tls required" in low or "secure connection" in low:
        return SecureConnRequiredError(
            f"{head}{at}: the server requires TLS; use a tls:// URL or pass tls=ssl context."
        )
    if "maximum payload" in low:
        return MaxPayloadError(f"{head}{at}: the message is larger than the server allows.")
    if "stale connection" in low:
        return StaleConnectionError(f"{head}{at}")
    if "maximum connections" in low or "max connections" in low:
        return ServerError(f"{head}{at}: the server is at its connection limit; try later.")
    return ServerError(f"{head}{at}")


def is_fatal_server_err(exc: Error) -> bool:
    """Whether the server closes the connection after this -ERR (all but permissions)."""
    return not isinstance(exc, PermissionsViolationError)


def attempt_cause(exc: Error) -> BaseException:
    """What a failed connection attempt reports (as nats-py): for a dial the socket
    refused or could not make, the builtin ``OSError`` itself (e.g.
    ``ConnectionRefusedError``); otherwise the natsync error."""
    cause = exc.__cause__
    if isinstance(exc, NoServersError) and isinstance(cause, OSError):
        return cause
    return exc
