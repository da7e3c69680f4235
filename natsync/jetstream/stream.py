"""``Stream``: a handle on one stream (nats.py v3's ``Stream``), and its consumers."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Optional, Union

from ..js import api
from ..js.names import validate_consumer_name
from . import errors
from ._consumers import CREATE, CREATE_OR_UPDATE, UPDATE, delete_consumer, upsert_consumer
from ._types import JetStreamLike
from .consumer import Consumer
from .ordered import OrderedConsumer, OrderedConsumerConfig

__all__ = ["Stream"]

ConfigArg = Union[api.ConsumerConfig, str, None]


def consumer_config(config: ConfigArg, kwargs: Any) -> api.ConsumerConfig:
    """A ConsumerConfig from a config object or keyword arguments (a str is the name,
    as in nats.py v3's ``create_consumer(stream, name, **config)``)."""
    if isinstance(config, str):
        kwargs = {"name": config, **kwargs}
        config = None
    if config is not None and not isinstance(config, api.ConsumerConfig):
        raise errors.InvalidArgumentError(
            f"config must be a ConsumerConfig, got {type(config).__name__}")
    check_fields(api.ConsumerConfig, kwargs)
    if config is None:
        return api.ConsumerConfig(**kwargs)
    return config.evolve(**kwargs) if kwargs else config


def check_fields(kind: Any, kwargs: Any) -> None:
    """An unknown keyword is a natsync error naming it, not a TypeError."""
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(k for k in kwargs if k not in known)
    if unknown:
        raise errors.InvalidArgumentError(
            f"{kind.__name__} has no field {', '.join(map(repr, unknown))}; its fields "
            f"are: {', '.join(sorted(known))}")


class Stream:
    """A stream. Get one from ``js.create_stream(...)`` or ``js.get_stream(name)``."""

    def __init__(self, js: JetStreamLike, name: str, info: Optional[api.StreamInfo] = None) -> None:
        self._js = js
        self._name = name
        self._info = info

    @property
    def name(self) -> str:
        return self._name

    @property
    def info(self) -> Optional[api.StreamInfo]:
        """The stream info as last fetched (see :meth:`get_info`)."""
        return self._info

    def get_info(self, subjects_filter: Optional[str] = None) -> api.StreamInfo:
        """Fetch the stream info from the server (and keep it in :attr:`info`)."""
        self._info = self._js.get_stream_info(self._name, subjects_filter=subjects_filter)
        return self._info

    def purge(self, filter: Optional[str] = None, keep: Optional[int] = None,  # noqa: A002
              sequence: Optional[int] = None) -> None:
        """Purge all messages, or those of ``filter``, up to ``sequence`` (exclusive), or
        all but the last ``keep``."""
        self._js.manager.purge_stream(self._name, seq=sequence, subject=filter, keep=keep)

    # ------------------------------------------------------------ messages
    def get_message(self, sequence: int) -> api.RawStreamMsg:
        msg: api.RawStreamMsg = self._js.get_message(self._name, sequence)
        return msg

    def get_last_message_for_subject(self, subject: str) -> api.RawStreamMsg:
        msg: api.RawStreamMsg = self._js.get_last_message_for_subject(self._name, subject)
        return msg

    def delete_message(self, sequence: int) -> None:
        """Mark a message deleted (its bytes are not overwritten; see secure_delete_message)."""
        self._delete(sequence, no_erase=True)

    def secure_delete_message(self, sequence: int) -> None:
        """Delete a message and overwrite its bytes in the store."""
        self._delete(sequence, no_erase=False)

    def _delete(self, sequence: int, no_erase: bool) -> None:
        if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
            raise errors.InvalidArgumentError(f"sequence must be an int >= 1, got {sequence!r}")
        req = {"seq": sequence, "no_erase": True} if no_erase else {"seq": sequence}
        self._js.api.request(f"STREAM.MSG.DELETE.{self._name}", req)

    # ----------------------------------------------------------- consumers
    def _upsert(self, action: str, config: ConfigArg, kwargs: Any) -> Consumer:
        info = upsert_consumer(self._js.api, self._name, consumer_config(config, kwargs), action)
        return Consumer(self._js, self._name, info)

    def create_consumer(self, config: ConfigArg = None, /, **kwargs: Any) -> Consumer:
        """Create a pull consumer (a ConsumerConfig, or its fields as keywords; ``name`` or
        ``durable_name`` is required); fails if one by that name exists with another config."""
        return self._upsert(CREATE, config, kwargs)

    def update_consumer(self, config: ConfigArg = None, /, **kwargs: Any) -> Consumer:
        """Update an existing consumer's configuration; fails if it does not exist."""
        return self._upsert(UPDATE, config, kwargs)

    def create_or_update_consumer(self, config: ConfigArg = None, /, **kwargs: Any) -> Consumer:
        return self._upsert(CREATE_OR_UPDATE, config, kwargs)

    def get_consumer_info(self, name: str) -> api.ConsumerInfo:
        info: api.ConsumerInfo = self._js.get_consumer_info(self._name, name)
        return info

    def get_consumer(self, name: str) -> Consumer:
        """A handle on an existing consumer (``ConsumerNotFoundError`` if there is none)."""
        validate_consumer_name(name)
        return Consumer(self._js, self._name, self.get_consumer_info(name))

    def delete_consumer(self, name: str) -> bool:
        return delete_consumer(self._js.api, self._name, name)

    def consumer_names(self) -> Iterator[str]:
        return self._js.consumer_names(self._name)

    def list_consumers(self) -> Iterator[api.ConsumerInfo]:
        return self._js.list_consumers(self._name)

    def ordered_consumer(self, config: Optional[OrderedConsumerConfig] = None, /,
                         **kwargs: Any) -> OrderedConsumer:
        """An ordered consumer (``filter_subjects=``, ``deliver_policy=``, ...): every message
        once, in order, recreating itself after gaps and outages."""
        if config is None:
            config = OrderedConsumerConfig(**kwargs)
        elif kwargs:
            raise errors.InvalidArgumentError("pass an OrderedConsumerConfig or keywords, not both")
        return OrderedConsumer(self._js, self._name, config)

    def __repr__(self) -> str:
        return f"<Stream {self._name}>"
