from __future__ import annotations

import dataclasses
import math
import ssl
from pathlib import Path
from typing import Any

import pytest

from natsync import options as options_mod
from natsync.backoff import Backoff
from natsync.options import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_INBOX_PREFIX,
    DEFAULT_MAX_OUTSTANDING_PINGS,
    DEFAULT_MAX_RECONNECT_ATTEMPTS,
    DEFAULT_PENDING_SIZE,
    DEFAULT_PING_INTERVAL,
    DEFAULT_RECONNECT_BUF_SIZE,
    OVERFLOW_POLICIES,
    Options,
    build_options,
)
from natsync.servers import parse_url

# The "Connecting" table of /work/shared/API.md, name -> default.
API_TABLE: dict[str, Any] = {
    "name": None,
    "connect_timeout": 2.0,
    "allow_reconnect": True,
    "max_reconnect_attempts": 60,
    "reconnect_time_wait": 2.0,
    "reconnect_jitter": 0.1,
    "reconnect_jitter_tls": 1.0,
    "reconnect_delay_cb": None,
    "retry_on_failed_connect": False,
    "dont_randomize": False,
    "reconnect_buf_size": 8 * 1024 * 1024,
    "reconnect_buf_msgs": None,
    "reconnect_buf_overflow": "error",
    "pending_size": 2 * 1024 * 1024,
    "flush_timeout": None,
    "ping_interval": 120.0,
    "max_outstanding_pings": 2,
    "no_echo": False,
    "verbose": False,
    "pedantic": False,
    "inbox_prefix": "_INBOX",
    "drain_timeout": 30.0,
    "user": None,
    "password": None,
    "token": None,
    "nkeys_seed": None,
    "nkeys_seed_str": None,
    "user_credentials": None,
    "signature_cb": None,
    "user_jwt_cb": None,
    "tls": None,
    "tls_hostname": None,
    "tls_handshake_first": False,
    "error_cb": None,
    "disconnected_cb": None,
    "reconnected_cb": None,
    "closed_cb": None,
    "discovered_server_cb": None,
    "lame_duck_mode_cb": None,
}
#: named in API.md's text rather than its table (WebSocket), or internal
EXTRA_FIELDS = {"servers", "reconnect_random", "ws_connection_headers", "ws_proxy", "ws_no_masking"}


def noop() -> None:
    return None


def test_fields_match_api_table() -> None:
    names = {f.name for f in dataclasses.fields(Options)}
    assert names == set(API_TABLE) | EXTRA_FIELDS


def test_defaults_match_api_table() -> None:
    opts = build_options()
    for name, default in API_TABLE.items():
        assert getattr(opts, name) == default, name
    assert [u.geturl() for u in opts.servers] == ["nats://localhost:4222"]
    assert opts.reconnect_random is None
    assert Options() == opts


def test_default_constants() -> None:
    assert DEFAULT_CONNECT_TIMEOUT == 2.0
    assert DEFAULT_RECONNECT_BUF_SIZE == 8 * 1024 * 1024
    assert DEFAULT_PENDING_SIZE == 2 * 1024 * 1024
    assert DEFAULT_PING_INTERVAL == 120.0
    assert DEFAULT_MAX_OUTSTANDING_PINGS == 2
    assert DEFAULT_MAX_RECONNECT_ATTEMPTS == 60
    assert DEFAULT_INBOX_PREFIX == "_INBOX"
    assert DEFAULT_DRAIN_TIMEOUT == 30.0
    assert OVERFLOW_POLICIES == ("error", "block", "drop_oldest")
    for name in options_mod.__all__:
        assert hasattr(options_mod, name), name


def test_servers_forms() -> None:
    assert [u.geturl() for u in build_options("a:1").servers] == ["nats://a:1"]
    assert [u.geturl() for u in build_options("a:1,tls://b").servers] == [
        "nats://a:1",
        "tls://b:4222",
    ]
    opts = build_options(["a", "b:2,c"])
    assert isinstance(opts.servers, tuple)
    assert [u.geturl() for u in opts.servers] == ["nats://a:4222", "nats://b:2", "nats://c:4222"]
    assert [u.geturl() for u in build_options([]).servers] == ["nats://localhost:4222"]
    assert [u.geturl() for u in build_options("ws://a,wss://b/nats").servers] == [
        "ws://a:80",
        "wss://b:443/nats",
    ]
    with pytest.raises(ValueError, match="unknown scheme"):
        build_options("http://a")
    with pytest.raises(ValueError, match="port"):
        build_options("a:99999")


def test_direct_construction_parses_servers() -> None:
    opts = Options(servers="x:1")  # type: ignore[arg-type]
    assert opts.servers == (parse_url("x:1"),)


def test_frozen() -> None:
    opts = build_options()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.name = "x"  # type: ignore[misc]


def test_all_options_accepted() -> None:
    ctx = ssl.create_default_context()
    opts = build_options(
        "tls://h",
        name="w",
        connect_timeout=1,
        allow_reconnect=False,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0,
        reconnect_jitter=0,
        reconnect_jitter_tls=0,
        reconnect_delay_cb=lambda a: 1.0,
        retry_on_failed_connect=True,
        dont_randomize=True,
        reconnect_buf_size=None,
        reconnect_buf_msgs=0,
        reconnect_buf_overflow="drop_oldest",
        pending_size=1,
        flush_timeout=0.5,
        ping_interval=0.1,
        max_outstanding_pings=1,
        no_echo=True,
        verbose=True,
        pedantic=True,
        inbox_prefix="_I.app",
        drain_timeout=1,
        user="u",
        password="p",
        token=lambda: "t",
        nkeys_seed=Path("/x/seed.nk"),
        signature_cb=lambda nonce: b"sig",
        user_jwt_cb=lambda: b"jwt",
        tls=ctx,
        tls_hostname="h",
        tls_handshake_first=True,
        error_cb=lambda e: None,
        disconnected_cb=noop,
        reconnected_cb=noop,
        closed_cb=noop,
        discovered_server_cb=noop,
        lame_duck_mode_cb=noop,
        reconnect_random=lambda: 0.5,
    )
    assert opts.tls is ctx
    assert opts.reconnect_buf_size is None
    assert opts.max_reconnect_attempts == -1
    assert callable(opts.token)
    assert opts.token() == "t"


def test_unknown_option_names_closest() -> None:
    with pytest.raises(TypeError, match=r"'reconect_time_wait'.*'reconnect_time_wait'"):
        build_options(reconect_time_wait=1)
    with pytest.raises(TypeError, match=r"'max_reconnect'.*'max_reconnect_attempts'"):
        build_options(max_reconnect=1)
    with pytest.raises(TypeError, match="unknown option 'zzzzzz'") as info:
        build_options(zzzzzz=1)
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "exc", "match"),
    [
        ("reconnect_buf_size", -1, ValueError, "reconnect_buf_size"),
        ("reconnect_buf_msgs", -1, ValueError, "reconnect_buf_msgs"),
        ("reconnect_buf_size", 1.5, TypeError, "reconnect_buf_size"),
        ("reconnect_buf_overflow", "spill", ValueError, "'error', 'block', 'drop_oldest'"),
        ("connect_timeout", 0, ValueError, "connect_timeout"),
        ("connect_timeout", -1.0, ValueError, "connect_timeout"),
        ("connect_timeout", math.inf, ValueError, "connect_timeout"),
        ("connect_timeout", math.nan, ValueError, "connect_timeout"),
        ("connect_timeout", "2", TypeError, "connect_timeout"),
        ("ping_interval", 0, ValueError, "ping_interval"),
        ("ping_interval", -5, ValueError, "ping_interval"),
        ("drain_timeout", 0, ValueError, "drain_timeout"),
        ("flush_timeout", 0, ValueError, "flush_timeout"),
        ("reconnect_time_wait", -0.1, ValueError, "reconnect_time_wait"),
        ("reconnect_jitter", -0.1, ValueError, "reconnect_jitter"),
        ("reconnect_jitter_tls", -0.1, ValueError, "reconnect_jitter_tls"),
        ("max_reconnect_attempts", -2, ValueError, "max_reconnect_attempts"),
        ("max_reconnect_attempts", 1.0, TypeError, "max_reconnect_attempts"),
        ("max_reconnect_attempts", True, TypeError, "max_reconnect_attempts"),
        ("pending_size", 0, ValueError, "pending_size"),
        ("max_outstanding_pings", 0, ValueError, "max_outstanding_pings"),
        ("tls", True, TypeError, "SSLContext"),
        ("tls", "tls", TypeError, "SSLContext"),
        ("allow_reconnect", 1, TypeError, "allow_reconnect"),
        ("no_echo", None, TypeError, "no_echo"),
        ("error_cb", "print", TypeError, "error_cb"),
        ("reconnect_delay_cb", 2.0, TypeError, "reconnect_delay_cb"),
        ("reconnect_random", 0.5, TypeError, "reconnect_random"),
        ("name", 5, TypeError, "name"),
        ("password", b"x", TypeError, "password"),
        ("token", 123, TypeError, "token"),
        ("nkeys_seed", 5, TypeError, "nkeys_seed"),
        ("user_credentials", 5, TypeError, "user_credentials"),
        ("user_credentials", ("a.jwt", "b.nk"), TypeError, "user_credentials"),
    ],
)
def test_validation_errors(name: str, value: object, exc: type[Exception], match: str) -> None:
    kwargs: dict[str, Any] = {name: value}
    with pytest.raises(exc, match=match):
        build_options(**kwargs)


@pytest.mark.parametrize("policy", OVERFLOW_POLICIES)
def test_overflow_policies_accepted(policy: str) -> None:
    assert build_options(reconnect_buf_overflow=policy).reconnect_buf_overflow == policy


def test_buffer_limits_zero_and_none_allowed() -> None:
    opts = build_options(reconnect_buf_size=0, reconnect_buf_msgs=None)
    assert (opts.reconnect_buf_size, opts.reconnect_buf_msgs) == (0, None)
    opts = build_options(reconnect_buf_size=None, reconnect_buf_msgs=10)
    assert (opts.reconnect_buf_size, opts.reconnect_buf_msgs) == (None, 10)


@pytest.mark.parametrize("prefix", ["_INBOX", "a", "_INBOX.my-app", "a.b.c", "x_y"])
def test_inbox_prefix_valid(prefix: str) -> None:
    assert build_options(inbox_prefix=prefix).inbox_prefix == prefix


@pytest.mark.parametrize(
    "prefix",
    ["", "a.*", "a.>", ">", "*", "a*b", "a b", "a\tb", "a\r\n", ".a", "a.", "a..b", "\x00"],
)
def test_inbox_prefix_invalid(prefix: str) -> None:
    with pytest.raises(ValueError, match="inbox_prefix"):
        build_options(inbox_prefix=prefix)


def test_inbox_prefix_type() -> None:
    with pytest.raises(TypeError, match="inbox_prefix"):
        build_options(inbox_prefix=None)


def test_seed_and_credentials_consistency() -> None:
    with pytest.raises(ValueError, match="not both"):
        build_options(nkeys_seed="/s.nk", nkeys_seed_str="SUAB")
    with pytest.raises(ValueError, match="nkeys_seed"):
        build_options(user_credentials="/u.creds", nkeys_seed="/s.nk")
    with pytest.raises(ValueError, match="nkeys_seed_str"):
        build_options(user_credentials="/u.creds", nkeys_seed_str="SUAB")
    with pytest.raises(ValueError, match="user_jwt_cb and signature_cb"):
        build_options(
            user_credentials="/u.creds", user_jwt_cb=lambda: b"j", signature_cb=lambda n: b"s"
        )
    with pytest.raises(ValueError, match="sign the server's nonce"):
        build_options(user_jwt_cb=lambda: b"j")
    with pytest.raises(ValueError, match="give user_jwt_cb too"):
        build_options(signature_cb=lambda n: b"s")
    with pytest.raises(ValueError, match="without user"):
        build_options(password="p")
    # Each alone, or a complete pair, is fine.
    assert build_options(nkeys_seed="/s.nk").nkeys_seed == "/s.nk"
    assert build_options(nkeys_seed_str="SUAB").nkeys_seed_str == "SUAB"
    assert build_options(user_credentials=Path("/u.creds")).user_credentials == Path("/u.creds")
    assert build_options(user_jwt_cb=lambda: b"j", signature_cb=lambda n: b"s").user_jwt_cb
    assert build_options(user_jwt_cb=lambda: b"j", nkeys_seed_str="SUAB").user_jwt_cb
    assert build_options(user="u", password="p").password == "p"
    assert build_options(user="u").password is None


def test_repr_hides_secrets() -> None:
    opts = build_options(
        ["nats://alice:hunter2@a:4222", "nats://t0ken@b", "c"],
        user="bob",
        password="pa55word",
        token="tok-123",
        nkeys_seed_str="SUAMSEEDSECRET",
    )
    text = repr(opts)
    for secret in ("hunter2", "alice", "t0ken", "pa55word", "tok-123", "SUAMSEEDSECRET"):
        assert secret not in text
        assert secret not in str(opts)
    assert "nats://***@a:4222" in text
    assert "nats://***@b:4222" in text
    assert "nats://c:4222" in text
    assert "password='***'" in text
    assert "token='***'" in text
    assert "nkeys_seed_str='***'" in text
    assert "user='bob'" in text  # a user name is not a secret
    # The values themselves are intact.
    assert opts.password == "pa55word"
    assert opts.servers[0].password == "hunter2"


def test_repr_callable_token_hidden_and_unset_secrets_shown_as_none() -> None:
    text = repr(build_options(token=lambda: "fresh"))
    assert "token='***'" in text
    assert "password=None" in text
    assert "nkeys_seed_str=None" in text


def test_backoff() -> None:
    b = build_options(
        reconnect_time_wait=1.0,
        reconnect_jitter=0.2,
        reconnect_jitter_tls=3.0,
        reconnect_random=lambda: 0.5,
    ).backoff()
    assert isinstance(b, Backoff)
    assert b.delay(1, False) == pytest.approx(1.1)
    assert b.delay(1, True) == pytest.approx(2.5)
    cb = build_options(reconnect_delay_cb=lambda attempt: attempt * 2.0).backoff()
    assert cb.delay(3, True) == 6.0
    default = build_options().backoff()
    assert (default.time_wait, default.jitter, default.jitter_tls) == (2.0, 0.1, 1.0)
    assert 2.0 <= default.delay(1, False) < 2.1


def test_replace_revalidates() -> None:
    base = build_options("a", name="one", reconnect_buf_msgs=5)
    changed = base.replace(name="two", servers="b:1,c:2")
    assert changed.name == "two"
    assert changed.reconnect_buf_msgs == 5
    assert [u.geturl() for u in changed.servers] == ["nats://b:1", "nats://c:2"]
    assert base.name == "one"
    assert base.replace() == base
    with pytest.raises(ValueError, match="reconnect_buf_size"):
        base.replace(reconnect_buf_size=-1)
    with pytest.raises(TypeError, match="did you mean 'name'"):
        base.replace(nme="x")
    with pytest.raises(ValueError, match="not both"):
        build_options(nkeys_seed="/s").replace(nkeys_seed_str="SU")


def test_equality_and_hash() -> None:
    assert build_options("a", name="x") == build_options("nats://a:4222", name="x")
    assert hash(build_options("a")) == hash(build_options("a"))
    assert build_options("a") != build_options("b")
