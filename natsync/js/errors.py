"""JetStream errors: nats-py's ``nats.js.errors`` names, under ``natsync.errors.Error``.

::

    natsync.errors.Error
    └── Error                                   any JetStream error (has .description)
        ├── APIError                            the server answered with an error
        │   │                                   (.code, .err_code, .description, .stream, .seq)
        │   ├── ServiceUnavailableError         503
        │   │   └── JetStreamNotEnabledError    JetStream is off (or wrong domain/prefix)
        │   ├── ServerError                     500
        │   ├── NotFoundError                   404
        │   │   ├── StreamNotFoundError         err_code 10059
        │   │   ├── ConsumerNotFoundError       err_code 10014
        │   │   ├── MsgNotFoundError            err_code 10037
        │   │   ├── BucketNotFoundError, ObjectNotFoundError, ObjectDeletedError
        │   │   └── KeyNotFoundError, KeyDeletedError (also KeyValueError)
        │   ├── BadRequestError                 400
        │   │   ├── StreamNameAlreadyInUseError err_code 10058
        │   │   ├── StreamNotMatchError          err_code 10060 (Nats-Expected-Stream)
        │   │   ├── WrongLastSequenceError       err_code 10071 (Expected-Last-(Subject-)Sequence)
        │   │   ├── WrongLastMsgIDError          err_code 10070 (Nats-Expected-Last-Msg-Id)
        │   │   └── KeyWrongLastSequenceError (also KeyValueError)
        │   ├── BadBucketError, KeyValueError
        ├── NoStreamResponseError               a JetStream publish that no stream took
        ├── TooManyStalledMsgsError             publish_async window full past wait_stall
        ├── ConsumerSequenceMismatchError
        ├── ConsumerNotActiveError              push consumer: no heartbeat for 3 intervals
        ├── ConsumerDeletedError                the consumer was deleted under a subscription
        ├── InvalidStreamNameError, InvalidConsumerNameError   (also ValueError)
        ├── InvalidArgumentError                (also ValueError): bad batch, bad option
        └── Key/Value and Object Store errors (InvalidKeyError, InvalidBucketNameError, ...)
    natsync.errors.TimeoutError
    └── FetchTimeoutError

Use :func:`api_error` to turn the server's ``{"code", "err_code", "description"}``
into the most specific class. This module is shared by both JetStream facades.
"""

from __future__ import annotations

from typing import Any, Dict, NoReturn, Optional, Type

from natsync import errors as _core

__all__ = [
    "Error", "APIError", "ServiceUnavailableError", "JetStreamNotEnabledError", "ServerError",
    "NotFoundError", "StreamNotFoundError", "ConsumerNotFoundError", "MsgNotFoundError",
    "BadRequestError", "StreamNameAlreadyInUseError", "StreamNotMatchError",
    "WrongLastSequenceError", "WrongLastMsgIDError", "NoStreamResponseError",
    "TooManyStalledMsgsError", "FetchTimeoutError", "ConsumerSequenceMismatchError",
    "ConsumerNotActiveError", "ConsumerDeletedError",
    "InvalidStreamNameError", "InvalidConsumerNameError", "InvalidArgumentError",
    "BucketNotFoundError", "BadBucketError", "KeyValueError", "KeyDeletedError",
    "KeyNotFoundError", "KeyWrongLastSequenceError", "NoKeysError", "KeyHistoryTooLargeError",
    "InvalidKeyError", "InvalidBucketNameError", "InvalidObjectNameError", "BadObjectMetaError",
    "LinkIsABucketError", "DigestMismatchError", "ObjectNotFoundError", "ObjectDeletedError",
    "ObjectAlreadyExists", "ObjectPutError", "KeyValueLimitMarkerTTLNotSupportedError", "api_error",
    "ERR_CODES",
]


class Error(_core.Error):
    """Any JetStream error. ``description`` says what happened."""

    default_message = "nats: JetStream error"

    def __init__(self, description: Optional[str] = None) -> None:
        self.description = description
        super().__init__(self._message())

    def _message(self) -> str:
        if self.description:
            return f"nats: JetStream.{type(self).__name__}: {self.description}"
        return self.default_message

    def __str__(self) -> str:
        return self._message()


class APIError(Error):
    """The JetStream API answered with an error."""

    def __init__(
        self,
        code: Optional[int] = None,
        description: Optional[str] = None,
        err_code: Optional[int] = None,
        stream: Optional[str] = None,
        seq: Optional[int] = None,
    ) -> None:
        self.code = code
        self.err_code = err_code
        self.stream = stream
        self.seq = seq
        super().__init__(description)

    def _message(self) -> str:
        return (f"nats: {type(self).__name__}: code={self.code} err_code={self.err_code} "
                f"description={self.description!r}")

    @classmethod
    def from_error(cls, err: Dict[str, Any]) -> NoReturn:
        """Raise the most specific error for the server's error object (nats-py's name)."""
        raise api_error(err)

    @classmethod
    def from_msg(cls, msg: Any) -> NoReturn:
        """Raise the error for a status message (nats-py's name)."""
        status = getattr(msg, "status", None)
        headers = getattr(msg, "headers", None) or {}
        desc = headers.get("Description") if isinstance(headers, dict) else None
        if status == 503:
            raise ServiceUnavailableError(code=503, description=desc or "service unavailable")
        raise api_error({"code": status, "description": desc})


class ServiceUnavailableError(APIError):
    """A 503 from the JetStream API."""


class JetStreamNotEnabledError(ServiceUnavailableError):
    """Nobody answers on the JetStream API: JetStream is not enabled, or prefix/domain are wrong."""


class ServerError(APIError):
    """A 500 from the JetStream API."""


class NotFoundError(APIError):
    """A 404 from the JetStream API."""


class StreamNotFoundError(NotFoundError):
    """err_code 10059: no stream by that name."""


class ConsumerNotFoundError(NotFoundError):
    """err_code 10014: no consumer by that name."""


class MsgNotFoundError(NotFoundError):
    """err_code 10037: no message at that sequence or for that subject."""


class BadRequestError(APIError):
    """A 400 from the JetStream API."""


class StreamNameAlreadyInUseError(BadRequestError):
    """err_code 10058: a stream with that name and another configuration exists."""


class StreamNotMatchError(BadRequestError):
    """err_code 10060: the message went to another stream than Nats-Expected-Stream."""


class WrongLastSequenceError(BadRequestError):
    """err_code 10071: Nats-Expected-Last-Sequence or -Last-Subject-Sequence did not match."""


class WrongLastMsgIDError(BadRequestError):
    """err_code 10070: Nats-Expected-Last-Msg-Id did not match."""


class NoStreamResponseError(Error):
    """A JetStream publish got no answer: no stream holds the subject (503 no responders)."""

    default_message = "nats: no response from stream"

    def _message(self) -> str:
        if self.description:
            return f"nats: no response from stream: {self.description}"
        return self.default_message


class TooManyStalledMsgsError(Error):
    """publish_async: the window of unacknowledged messages stayed full past wait_stall."""

    default_message = "nats: stalled with too many outstanding async published messages"

    def _message(self) -> str:
        return f"{self.default_message}: {self.description}" if self.description else self.default_message


class FetchTimeoutError(_core.TimeoutError):
    """A fetch got no message in time."""

    default_message = "nats: fetch timeout"


class ConsumerSequenceMismatchError(Error):
    """A push consumer with idle heartbeats delivered messages the subscription never got.

    A heartbeat's ``Nats-Last-Consumer`` header named ``last_consumer_sequence`` while the
    last message the subscription received had ``consumer_sequence`` (messages dropped as
    a slow consumer, for example). ``stream_resume_sequence`` is the stream sequence
    right after that message: create the consumer again from there
    (``deliver_policy=BY_START_SEQUENCE, opt_start_seq=stream_resume_sequence``) to get
    the lost messages, or wait for their redelivery if the consumer acks explicitly.
    Reported to ``error_cb`` once per gap (nats-py's and nats.go's name and fields).
    """

    def __init__(self, stream_resume_sequence: Optional[int] = None,
                 consumer_sequence: Optional[int] = None,
                 last_consumer_sequence: Optional[int] = None,
                 stream: Optional[str] = None, consumer: Optional[str] = None) -> None:
        self.stream_resume_sequence = stream_resume_sequence
        self.consumer_sequence = consumer_sequence
        self.last_consumer_sequence = last_consumer_sequence
        self.stream = stream
        self.consumer = consumer
        behind = ""
        if consumer_sequence is not None and last_consumer_sequence is not None:
            behind = f" ({last_consumer_sequence - consumer_sequence} sequences behind)"
        where = f"consumer {consumer!r} of stream {stream!r}" if consumer else "consumer"
        super().__init__(
            f"sequence mismatch for {where}: the server delivered up to consumer "
            f"sequence {last_consumer_sequence} but the subscription last received "
            f"{consumer_sequence}{behind}, e.g. messages dropped as a slow consumer; "
            f"restart the consumer from stream sequence {stream_resume_sequence} "
            "(opt_start_seq) or let them be redelivered (explicit acks)")


class ConsumerNotActiveError(Error):
    """A push consumer sent no message and no heartbeat for 3 heartbeat intervals."""


class ConsumerDeletedError(Error):
    """The server deleted the consumer a subscription reads from (409 Consumer Deleted)."""


class InvalidStreamNameError(Error, ValueError):
    """A stream name that is empty or has '.', '*', '>', '/', '\\' or whitespace."""


class InvalidConsumerNameError(Error, ValueError):
    """A consumer name that is empty or has '.', '*', '>', '/', '\\' or whitespace."""


class InvalidArgumentError(Error, ValueError):
    """An argument the server would refuse (a batch < 1, a bad option)."""


class BucketNotFoundError(NotFoundError):
    """No Key/Value or Object Store bucket by that name."""


class BadBucketError(APIError):
    pass


class KeyValueError(APIError):
    """An error using a Key/Value store."""


class KeyDeletedError(KeyValueError, NotFoundError):
    def __init__(self, entry: Any = None, op: Any = None) -> None:
        self.entry = entry
        self.op = op
        super().__init__(description="key was deleted")

    def _message(self) -> str:
        return "nats: key was deleted"


class KeyNotFoundError(KeyValueError, NotFoundError):
    def __init__(self, entry: Any = None, op: Any = None, message: Optional[str] = None) -> None:
        self.entry = entry
        self.op = op
        self.message = message
        super().__init__(description=message or "key not found")

    def _message(self) -> str:
        return f"nats: key not found: {self.message}" if self.message else "nats: key not found"


class KeyWrongLastSequenceError(KeyValueError, BadRequestError):
    def __init__(self, description: Optional[str] = None) -> None:
        super().__init__(description=description)

    def _message(self) -> str:
        return f"nats: {self.description}"


class NoKeysError(KeyValueError):
    def _message(self) -> str:
        return "nats: no keys found"


class KeyHistoryTooLargeError(KeyValueError):
    def _message(self) -> str:
        return "nats: history limited to a max of 64"


class InvalidKeyError(Error):
    pass


class InvalidBucketNameError(Error):
    pass


class InvalidObjectNameError(Error):
    pass


class BadObjectMetaError(Error):
    pass


class LinkIsABucketError(Error):
    pass


class DigestMismatchError(Error):
    pass


class ObjectNotFoundError(NotFoundError):
    pass


class ObjectDeletedError(NotFoundError):
    pass


class ObjectAlreadyExists(Error):
    pass


class ObjectPutError(Error):
    """An Object Store put failed midway and its partial chunks could not be purged.

    No object info was written, so nothing incomplete is visible; ``subject`` holds
    the chunks, for a later ``purge_stream(stream, subject=...)``.
    """

    def __init__(self, description: Optional[str] = None, subject: Optional[str] = None) -> None:
        self.subject = subject
        super().__init__(description)


class KeyValueLimitMarkerTTLNotSupportedError(Error):
    def _message(self) -> str:
        return "nats: limit marker TTLs not supported by server"


#: err_code -> the class raised for it (checked before the HTTP-like code).
ERR_CODES: Dict[int, Type[APIError]] = {
    10059: StreamNotFoundError,
    10014: ConsumerNotFoundError,
    10037: MsgNotFoundError,
    10058: StreamNameAlreadyInUseError,
    10060: StreamNotMatchError,
    10070: WrongLastMsgIDError,
    10071: WrongLastSequenceError,
    10076: JetStreamNotEnabledError,
    10039: JetStreamNotEnabledError,
}

_BY_CODE: Dict[int, Type[APIError]] = {
    503: ServiceUnavailableError,
    500: ServerError,
    404: NotFoundError,
    400: BadRequestError,
}


def api_error(err: Dict[str, Any]) -> APIError:
    """The exception for the server's error object ``{"code", "err_code", "description"}``."""
    code = _int(err.get("code"))
    err_code = _int(err.get("err_code"))
    kind = ERR_CODES.get(err_code) if err_code is not None else None
    if kind is None:
        kind = _BY_CODE.get(code, APIError) if code is not None else APIError
    return kind(code=code, description=err.get("description"), err_code=err_code,
                stream=err.get("stream"), seq=_int(err.get("seq")))


def _int(val: Any) -> Optional[int]:
    try:
        return int(val) if val is not None else None
    except (TypeError, ValueError):
        return None
