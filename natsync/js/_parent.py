"""``JetStreamParent``: what a Key/Value or Object Store bucket needs of the
``JetStreamContext`` that opened it, as a Protocol.

:mod:`.kv` and :mod:`.object_store` type their context with it rather than with
``JetStreamContext``, so they do not import :mod:`.client` (which loads them): no import
cycle, not even one under ``TYPE_CHECKING``. Only the parameters the buckets pass are
listed; ``JetStreamContext`` matches it structurally (mypy checks that where
``_object_buckets`` hands the context to an ``ObjectStore``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import Future

    from natsync._client_api import ClientAPI

    from . import api
    from .push import PushSubscription

__all__ = ["JetStreamParent"]


class JetStreamParent(Protocol):
    """The JetStreamContext methods and properties the buckets call."""

    @property
    def client(self) -> ClientAPI: ...

    @property
    def timeout(self) -> float: ...

    def account_info(self) -> api.AccountInfo: ...

    def add_stream(self, config: Optional[api.StreamConfig] = ..., **params: Any
                   ) -> api.StreamInfo: ...

    def update_stream(self, config: Optional[api.StreamConfig] = ..., **params: Any
                      ) -> api.StreamInfo: ...

    def stream_info(self, name: str, subjects_filter: Optional[str] = ...) -> api.StreamInfo: ...

    def delete_stream(self, name: str) -> bool: ...

    def purge_stream(self, name: str, seq: Optional[int] = ..., subject: Optional[str] = ...,
                     keep: Optional[int] = ...) -> bool: ...

    def get_msg(self, stream_name: str, seq: Optional[int] = ..., subject: Optional[str] = ...,
                direct: Optional[bool] = ...) -> api.RawStreamMsg: ...

    def get_last_msg(self, stream_name: str, subject: str, direct: Optional[bool] = ...
                     ) -> api.RawStreamMsg: ...

    def publish(self, subject: str, payload: bytes = ..., timeout: Optional[float] = ...,
                stream: Optional[str] = ..., headers: Optional[Mapping[str, Any]] = ...,
                msg_ttl: Optional[float] = ...) -> api.PubAck: ...

    def publish_async(self, subject: str, payload: bytes = ...) -> Future[api.PubAck]: ...

    def subscribe(self, subject: str, *, stream: Optional[str] = ...,
                  config: Optional[api.ConsumerConfig] = ..., ordered_consumer: bool = ...,
                  pending_bytes_limit: int = ..., deliver_policy: Optional[api.DeliverPolicy] = ...,
                  headers_only: Optional[bool] = ..., inactive_threshold: Optional[float] = ...,
                  ) -> PushSubscription: ...
