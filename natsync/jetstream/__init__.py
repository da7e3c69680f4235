"""The ADR-37 JetStream API: nats.py v3's ``nats.jetstream`` without ``await``.

::

    import natsync, natsync.jetstream

    with natsync.connect("nats://127.0.0.1:4222") as nc:
        js = natsync.jetstream.new(nc)
        stream = js.create_stream(name="ORDERS", subjects=["orders.>"])
        js.publish("orders.1", b"hello")
        consumer = stream.create_consumer(name="worker", ack_policy="explicit")
        with consumer.messages() as msgs:
            for msg in msgs:
                msg.ack()
                break

Modules: :mod:`.context` (``JetStream``, ``new``), :mod:`.stream` (``Stream``),
:mod:`.consumer` (``Consumer``), :mod:`.ordered` (``OrderedConsumer``), :mod:`.consume`
(``MessageStream``, ``ConsumeContext``), :mod:`.fetch` (``MessageBatch``), :mod:`.errors`.
The pull engine is :mod:`._pullstate` (sans-IO) and :mod:`._puller` (the driver).
Config and info types are ``natsync.js.api``'s, shared with the nats-py 2.x facade.
"""

from __future__ import annotations

from ..js.api import (
    AccountInfo,
    AckPolicy,
    ConsumerConfig,
    ConsumerInfo,
    DeliverPolicy,
    DiscardPolicy,
    PubAck,
    RawStreamMsg,
    ReplayPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from . import errors
from .consume import ConsumeContext, MessageStream
from .consumer import Consumer
from .context import JetStream, new
from .fetch import MessageBatch
from .ordered import OrderedConsumer, OrderedConsumerConfig
from .stream import Stream

__all__ = [
    "AccountInfo", "AckPolicy", "ConsumeContext", "Consumer", "ConsumerConfig", "ConsumerInfo",
    "DeliverPolicy", "DiscardPolicy", "JetStream", "MessageBatch", "MessageStream",
    "OrderedConsumer", "OrderedConsumerConfig", "PubAck", "RawStreamMsg", "ReplayPolicy",
    "RetentionPolicy", "StorageType", "Stream", "StreamConfig", "StreamInfo", "errors", "new",
]
