"""Pull subscriptions and ``fetch`` (ADR-13), nats-py's ``PullSubscription``.

One wildcard inbox subscription (``<inbox>.*``) per pull subscription; each
fetch sends one pull request with its own reply subject ``<inbox>.<n>``, so a
status (404/408/409) is only taken as the end of the request it answers. A
stream message is always kept, whichever request brought it: messages that
arrive after a fetch gave up wait in the subscription and the next fetch
returns them first, so no message is stranded and no orphan request makes the
next fetch wait (nats.py#933). The request's ``expires`` is a little shorter
than the fetch timeout, so the server ends it before the client stops waiting.
After a reconnect the inbox subscription is restored by the client and the next
fetch sends a fresh request (nats.py#504).
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, List, Optional

from natsync import errors as core_errors

from . import api
from ._report import report
from .errors import APIError, ConsumerDeletedError, FetchTimeoutError, api_error
from .names import validate_batch, validate_timeout
from .pullreq import next_subject, pull_request
from .status import StatusKind, classify

if TYPE_CHECKING:  # pragma: no cover
    from natsync._client_api import ClientAPI
    from natsync.msg import Msg
    from natsync.subscription import Subscription

    from .manager import JetStreamManager

__all__ = ["PullSubscription"]

#: The server should end a pull request this much before the fetch stops waiting.
_EXPIRES_MARGIN = 0.1


class PullSubscription:
    """Fetch batches from a pull consumer (nats-py's ``JetStreamContext.PullSubscription``)."""

    def __init__(self, jsm: JetStreamManager, nc: ClientAPI, sub: Subscription, deliver: str,
                 stream: str, consumer: str, ephemeral: bool = False) -> None:
        self._jsm = jsm
        self._nc = nc
        self._sub = sub
        self._deliver = deliver
        self._stream = stream
        self._consumer = consumer
        self._ephemeral = ephemeral
        self._next_subject = next_subject(jsm.api_prefix, stream, consumer)
        self._ids = itertools.count(1)
        self._fetched = 0

    @property
    def stream(self) -> str:
        return self._stream

    @property
    def consumer(self) -> str:
        return self._consumer

    @property
    def pending_msgs(self) -> int:
        return self._sub.pending_msgs

    @property
    def pending_bytes(self) -> int:
        return self._sub.pending_bytes

    @property
    def delivered(self) -> int:
        """Stream messages returned by fetch."""
        return self._fetched

    def consumer_info(self) -> api.ConsumerInfo:
        return self._jsm.consumer_info(self._stream, self._consumer)

    def unsubscribe(self) -> None:
        """Remove the inbox subscription (an ephemeral consumer is deleted too)."""
        self._sub.unsubscribe()
        if self._ephemeral and not self._nc.is_closed:
            try:
                self._jsm.delete_consumer(self._stream, self._consumer)
            except core_errors.Error:
                pass

    def fetch(self, batch: int = 1, timeout: Optional[float] = 5.0,
              heartbeat: Optional[float] = None) -> List[Msg]:
        """Up to ``batch`` messages: returns when the batch is full, or when the time is up
        or the server has no more with what arrived; raises ``FetchTimeoutError`` (a
        ``TimeoutError``) when nothing came within ``timeout`` seconds."""
        validate_batch(batch)
        timeout = validate_timeout(5.0 if timeout is None else timeout)
        if heartbeat is not None:
            validate_timeout(heartbeat, "heartbeat")
            if heartbeat * 2 > timeout:
                raise core_errors.BadTimeoutError(
                    f"nats: fetch heartbeat {heartbeat}s must be at most half the timeout "
                    f"({timeout}s)")
        deadline = time.monotonic() + timeout
        msgs = self._take_queued(batch)
        if len(msgs) >= batch:
            return msgs
        reply = f"{self._deliver}.{next(self._ids)}"
        expires = max(timeout - _EXPIRES_MARGIN, timeout * 0.5)
        req = pull_request(batch - len(msgs), expires=expires, heartbeat=heartbeat)
        self._nc.publish(self._next_subject, req, reply=reply)
        sub = self._sub
        ended = ""  # a 409 warning that ended the request
        while len(msgs) < batch:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msg = sub.next_msg(timeout=left)
            except core_errors.TimeoutError:
                break
            status = msg.status
            if status is None or msg.data:
                msgs.append(msg)
                continue
            if msg.subject != reply:
                continue  # a status that ended an earlier request
            end = self._request_ended(msg, status, bool(msgs))
            if end is not None:
                ended = end
                break
        self._fetched += len(msgs)
        if not msgs:
            if ended:
                raise FetchTimeoutError(
                    f"nats: fetch timeout: no message from consumer {self._consumer!r} of "
                    f"stream {self._stream!r}: the server ended the pull request with {ended}")
            raise FetchTimeoutError(
                f"nats: fetch timeout: no message from consumer {self._consumer!r} of stream "
                f"{self._stream!r} within {timeout}s")
        return msgs

    def _take_queued(self, batch: int) -> List[Msg]:
        """Stream messages already waiting in the inbox (statuses there are stale)."""
        msgs: List[Msg] = []
        sub = self._sub
        while len(msgs) < batch and sub.pending_msgs:
            try:
                msg = sub.next_msg(timeout=0.001)
            except core_errors.TimeoutError:
                break
            if msg.status is None or msg.data:
                msgs.append(msg)
        self._fetched += len(msgs)
        return msgs

    def _request_ended(self, msg: Msg, status: int, have_msgs: bool) -> Optional[str]:
        """``None`` if this status does not end the request, else ``""`` or, for a 409
        warning (reported to ``error_cb``), ``"409 <description>"``; raises for errors
        that end it when nothing came."""
        headers = msg.headers or {}
        desc = headers.get("Description", "")
        desc = desc if isinstance(desc, str) else ""
        kind = classify(status, desc)
        if kind is StatusKind.HEARTBEAT:
            return None
        if kind in (StatusKind.NO_MESSAGES, StatusKind.REQUEST_TIMEOUT, StatusKind.REQUEST_DONE):
            return ""
        if kind is StatusKind.WARNING:
            # ADR-13: the request ends, the consumer goes on; like nats-py, an empty
            # fetch is a timeout, not an error (the warning goes to error_cb)
            report(self._nc, api_error({"code": status, "description": desc,
                                        "stream": self._stream}))
            return f"{status} {desc}".strip()
        if have_msgs:
            return ""  # return what came; the next fetch will see the problem again
        if kind is StatusKind.NO_RESPONDERS:
            raise self._jsm.not_enabled_error(self._next_subject)
        if status == 409 and desc.lower().startswith("consumer deleted"):
            raise ConsumerDeletedError(
                f"consumer {self._consumer!r} of stream {self._stream!r} was deleted")
        err: APIError = api_error({"code": status, "description": desc})
        raise err
