"""Connection options: one frozen, validated :class:`Options` object.

``connect(servers, **options)`` builds it once with :func:`build_options`;
every option of the API's "Connecting" table is a field here, with the same
name and default (each default is also a ``DEFAULT_*`` constant). Validation
happens in ``__post_init__``, so an ``Options`` that exists is valid, and
:meth:`Options.replace` revalidates. ``repr()`` never shows a password, a
token, an NKey seed or the user info of a server URL.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import random as _random
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, List, Literal, Optional, Tuple, Union
from urllib.parse import ParseResult, urlparse

from .backoff import Backoff
from .protocol.ws import check_header
from .servers import DEFAULT_SERVER, ServersSpec, parse_servers, redact_url

__all__ = [
    "DEFAULT_ALLOW_RECONNECT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_DRAIN_TIMEOUT",
    "DEFAULT_INBOX_PREFIX",
    "DEFAULT_MAX_OUTSTANDING_PINGS",
    "DEFAULT_MAX_RECONNECT_ATTEMPTS",
    "DEFAULT_PENDING_SIZE",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_RECONNECT_BUF_MSGS",
    "DEFAULT_RECONNECT_BUF_OVERFLOW",
    "DEFAULT_RECONNECT_BUF_SIZE",
    "DEFAULT_RECONNECT_JITTER",
    "DEFAULT_RECONNECT_JITTER_TLS",
    "DEFAULT_RECONNECT_TIME_WAIT",
    "DEFAULT_SERVER",
    "OVERFLOW_POLICIES",
    "Options",
    "build_options",
]

DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_ALLOW_RECONNECT = True
DEFAULT_MAX_RECONNECT_ATTEMPTS = 60
DEFAULT_RECONNECT_TIME_WAIT = 2.0
DEFAULT_RECONNECT_JITTER = 0.1
DEFAULT_RECONNECT_JITTER_TLS = 1.0
DEFAULT_RECONNECT_BUF_SIZE = 8 * 1024 * 1024
DEFAULT_RECONNECT_BUF_MSGS: int | None = None
DEFAULT_RECONNECT_BUF_OVERFLOW = "error"
DEFAULT_PENDING_SIZE = 2 * 1024 * 1024
DEFAULT_PING_INTERVAL = 120.0
DEFAULT_MAX_OUTSTANDING_PINGS = 2
DEFAULT_INBOX_PREFIX = "_INBOX"
DEFAULT_DRAIN_TIMEOUT = 30.0

OVERFLOW_POLICIES = ("error", "block", "drop_oldest")

Callback = Callable[[], None]
ErrorCallback = Callable[[Exception], None]
DelayCallback = Callable[[int], float]
SignatureCallback = Callable[[str], bytes]
JWTCallback = Callable[[], Union[bytes, bytearray, str]]
TokenSource = Union[str, Callable[[], str]]
PathLike = Union[str, "os.PathLike[str]"]
WSHeaders = Mapping[str, Union[str, Sequence[str]]]

_SECRET_FIELDS = frozenset({"password", "token", "nkeys_seed_str"})

_BOOL_FIELDS = (
    "allow_reconnect",
    "retry_on_failed_connect",
    "dont_randomize",
    "no_echo",
    "verbose",
    "pedantic",
    "tls_handshake_first",
    "ws_no_masking",
)
_CALLABLE_FIELDS = (
    "reconnect_delay_cb",
    "signature_cb",
    "user_jwt_cb",
    "error_cb",
    "disconnected_cb",
    "reconnected_cb",
    "closed_cb",
    "discovered_server_cb",
    "lame_duck_mode_cb",
    "reconnect_random",
)
_OPTIONAL_STR_FIELDS = ("name", "user", "password", "nkeys_seed_str", "tls_hostname")


def _default_servers() -> tuple[ParseResult, ...]:
    return tuple(parse_servers(None))


@dataclass(frozen=True, repr=False)
class Options:
    """Validated connection options (see the API's "Connecting" table).

    ``token`` may be a callable returning a fresh token for each connect.
    ``reconnect_random`` is internal: a source of floats in ``[0, 1)`` for the
    reconnect jitter, injected by tests for deterministic waits; None means
    :func:`random.random`.
    """

    servers: tuple[ParseResult, ...] = field(default_factory=_default_servers)
    name: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    allow_reconnect: bool = DEFAULT_ALLOW_RECONNECT
    max_reconnect_attempts: int = DEFAULT_MAX_RECONNECT_ATTEMPTS
    reconnect_time_wait: float = DEFAULT_RECONNECT_TIME_WAIT
    reconnect_jitter: float = DEFAULT_RECONNECT_JITTER
    reconnect_jitter_tls: float = DEFAULT_RECONNECT_JITTER_TLS
    reconnect_delay_cb: DelayCallback | None = None
    retry_on_failed_connect: bool = False
    dont_randomize: bool = False
    reconnect_buf_size: int | None = DEFAULT_RECONNECT_BUF_SIZE
    reconnect_buf_msgs: int | None = DEFAULT_RECONNECT_BUF_MSGS
    reconnect_buf_overflow: str = DEFAULT_RECONNECT_BUF_OVERFLOW
    pending_size: int = DEFAULT_PENDING_SIZE
    flush_timeout: float | None = None
    ping_interval: float = DEFAULT_PING_INTERVAL
    max_outstanding_pings: int = DEFAULT_MAX_OUTSTANDING_PINGS
    no_echo: bool = False
    verbose: bool = False
    pedantic: bool = False
    inbox_prefix: str = DEFAULT_INBOX_PREFIX
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    user: str | None = None
    password: str | None = None
    token: TokenSource | None = None
    nkeys_seed: PathLike | None = None
    nkeys_seed_str: str | None = None
    user_credentials: PathLike | None = None
    signature_cb: SignatureCallback | None = None
    user_jwt_cb: JWTCallback | None = None
    #: an SSLContext; None = TLS only when the URL or the server asks for it (a default
    #: verifying context); False = refuse TLS (SecureConnRequiredError if the server requires it)
    tls: ssl.SSLContext | Literal[False] | None = None
    tls_hostname: str | None = None
    tls_handshake_first: bool = False
    #: extra headers of the WebSocket upgrade request (ws:// and wss:// servers):
    #: name -> value, or name -> list of values
    ws_connection_headers: Optional[WSHeaders] = None
    #: an HTTP CONNECT proxy for ws:// and wss:// servers: "http://[user:password@]host:port"
    ws_proxy: Optional[str] = None
    #: ask the server for unmasked client frames (nats-server's Nats-No-Masking); frames
    #: stay masked unless the server agrees
    ws_no_masking: bool = False
    error_cb: ErrorCallback | None = None
    disconnected_cb: Callback | None = None
    reconnected_cb: Callback | None = None
    closed_cb: Callback | None = None
    discovered_server_cb: Callback | None = None
    lame_duck_mode_cb: Callback | None = None
    reconnect_random: Callable[[], float] | None = None

    def __post_init__(self) -> None:
        # Accept any form parse_servers does, and normalise hand-made ParseResults.
        servers: Any = self.servers
        object.__setattr__(self, "servers", tuple(parse_servers(servers)))
        self._validate()

    def _validate(self) -> None:
        for name in _BOOL_FIELDS:
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"nats: option {name} must be True or False")
        for name in _CALLABLE_FIELDS:
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise TypeError(f"nats: option {name} must be a callable or None")
        for name in _OPTIONAL_STR_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"nats: option {name} must be a str or None")

        _check_seconds("connect_timeout", self.connect_timeout, allow_zero=False)
        _check_seconds("reconnect_time_wait", self.reconnect_time_wait, allow_zero=True)
        _check_seconds("reconnect_jitter", self.reconnect_jitter, allow_zero=True)
        _check_seconds("reconnect_jitter_tls", self.reconnect_jitter_tls, allow_zero=True)
        _check_seconds("ping_interval", self.ping_interval, allow_zero=False)
        _check_seconds("drain_timeout", self.drain_timeout, allow_zero=False)
        if self.flush_timeout is not None:
            _check_seconds("flush_timeout", self.flush_timeout, allow_zero=False)

        _check_int("max_reconnect_attempts", self.max_reconnect_attempts, minimum=-1)
        if self.reconnect_buf_size is not None:
            _check_int("reconnect_buf_size", self.reconnect_buf_size, minimum=0)
        if self.reconnect_buf_msgs is not None:
            _check_int("reconnect_buf_msgs", self.reconnect_buf_msgs, minimum=0)
        _check_int("pending_size", self.pending_size, minimum=1)
        _check_int("max_outstanding_pings", self.max_outstanding_pings, minimum=1)

        if self.reconnect_buf_overflow not in OVERFLOW_POLICIES:
            raise ValueError(
                f"nats: reconnect_buf_overflow={self.reconnect_buf_overflow!r} is not valid; "
                f"use one of {', '.join(repr(p) for p in OVERFLOW_POLICIES)}"
            )
        _check_inbox_prefix(self.inbox_prefix)

        if self.tls is not None and self.tls is not False and not isinstance(self.tls, ssl.SSLContext):
            raise TypeError(
                "nats: option tls must be an ssl.SSLContext, None, or False (refuse TLS), "
                f"not {type(self.tls).__name__}"
            )
        if self.token is not None and not (isinstance(self.token, str) or callable(self.token)):
            raise TypeError("nats: option token must be a str, a callable returning a str, or None")
        if self.nkeys_seed is not None and not isinstance(self.nkeys_seed, (str, os.PathLike)):
            raise TypeError("nats: option nkeys_seed must be the path of a seed file")
        self._check_credentials()
        self._check_ws()

    def _check_ws(self) -> None:
        headers = self.ws_connection_headers
        if headers is not None:
            if not isinstance(headers, Mapping):
                raise TypeError(
                    "nats: option ws_connection_headers must be a dict of header name -> "
                    "value (or list of values)")
            copy: dict[str, Tuple[str, ...]] = {}
            for name, value in headers.items():
                values = (value,) if isinstance(value, str) else tuple(value)
                for v in values:
                    check_header(name, v)
                copy[name] = values
            object.__setattr__(self, "ws_connection_headers", copy)
        proxy = self.ws_proxy
        if proxy is not None:
            if not isinstance(proxy, str):
                raise TypeError("nats: option ws_proxy must be a URL string like 'http://host:3128'")
            try:
                p = urlparse(proxy)
                ok = p.scheme == "http" and bool(p.hostname) and p.path in ("", "/")
                ok = ok and (p.port is None or 1 <= p.port <= 65535)
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(
                    f"nats: ws_proxy {'***' if '@' in proxy else proxy!r} is not valid; give "
                    "an HTTP CONNECT proxy as 'http://[user:password@]host:port'")

    def ws_header_list(self) -> List[Tuple[str, str]]:
        """The WebSocket upgrade headers as (name, value) pairs."""
        headers = self.ws_connection_headers
        if not headers:
            return []
        return [(name, v) for name, values in headers.items()
                for v in ((values,) if isinstance(values, str) else values)]

    def _check_credentials(self) -> None:
        # Contradictory or incomplete credential options fail here, before any
        # socket is opened.
        if self.user_credentials is not None and not isinstance(
            self.user_credentials, (str, os.PathLike)
        ):
            raise TypeError("nats: option user_credentials must be the path of a .creds file")
        if self.password is not None and self.user is None:
            raise ValueError("nats: password was given without user; set both")
        if self.nkeys_seed is not None and self.nkeys_seed_str is not None:
            raise ValueError("nats: give nkeys_seed (a file) or nkeys_seed_str, not both")
        if self.user_credentials is not None:
            clash = [
                name
                for name in ("nkeys_seed", "nkeys_seed_str", "user_jwt_cb", "signature_cb")
                if getattr(self, name) is not None
            ]
            if clash:
                raise ValueError(
                    f"nats: user_credentials already supplies the JWT and the seed; "
                    f"drop {' and '.join(clash)}"
                )
        has_seed = self.nkeys_seed is not None or self.nkeys_seed_str is not None
        if self.user_jwt_cb is not None and self.signature_cb is None and not has_seed:
            raise ValueError(
                "nats: user_jwt_cb needs a way to sign the server's nonce; "
                "give signature_cb (or nkeys_seed / nkeys_seed_str)"
            )
        if self.signature_cb is not None and self.user_jwt_cb is None:
            raise ValueError("nats: signature_cb signs for a user JWT; give user_jwt_cb too")

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "servers":
                text = repr(tuple(redact_url(u) for u in value))
            elif f.name == "ws_connection_headers" and value is not None:
                text = repr({k: "***" for k in value})
            elif f.name == "ws_proxy" and value is not None and "@" in value:
                text = repr("http://***@" + value.rpartition("@")[2])
            elif f.name in _SECRET_FIELDS and value is not None:
                text = "'***'"
            else:
                text = repr(value)
            parts.append(f"{f.name}={text}")
        return f"Options({', '.join(parts)})"

    def backoff(self) -> Backoff:
        """The reconnect wait policy these options describe."""
        return Backoff(
            time_wait=self.reconnect_time_wait,
            jitter=self.reconnect_jitter,
            jitter_tls=self.reconnect_jitter_tls,
            delay_cb=self.reconnect_delay_cb,
            random=self.reconnect_random or _random.random,
        )

    def replace(self, **changes: Any) -> Options:
        """A copy with ``changes`` applied, validated like :func:`build_options`.

        ``servers`` may be given in any form :func:`build_options` accepts.
        """
        _check_names(changes)
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values.update(changes)
        servers = values.pop("servers")
        return build_options(servers, **values)


_OPTION_NAMES = tuple(f.name for f in dataclasses.fields(Options))


def _check_names(kwargs: Any) -> None:
    for key in kwargs:
        if key not in _OPTION_NAMES:
            close = [n for n in _OPTION_NAMES if key and n.startswith(key)]
            close = close or difflib.get_close_matches(key, _OPTION_NAMES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"nats: unknown option {key!r}{hint}")


def build_options(servers: ServersSpec = None, **kwargs: Any) -> Options:
    """Build and validate :class:`Options` from ``connect()``'s arguments.

    ``servers`` is a URL, a comma-separated string of URLs, or a list of them
    (None: ``nats://localhost:4222``). An unknown keyword is a ``TypeError``
    that names the closest valid option; a bad value is a ``ValueError`` or
    ``TypeError`` saying what is accepted.
    """
    _check_names(kwargs)
    return Options(servers=tuple(parse_servers(servers)), **kwargs)


def _check_seconds(name: str, value: object, *, allow_zero: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"nats: option {name} must be a number of seconds")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"nats: option {name} must be a finite number {bound}, got {value!r}")


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"nats: option {name} must be an int")
    if value < minimum:
        raise ValueError(f"nats: option {name} must be >= {minimum}, got {value}")


def _check_inbox_prefix(prefix: object) -> None:
    if not isinstance(prefix, str):
        raise TypeError("nats: option inbox_prefix must be a str")
    if (
        not prefix
        or any(ch.isspace() or ch in "*>" or ord(ch) < 0x20 for ch in prefix)
        or "" in prefix.split(".")
    ):
        raise ValueError(
            f"nats: inbox_prefix {prefix!r} is not a valid subject prefix: use dot-separated "
            "non-empty tokens without spaces or the wildcards '*' and '>'"
        )
