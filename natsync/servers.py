"""Server URLs and the server pool.

URL parsing
    :func:`parse_url` turns ``"host"``, ``"host:port"``, ``"[::1]:4222"``,
    ``"nats://user:pass@host:port"``, ``"tls://token@host"``, ``"wss://host/nats"``
    and the like into a normalised :class:`urllib.parse.ParseResult` (scheme
    ``nats``, ``tls``, ``ws`` or ``wss``, port always present, lower-case host, a
    path only for WebSocket). :func:`parse_servers` does
    the same for the ``servers`` option.

The pool
    :class:`ServerPool` holds the servers in their current order and the
    per-server bookkeeping the connect and reconnect loops need. It has no lock:
    the client calls it under its own lock.

How the client drives it:

* Initial connect: ``for server in pool.first_pass(): try it`` (each server
  once, in pool order).
* Reconnect: repeat rounds. ``pool.round_iter(max_reconnect_attempts)`` first
  drops the servers that have used up their attempts, then returns the pool in
  its current order. The client tries each returned server that is still in
  the pool (``server in pool``; an auth failure may have removed it), reporting
  each outcome with :meth:`ServerPool.record_failure` or
  :meth:`ServerPool.record_success`. When a round ends without a connection the
  client waits ``Options.backoff().delay(...)`` and starts the next round. An
  empty round means no server is left: give up and close.
* :meth:`ServerPool.record_success` moves the connected server to the back of
  the pool, so the next outage tries the other servers before it.

With ``max_reconnect_attempts = N`` (``N >= 0``) each server gets at most N
failed attempts since its last successful connection; ``-1`` means forever.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Iterator, Sequence
from typing import Union
from urllib.parse import ParseResult, urlparse

from .errors import AuthorizationError

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_SERVER",
    "SCHEMES",
    "WEBSOCKET_SCHEMES",
    "Server",
    "ServerPool",
    "hostport",
    "parse_servers",
    "parse_url",
    "redact_url",
]

DEFAULT_PORT = 4222
DEFAULT_SERVER = "nats://localhost:4222"
SCHEMES = ("nats", "tls", "ws", "wss")
WEBSOCKET_SCHEMES = ("ws", "wss")
#: default ports of the WebSocket schemes (as in nats.go); nats:// and tls:// default to 4222
DEFAULT_WS_PORTS = {"ws": 80, "wss": 443}

ServersSpec = Union[str, ParseResult, Sequence[Union[str, ParseResult]], None]


def _looks_like_bare_ipv6(text: str) -> bool:
    if text.count(":") < 2 or "[" in text:
        return False
    host = text.rpartition("@")[2]
    try:
        ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _masked(text: str) -> str:
    # For error messages: the URL with any user info replaced by ***.
    if "@" not in text:
        return repr(text)
    scheme, sep, _ = text.partition("://")
    prefix = scheme + sep if sep else ""
    return repr(f"{prefix}***@{text.rpartition('@')[2]}")


def parse_url(url: str) -> ParseResult:
    """Parse one server URL into a normalised ``ParseResult``.

    A missing scheme means ``nats``, a missing port means 4222 (80 for ``ws``,
    443 for ``wss``), a bare IPv6 address (``::1``) is accepted as well as the
    bracketed form. The result is ``scheme://[userinfo@]host:port`` with an
    empty path (WebSocket URLs keep theirs: the upgrade request asks for it).
    Raises ``ValueError`` for an empty URL, an unknown scheme, a missing host, a
    bad port, a query or fragment, or a path on a non-WebSocket URL.
    """
    if not isinstance(url, str):
        raise TypeError(f"nats: server URL must be a str, not {type(url).__name__}")
    text = url.strip()
    shown = _masked(text)
    if not text:
        raise ValueError("nats: empty server URL: give a URL like 'nats://host:4222'")
    if any(ch.isspace() for ch in text):
        raise ValueError(f"nats: server URL {shown} contains whitespace")
    if "://" not in text:
        if _looks_like_bare_ipv6(text):
            userinfo, at, address = text.rpartition("@")
            text = f"{userinfo}{at}[{address}]"
        text = "nats://" + text
    try:
        parsed = urlparse(text)
    except ValueError as exc:
        raise ValueError(f"nats: invalid server URL {shown}: {exc}") from None
    scheme = parsed.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(
            f"nats: server URL {shown} has unknown scheme {parsed.scheme!r}; "
            "use nats://, tls://, ws:// or wss://"
        )
    websocket = scheme in WEBSOCKET_SCHEMES
    path = parsed.path if websocket and parsed.path not in ("", "/") else ""
    if (parsed.path not in ("", "/") and not websocket) or parsed.params or parsed.query or (
            parsed.fragment):
        raise ValueError(
            f"nats: server URL {shown} has a path, query or fragment; "
            "give only scheme://[user[:password]@]host[:port] (a path only for ws:// and wss://)"
        )
    userinfo, _, hostpart = parsed.netloc.rpartition("@")
    host = parsed.hostname
    if not host:
        raise ValueError(f"nats: server URL {shown} has no host")
    try:
        port = parsed.port
    except ValueError:
        port = -1
    if hostpart.endswith(":") or (port is not None and not 1 <= port <= 65535):
        raise ValueError(
            f"nats: server URL {shown} has an invalid port; give a number from 1 to 65535"
        )
    if port is None:
        port = DEFAULT_WS_PORTS.get(scheme, DEFAULT_PORT)
    netloc = f"{userinfo}@{hostport(host, port)}" if userinfo else hostport(host, port)
    return ParseResult(scheme, netloc, path, "", "", "")


def hostport(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def _key(uri: ParseResult) -> str:
    # Identity of a server in the pool: host and port, user info ignored.
    return hostport(uri.hostname or "", uri.port or DEFAULT_PORT)


def redact_url(uri: ParseResult) -> str:
    """The URL as a string with any user info replaced by ``***``."""
    if "@" in uri.netloc:
        return f"{uri.scheme}://***@{uri.netloc.rpartition('@')[2]}"
    return uri.geturl()


def parse_servers(servers: ServersSpec) -> list[ParseResult]:
    """Parse the ``servers`` option.

    Accepts one URL, a comma-separated string of URLs, or a sequence whose
    elements are URLs (each may itself be comma-separated) or already parsed
    ``ParseResult``s. Blank entries are skipped; nothing at all (``None``,
    ``""``, ``[]``) means ``nats://localhost:4222``.
    """
    if servers is None:
        items: list[str | ParseResult] = []
    elif isinstance(servers, (str, ParseResult)):
        items = [servers]
    else:
        items = list(servers)
    result: list[ParseResult] = []
    for item in items:
        if isinstance(item, ParseResult):
            result.append(parse_url(item.geturl()))
        elif isinstance(item, str):
            result.extend(parse_url(part) for part in item.split(",") if part.strip())
        else:
            raise TypeError(f"nats: servers entries must be str URLs, not {type(item).__name__}")
    if not result:
        result.append(parse_url(DEFAULT_SERVER))
    return result


class Server:
    """One server of the pool and its connection bookkeeping."""

    __slots__ = (
        "auth_failures",
        "did_connect",
        "discovered",
        "last_attempt",
        "last_error",
        "reconnects",
        "uri",
    )

    def __init__(self, uri: ParseResult, *, discovered: bool = False) -> None:
        self.uri = uri
        #: failed attempts since the last successful connection
        self.reconnects = 0
        self.did_connect = False
        self.discovered = discovered
        #: consecutive authorization failures
        self.auth_failures = 0
        #: ``time.monotonic()`` of the last attempt, if any
        self.last_attempt: float | None = None
        self.last_error: BaseException | None = None

    @property
    def tls(self) -> bool:
        """Whether the URL asks for TLS (``tls://`` or ``wss://``)."""
        return self.uri.scheme in ("tls", "wss")

    @property
    def websocket(self) -> bool:
        """Whether the server is reached over WebSocket (``ws://`` or ``wss://``)."""
        return self.uri.scheme in WEBSOCKET_SCHEMES

    @property
    def hostport(self) -> str:
        """``host:port`` (IPv6 in brackets), without user info."""
        return _key(self.uri)

    def __repr__(self) -> str:
        flags = " discovered" if self.discovered else ""
        return (
            f"<Server {redact_url(self.uri)} reconnects={self.reconnects}"
            f" auth_failures={self.auth_failures}{flags}>"
        )


class ServerPool:
    """The ordered server pool; see the module docstring for how it is driven.

    Configured servers with the same host and port are kept once (the first,
    with its user info). Not thread-safe: use it under the client's lock.
    """

    def __init__(
        self,
        urls: Sequence[ParseResult],
        *,
        randomize: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self._rng = rng if rng is not None else random.Random()
        self._servers: list[Server] = []
        seen: set[str] = set()
        for uri in urls:
            key = _key(uri)
            if key not in seen:
                seen.add(key)
                self._servers.append(Server(uri))
        # Implicit credentials for discovered servers: the first configured URL
        # that carries user info.
        self._userinfo = next((u.netloc.rpartition("@")[0] for u in urls if "@" in u.netloc), "")
        if randomize:
            self._rng.shuffle(self._servers)

    # -- views ---------------------------------------------------------------

    @property
    def servers(self) -> list[Server]:
        """The servers, in current pool order (a copy)."""
        return list(self._servers)

    @property
    def uris(self) -> list[ParseResult]:
        return [s.uri for s in self._servers]

    @property
    def discovered_uris(self) -> list[ParseResult]:
        return [s.uri for s in self._servers if s.discovered]

    def __len__(self) -> int:
        return len(self._servers)

    def __iter__(self) -> Iterator[Server]:
        return iter(list(self._servers))

    def __contains__(self, server: object) -> bool:
        return any(s is server for s in self._servers)

    def find(self, uri_or_hostport: ParseResult | str) -> Server | None:
        """The pool's server with that host and port (user info ignored), if any."""
        if isinstance(uri_or_hostport, str):
            try:
                uri = parse_url(uri_or_hostport)
            except ValueError:
                return None
        else:
            uri = uri_or_hostport
        key = _key(uri)
        return next((s for s in self._servers if s.hostport == key), None)

    # -- selection -----------------------------------------------------------

    def first_pass(self) -> list[Server]:
        """The order for the initial connect: every server once."""
        return list(self._servers)

    def prune(self, max_reconnect_attempts: int) -> list[Server]:
        """Remove and return the servers with ``reconnects >= max`` (none when max is -1)."""
        if max_reconnect_attempts < 0:
            return []
        gone = [s for s in self._servers if s.reconnects >= max_reconnect_attempts]
        if gone:
            self._servers = [s for s in self._servers if s.reconnects < max_reconnect_attempts]
        return gone

    def round_iter(self, max_reconnect_attempts: int) -> list[Server]:
        """The servers to try in this reconnect round, in pool order, after pruning.

        Empty when no server is left. After the round the client waits the
        backoff delay before asking for the next one.
        """
        self.prune(max_reconnect_attempts)
        return list(self._servers)

    def next_server(self, max_reconnect_attempts: int) -> Server | None:
        """Prune, then rotate: the front server moves to the back and is returned."""
        self.prune(max_reconnect_attempts)
        if not self._servers:
            return None
        server = self._servers.pop(0)
        self._servers.append(server)
        return server

    # -- bookkeeping ---------------------------------------------------------

    def record_success(self, server: Server, *, now: float | None = None) -> None:
        """A connection to ``server`` completed: reset its counters, move it to the back."""
        server.reconnects = 0
        server.auth_failures = 0
        server.did_connect = True
        server.last_error = None
        server.last_attempt = time.monotonic() if now is None else now
        if server in self:
            self._servers.remove(server)
            self._servers.append(server)

    def record_failure(
        self, server: Server, error: BaseException, *, now: float | None = None
    ) -> bool:
        """An attempt on ``server`` failed with ``error``; count it.

        An :class:`~natsync.errors.AuthorizationError` also goes through
        :meth:`record_auth_failure`; any other error ends a run of auth
        failures. Returns True when the server was removed from the pool.
        """
        server.reconnects += 1
        server.last_error = error
        server.last_attempt = time.monotonic() if now is None else now
        if isinstance(error, AuthorizationError):
            return self.record_auth_failure(server)
        server.auth_failures = 0
        return False

    def record_auth_failure(self, server: Server) -> bool:
        """Count a consecutive auth failure; on the second in a row remove the server.

        Returns True when the server was removed.
        """
        server.auth_failures += 1
        if server.auth_failures >= 2:
            self.remove(server)
            return True
        return False

    def remove(self, server: Server) -> None:
        """Remove ``server`` from the pool (no error if it is not there)."""
        self._servers = [s for s in self._servers if s is not server]

    # -- cluster discovery ---------------------------------------------------

    def add_discovered(
        self, connect_urls: Sequence[str], *, tls: bool, randomize: bool,
        scheme: str | None = None,
    ) -> list[Server]:
        """Merge the ``connect_urls`` of a server INFO into the pool.

        Entries are ``host:port`` (``[v6]:port`` for IPv6). Those whose host and
        port are already in the pool, or repeated, or unparsable, are skipped
        (host names are compared as strings: ``localhost`` and ``127.0.0.1`` are
        different servers). New servers get scheme ``tls`` when ``tls`` is set,
        else ``nats`` (``scheme`` overrides that: a WebSocket connection learns
        WebSocket URLs), inherit the user info of the first configured URL that
        had any, and are appended (shuffled when ``randomize``). Returns the new
        servers, in the order they were appended.
        """
        if scheme is None:
            scheme = "tls" if tls else "nats"
        prefix = f"{self._userinfo}@" if self._userinfo else ""
        known = {s.hostport for s in self._servers}
        added: list[Server] = []
        for entry in connect_urls:
            try:
                uri = parse_url(entry)
            except (TypeError, ValueError):  # not for us to fail on a server's bad entry
                continue
            key = _key(uri)
            if key in known:
                continue
            known.add(key)
            added.append(Server(parse_url(f"{scheme}://{prefix}{key}"), discovered=True))
        if randomize:
            self._rng.shuffle(added)
        self._servers.extend(added)
        return added
