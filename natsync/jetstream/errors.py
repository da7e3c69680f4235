"""Errors of the ADR-37 facade: nats.py v3's ``nats.jetstream.errors`` names.

The API errors are the shared ones of :mod:`natsync.js.errors` (one wire layer,
one error tree); v3's names are aliases of them. The pull errors are added here::

    natsync.errors.Error
    └── natsync.js.errors.Error  (JetStreamError)
        ├── APIError ... StreamNotFoundError, ConsumerNotFoundError,
        │   MessageNotFoundError (MsgNotFoundError), StreamNameAlreadyInUseError,
        │   JetStreamNotEnabledError                       (natsync.js.errors)
        ├── InvalidArgumentError (also ValueError)         bad arguments, before any request
        ├── PullStatusError                                a status that a pull reports
        │   ├── MissedHeartbeatError    warning: nothing for 2x the heartbeat
        │   ├── PullWarning             warning: a 409 the pull goes on after
        │   ├── JetStreamNotReadyError  warning: 503 for a pull request; retried
        │   ├── ConsumerDeletedError    terminal: the consumer is gone
        │   ├── ConsumerPushBasedError  terminal: pull requests to a push consumer
        │   └── PullBadRequestError     terminal: the server refused the pull (400)
        ├── MessagesStoppedError                           next() on a stopped messages()
        └── OrderedConsumerResetError                      could not recreate an ordered consumer
"""

from __future__ import annotations

from typing import Optional

from ..js import errors as _js
from ..js.errors import (
    APIError,
    ConsumerNotFoundError,
    InvalidArgumentError,
    JetStreamNotEnabledError,
    MsgNotFoundError,
    StreamNameAlreadyInUseError,
    StreamNotFoundError,
)

__all__ = [
    "APIError", "ConsumerDeletedError", "ConsumerNotFoundError", "ConsumerPushBasedError",
    "InvalidArgumentError", "JetStreamError", "JetStreamNotEnabledError",
    "JetStreamNotReadyError", "MessageNotFoundError", "MessagesStoppedError",
    "MissedHeartbeatError", "OrderedConsumerResetError", "PullBadRequestError",
    "PullStatusError", "PullWarning", "StreamNameAlreadyInUseError", "StreamNotFoundError",
]

#: nats.py v3's base name for every JetStream error.
JetStreamError = _js.Error
#: nats.py v3's name for a missing message.
MessageNotFoundError = MsgNotFoundError


class _Described(_js.Error):
    """A JetStream error whose message is given whole."""

    def __init__(self, message: str, description: Optional[str] = None) -> None:
        self._text = message
        super().__init__(description)

    def _message(self) -> str:
        return self._text


class PullStatusError(_Described):
    """A status message that a pull reports: ``code`` and ``description`` as sent."""

    def __init__(self, message: str, code: int = 0, description: str = "",
                 stream: str = "", consumer: str = "") -> None:
        self.code = code
        self.stream = stream
        self.consumer = consumer
        super().__init__(message, description or None)


class MissedHeartbeatError(PullStatusError):
    """Nothing, not even an idle heartbeat, arrived for twice the heartbeat interval."""


class PullWarning(PullStatusError):
    """A status the pull goes on after (``409 Exceeded MaxWaiting`` and the like)."""


class JetStreamNotReadyError(PullStatusError):
    """No one served a pull request (503): JetStream or the consumer is not available."""


class ConsumerDeletedError(PullStatusError):
    """The consumer was deleted: its pull cannot go on."""


class ConsumerPushBasedError(PullStatusError):
    """Pull requests were sent to a push consumer."""


class PullBadRequestError(PullStatusError):
    """The server refused a pull request (400)."""


class MessagesStoppedError(_Described):
    """``next()`` on a ``messages()`` iterator that was stopped or drained."""


class OrderedConsumerResetError(_Described):
    """An ordered consumer could not recreate its server-side consumer."""

    def __init__(self, message: str, cause: Optional[BaseException] = None) -> None:
        self.cause = cause
        super().__init__(message)
