"""The NATS handshake, written once for the first connect and every reconnect.

INFO -> (TLS upgrade) -> CONNECT + PING -> PONG, or -ERR. Nothing but CONNECT
and PING is written to a new socket before the server's PONG.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any, Callable, List, NamedTuple, Optional

from . import _ws, auth, errors, transport
from .options import Options
from .protocol import encode
from .protocol.parser import Err, Info, Ok, Parser, Ping, Pong
from .servers import Server

PROTOCOL_VERSION = 1
LANG = "python3-natsync"


class Established(NamedTuple):
    """A connection that completed the handshake."""

    sock: transport.Stream
    info: dict[str, Any]
    parser: Parser
    tls: bool
    #: events that arrived after the PONG in the same read (handled by the reader)
    leftover: List[Any]


def _where(server: Server) -> str:
    return server.hostport


def _read_events(sock: transport.Sock, parser: Parser, deadline: float, server: Server,
                 stage: str) -> List[Any]:
    while True:
        sock.settimeout(transport.remaining(deadline))
        try:
            data = sock.recv(transport.RECV_SIZE)
        except (socket.timeout, TimeoutError) as exc:
            raise errors.ConnectTimeoutError(
                f"nats: {_where(server)} accepted the connection but did not {stage} within "
                "connect_timeout; is it a NATS client port? (raise connect_timeout if the server is slow)"
            ) from exc
        except ssl.SSLError as exc:
            raise errors.SecureConnFailedError(
                f"nats: secure connection failed: TLS error from {_where(server)} while waiting "
                f"to {stage}: {exc}"
            ) from exc
        if not data:
            raise errors.UnexpectedEOF(
                f"nats: unexpected EOF: {_where(server)} closed the connection before it could {stage}"
            )
        events = parser.feed(data)
        if events:
            return events


def _connect_fields(opts: Options, server: Server, info: dict[str, Any], tls: bool,
                    version: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "verbose": opts.verbose,
        "pedantic": opts.pedantic,
        "tls_required": tls,
        "lang": LANG,
        "version": version,
        "protocol": PROTOCOL_VERSION,
        "headers": True,
        "no_responders": True,
        "echo": not opts.no_echo,
    }
    if opts.name:
        fields["name"] = opts.name
    fields.update(
        auth.connect_auth_fields(
            user=opts.user,
            password=opts.password,
            token=opts.token,
            nkeys_seed=opts.nkeys_seed,
            nkeys_seed_str=opts.nkeys_seed_str,
            user_credentials=opts.user_credentials,
            signature_cb=opts.signature_cb,
            user_jwt_cb=opts.user_jwt_cb,
            url=server.uri,
            nonce=info.get("nonce"),
        )
    )
    return fields


def establish(server: Server, opts: Options, version: str,
              make_parser: Callable[[], Parser] = Parser,
              register: Optional[Callable[[transport.Sock], None]] = None) -> Established:
    """Dial ``server`` and complete the handshake within ``opts.connect_timeout``.

    Raises a :mod:`natsync.errors` exception saying why it failed; the socket is
    closed on every failure.
    """
    deadline = time.monotonic() + opts.connect_timeout
    where = _where(server)
    host = server.uri.hostname or "127.0.0.1"
    port = server.uri.port or 4222
    sock: transport.Sock
    try:
        if server.websocket:
            sock, is_tls = _ws.open_stream(server, opts, deadline, register)
        else:
            sock = transport.dial(host, port, deadline, register)
            is_tls = False
    except errors.Error:
        raise
    except (socket.timeout, TimeoutError) as exc:
        raise errors.ConnectTimeoutError(
            f"nats: connecting to {where} timed out after {opts.connect_timeout}s"
        ) from exc
    except ssl.SSLError as exc:
        raise errors.SecureConnFailedError(f"nats: TLS error with {where}: {exc}") from exc
    except OSError as exc:
        raise errors.NoServersError(f"nats: cannot reach {where}: {exc.strerror or exc}") from exc
    tls_host = opts.tls_hostname or host
    ctx = opts.tls if isinstance(opts.tls, ssl.SSLContext) else None
    refuse_tls = opts.tls is False
    want_tls = server.tls or ctx is not None
    websocket = isinstance(sock, _ws.WSStream)  # TLS, if any, is below the WebSocket
    try:
        if opts.tls_handshake_first and not websocket:
            assert isinstance(sock, socket.socket)
            sock = transport.wrap_tls(sock, ctx, tls_host, deadline, where)
            is_tls = True
            if register is not None:
                register(sock)
        parser: Parser = make_parser()
        events = _read_events(sock, parser, deadline, server, "send its INFO")
        first = events[0]
        if not isinstance(first, Info):
            raise errors.ProtocolError(
                f"nats: protocol error: {where} did not start with INFO (got {type(first).__name__}); "
                "is it a NATS client port?"
            )
        info = first.data
        for ev in events[1:]:
            if isinstance(ev, Err):  # e.g. INFO then -ERR 'maximum connections exceeded'
                raise errors.from_server_err(ev.message, where)
        if len(events) > 1:
            raise errors.ProtocolError(
                f"nats: protocol error: {where} sent data before the client's CONNECT")
        if refuse_tls and not websocket and (info.get("tls_required") or server.tls):
            raise errors.SecureConnRequiredError(
                f"nats: secure connection required: {where} requires TLS but the client refuses "
                f"it (tls=False); "
                "pass an ssl.SSLContext as tls= (or leave tls unset) to connect securely."
            )
        if not is_tls and not websocket:
            if info.get("tls_required") or want_tls:
                if not info.get("tls_required") and not info.get("tls_available"):
                    raise errors.SecureConnWantedError(
                        f"nats: secure connection not available: TLS was requested for {where} "
                        f"but the server does not offer TLS; "
                        "use a nats:// URL without tls=, or enable TLS on the server."
                    )
                assert isinstance(sock, socket.socket)
                sock = transport.wrap_tls(sock, ctx, tls_host, deadline, where)
                is_tls = True
                if register is not None:
                    register(sock)
        fields = _connect_fields(opts, server, info, is_tls, version)
        sock.settimeout(transport.remaining(deadline))
        sock.sendall(encode.encode_connect(fields) + encode.PING)
        leftover: List[Any] = []
        while True:
            events = _read_events(sock, parser, deadline, server, "answer CONNECT")
            done = False
            for i, ev in enumerate(events):
                if isinstance(ev, Pong):
                    leftover = events[i + 1:]
                    done = True
                    break
                if isinstance(ev, Err):
                    raise errors.from_server_err(ev.message, where)
                if isinstance(ev, Ping):
                    sock.sendall(encode.PONG)
                elif isinstance(ev, (Ok, Info)):
                    if isinstance(ev, Info):
                        info = ev.data
                    continue
                else:
                    raise errors.ProtocolError(
                        f"nats: protocol error: {where} sent {type(ev).__name__} before "
                        f"completing the handshake"
                    )
            if done:
                break
        sock.settimeout(None)
        stream: transport.Stream = sock
        if isinstance(sock, _ws.WSStream):
            stream = sock.threaded()
        elif isinstance(sock, ssl.SSLSocket):
            stream = transport.TLSStream(sock)  # reader and writer threads share it safely
        return Established(stream, info, parser, is_tls, leftover)
    except errors.Error:
        transport.hard_shutdown(sock)
        raise
    except (socket.timeout, TimeoutError) as exc:
        transport.hard_shutdown(sock)
        raise errors.ConnectTimeoutError(
            f"nats: handshake with {where} timed out after {opts.connect_timeout}s"
        ) from exc
    except OSError as exc:
        transport.hard_shutdown(sock)
        raise errors.UnexpectedEOF(f"nats: unexpected EOF: connection to {where} failed during "
            f"the handshake: {exc}") from exc
    except BaseException:
        transport.hard_shutdown(sock)
        raise
