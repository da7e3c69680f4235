"""The WebSocket transport: ``ws://`` and ``wss://`` servers.

:func:`open_stream` dials the server (through an HTTP CONNECT proxy when
``ws_proxy`` is set), runs TLS for ``wss://`` (or when ``tls=`` is given), and
the RFC 6455 upgrade; nothing is written after the upgrade request before the
server's ``101``. It returns a :class:`WSStream`: the socket-like surface the
NATS handshake, the reader and the writers already use, so everything above the
transport (reconnects, the reconnect buffer, auth, TLS options) is unchanged.

Each ``send`` call is one binary frame: the flusher's coalesced batch goes out
as one frame, not one frame per publish. Frames are masked with a fresh random
key unless the server echoed ``Nats-No-Masking: true`` (asked for with the
``ws_no_masking`` option).
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import threading
from collections import deque
from typing import Callable, Deque, Optional, Tuple
from urllib.parse import unquote, urlparse

from . import errors, transport
from .options import Options
from .protocol import ws
from .servers import Server, hostport


def proxy_address(url: str) -> Tuple[str, int, Optional[str]]:
    """``(host, port, Proxy-Authorization value or None)`` of a ``ws_proxy`` URL."""
    p = urlparse(url)
    auth = None
    if p.username is not None:
        cred = f"{unquote(p.username)}:{unquote(p.password or '')}"
        auth = "Basic " + base64.b64encode(cred.encode("utf-8")).decode("ascii")
    return p.hostname or "", p.port or 80, auth


def _proxy_connect(sock: socket.socket, proxy: str, target: str, deadline: float,
                   where: str) -> None:
    """Ask the HTTP proxy on ``sock`` for a tunnel to ``target`` (``host:port``)."""
    _host, _port, auth = proxy_address(proxy)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if auth is not None:
        lines.append(f"Proxy-Authorization: {auth}")
    sock.settimeout(transport.remaining(deadline))
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
    data = b""
    while True:
        # byte by byte up to the blank line: whatever follows belongs to the tunnel
        chunk = sock.recv(1)
        if not chunk:
            raise errors.UnexpectedEOF(
                f"nats: the proxy closed the connection before answering CONNECT for {where}")
        data += chunk
        if data.endswith(b"\r\n\r\n"):
            break
        if len(data) > ws.MAX_RESPONSE_HEAD:
            raise errors.ProtocolError("nats: the ws_proxy answer to CONNECT is too long")
    status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise errors.ProtocolError(f"nats: the ws_proxy did not answer CONNECT with HTTP: "
                                   f"{status_line[:80]!r}")
    code = int(parts[1])
    if code == 407:
        raise errors.AuthorizationError(
            f"nats: the ws_proxy refused the tunnel to {where} ({status_line}); "
            "give the proxy credentials in its URL: http://user:password@proxy:port")
    if not 200 <= code < 300:
        raise errors.NoServersError(
            f"nats: the ws_proxy refused the tunnel to {where}: {status_line}")


def _host_header(server: Server) -> str:
    host = server.uri.hostname or "localhost"
    port = server.uri.port
    default = 443 if server.uri.scheme == "wss" else 80
    if ":" in host:
        host = f"[{host}]"
    return host if port in (None, default) else f"{host}:{port}"


def open_stream(server: Server, opts: Options, deadline: float,
                register: Optional[Callable[[transport.Sock], None]] = None
                ) -> Tuple[WSStream, bool]:
    """Dial ``server`` and complete the WebSocket upgrade before ``deadline``.

    Returns the stream and whether it runs over TLS. Raises the same errors as a
    plain dial (``socket.timeout``, ``OSError``) and :mod:`natsync.errors`
    exceptions for a bad proxy or upgrade answer; the socket is closed then.
    """
    where = server.hostport
    host = server.uri.hostname or "127.0.0.1"
    port = server.uri.port or 80
    if opts.ws_proxy:
        phost, pport, _ = proxy_address(opts.ws_proxy)
        try:
            sock: transport.Sock = transport.dial(phost, pport, deadline, register)
        except (socket.timeout, TimeoutError):
            raise
        except OSError as exc:
            raise errors.NoServersError(
                f"nats: cannot reach the ws_proxy {hostport(phost, pport)} to tunnel to "
                f"{where}: {exc.strerror or exc}") from exc
    else:
        sock = transport.dial(host, port, deadline, register)
    try:
        if opts.ws_proxy:
            assert isinstance(sock, socket.socket)
            _proxy_connect(sock, opts.ws_proxy, where, deadline, where)
        ctx = opts.tls if isinstance(opts.tls, ssl.SSLContext) else None
        is_tls = server.uri.scheme == "wss" or ctx is not None
        if is_tls:
            if opts.tls is False:
                raise errors.SecureConnRequiredError(
                    f"nats: {where} is a wss:// server but the client refuses TLS (tls=False)")
            assert isinstance(sock, socket.socket)
            sock = transport.wrap_tls(sock, ctx, opts.tls_hostname or host, deadline, where)
            if register is not None:
                register(sock)
        key = ws.new_key(os.urandom(16))
        sock.settimeout(transport.remaining(deadline))
        sock.sendall(ws.upgrade_request(_host_header(server), server.uri.path or "/", key,
                                        opts.ws_header_list(), opts.ws_no_masking))
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                raise errors.UnexpectedEOF(
                    f"nats: {where} closed the connection instead of answering the WebSocket "
                    "upgrade; is it the server's websocket port?")
            data += chunk
            done = ws.split_response(data, where)
            if done is not None:
                break
        resp, rest = done
        unmasked = ws.check_response(resp, key, where)
        if unmasked and not opts.ws_no_masking:
            raise errors.ProtocolError(
                f"nats: {where} agreed to unmasked frames the client did not ask for")
        return WSStream(sock, where, mask=not unmasked, leftover=rest), is_tls
    except BaseException:
        transport.hard_shutdown(sock)
        raise


class WSStream(transport.Layered):
    """NATS bytes over WebSocket frames, on a socket or a TLS stream.

    The reader thread calls :meth:`recv_into` (data frames' payloads, in order;
    a server ping is answered, a close frame ends the stream with an error naming
    the server's code and reason); writers call :meth:`send`, one frame per call,
    under an internal lock that also serialises the pong answers.
    """

    def __init__(self, inner: transport.Sock, where: str, *, mask: bool = True,
                 leftover: bytes = b"", max_frame: int = ws.DEFAULT_MAX_FRAME) -> None:
        self.inner: transport.Stream = inner
        self.where = where
        self.mask = mask
        self.closed = False
        self._decoder = ws.FrameDecoder(max_frame, masked=False, where=where)
        self._wlock = threading.Lock()
        self._pending: Deque[bytes] = deque()
        self._head = b""  # the unread part of the first pending chunk
        self._ended: Optional[BaseException] = None
        self._pong_due: Optional[bytes] = None
        self._rbuf = memoryview(bytearray(transport.RECV_SIZE))
        if leftover:
            self._absorb(leftover)

    # -- lifecycle ----------------------------------------------------------

    def settimeout(self, timeout: Optional[float]) -> None:
        inner = self.inner
        if isinstance(inner, (socket.socket, ssl.SSLSocket)):
            inner.settimeout(timeout)

    def threaded(self) -> WSStream:
        """Ready for the reader and writer threads: blocking, TLS made thread-safe."""
        self.settimeout(None)
        if isinstance(self.inner, ssl.SSLSocket):
            self.inner = transport.TLSStream(self.inner)
        return self

    def fileno(self) -> int:
        return self.inner.fileno()

    # -- reading ------------------------------------------------------------

    def _absorb(self, raw: bytes) -> None:
        try:
            events = self._decoder.feed(raw)
        except errors.ProtocolError as exc:
            self._ended = exc
            self._send_close(1002, "protocol error")
            return
        for ev in events:
            if type(ev) is bytes:
                if ev:
                    self._pending.append(ev)
            elif type(ev) is ws.Ping:
                self._pong_due = ev.payload
                self._try_control()
            elif type(ev) is ws.Close:
                self._ended = errors.UnexpectedEOF(
                    f"nats: {self.where} closed the WebSocket connection"
                    + (f" (code {ev.code}{': ' + ev.reason if ev.reason else ''})"
                       if ev.code is not None else ""))
                self._send_close(ev.code if ev.code not in (None, 1005, 1006, 1015) else 1000, "")
            # a Pong answers nothing we sent: ignored

    def _fill(self) -> bool:
        """Read until there is data; False at a clean end of stream."""
        while not self._pending and not self._head:
            if self._ended is not None:
                raise self._ended
            if self.closed:
                raise OSError("nats: WebSocket stream closed")
            n = self.inner.recv_into(self._rbuf)
            if not n:
                return False
            self._absorb(self._rbuf[:n].tobytes())
        return True

    def recv_into(self, view: memoryview) -> int:
        if not self._fill():
            return 0
        size = len(view)
        got = 0
        while got < size:
            chunk = self._head
            if not chunk:
                if not self._pending:
                    break
                chunk = self._pending.popleft()
            take = min(len(chunk), size - got)
            view[got:got + take] = chunk[:take]
            self._head = chunk[take:]
            got += take
        return got

    def recv(self, bufsize: int) -> bytes:
        buf = memoryview(bytearray(bufsize))
        n = self.recv_into(buf)
        return buf[:n].tobytes()

    # -- writing ------------------------------------------------------------

    def _frame(self, payload: ws.Buffer, opcode: int = ws.OP_BINARY) -> bytes:
        return ws.encode_frame(payload, os.urandom(4) if self.mask else None, opcode)

    def send(self, data: ws.Buffer) -> int:
        """Write all of ``data`` as one frame (returns its length), or raise having
        completed no frame: a half-written frame is never delivered by the server."""
        if self.closed:
            raise OSError("nats: WebSocket stream closed")
        frame = self._frame(data)  # the view itself: no copy here
        with self._wlock:
            self.inner.sendall(frame)
        if self._pong_due is not None:
            self._try_control()
        return len(data)

    def sendall(self, data: bytes) -> None:
        self.send(memoryview(data))

    def _try_control(self) -> None:
        # Answer a ping without waiting behind a writer blocked on a full socket: a
        # writer that holds the lock sends the pong when its own frame is out.
        if not self._wlock.acquire(False):
            return
        try:
            due, self._pong_due = self._pong_due, None
            if due is not None:
                self.inner.sendall(self._frame(due, ws.OP_PONG))
        except OSError:
            pass  # the reader sees the broken socket next
        finally:
            self._wlock.release()

    def goodbye(self) -> None:
        # A normal close frame, unless the stream already failed or a writer is busy
        # (mid-frame, or blocked): sent without waiting, on a plain socket only (a TLS
        # write may have to wait for the peer). A frame cut short is no worse than none.
        inner = self.inner
        dontwait = getattr(socket, "MSG_DONTWAIT", 0)
        if self._ended is not None or not isinstance(inner, socket.socket) or not dontwait:
            return
        if not self._wlock.acquire(False):
            return
        try:
            inner.send(self._frame(ws.close_payload(1000), ws.OP_CLOSE), dontwait)
        except OSError:
            pass
        finally:
            self._wlock.release()

    def _send_close(self, code: int, reason: str) -> None:
        if not self._wlock.acquire(False):
            return
        try:
            self.inner.sendall(self._frame(ws.close_payload(code, reason), ws.OP_CLOSE))
        except OSError:
            pass
        finally:
            self._wlock.release()
