"""A service request as a handler sees it, and ServiceError."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from .. import errors
from ..msg import Headers, Msg

ERROR_HEADER = "Nats-Service-Error"
ERROR_CODE_HEADER = "Nats-Service-Error-Code"


class ServiceError(errors.Error):
    """Raise it in a handler to answer with an error: ``code`` (a number, as a str)
    and ``description`` go out in the ``Nats-Service-Error-Code`` and
    ``Nats-Service-Error`` headers. Its ``repr`` is ``"code:description"``, as nats-py's."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}:{description}")
        self.code = str(code)
        self.description = description

    def __repr__(self) -> str:
        return f"{self.code}:{self.description}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServiceError):
            return NotImplemented
        return (self.code, self.description) == (other.code, other.description)

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> Dict[str, Any]:
        return {"code": self.code, "description": self.description}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> ServiceError:
        return cls(code=data.get("code", ""), description=data.get("description", ""))


def service_error(msg: Msg) -> Optional[ServiceError]:
    """The error a service answered with, or None when ``msg`` is not an error reply."""
    h = msg.headers
    if not h or (ERROR_CODE_HEADER not in h and ERROR_HEADER not in h):
        return None
    code, desc = h.get(ERROR_CODE_HEADER, ""), h.get(ERROR_HEADER, "")
    return ServiceError(code if isinstance(code, str) else ",".join(code),
                        desc if isinstance(desc, str) else ",".join(desc))


class Request:
    """A request to an endpoint: ``subject``, ``headers``, ``data``, and the ways to answer."""

    __slots__ = ("_msg", "_error", "_responded", "_on_error", "_busy")

    def __init__(self, msg: Msg, on_error: Optional[Callable[[str, str, bool], None]] = None,
                 busy: Optional[Callable[[], bool]] = None) -> None:
        self._msg = msg
        self._error: Optional[Tuple[str, str]] = None
        self._responded = False
        # the endpoint's error counter: (code, description, first error of this request)
        self._on_error = on_error
        # True when more requests wait for the endpoint's workers (see respond)
        self._busy = busy

    def _record_error(self, code: str, description: str) -> None:
        first = self._error is None
        self._error = (code, description)
        if self._on_error is not None:
            self._on_error(code, description, first)

    @property
    def subject(self) -> str:
        """The subject the request was sent to."""
        return self._msg.subject

    @property
    def reply(self) -> str:
        """The subject the answer goes to."""
        return self._msg.reply

    @property
    def headers(self) -> Optional[Headers]:
        """The request's headers (None when it has none)."""
        return self._msg.headers

    @property
    def data(self) -> bytes:
        """The request's payload."""
        return self._msg.data

    @property
    def msg(self) -> Msg:
        """The underlying message."""
        return self._msg

    def respond(self, data: bytes = b"", headers: Optional[Headers] = None) -> None:
        """Send ``data`` (with ``headers``, none by default) to the requester."""
        self._responded = True
        msg = self._msg
        hooks = msg._client
        if hooks is None or not msg.reply:
            msg.respond(data, {})  # raises why it cannot be answered
            return
        # more requests waiting: the reply is queued for the flusher, which writes it
        # (with the next ones) while this worker goes on, instead of a write per reply
        busy = self._busy
        hooks.respond(msg.reply, data, headers or None, busy is not None and busy())

    def respond_error(self, code: str, description: str, data: bytes = b"",
                      headers: Optional[Headers] = None) -> None:
        """Send an error answer: ``code`` and ``description`` in the ADR-32 headers.
        The endpoint counts it as an error, and it becomes its ``last_error``."""
        self._record_error(str(code), description)  # counted before the requester sees it
        self._send_error(str(code), description, data, headers)

    def _send_error(self, code: str, description: str, data: bytes = b"",
                    headers: Optional[Headers] = None) -> None:
        h: Headers = dict(headers) if headers else {}
        h[ERROR_HEADER] = description
        h[ERROR_CODE_HEADER] = code
        self.respond(data, headers=h)

    def __repr__(self) -> str:
        return f"<Request subject={self.subject!r} data={self.data[:64]!r}>"


def run_handler(handler: Callable[[Request], None], msg: Msg,
                on_error: Callable[[str, str, bool], None],
                busy: Optional[Callable[[], bool]] = None) -> Optional[Exception]:
    """Run ``handler`` on the request in ``msg``. A ``ServiceError`` it raises is
    answered with its code and description, anything else with ``500`` and its
    repr (unless the handler already answered); every error, raised or sent with
    ``respond_error``, goes to ``on_error`` before the requester sees it.
    ``busy`` tells whether more requests wait (replies are then queued, not written
    one by one). Returns what the handler raised, if anything."""
    req = Request(msg, on_error, busy)
    try:
        handler(req)
        return None
    except ServiceError as exc:
        raised: Exception = exc
        code, desc = exc.code, exc.description
    except Exception as exc:  # any other error: a 500 carrying its repr, as nats-py
        raised, code, desc = exc, "500", repr(exc)
    req._record_error(code, desc)
    if not req._responded and msg.reply:
        try:
            req._send_error(code, desc)
        except errors.Error as exc:
            raised.__context__ = exc
    return raised
