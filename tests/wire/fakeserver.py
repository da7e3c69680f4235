"""A scripted fake NATS server on a loopback socket, for wire-level edge cases.

A real ``nats-server`` will not send garbage, split a frame byte by byte, go
silent or stop reading on demand; this helper does, and records every byte the
client sends so a test can assert the exact wire traffic.

* :class:`FakeServer` listens on ``127.0.0.1`` on a free port. A test accepts
  the client's connections one at a time with :meth:`FakeServer.accept` (again
  after a close, for reconnects), or runs a script for the next connection in
  the background with :meth:`FakeServer.script` (needed while the test thread
  is blocked in ``connect()``).
* :class:`FakeConn` is one accepted connection. A recorder thread reads what
  the client sends into :attr:`FakeConn.received` and parses it incrementally
  into :class:`Frame` objects (:attr:`FakeConn.frames`, plus the incomplete
  :attr:`FakeConn.tail`). The test drives the server side with ``send_*``
  calls, can stop and resume reading (to fill the socket buffers), half-close,
  close or reset the connection.

Every wait takes a timeout and raises :class:`WireTimeout` (an
``AssertionError``) saying what it waited for and what arrived instead.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

__all__ = [
    "DEFAULT_INFO",
    "Background",
    "FakeConn",
    "FakeServer",
    "Frame",
    "ClientStreamParser",
    "WireError",
    "WireTimeout",
    "hmsg_frame",
    "msg_frame",
    "parse_client_stream",
]

#: What the fake server announces unless a test overrides it (like nats-server 2.10).
DEFAULT_INFO: Dict[str, Any] = {
    "server_id": "NFAKESERVER000000000000000000000000000000000000000000000",
    "server_name": "fake",
    "version": "2.10.0",
    "proto": 1,
    "go": "go1.21",
    "host": "127.0.0.1",
    "headers": True,
    "max_payload": 1048576,
    "client_id": 7,
    "client_ip": "127.0.0.1",
}

DEFAULT_TIMEOUT = 5.0
_CRLF = b"\r\n"
_MAX_LINE = 1024 * 1024  # a client control line longer than this is malformed
_RECV = 64 * 1024
_SHOW = 300  # bytes of received data quoted in a timeout message


class WireError(Exception):
    """The client sent something that is not valid client-side NATS protocol."""


class WireTimeout(AssertionError):
    """A wait of the fake server timed out (a test failure, with what was seen)."""


class Frame(NamedTuple):
    """One complete client->server frame.

    ``op`` is upper case (``CONNECT``, ``PING``, ``PONG``, ``SUB``, ``UNSUB``,
    ``PUB``, ``HPUB``); ``args`` are the control-line arguments after it (for
    ``CONNECT`` the JSON text as one argument); ``payload`` and ``header`` are
    set for ``PUB``/``HPUB``; ``raw`` is the frame's exact bytes.
    """

    op: str
    args: Tuple[str, ...]
    payload: bytes
    header: Optional[bytes]
    raw: bytes

    @property
    def subject(self) -> str:
        return self.args[0]

    @property
    def reply(self) -> str:
        """The reply subject of a PUB/HPUB ("" when none)."""
        base = 2 if self.op == "PUB" else 3
        return self.args[1] if len(self.args) == base + 1 else ""

    def connect_fields(self) -> Dict[str, Any]:
        """The decoded JSON of a CONNECT frame."""
        if self.op != "CONNECT":
            raise AssertionError(f"not a CONNECT frame: {self.raw[:100]!r}")
        data = json.loads(self.args[0])
        if not isinstance(data, dict):
            raise AssertionError(f"CONNECT JSON is not an object: {self.args[0]!r}")
        return data

    def short(self) -> str:
        """A compact description for assertion messages."""
        if self.op in ("PUB", "HPUB"):
            return f"{self.op} {' '.join(self.args)} {self.payload[:20]!r}"
        if self.op == "CONNECT":
            return "CONNECT {...}"
        return " ".join((self.op,) + self.args)


class ClientStreamParser:
    """Incremental parser of the client-to-server half of the protocol.

    ``feed`` returns the frames completed so far; an incomplete frame stays in
    :attr:`pending`. Anything malformed (a payload not followed by CRLF, an
    unknown operation, a bad size) raises :class:`WireError`, after which the
    parser refuses further input.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._error: Optional[str] = None

    @property
    def pending(self) -> bytes:
        return self._buf

    def feed(self, data: bytes) -> List[Frame]:
        if self._error is not None:
            raise WireError(self._error)
        buf = self._buf + data if self._buf else bytes(data)
        out: List[Frame] = []
        pos = 0
        n = len(buf)
        try:
            while pos < n:
                eol = buf.find(_CRLF, pos)
                if eol < 0:
                    if n - pos > _MAX_LINE:
                        raise WireError(f"control line longer than {_MAX_LINE} bytes")
                    break
                line = buf[pos:eol]
                parts = line.split(None, 1)
                if not parts:
                    raise WireError(f"empty control line at offset {pos}")
                op = parts[0].decode("ascii", "replace").upper()
                rest = parts[1] if len(parts) > 1 else b""
                if op in ("PUB", "HPUB"):
                    frame, end = self._pub(buf, pos, eol, op, rest)
                    if frame is None:
                        break
                    out.append(frame)
                    pos = end
                    continue
                if op == "CONNECT":
                    args: Tuple[str, ...] = (rest.decode(),)
                elif op in ("PING", "PONG", "+OK"):
                    if rest.strip():
                        raise WireError(f"{op} with arguments: {line[:100]!r}")
                    args = ()
                elif op in ("SUB", "UNSUB"):
                    args = tuple(a.decode() for a in rest.split())
                    want = (2, 3) if op == "SUB" else (1, 2)
                    if len(args) not in want or not all(a.isdigit() for a in args[-1:]):
                        raise WireError(f"malformed {op}: {line[:100]!r}")
                else:
                    raise WireError(f"unknown client operation {line[:100]!r} at offset {pos}")
                out.append(Frame(op, args, b"", None, buf[pos : eol + 2]))
                pos = eol + 2
        except WireError as exc:
            self._error = str(exc)
            self._buf = buf[pos:]
            raise
        self._buf = buf[pos:]
        return out

    @staticmethod
    def _pub(
        buf: bytes, pos: int, eol: int, op: str, rest: bytes
    ) -> Tuple[Optional[Frame], int]:
        line = buf[pos:eol]
        args = tuple(a.decode("utf-8", "replace") for a in rest.split())
        nsizes = 1 if op == "PUB" else 2
        if len(args) not in (1 + nsizes, 2 + nsizes) or not all(
            a.isdigit() for a in args[-nsizes:]
        ):
            raise WireError(f"malformed {op} line: {line[:100]!r}")
        total = int(args[-1])
        hsize = int(args[-2]) if op == "HPUB" else 0
        if hsize > total:
            raise WireError(f"{op} header size larger than total size: {line[:100]!r}")
        start = eol + 2
        end = start + total
        if end + 2 > len(buf):
            return None, pos
        if buf[end : end + 2] != _CRLF:
            raise WireError(
                f"{op} payload not followed by CRLF (got {buf[end:end + 2]!r}): the frame "
                f"{line[:100]!r} at offset {pos} is truncated or its size is wrong"
            )
        header = buf[start : start + hsize] if op == "HPUB" else None
        frame = Frame(op, args, buf[start + hsize : end], header, buf[pos : end + 2])
        return frame, end + 2


def parse_client_stream(data: bytes) -> Tuple[List[Frame], bytes]:
    """Parse a whole recorded stream: ``(complete frames, incomplete tail)``."""
    p = ClientStreamParser()
    frames = p.feed(data)
    return frames, p.pending


def msg_frame(subject: str, sid: int, payload: bytes = b"", reply: str = "") -> bytes:
    """Server ``MSG`` bytes."""
    r = f" {reply}" if reply else ""
    return f"MSG {subject} {sid}{r} {len(payload)}\r\n".encode() + payload + _CRLF


def hmsg_frame(
    subject: str, sid: int, headers: Dict[str, str], payload: bytes = b"", reply: str = ""
) -> bytes:
    """Server ``HMSG`` bytes with a ``NATS/1.0`` header block."""
    block = b"NATS/1.0\r\n" + b"".join(
        f"{k}: {v}\r\n".encode() for k, v in headers.items()
    ) + _CRLF
    r = f" {reply}" if reply else ""
    line = f"HMSG {subject} {sid}{r} {len(block)} {len(block) + len(payload)}\r\n"
    return line.encode() + block + payload + _CRLF


def _show(data: bytes) -> str:
    if len(data) <= _SHOW:
        return repr(data)
    return f"{data[:_SHOW // 2]!r} ... {data[-_SHOW // 2:]!r} ({len(data)} bytes)"


class FakeConn:
    """One accepted client connection (see the module docstring)."""

    def __init__(self, server: FakeServer, sock: socket.socket, index: int) -> None:
        self.server = server
        self.index = index
        self._sock = sock
        self._cond = threading.Condition()
        self._data = bytearray()
        self._parser = ClientStreamParser()
        self._frames: List[Frame] = []
        self._parse_error: Optional[str] = None
        self._eof: Optional[str] = None  # why reading ended, once it has
        self._read_limit: Optional[int] = None
        self._closed = False
        self._wlock = threading.Lock()
        self._auto_pong = False
        self._pings_seen = 0
        self._pings_answered = 0
        self.bytes_sent = 0
        self._thread = threading.Thread(
            target=self._read_loop, name=f"fakeserver-{server.port}-conn-{index}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------ recorder
    def _read_loop(self) -> None:
        sock = self._sock
        while True:
            with self._cond:
                while (
                    not self._closed
                    and self._read_limit is not None
                    and len(self._data) >= self._read_limit
                ):
                    self._cond.wait(0.5)
                if self._closed and self._eof is None:
                    self._eof = "closed by the fake server"
                    self._cond.notify_all()
                    return
                room = _RECV if self._read_limit is None else self._read_limit - len(self._data)
            try:
                chunk = sock.recv(max(1, min(room, _RECV)))
            except OSError as exc:
                self._set_eof(f"recv failed: {exc!r}")
                return
            if not chunk:
                self._set_eof("closed by the fake server" if self._closed else "EOF from the client")
                return
            answer = 0
            with self._cond:
                self._data += chunk
                if self._parse_error is None:
                    try:
                        new = self._parser.feed(chunk)
                    except WireError as exc:
                        self._parse_error = str(exc)
                        new = []
                    self._frames.extend(new)
                    self._pings_seen += sum(1 for f in new if f.op == "PING")
                    if self._auto_pong:
                        answer = self._pings_seen - self._pings_answered
                        self._pings_answered = self._pings_seen
                self._cond.notify_all()
            if answer:
                try:
                    self.send(b"PONG\r\n" * answer)
                except OSError:
                    pass

    def _set_eof(self, why: str) -> None:
        with self._cond:
            if self._eof is None:
                self._eof = why
            self._cond.notify_all()

    # ------------------------------------------------------------ state
    @property
    def received(self) -> bytes:
        """Every byte read from the client so far."""
        with self._cond:
            return bytes(self._data)

    @property
    def frames(self) -> List[Frame]:
        """The complete frames received so far; fails the test if the client sent
        malformed data (including a truncated frame followed by more data)."""
        with self._cond:
            if self._parse_error is not None:
                raise AssertionError(
                    f"client sent malformed protocol on connection {self.index}: "
                    f"{self._parse_error}"
                )
            return list(self._frames)

    @property
    def tail(self) -> bytes:
        """Bytes of an incomplete frame at the end of what was received."""
        with self._cond:
            return self._parser.pending

    @property
    def parse_error(self) -> Optional[str]:
        with self._cond:
            return self._parse_error

    @property
    def eof(self) -> Optional[str]:
        """Why reading ended (client EOF/reset, or our close), None while open."""
        with self._cond:
            return self._eof

    def ops(self) -> List[str]:
        return [f.op for f in self.frames]

    def describe(self) -> str:
        with self._cond:
            frames = list(self._frames)
            err = self._parse_error
            eof = self._eof
            tail = self._parser.pending
        shown = [f.short() for f in frames[:40]]
        more = f" ... +{len(frames) - 40} more" if len(frames) > 40 else ""
        return (
            f"conn {self.index}: {len(frames)} frames {shown}{more}; tail {_show(tail)}; "
            f"parse error {err}; eof {eof}"
        )

    # ------------------------------------------------------------ waiting
    def wait_until(self, pred: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait (re-checking as data arrives) until ``pred()`` is true."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WireTimeout(
                        f"fake server: timed out after {timeout}s waiting for {what}; "
                        f"{self._describe_locked()}"
                    )
                self._cond.wait(min(left, 0.5))

    def _describe_locked(self) -> str:
        return (
            f"conn {self.index} received {_show(bytes(self._data))}; parse error "
            f"{self._parse_error}; eof {self._eof}"
        )

    def wait_frames(
        self,
        pred: Callable[[List[Frame]], bool],
        timeout: float = DEFAULT_TIMEOUT,
        what: str = "frames",
    ) -> List[Frame]:
        """Wait until ``pred(frames)`` holds; returns the frames at that moment."""

        def check() -> bool:
            if self._parse_error is not None:
                raise AssertionError(
                    f"client sent malformed protocol on connection {self.index}: "
                    f"{self._parse_error}"
                )
            return pred(self._frames)

        self.wait_until(check, timeout, what)
        return self.frames

    def wait_count(self, op: str, n: int, timeout: float = DEFAULT_TIMEOUT) -> List[Frame]:
        """Wait until at least ``n`` frames of ``op`` arrived."""
        return self.wait_frames(
            lambda fs: sum(1 for f in fs if f.op == op) >= n, timeout, f"{n} {op} frame(s)"
        )

    def wait_bytes(self, n: int, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """Wait until at least ``n`` bytes were received."""
        self.wait_until(lambda: len(self._data) >= n, timeout, f"{n} bytes")
        return self.received

    def wait_eof(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Wait until the client closed (or reset) the connection."""
        self.wait_until(lambda: self._eof is not None, timeout, "the client to close")
        eof = self.eof
        assert eof is not None
        return eof

    def expect_connect(self, timeout: float = DEFAULT_TIMEOUT) -> Dict[str, Any]:
        """Wait for ``CONNECT {json}`` + ``PING`` as the first two frames; return the JSON."""
        frames = self.wait_frames(lambda fs: len(fs) >= 2, timeout, "CONNECT and PING")
        assert frames[0].op == "CONNECT", f"first frame is not CONNECT: {self.describe()}"
        assert frames[1].op == "PING", f"second frame is not PING: {self.describe()}"
        return frames[0].connect_fields()

    # ------------------------------------------------------------ reading control
    def set_read_limit(self, limit: Optional[int]) -> None:
        """Stop reading once ``limit`` bytes were received in total (None: no limit)."""
        with self._cond:
            self._read_limit = limit
            self._cond.notify_all()

    def pause_reading(self) -> None:
        """Stop reading (soon: a recv in progress completes); the socket buffers fill."""
        with self._cond:
            self._read_limit = len(self._data)
            self._cond.notify_all()

    def resume_reading(self) -> None:
        self.set_read_limit(None)

    @property
    def auto_pong(self) -> bool:
        return self._auto_pong

    def set_auto_pong(self, on: bool, *, answer_pending: bool = False) -> None:
        """Answer every later client PING with PONG (``answer_pending``: also those
        already received and not answered)."""
        answer = 0
        with self._cond:
            self._auto_pong = on
            if on and answer_pending:
                answer = self._pings_seen - self._pings_answered
            if on:
                self._pings_answered = self._pings_seen
        if answer:
            self.send(b"PONG\r\n" * answer)

    # ------------------------------------------------------------ sending
    def send(self, data: bytes, chunk_size: Optional[int] = None, delay: float = 0.0) -> None:
        """Send ``data``, optionally in ``chunk_size`` pieces with ``delay`` between."""
        if chunk_size is None:
            self.send_chunks([data], delay)
        else:
            self.send_chunks(
                [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)], delay
            )

    def send_chunks(self, chunks: Sequence[bytes], delay: float = 0.0) -> None:
        """Send each chunk with its own ``send`` call, ``delay`` seconds apart."""
        for i, chunk in enumerate(chunks):
            if i and delay:
                time.sleep(delay)
            with self._wlock:
                self._sock.sendall(chunk)
                self.bytes_sent += len(chunk)

    def info_bytes(self, info: Optional[Dict[str, Any]] = None, **overrides: Any) -> bytes:
        data = dict(self.server.info)
        if info is not None:
            data = dict(info)
        data.update(overrides)
        return b"INFO " + json.dumps(data).encode() + _CRLF

    def send_info(self, info: Optional[Dict[str, Any]] = None, **overrides: Any) -> None:
        """Send ``INFO`` (the server's default INFO, or ``info``, updated by ``overrides``)."""
        self.send(self.info_bytes(info, **overrides))

    def send_ping(self) -> None:
        self.send(b"PING\r\n")

    def send_pong(self) -> None:
        self.send(b"PONG\r\n")

    def send_err(self, text: str) -> None:
        self.send(f"-ERR '{text}'\r\n".encode())

    def send_msg(self, subject: str, sid: int, payload: bytes = b"", reply: str = "") -> None:
        self.send(msg_frame(subject, sid, payload, reply))

    def handshake(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        auto_pong: bool = True,
        info: Optional[Dict[str, Any]] = None,
        **overrides: Any,
    ) -> Dict[str, Any]:
        """INFO -> expect CONNECT + PING -> PONG; then optionally answer PINGs
        automatically. Returns the CONNECT fields."""
        self.send_info(info, **overrides)
        fields = self.expect_connect(timeout)
        with self._cond:
            self._pings_answered = self._pings_seen
            self._auto_pong = auto_pong
        self.send_pong()
        return fields

    # ------------------------------------------------------------ ending
    def half_close(self) -> None:
        """Send FIN (shutdown write) but keep reading until the client closes."""
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        """Close the connection (FIN, or RST if unread data is pending); stop recording."""
        self._end(abort=False)

    def abort(self) -> None:
        """Reset the connection (RST) and stop recording."""
        self._end(abort=True)

    def _end(self, abort: bool) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        try:
            if abort:
                self._sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self._sock.shutdown(socket.SHUT_RD)  # wakes the recorder, sends nothing
            else:
                self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._thread.join(DEFAULT_TIMEOUT)
        try:
            self._sock.close()
        except OSError:
            pass

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


Step = Union[Tuple[Any, ...], Callable[[FakeConn], Any]]


class Background:
    """A function running on a thread of the fake server; ``result()`` joins it."""

    def __init__(self, fn: Callable[[], Any], name: str) -> None:
        self._fn = fn
        self._value: Any = None
        self._error: Optional[BaseException] = None
        self.checked = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:
            self._error = exc

    def result(self, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Wait for the function; return its value or re-raise its exception."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise WireTimeout(f"fake server: background script still running after {timeout}s")
        self.checked = True
        if self._error is not None:
            raise self._error
        return self._value

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()

    @property
    def error(self) -> Optional[BaseException]:
        return self._error


class FakeServer:
    """A listening loopback socket speaking scripted NATS (see the module docstring).

    ``info`` updates :data:`DEFAULT_INFO`; ``rcvbuf`` sets SO_RCVBUF of accepted
    sockets (small values make the client's writes block sooner when the test
    stops reading).
    """

    def __init__(
        self, *, info: Optional[Dict[str, Any]] = None, rcvbuf: Optional[int] = None
    ) -> None:
        self._rcvbuf = rcvbuf
        self._lsock: Optional[socket.socket] = None
        self.port = 0
        self._listen()
        self.info: Dict[str, Any] = dict(DEFAULT_INFO, port=self.port)
        if info:
            self.info.update(info)
        self.conns: List[FakeConn] = []
        self._bg: List[Background] = []
        self._lock = threading.Lock()
        self._closed = False

    def _listen(self) -> None:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self._rcvbuf is not None:
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._rcvbuf)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        self.port = ls.getsockname()[1]
        self._lsock = ls

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def accept(self, timeout: float = DEFAULT_TIMEOUT) -> FakeConn:
        """Accept the next client connection (waiting up to ``timeout``)."""
        ls = self._lsock
        if ls is None:
            raise AssertionError("fake server: accept() while refusing connections")
        ls.settimeout(timeout)
        try:
            sock, _addr = ls.accept()
        except socket.timeout:
            raise WireTimeout(
                f"fake server: no client connected within {timeout}s "
                f"({len(self.conns)} accepted before)"
            ) from None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            conn = FakeConn(self, sock, len(self.conns) + 1)
            self.conns.append(conn)
        return conn

    def refuse(self) -> None:
        """Close the listening socket: new connections are refused."""
        ls = self._lsock
        if ls is not None:
            self._lsock = None
            try:
                ls.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
            except OSError:
                pass
            ls.close()

    def listen_again(self) -> None:
        """Listen again on the same port after :meth:`refuse`."""
        if self._lsock is None:
            self._listen()

    def background(self, fn: Callable[[], Any], name: str = "bg") -> Background:
        """Run ``fn`` on a thread; a failure not collected by ``result()`` fails teardown."""
        bg = Background(fn, f"fakeserver-{self.port}-{name}")
        self._bg.append(bg)
        return bg

    def script(self, *steps: Step, timeout: float = DEFAULT_TIMEOUT) -> Background:
        """Accept the next connection in the background and run ``steps`` on it.

        A step is a callable taking the :class:`FakeConn`, or a tuple
        ``("method", *args)`` naming a :class:`FakeConn` method (``("sleep", s)``
        pauses). The result is the connection."""

        def run() -> FakeConn:
            conn = self.accept(timeout)
            for step in steps:
                if callable(step):
                    step(conn)
                    continue
                name, *args = step
                if name == "sleep":
                    time.sleep(float(args[0]))
                else:
                    getattr(conn, name)(*args)
            return conn

        return self.background(run, "script")

    def close(self) -> List[BaseException]:
        """Stop listening, close every connection and join every thread.

        Returns the exceptions of background scripts nobody collected."""
        if self._closed:
            return []
        self._closed = True
        self.refuse()
        for conn in list(self.conns):
            conn.close()
        errs: List[BaseException] = []
        for bg in self._bg:
            bg.thread.join(DEFAULT_TIMEOUT)
            if not bg.checked and bg.error is not None:
                errs.append(bg.error)
        for conn in list(self.conns):  # a script may have accepted one late
            conn.close()
        return errs

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
