"""natsync.jetstream has the names of nats.py v3's nats.jetstream (issue 12's list)."""

from __future__ import annotations

import inspect

import natsync.jetstream as jetstream
from natsync import errors
from natsync.jetstream import errors as jerrors
from natsync.js import errors as js_errors

JETSTREAM = [
    "publish", "create_stream", "update_stream", "delete_stream", "get_stream",
    "get_stream_info", "stream_names", "list_streams", "create_consumer", "update_consumer",
    "create_or_update_consumer", "get_consumer", "delete_consumer", "consumer_names",
    "list_consumers", "ordered_consumer", "account_info", "get_message",
    "get_last_message_for_subject",
]
STREAM = [
    "get_info", "purge", "get_message", "get_last_message_for_subject", "delete_message",
    "secure_delete_message", "create_consumer", "update_consumer", "get_consumer",
    "get_consumer_info", "delete_consumer",
]
CONSUMER = ["get_info", "fetch", "fetch_nowait", "next", "messages", "consume"]


def test_new_signature() -> None:
    params = list(inspect.signature(jetstream.new).parameters)
    assert params[:3] == ["nc", "prefix", "domain"]
    assert inspect.signature(jetstream.new).parameters["prefix"].default == "$JS.API"


def test_method_names() -> None:
    for name in JETSTREAM:
        assert callable(getattr(jetstream.JetStream, name)), name
    for name in STREAM:
        assert callable(getattr(jetstream.Stream, name)), name
    assert isinstance(inspect.getattr_static(jetstream.Stream, "info"), property)
    for cls in (jetstream.Consumer, jetstream.OrderedConsumer):
        for name in CONSUMER:
            assert callable(getattr(cls, name)), (cls, name)
        for prop in ("name", "stream_name", "info"):
            assert isinstance(inspect.getattr_static(cls, prop), property), (cls, prop)
    sig = inspect.signature(jetstream.Consumer.messages).parameters
    assert list(sig)[1:5] == ["max_messages", "max_bytes", "max_wait", "heartbeat"]
    assert inspect.signature(jetstream.Consumer.next).parameters["max_wait"].default == 5.0
    for handle in (jetstream.MessageStream, jetstream.ConsumeContext):
        assert callable(handle.stop) and callable(handle.drain)
    assert callable(jetstream.ConsumeContext.closed)


def test_errors_share_one_tree() -> None:
    assert jerrors.StreamNotFoundError is js_errors.StreamNotFoundError
    assert jerrors.JetStreamError is js_errors.Error
    assert issubclass(jerrors.InvalidArgumentError, ValueError)
    for name in jerrors.__all__:
        cls = getattr(jerrors, name)
        assert issubclass(cls, errors.Error), name
