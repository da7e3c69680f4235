"""Dialling and TLS: the one place natsync makes sockets.

Everything here is blocking and bounded by a deadline; nothing here knows the
NATS protocol beyond "TLS first or after INFO", which the handshake decides.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from typing import Callable, Optional, Union

from . import errors

#: What a stream's send() takes: any bytes-like object with one-byte items.
Buffer = Union[bytes, bytearray, memoryview]


class Layered:
    """A protocol layered on a socket (WebSocket), with the socket-like surface the
    handshake, the reader and the writers use. ``inner`` is what it runs on."""

    inner: Stream
    #: set by :func:`hard_shutdown`; a layer reading or writing after it fails
    closed: bool = False

    def settimeout(self, timeout: Optional[float]) -> None:
        raise NotImplementedError

    def recv(self, bufsize: int) -> bytes:
        raise NotImplementedError

    def recv_into(self, view: memoryview) -> int:
        raise NotImplementedError

    def send(self, data: Buffer) -> int:
        raise NotImplementedError

    def sendall(self, data: bytes) -> None:
        raise NotImplementedError

    def fileno(self) -> int:
        raise NotImplementedError

    def goodbye(self) -> None:
        """Say goodbye in the layer's protocol before the socket closes, if that
        cannot block (called by :func:`hard_shutdown`)."""


Sock = Union[socket.socket, ssl.SSLSocket, Layered]

#: Receive buffer used by the reader; large enough to take a burst in one call.
RECV_SIZE = 256 * 1024


def remaining(deadline: float) -> float:
    """Seconds left until ``deadline`` (a ``time.monotonic()`` value), at least a sliver."""
    return max(deadline - time.monotonic(), 0.001)


def dial(host: str, port: int, deadline: float,
         register: Optional[Callable[[Sock], None]] = None) -> socket.socket:
    """Open a TCP connection to ``host:port`` before ``deadline``, with TCP_NODELAY set.

    ``register`` is told about each socket before it connects, so another thread
    (``close()``) can shut it down to abort a slow dial at once.
    """
    host = host.strip("[]")
    last: Optional[OSError] = None
    for family, kind, proto, _name, addr in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            if register is not None:
                register(sock)
            sock.settimeout(remaining(deadline))
            sock.connect(addr)
        except OSError as exc:
            sock.close()
            last = exc
            if isinstance(exc, (socket.timeout, TimeoutError)):
                raise
            continue
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        except OSError:  # pragma: no cover - platform without these options
            pass
        return sock
    raise last if last is not None else OSError(f"cannot resolve {host!r}")


def default_tls_context() -> ssl.SSLContext:
    """A verifying client context with the system's trust store."""
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


def wrap_tls(
    sock: socket.socket,
    context: Optional[ssl.SSLContext],
    hostname: str,
    deadline: float,
    where: str,
) -> ssl.SSLSocket:
    """Run the TLS handshake on ``sock``; errors become :class:`SecureConnFailedError`."""
    ctx = context if context is not None else default_tls_context()
    host = hostname.strip("[]")
    sock.settimeout(remaining(deadline))
    try:
        tls = ctx.wrap_socket(
            sock,
            server_hostname=host if ctx.check_hostname or host else None,
            do_handshake_on_connect=False,
        )
        tls.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise errors.SecureConnFailedError(
            f"nats: secure connection failed: TLS certificate verification failed for {where}: "
            f"{exc.verify_message or exc}. "
            "Pass tls=ssl.create_default_context(cafile=...) trusting the server's CA, "
            "or tls_hostname= if the certificate names another host."
        ) from exc
    except (socket.timeout, TimeoutError) as exc:
        sock.close()
        raise errors.SecureConnFailedError(
            f"nats: secure connection failed: TLS handshake with {where} timed out; check that "
            f"the server speaks TLS "
            "on this port (or set tls_handshake_first to match the server)."
        ) from exc
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        raise errors.SecureConnFailedError(
            f"nats: secure connection failed: TLS handshake with {where} failed: {exc}. Check "
            f"the client certificate, "
            "the CA and whether the server expects TLS first (tls_handshake_first)."
        ) from exc
    return tls


class TLSStream:
    """A TLS socket shared by the reader and writer threads, made safe.

    OpenSSL forbids using one SSL object from two threads at once, and CPython's
    ``ssl`` module does not serialise it (a blocking reader and a blocking writer
    on one SSLSocket can corrupt the stream or crash). So the socket runs
    non-blocking, every SSL call is made under one lock, and the waits for
    readiness happen outside the lock, on the file descriptor.
    """

    #: bound on one readiness wait, so a closed stream is noticed even without an event
    POLL_SECONDS = 1.0

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.closed = False
        sock.setblocking(False)
        self._fd = sock.fileno()

    def _wait(self, for_write: bool) -> None:
        if self.closed:
            raise OSError("nats: TLS stream closed")
        fd = self._fd
        if hasattr(select, "poll"):
            p = select.poll()
            p.register(fd, (select.POLLOUT if for_write else select.POLLIN) | select.POLLERR)
            p.poll(self.POLL_SECONDS * 1000)
        else:  # pragma: no cover - platforms without poll
            if for_write:
                select.select([], [fd], [fd], self.POLL_SECONDS)
            else:
                select.select([fd], [], [fd], self.POLL_SECONDS)

    def recv_into(self, view: memoryview) -> int:
        while True:
            with self.lock:
                try:
                    return self.sock.recv_into(view)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
            self._wait(for_write=False)

    def send(self, data: Buffer) -> int:
        while True:
            with self.lock:
                try:
                    return self.sock.send(data)
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            self._wait(for_write=True)

    def sendall(self, data: bytes) -> None:
        try:
            send_all(self, data)
        except PartialSend as ps:
            raise ps.cause

    def fileno(self) -> int:
        return self._fd


Stream = Union[socket.socket, ssl.SSLSocket, TLSStream, Layered]


def half_close(sock: Optional[Stream]) -> None:
    """End the sending side of ``sock`` only (TCP FIN after the bytes already queued),
    ignoring errors. The peer reads everything sent, then sees EOF and closes its
    side, which the reader then sees: the handover of a deliberate reconnect
    (:meth:`Connection.half_close`). Blocked writers fail at once; the reader goes on.
    A layered stream (WebSocket) or TLS is half-closed on its TCP socket."""
    while isinstance(sock, Layered):
        sock = sock.inner
    if isinstance(sock, TLSStream):
        sock = sock.sock
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_WR)
    except OSError:
        pass


def hard_shutdown(sock: Optional[Stream]) -> None:
    """Wake any thread blocked on ``sock`` and close it, ignoring errors.

    Uses the plain socket shutdown even for TLS sockets, so the SSL object a
    reader may be inside is not torn down under it. The close is graceful: bytes
    already handed to the kernel still go out if the peer reads them.
    """
    if sock is None:
        return
    if isinstance(sock, Layered):
        if not sock.closed:
            sock.closed = True
            sock.goodbye()
        sock = sock.inner
        if isinstance(sock, Layered):  # pragma: no cover - layers are not stacked
            hard_shutdown(sock)
            return
    if isinstance(sock, TLSStream):
        sock.closed = True
        sock = sock.sock
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:  # pragma: no cover
        pass


def send_all(sock: Stream, data: Union[bytes, bytearray]) -> int:
    """Write ``data`` fully; on error raise ``_PartialSend`` carrying the bytes written."""
    total = len(data)
    sent = 0
    view: Optional[memoryview] = None
    try:
        sent = sock.send(data)  # the usual case: all of it at once, no view needed
        if sent < total:
            view = memoryview(data)
            while sent < total:
                n = sock.send(view[sent:])
                if n <= 0:  # pragma: no cover - blocking sockets do not return 0
                    raise OSError("socket send returned 0")
                sent += n
    except BaseException as exc:
        raise PartialSend(sent, exc) from exc
    finally:
        if view is not None:
            view.release()
    return sent


class PartialSend(Exception):
    """Internal: a write failed after ``sent`` bytes were handed to the kernel."""

    def __init__(self, sent: int, cause: BaseException) -> None:
        super().__init__(f"send failed after {sent} bytes: {cause!r}")
        self.sent = sent
        self.cause = cause
