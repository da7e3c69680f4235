"""JetStreamContext: nats-py's ``nats.js.JetStreamContext`` without ``await``.

It is a :class:`~natsync.js.manager.JetStreamManager` (every management method)
plus publishing with acknowledgements. Key/Value and Object Store methods are
added by ``natsync.js.kv`` and ``natsync.js.object_store`` under nats-py's names.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

from natsync import errors as core_errors

from . import api
from ._kv_context import KeyValueContext
from .api_request import decode
from .errors import InvalidArgumentError, NoStreamResponseError
from .manager import JetStreamManager
from .names import validate_timeout

if TYPE_CHECKING:  # pragma: no cover
    from natsync.client import Client

__all__ = ["JetStreamContext", "DEFAULT_PUBLISH_RETRY_ATTEMPTS", "DEFAULT_PUBLISH_RETRY_WAIT"]

#: Retries of a publish that found no stream listening (a leader election), ADR-22.
DEFAULT_PUBLISH_RETRY_ATTEMPTS = 2
#: Wait between those retries, seconds.
DEFAULT_PUBLISH_RETRY_WAIT = 0.25


class JetStreamContext(KeyValueContext, JetStreamManager):
    """Publish to and consume from JetStream; also every JetStreamManager method.

    ::

        js = nc.jetstream()
        js.add_stream(name="orders", subjects=["orders.>"])
        ack = js.publish("orders.1", b"hello", headers={"Nats-Msg-Id": "o-1"})
        print(ack.stream, ack.seq)
    """

    def __init__(
        self,
        conn: Client,
        prefix: str = api.DEFAULT_PREFIX,
        domain: Optional[str] = None,
        timeout: float = 5.0,
        publish_async_max_pending: int = 4000,
    ) -> None:
        super().__init__(conn, prefix=prefix, timeout=timeout, domain=domain)
        if (isinstance(publish_async_max_pending, bool)
                or not isinstance(publish_async_max_pending, int) or publish_async_max_pending < 1):
            raise InvalidArgumentError(
                f"publish_async_max_pending must be an int >= 1, got {publish_async_max_pending!r}")
        self._publish_async_max_pending = publish_async_max_pending

    @property
    def _jsm(self) -> JetStreamManager:
        return JetStreamManager(self._nc, prefix=self._prefix, timeout=self._timeout)

    # ------------------------------------------------------------- publish
    def publish(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: Optional[float] = None,
        stream: Optional[str] = None,
        headers: Optional[Mapping[str, Any]] = None,
        msg_ttl: Optional[float] = None,
        *,
        retry_attempts: int = DEFAULT_PUBLISH_RETRY_ATTEMPTS,
        retry_wait: float = DEFAULT_PUBLISH_RETRY_WAIT,
    ) -> api.PubAck:
        """Publish and wait for the stream's acknowledgement.

        ``stream`` sets ``Nats-Expected-Stream``; put ``Nats-Msg-Id`` (dedupe) and the
        ``Nats-Expected-Last-*`` headers in ``headers``. A failed expectation raises
        the :class:`~natsync.js.errors.APIError` subclass for the server's err_code.
        When no stream answers (503, e.g. during a leader election) the publish is
        retried ``retry_attempts`` times, ``retry_wait`` seconds apart (ADR-22), then
        :class:`~natsync.js.errors.NoStreamResponseError` is raised.
        """
        timeout = self._timeout if timeout is None else validate_timeout(timeout)
        hdr = publish_headers(headers, stream, msg_ttl)
        if isinstance(retry_attempts, bool) or not isinstance(retry_attempts, int) or retry_attempts < 0:
            raise InvalidArgumentError(f"retry_attempts must be an int >= 0, got {retry_attempts!r}")
        attempt = 0
        while True:
            try:
                msg = self._nc.request(subject, payload, timeout=timeout, headers=hdr)
            except core_errors.NoRespondersError:
                if attempt >= retry_attempts:
                    raise NoStreamResponseError(
                        f"no stream took the message on {subject!r} (no responders, after "
                        f"{attempt + 1} attempts): add a stream whose subjects include it, or "
                        "wait for the stream's leader election to end") from None
                attempt += 1
                time.sleep(retry_wait)  # ADR-22: give the leader election time to end
                continue
            resp = decode(msg, subject)
            return api.PubAck.from_response(resp)


def publish_headers(headers: Optional[Mapping[str, Any]], stream: Optional[str],
                    msg_ttl: Optional[float]) -> Optional[Dict[str, Any]]:
    """The headers of a JetStream publish (the caller's dict is not modified)."""
    if headers is None and stream is None and msg_ttl is None:
        return None
    hdr: Dict[str, Any] = {}
    if headers:
        for key, val in headers.items():
            hdr[key.value if isinstance(key, Enum) else key] = val
    if stream is not None:
        hdr[api.Header.EXPECTED_STREAM.value] = stream
    if msg_ttl is not None:
        hdr[api.Header.MSG_TTL.value] = ttl_value(msg_ttl)
    return hdr


def ttl_value(ttl: Any) -> str:
    """A per-message TTL header value: whole seconds, or milliseconds as a Go duration."""
    if isinstance(ttl, str):
        return ttl
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
        raise InvalidArgumentError(f"msg_ttl must be a positive number of seconds, got {ttl!r}")
    if float(ttl).is_integer():
        return str(int(ttl))
    return f"{max(1, int(round(ttl * 1000)))}ms"
