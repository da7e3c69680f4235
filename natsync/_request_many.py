"""``Client.request_many``: one request, every reply, until time, count or a pause ends it.

Built on the client's public API: a fresh inbox subscription, a publish with that
inbox as the reply subject, then ``next_msg`` with the time that is left.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Iterator, Optional

from . import errors
from .msg import Headers, Msg

if TYPE_CHECKING:  # pragma: no cover
    from ._client_api import ClientAPI

DEFAULT_TIMEOUT = 1.0


def request_many(nc: ClientAPI, subject: str, payload: bytes = b"", timeout: float = DEFAULT_TIMEOUT,
                 max_msgs: Optional[int] = None, stall: Optional[float] = None,
                 headers: Optional[Headers] = None) -> Iterator[Msg]:
    """Check the arguments now, then return the generator that sends and collects."""
    if timeout is None or isinstance(timeout, bool) or not timeout > 0:
        raise errors.BadTimeoutError(
            f"nats: request_many timeout must be a positive number of seconds, not {timeout!r}")
    if max_msgs is not None and (isinstance(max_msgs, bool) or not isinstance(max_msgs, int)
                                 or max_msgs < 1):
        raise errors.Error(
            f"nats: request_many max_msgs must be None (no limit) or a positive int, not {max_msgs!r}")
    if stall is not None and (isinstance(stall, bool) or not stall > 0):
        raise errors.BadTimeoutError(
            f"nats: request_many stall must be None or a positive number of seconds, not {stall!r}")
    return _replies(nc, subject, payload, timeout, max_msgs, stall, headers)


def _replies(nc: ClientAPI, subject: str, payload: bytes, timeout: float, max_msgs: Optional[int],
             stall: Optional[float], headers: Optional[Headers]) -> Iterator[Msg]:
    inbox = nc.new_inbox()
    sub = nc.subscribe(inbox, pending_msgs_limit=0, pending_bytes_limit=0)
    try:
        nc.publish(subject, payload, reply=inbox, headers=headers)
        deadline = time.monotonic() + timeout
        count = 0
        while max_msgs is None or count < max_msgs:
            left = deadline - time.monotonic()
            if count and stall is not None:
                left = min(left, stall)
            if left <= 0:
                return
            try:
                msg = sub.next_msg(timeout=left)
            except errors.TimeoutError:
                return
            except errors.BadSubscriptionError:
                return
            if msg.status == 503 and not msg.data:
                if count == 0:
                    raise errors.NoRespondersError(
                        f"nats: no responders available for request on {subject!r}: nobody is "
                        "subscribed to it; start a responder or check the subject")
                continue
            count += 1
            yield msg
    finally:
        try:
            sub.unsubscribe()
        except errors.Error:
            pass  # the connection closed meanwhile
