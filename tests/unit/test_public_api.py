"""The public surface is the contract of API.md: names nats-py users already know.
A listed name must never be renamed or vanish; this test guards them."""

from __future__ import annotations

import builtins
import inspect

import natsync
from natsync import errors
from natsync.msg import Msg
from natsync.subscription import Subscription

CLIENT_METHODS = {
    "connect": ["servers"],
    "publish": ["subject", "payload", "reply", "headers"],
    "subscribe": ["subject", "queue", "cb", "max_msgs", "pending_msgs_limit", "pending_bytes_limit"],
    "request": ["subject", "payload", "timeout", "headers"],
    "flush": ["timeout"],
    "rtt": ["timeout"],
    "drain": ["timeout"],
    "close": [],
    "new_inbox": [],
    "force_reconnect": [],
    "unsent_messages": [],
    "request_many": ["subject", "payload", "timeout", "max_msgs", "stall", "headers"],
}
CLIENT_PROPERTIES = [
    "is_connected", "is_reconnecting", "is_closed", "is_draining", "connected_url", "servers",
    "discovered_servers", "max_payload", "client_id", "connected_server_version", "last_error",
    "pending_data_size", "buffered_msgs", "buffered_bytes", "stats", "client_ip",
]
ERRORS = [
    "Error", "TimeoutError", "NoRespondersError", "ConnectionClosedError",
    "ConnectionReconnectingError", "ConnectionDrainingError", "OutboundBufferLimitError",
    "FlushTimeoutError", "DrainTimeoutError", "NoServersError", "AuthorizationError",
    "StaleConnectionError", "SecureConnRequiredError", "SecureConnFailedError", "BadSubjectError",
    "BadHeaderError", "MaxPayloadError", "SlowConsumerError", "ProtocolError",
    "InvalidUserCredentialsError", "UnexpectedEOF",
]


def test_top_level_all() -> None:
    assert set(natsync.__all__) >= {"Client", "Msg", "Subscription", "connect", "errors"}
    for name in natsync.__all__:
        assert hasattr(natsync, name), name


def test_client_methods_and_parameters() -> None:
    for name, params in CLIENT_METHODS.items():
        fn = getattr(natsync.Client, name)
        got = [p for p in inspect.signature(fn).parameters if p != "self"]
        assert got[: len(params)] == params, (name, got)


def test_client_properties() -> None:
    for name in CLIENT_PROPERTIES:
        assert isinstance(inspect.getattr_static(natsync.Client, name), property), name


def test_subscription_and_msg_surface() -> None:
    for name in ("next_msg", "unsubscribe", "drain", "set_pending_limits", "__iter__"):
        assert callable(getattr(Subscription, name)), name
    for name in ("subject", "queue", "sid", "pending_msgs", "pending_bytes", "delivered",
                 "dropped", "messages"):
        assert isinstance(inspect.getattr_static(Subscription, name), property), name
    assert list(inspect.signature(Subscription.next_msg).parameters) == ["self", "timeout"]
    assert list(inspect.signature(Subscription.unsubscribe).parameters) == ["self", "limit"]
    m = Msg("s", 1, "r", b"d")
    assert (m.subject, m.reply, m.data, m.headers, m.sid) == ("s", "r", b"d", None, 1)
    assert list(inspect.signature(Msg.respond).parameters) == ["self", "data", "headers"]


def test_error_tree() -> None:
    for name in ERRORS:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.Error), name
        assert name in errors.__all__
    assert issubclass(errors.TimeoutError, builtins.TimeoutError)
    assert issubclass(errors.UnexpectedEOF, errors.StaleConnectionError)
    for name in errors.__all__:
        obj = getattr(errors, name)
        if inspect.isclass(obj):
            assert issubclass(obj, errors.Error)
            assert str(obj()).startswith("nats: "), name  # a message even without arguments


def test_connect_options_match_the_contract() -> None:
    from natsync.options import Options

    fields = {f for f in Options.__dataclass_fields__}
    for name in (
        "name", "connect_timeout", "allow_reconnect", "max_reconnect_attempts",
        "reconnect_time_wait", "reconnect_jitter", "reconnect_jitter_tls", "reconnect_delay_cb",
        "retry_on_failed_connect", "dont_randomize", "reconnect_buf_size", "reconnect_buf_msgs",
        "reconnect_buf_overflow", "pending_size", "flush_timeout", "ping_interval",
        "max_outstanding_pings", "no_echo", "verbose", "pedantic", "inbox_prefix", "drain_timeout",
        "user", "password", "token", "nkeys_seed", "nkeys_seed_str", "user_credentials",
        "signature_cb", "user_jwt_cb", "tls", "tls_hostname", "tls_handshake_first", "error_cb",
        "disconnected_cb", "reconnected_cb", "closed_cb", "discovered_server_cb",
        "lame_duck_mode_cb",
    ):
        assert name in fields, name


def test_micro_surface() -> None:
    from natsync import micro

    for name in ("add_service", "Service", "ServiceConfig", "EndpointConfig", "GroupConfig", "Group",
                 "Request", "ServiceError", "ServiceStats", "ServiceInfo", "ServicePing",
                 "EndpointStats", "EndpointInfo", "ping", "info", "stats"):
        assert name in micro.__all__ and hasattr(micro, name), name
    assert list(inspect.signature(micro.add_service).parameters) == ["nc", "config", "kwargs"]
    for cls in (micro.Service, micro.Group):
        assert list(inspect.signature(cls.add_endpoint).parameters) == ["self", "config", "kwargs"]
        assert list(inspect.signature(cls.add_group).parameters) == ["self", "config", "kwargs"]
    assert list(inspect.signature(micro.Request.respond_error).parameters) == [
        "self", "code", "description", "data", "headers"]
