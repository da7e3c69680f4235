"""``JetStream``: the entry object of the ADR-37 API (nats.py v3's ``nats.jetstream``).

It holds no wire code of its own: publishing and management go through the same
layer as ``natsync.js`` (a :class:`~natsync.js.JetStreamContext` and
:class:`~natsync.js.api_request.JSApi`), and returns the same dataclasses and errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, Mapping, Optional

from ..js import api as js_api
from ..js.api_request import JSApi
from ..js.client import JetStreamContext
from ..js.names import validate_stream_name
from . import errors
from ._consumers import delete_consumer
from .consumer import Consumer
from .ordered import OrderedConsumer, OrderedConsumerConfig
from .stream import ConfigArg, Stream, check_fields

if TYPE_CHECKING:  # pragma: no cover
    from .._client_api import ClientAPI

__all__ = ["JetStream", "new"]


class JetStream:
    """Streams, consumers and publishing of one account's JetStream. Create it with
    :func:`natsync.jetstream.new`."""

    def __init__(self, nc: ClientAPI, prefix: str = js_api.DEFAULT_PREFIX, domain: Optional[str] = None,
                 timeout: float = 5.0) -> None:
        self._nc = nc
        self._ctx = JetStreamContext(nc, prefix=prefix, domain=domain, timeout=timeout)
        self._api = JSApi(nc, prefix, domain, timeout)

    # ------------------------------------------------------------- basics
    @property
    def client(self) -> ClientAPI:
        return self._nc

    @property
    def api_prefix(self) -> str:
        """``$JS.API``, ``$JS.<domain>.API`` or the imported prefix."""
        return self._api.prefix

    @property
    def timeout(self) -> float:
        """The default timeout of API requests, seconds."""
        return self._api.timeout

    @property
    def api(self) -> JSApi:
        """The JSON API request layer (shared with ``natsync.js``)."""
        return self._api

    @property
    def manager(self) -> JetStreamContext:
        """The nats-py 2.x style context on the same connection and prefix."""
        return self._ctx

    def publish(self, subject: str, payload: bytes = b"", *,
                headers: Optional[Mapping[str, Any]] = None, timeout: Optional[float] = None,
                stream: Optional[str] = None, msg_ttl: Optional[float] = None,
                retry_attempts: int = 2, retry_wait: float = 0.25) -> js_api.PubAck:
        """Publish and wait for the stream's acknowledgement (``PubAck``: ``stream``,
        ``seq``, ``duplicate``, ``domain``); retried on 503 during leader elections."""
        return self._ctx.publish(subject, payload, timeout=timeout, stream=stream, headers=headers,
                                 msg_ttl=msg_ttl, retry_attempts=retry_attempts,
                                 retry_wait=retry_wait)

    # ------------------------------------------------------------ streams
    def create_stream(self, config: Optional[js_api.StreamConfig] = None, /, **kwargs: Any) -> Stream:
        """Create a stream (a StreamConfig or its fields as keywords) and return its handle."""
        check_fields(js_api.StreamConfig, kwargs)
        info = self._ctx.add_stream(config, **kwargs)
        return Stream(self, str(info.config.name), info)

    def update_stream(self, config: Optional[js_api.StreamConfig] = None, /,
                      **kwargs: Any) -> js_api.StreamInfo:
        check_fields(js_api.StreamConfig, kwargs)
        return self._ctx.update_stream(config, **kwargs)

    def delete_stream(self, name: str) -> bool:
        return self._ctx.delete_stream(name)

    def get_stream_info(self, name: str, subjects_filter: Optional[str] = None) -> js_api.StreamInfo:
        return self._ctx.stream_info(name, subjects_filter=subjects_filter)

    def get_stream(self, name: str) -> Stream:
        """A handle on an existing stream (``StreamNotFoundError`` if there is none)."""
        return Stream(self, name, self.get_stream_info(name))

    def stream_names(self, subject: Optional[str] = None) -> Iterator[str]:
        """The names of every stream (that holds ``subject``, if given)."""
        return iter(self._ctx.stream_names(subject))

    def list_streams(self, subject: Optional[str] = None) -> Iterator[js_api.StreamInfo]:
        """The info of every stream (that holds ``subject``, if given), page by page."""
        req: Dict[str, Any] = {"subject": subject} if subject else {}
        return self._paged("STREAM.LIST", "streams", req, js_api.StreamInfo)

    def _paged(self, suffix: str, key: str, req: Dict[str, Any], kind: Any) -> Iterator[Any]:
        seen = 0
        while True:
            resp = self._api.request(suffix, {**req, "offset": seen})
            page = resp.get(key) or []
            for item in page:
                yield kind.from_response(item) if kind is not None else item
            seen += len(page)
            if not page or seen >= resp.get("total", 0):
                return

    # ---------------------------------------------------------- consumers
    def create_consumer(self, stream_name: str, config: ConfigArg = None, /,
                        **kwargs: Any) -> Consumer:
        return Stream(self, validate_stream_name(stream_name)).create_consumer(config, **kwargs)

    def update_consumer(self, stream_name: str, config: ConfigArg = None, /,
                        **kwargs: Any) -> Consumer:
        return Stream(self, validate_stream_name(stream_name)).update_consumer(config, **kwargs)

    def create_or_update_consumer(self, stream_name: str, config: ConfigArg = None, /,
                                  **kwargs: Any) -> Consumer:
        return Stream(self, validate_stream_name(stream_name)).create_or_update_consumer(
            config, **kwargs)

    def get_consumer(self, stream_name: str, consumer_name: str) -> Consumer:
        return Consumer(self, stream_name, self.get_consumer_info(stream_name, consumer_name))

    def get_consumer_info(self, stream_name: str, consumer_name: str) -> js_api.ConsumerInfo:
        return self._ctx.consumer_info(stream_name, consumer_name)

    def delete_consumer(self, stream_name: str, consumer_name: str) -> bool:
        return delete_consumer(self._api, stream_name, consumer_name)

    def consumer_names(self, stream_name: str) -> Iterator[str]:
        validate_stream_name(stream_name)
        return self._paged(f"CONSUMER.NAMES.{stream_name}", "consumers", {}, None)

    def list_consumers(self, stream_name: str) -> Iterator[js_api.ConsumerInfo]:
        validate_stream_name(stream_name)
        return self._paged(f"CONSUMER.LIST.{stream_name}", "consumers", {}, js_api.ConsumerInfo)

    def ordered_consumer(self, stream_name: str, config: Optional[OrderedConsumerConfig] = None, /,
                         **kwargs: Any) -> OrderedConsumer:
        """An ordered consumer on ``stream_name`` (see :class:`OrderedConsumerConfig`)."""
        validate_stream_name(stream_name)
        return Stream(self, stream_name).ordered_consumer(config, **kwargs)

    # -------------------------------------------------------------- other
    def account_info(self) -> js_api.AccountInfo:
        return self._ctx.account_info()

    def get_message(self, stream: str, sequence: int) -> js_api.RawStreamMsg:
        """The message stored at ``sequence`` (``MsgNotFoundError`` if none)."""
        if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
            raise errors.InvalidArgumentError(f"sequence must be an int >= 1, got {sequence!r}")
        return self._ctx.get_msg(stream, seq=sequence)

    def get_last_message_for_subject(self, stream: str, subject: str) -> js_api.RawStreamMsg:
        """The last message stored for ``subject`` (``MsgNotFoundError`` if none)."""
        return self._ctx.get_last_msg(stream, subject)

    def __repr__(self) -> str:
        return f"<JetStream {self.api_prefix}>"


def new(nc: ClientAPI, prefix: str = js_api.DEFAULT_PREFIX, domain: Optional[str] = None,
        timeout: float = 5.0) -> JetStream:
    """The ADR-37 JetStream API on connection ``nc`` (nats.py v3's ``nats.jetstream.new``)."""
    return JetStream(nc, prefix=prefix, domain=domain, timeout=timeout)



