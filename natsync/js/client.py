"""JetStreamContext: nats-py's ``nats.js.JetStreamContext`` without ``await``.

It is a :class:`~natsync.js.manager.JetStreamManager` (every management method)
plus publishing with acknowledgements. Key/Value and Object Store methods are
added by ``natsync.js.kv`` and ``natsync.js.object_store`` under nats-py's names.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Union

from natsync import errors as core_errors

from . import api
from ._kv_context import KeyValueContext
from .api_request import decode
from .async_publish import AsyncPublisher
from .errors import Error, InvalidArgumentError, NoStreamResponseError, NotFoundError
from .manager import JetStreamManager
from .names import validate_consumer_name, validate_stream_name, validate_timeout
from .pull import PullSubscription as _PullSubscription
from .push import DEFAULT_JS_SUB_PENDING_BYTES_LIMIT, DEFAULT_JS_SUB_PENDING_MSGS_LIMIT
from .push import PushSubscription as _PushSubscription

if TYPE_CHECKING:  # pragma: no cover
    from natsync._client_api import ClientAPI
    from natsync.msg import Msg

    from .object_store import ObjectStore

Callback = Callable[["Msg"], None]

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
        conn: ClientAPI,
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
        self._async = AsyncPublisher(conn, publish_async_max_pending, self._timeout)

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
            if len(resp) <= 4 and "stream" in resp and "seq" in resp:  # the usual ack: fast path
                return api.PubAck(resp["stream"], resp["seq"], resp.get("domain"),
                                  resp.get("duplicate"))
            return api.PubAck.from_response(resp)

    def publish_async(
        self,
        subject: str,
        payload: bytes = b"",
        wait_stall: Optional[float] = None,
        stream: Optional[str] = None,
        headers: Optional[Mapping[str, Any]] = None,
        msg_ttl: Optional[float] = None,
        *,
        timeout: Optional[float] = None,
    ) -> Future[api.PubAck]:
        """Publish without waiting; the returned ``concurrent.futures.Future`` gets the PubAck.

        At most ``publish_async_max_pending`` acks are outstanding; a publish into a full
        window waits up to ``wait_stall`` seconds (None: until there is room), then raises
        :class:`~natsync.js.errors.TooManyStalledMsgsError`. The future fails with
        ``TimeoutError`` when no ack arrives within ``timeout`` (default: the context's
        timeout), with :class:`~natsync.js.errors.NoStreamResponseError` when no stream
        holds the subject, and with ``ConnectionReconnectingError`` when the connection is
        lost before the ack came: no future waits forever.
        """
        if wait_stall is not None:
            validate_timeout(wait_stall, "wait_stall")
        ack_timeout = None if timeout is None else validate_timeout(timeout)
        hdr = publish_headers(headers, stream, msg_ttl)
        return self._async.publish(subject, payload, hdr, wait_stall, ack_timeout)

    def publish_async_pending(self) -> int:
        """How many async publishes still wait for their ack."""
        return self._async.pending()

    def publish_async_completed(self, timeout: Optional[float] = None) -> None:
        """Wait until every async publish has its ack (or failed); ``TimeoutError`` after
        ``timeout`` seconds if given."""
        if timeout is not None:
            validate_timeout(timeout)
        self._async.completed(timeout)

    # ------------------------------------------------------ push consumers
    PushSubscription = _PushSubscription  # nats-py spells it JetStreamContext.PushSubscription

    def subscribe(
        self,
        subject: str,
        queue: Optional[str] = None,
        cb: Optional[Callback] = None,
        durable: Optional[str] = None,
        stream: Optional[str] = None,
        config: Optional[api.ConsumerConfig] = None,
        manual_ack: bool = False,
        ordered_consumer: bool = False,
        idle_heartbeat: Optional[float] = None,
        flow_control: bool = False,
        pending_msgs_limit: int = DEFAULT_JS_SUB_PENDING_MSGS_LIMIT,
        pending_bytes_limit: int = DEFAULT_JS_SUB_PENDING_BYTES_LIMIT,
        deliver_policy: Optional[api.DeliverPolicy] = None,
        headers_only: Optional[bool] = None,
        inactive_threshold: Optional[float] = None,
    ) -> _PushSubscription:
        """Push-subscribe to ``subject``, creating the consumer if needed.

        ``durable`` binds to (or creates) a durable consumer; ``queue`` makes it a deliver
        group (and the durable name, as in nats-py); ``ordered_consumer=True`` gives an
        ordered, self-healing view of the stream. With ``cb`` each message goes to it on
        the subscription's thread and is acked after it returns unless ``manual_ack``.
        """
        if ordered_consumer and (durable or queue):
            raise InvalidArgumentError("an ordered consumer cannot be durable or a queue group")
        if ordered_consumer and manual_ack:
            raise InvalidArgumentError("an ordered consumer does not take acks: drop manual_ack")
        if stream is None:
            stream = self.find_stream_name_by_subject(subject)
        if queue:
            if durable and durable != queue:
                raise InvalidArgumentError(
                    f"cannot create queue subscription {queue!r} to consumer {durable!r}")
            durable = queue
        if durable:
            validate_consumer_name(durable)
        info: Optional[api.ConsumerInfo] = None
        if durable:
            try:
                info = self.consumer_info(stream, durable)
            except NotFoundError:
                info = None
        if info is not None:
            config = info.config
            group = config.deliver_group
            if not config.deliver_subject:
                raise Error(f"consumer {durable!r} is a pull consumer: use pull_subscribe_bind")
            if not group:
                if queue:
                    raise Error("cannot create a queue subscription for a consumer without a "
                                "deliver group")
                if info.push_bound:
                    raise Error(f"consumer {durable!r} is already bound to a subscription")
            elif not queue:
                raise Error(f"cannot create a subscription for a consumer with deliver group "
                            f"{group!r}: pass queue={group!r}")
            elif queue != group:
                raise Error(f"cannot create queue subscription {queue!r} for a consumer with "
                            f"deliver group {group!r}")
            consumer = info.name
        else:
            config = (config or api.ConsumerConfig()).evolve()
            if durable and not config.durable_name:
                config.durable_name = durable
            if queue and not config.deliver_group:
                config.deliver_group = queue
            if headers_only is not None:
                config.headers_only = headers_only
            if deliver_policy is not None:
                config.deliver_policy = deliver_policy
            if inactive_threshold is not None:
                config.inactive_threshold = inactive_threshold
            if config.deliver_subject is None:
                config.deliver_subject = self._nc.new_inbox()
            if not config.filter_subjects:
                config.filter_subject = subject
            if flow_control:
                config.flow_control = True
            if idle_heartbeat:
                config.idle_heartbeat = idle_heartbeat
            if ordered_consumer:
                config.flow_control = True
                config.ack_policy = api.AckPolicy.NONE
                config.max_deliver = 1
                config.ack_wait = 22 * 3600.0
                config.idle_heartbeat = config.idle_heartbeat or 5.0
                config.num_replicas = 1
                config.mem_storage = True
                config.durable_name = None
                config.name = None
            if config.flow_control and not config.idle_heartbeat:
                config.idle_heartbeat = 5.0  # the server requires heartbeats with flow control
            created = self.add_consumer(stream, config=config)
            consumer = created.name
            config = created.config if not ordered_consumer else config
        return self.subscribe_bind(stream, config, consumer, cb=cb, manual_ack=manual_ack,
                                   ordered_consumer=ordered_consumer,
                                   pending_msgs_limit=pending_msgs_limit,
                                   pending_bytes_limit=pending_bytes_limit)

    def subscribe_bind(
        self,
        stream: str,
        config: api.ConsumerConfig,
        consumer: str,
        cb: Optional[Callback] = None,
        manual_ack: bool = False,
        ordered_consumer: bool = False,
        pending_msgs_limit: int = DEFAULT_JS_SUB_PENDING_MSGS_LIMIT,
        pending_bytes_limit: int = DEFAULT_JS_SUB_PENDING_BYTES_LIMIT,
    ) -> _PushSubscription:
        """Push-subscribe to an existing consumer whose ``config.deliver_subject`` is set."""
        if not config.deliver_subject:
            raise InvalidArgumentError("config.deliver_subject is required to bind a push "
                                       "subscription (is it a pull consumer?)")
        if cb is not None and not callable(cb):
            raise InvalidArgumentError("cb must be a callable taking a Msg")
        return _PushSubscription(self._jsm, self._nc, stream, consumer, config, cb=cb,
                                manual_ack=manual_ack, ordered=ordered_consumer,
                                pending_msgs_limit=pending_msgs_limit,
                                pending_bytes_limit=pending_bytes_limit)

    # ------------------------------------------------------------- object store
    def create_object_store(self, bucket: Optional[str] = None,
                            config: Optional[api.ObjectStoreConfig] = None,
                            **params: Any) -> ObjectStore:
        """Create an Object Store bucket (the stream ``OBJ_<bucket>``) and return it."""
        from ._object_buckets import create_object_store

        return create_object_store(self, self._nc, self._timeout, bucket, config, params)

    def object_store(self, bucket: str) -> ObjectStore:
        """Bind to an existing Object Store bucket (``BucketNotFoundError`` if there is none)."""
        from ._object_buckets import object_store

        return object_store(self, self._nc, self._timeout, bucket)

    def delete_object_store(self, bucket: str) -> bool:
        """Delete an Object Store bucket and every object in it."""
        from ._object_buckets import delete_object_store

        return delete_object_store(self, bucket)

    # ------------------------------------------------------ pull consumers
    PullSubscription = _PullSubscription  # nats-py spells it JetStreamContext.PullSubscription

    def pull_subscribe(
        self,
        subject: str,
        durable: Optional[str] = None,
        stream: Optional[str] = None,
        config: Optional[api.ConsumerConfig] = None,
        pending_msgs_limit: int = DEFAULT_JS_SUB_PENDING_MSGS_LIMIT,
        pending_bytes_limit: int = DEFAULT_JS_SUB_PENDING_BYTES_LIMIT,
        inbox_prefix: Union[str, bytes, None] = None,
    ) -> _PullSubscription:
        """A pull subscription on ``subject``: binds to the durable consumer ``durable``
        when it exists, else creates it (or an ephemeral consumer without ``durable``)."""
        if stream is None:
            stream = self.find_stream_name_by_subject(subject)
        if durable:
            validate_consumer_name(durable)
            try:
                self.consumer_info(stream, durable)
                return self.pull_subscribe_bind(durable, stream, inbox_prefix,
                                                pending_msgs_limit, pending_bytes_limit)
            except NotFoundError:
                pass
        config = (config or api.ConsumerConfig()).evolve()
        if config.deliver_subject:
            raise InvalidArgumentError("a pull consumer has no deliver_subject; use subscribe()")
        if not config.filter_subjects:
            config.filter_subject = subject
        if durable:
            config.name = durable
            config.durable_name = durable
        elif not config.name:
            config.name = self._nc.new_inbox().rsplit(".", 1)[-1]
            if config.inactive_threshold is None:
                config.inactive_threshold = 300.0  # an ephemeral consumer outlives no client
        info = self.add_consumer(stream, config=config)
        return self._bind_pull(info.name, stream, inbox_prefix, pending_msgs_limit,
                               pending_bytes_limit, ephemeral=not durable)

    def pull_subscribe_bind(
        self,
        consumer: Optional[str] = None,
        stream: Optional[str] = None,
        inbox_prefix: Union[str, bytes, None] = None,
        pending_msgs_limit: int = DEFAULT_JS_SUB_PENDING_MSGS_LIMIT,
        pending_bytes_limit: int = DEFAULT_JS_SUB_PENDING_BYTES_LIMIT,
        name: Optional[str] = None,
        durable: Optional[str] = None,
    ) -> _PullSubscription:
        """A pull subscription on the existing consumer ``consumer`` of ``stream``."""
        return self._bind_pull(durable or name or consumer, stream, inbox_prefix,
                               pending_msgs_limit, pending_bytes_limit)

    def _bind_pull(self, name: Optional[str], stream: Optional[str],
                   inbox_prefix: Union[str, bytes, None], pending_msgs_limit: int,
                   pending_bytes_limit: int, ephemeral: bool = False) -> _PullSubscription:
        if not stream:
            raise InvalidArgumentError("pull_subscribe_bind needs stream=")
        validate_stream_name(stream)
        validate_consumer_name(name)
        assert name is not None
        if inbox_prefix:
            prefix = inbox_prefix.decode() if isinstance(inbox_prefix, bytes) else inbox_prefix
            deliver = prefix.rstrip(".") + "." + self._nc.new_inbox().rsplit(".", 1)[-1]
        else:
            deliver = self._nc.new_inbox()
        sub = self._nc.subscribe(deliver + ".*", pending_msgs_limit=pending_msgs_limit,
                                 pending_bytes_limit=pending_bytes_limit)
        return _PullSubscription(self._jsm, self._nc, sub, deliver, stream, name, ephemeral)


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
    if ttl < 1:
        raise InvalidArgumentError(
            f"msg_ttl must be at least 1 second (the server refuses shorter ones), got {ttl!r}")
    if float(ttl).is_integer():
        return str(int(ttl))
    return f"{max(1, int(round(ttl * 1000)))}ms"
