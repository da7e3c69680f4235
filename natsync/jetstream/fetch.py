"""``fetch()``, ``fetch_nowait()`` and ``next()``: one pull request, one batch.

:class:`MessageBatch` is what ``consumer.fetch(...)`` returns (nats.py v3's
``MessageBatch``): iterate it to get the messages as they arrive. It ends when
the batch is full, when the server ends the request (``404``/``408``/``409``), when
``max_wait`` (plus a margin: the client's own wait is always longer than the
server's ``expires``) has passed, or on a missed heartbeat. It may be empty: that
is not an error. ``batch.error`` tells why it ended early, if that was an error.
Each fetch has its own inbox, unsubscribed when the batch ends, so nothing of one
fetch leaks into the next.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Iterator, List, Optional

from .. import errors as core_errors
from ..js.status import StatusKind, classify
from . import errors
from ._puller import msg_size
from ._pullstate import PullRequest

if TYPE_CHECKING:  # pragma: no cover
    from .._client_api import ClientAPI
    from ..msg import Msg
    from ..subscription import Subscription

__all__ = ["MessageBatch", "CLIENT_MARGIN"]

#: How much longer than the request's ``expires`` the client waits for its end.
CLIENT_MARGIN = 1.0


class MessageBatch:
    """The messages of one pull request; iterate it (once)."""

    def __init__(self, nc: ClientAPI, subject: str, req: PullRequest, client_wait: float,
                 stream: str, consumer: str) -> None:
        self._nc = nc
        self._req = req
        self._stream = stream
        self._consumer = consumer
        self._error: Optional[BaseException] = None
        self._received = 0
        self._bytes = 0
        self._done = False
        self._inbox = nc.new_inbox()
        self._sub: Subscription = nc.subscribe(self._inbox)
        self._deadline = time.monotonic() + client_wait
        self._hb = req.heartbeat
        self._last = time.monotonic()
        try:
            nc.publish(subject, req.to_json(), reply=self._inbox)
        except BaseException:
            self._finish()
            raise

    @property
    def error(self) -> Optional[BaseException]:
        """Why the batch ended early (None when it ended normally or is still going)."""
        return self._error

    @property
    def done(self) -> bool:
        return self._done

    def __iter__(self) -> Iterator[Msg]:
        while True:
            msg = self._next()
            if msg is None:
                return
            yield msg

    def messages(self) -> List[Msg]:
        """All the messages of the batch, as a list (waits for the batch to end)."""
        return list(self)

    def _next(self) -> Optional[Msg]:
        req = self._req
        while not self._done:
            now = time.monotonic()
            wake = self._deadline
            if self._hb > 0:
                wake = min(wake, self._last + 2 * self._hb)
            try:
                msg = self._sub.next_msg(timeout=max(wake - now, 0.0005))
            except core_errors.TimeoutError:
                now = time.monotonic()
                if now >= self._deadline:
                    self._finish()
                elif self._hb > 0 and now >= self._last + 2 * self._hb:
                    self._finish(errors.MissedHeartbeatError(
                        f"nats: no heartbeat from consumer {self._consumer!r} of stream "
                        f"{self._stream!r} for {2 * self._hb:g} s during fetch",
                        stream=self._stream, consumer=self._consumer))
                continue
            except (core_errors.BadSubscriptionError, core_errors.ConnectionClosedError) as exc:
                self._finish(exc if isinstance(exc, core_errors.ConnectionClosedError) else None)
                continue
            self._last = time.monotonic()
            code = msg.status
            if code is None:
                self._received += 1
                if req.max_bytes:
                    self._bytes += msg_size(msg)
                if self._received >= req.batch or (req.max_bytes and self._bytes >= req.max_bytes):
                    self._finish()
                return msg
            self._on_status(msg, code)
        return None

    def _on_status(self, msg: Msg, code: int) -> None:
        hdrs = msg.headers
        desc = hdrs.get("Description", "") if hdrs else ""
        desc = desc if isinstance(desc, str) else ""
        kind = classify(code, desc)
        if kind in (StatusKind.HEARTBEAT, StatusKind.FLOW_CONTROL):
            return
        if kind in (StatusKind.NO_MESSAGES, StatusKind.REQUEST_TIMEOUT, StatusKind.REQUEST_DONE):
            self._finish()
            return
        where = f"consumer {self._consumer!r} of stream {self._stream!r}"
        kw = dict(code=code, description=desc, stream=self._stream, consumer=self._consumer)
        exc: errors.PullStatusError
        if kind is StatusKind.NO_RESPONDERS:
            exc = errors.JetStreamNotReadyError(
                f"nats: no responders for the fetch from {where}: the consumer does not exist "
                "or JetStream is not available", **kw)  # type: ignore[arg-type]
        elif "deleted" in desc.lower():
            exc = errors.ConsumerDeletedError(
                f"nats: {where} was deleted ({code} {desc})", **kw)  # type: ignore[arg-type]
        elif "push" in desc.lower():
            exc = errors.ConsumerPushBasedError(
                f"nats: {where} is a push consumer ({code} {desc}); fetch needs a pull consumer",
                **kw)  # type: ignore[arg-type]
        elif kind is StatusKind.WARNING:
            exc = errors.PullWarning(f"nats: the fetch from {where} ended with {code} {desc}",
                                     **kw)  # type: ignore[arg-type]
        else:
            exc = errors.PullBadRequestError(
                f"nats: the server refused the fetch from {where}: {code} {desc}",
                **kw)  # type: ignore[arg-type]
        self._finish(exc)

    def _finish(self, error: Optional[BaseException] = None) -> None:
        if self._done:
            return
        self._done = True
        if error is not None:
            self._error = error
        try:
            self._sub.unsubscribe()
        except (core_errors.BadSubscriptionError, core_errors.ConnectionClosedError):
            pass

    def stop(self) -> None:
        """End the batch now (what was not yet taken is redelivered later)."""
        self._finish()

    def __repr__(self) -> str:
        state = "done" if self._done else "open"
        return f"<MessageBatch {self._consumer!r} {state} received={self._received}>"
