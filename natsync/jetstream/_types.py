"""What Stream, Consumer and OrderedConsumer need of their JetStream object, as a
Protocol, so that those modules do not import :mod:`.context` (which imports them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from .._client_api import ClientAPI
    from ..js import api as js_api
    from ..js.api_request import JSApi
    from ..js.client import JetStreamContext

__all__ = ["JetStreamLike"]


class JetStreamLike(Protocol):
    @property
    def client(self) -> ClientAPI: ...

    @property
    def api_prefix(self) -> str: ...

    @property
    def timeout(self) -> float: ...

    @property
    def api(self) -> JSApi: ...

    @property
    def manager(self) -> JetStreamContext: ...

    def get_consumer_info(self, stream_name: str, consumer_name: str) -> js_api.ConsumerInfo: ...

    def get_stream_info(self, name: str, subjects_filter: Optional[str] = None
                        ) -> js_api.StreamInfo: ...

    def consumer_names(self, stream_name: str) -> Iterator[str]: ...

    def stream_names(self, subject: Optional[str] = None) -> Iterator[str]: ...

    def list_consumers(self, stream_name: str) -> Iterator[js_api.ConsumerInfo]: ...

    def get_message(self, stream: str, sequence: int) -> js_api.RawStreamMsg: ...

    def get_last_message_for_subject(self, stream: str, subject: str) -> js_api.RawStreamMsg: ...
