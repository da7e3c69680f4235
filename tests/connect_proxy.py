"""Test helper: a small HTTP CONNECT proxy on loopback, threaded and bounded.

It answers ``CONNECT host:port`` with a tunnel (``407`` when credentials are
required and missing or wrong), and records what each tunnel carried from the
client, so a test can inspect the WebSocket upgrade request and the frames.
"""

from __future__ import annotations

import base64
import socket
import threading
from typing import List, Optional

WAIT = 10.0


class Tunnel:
    def __init__(self) -> None:
        self.request = b""  # the CONNECT request head
        self.upstream = bytearray()  # bytes from the client through the tunnel
        self.lock = threading.Lock()

    def client_bytes(self) -> bytes:
        with self.lock:
            return bytes(self.upstream)


class ConnectProxy:
    def __init__(self, user: Optional[str] = None, password: str = "") -> None:
        self._auth = None
        if user is not None:
            self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        self.tunnels: List[Tunnel] = []
        self.refused = 0
        self._socks: List[socket.socket] = []
        self._threads: List[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self._start(self._accept_loop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self, fn: object, *args: object) -> None:
        t = threading.Thread(target=fn, args=args, name="test-proxy", daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._lsock.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self._socks.append(conn)
            self._start(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(WAIT)
        head = b""
        try:
            while not head.endswith(b"\r\n\r\n") and len(head) < 8192:
                b = conn.recv(1)
                if not b:
                    return
                head += b
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (ln.partition(":") for ln in lines[1:] if ln)}
            if method != "CONNECT":
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            if self._auth is not None and headers.get("proxy-authorization") != self._auth:
                self.refused += 1
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Proxy-Authenticate: Basic realm=\"test\"\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            up = socket.create_connection((host.strip("[]"), int(port)), timeout=WAIT)
            with self._lock:
                self._socks.append(up)
            tunnel = Tunnel()
            tunnel.request = head
            self.tunnels.append(tunnel)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            conn.settimeout(None)
            up.settimeout(None)
            self._start(self._pump, up, conn, None)
            self._pump(conn, up, tunnel)
        except (OSError, ValueError):
            pass
        finally:
            conn.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, tunnel: Optional[Tunnel]) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if tunnel is not None:
                    with tunnel.lock:
                        tunnel.upstream += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            socks = list(self._socks)
            threads = list(self._threads)
        try:
            self._lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._lsock.close()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in threads:
            t.join(WAIT)

    def __enter__(self) -> ConnectProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
