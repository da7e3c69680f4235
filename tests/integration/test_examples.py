"""Every script in examples/ runs against a real nats-server and does what it says.

The test is parametrized over the directory listing, so a new example is run
too: without a scenario below it must at least exit 0 when given the URL of a
live server. Examples that need a counterpart (a subscriber for pub.py, a
responder for request.py, a server restart for survive_restart.py) get it from
the test. Scripts run in a fresh interpreter, the way a user runs them.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Callable, Dict, List, Optional, Tuple

import pytest

import natsync
from natsync import errors
from natsync.testing import NatsServer, free_port
from tests.cli_support import cli_env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = ROOT / "examples"
EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.glob("*.py"))
WAIT = 15.0  # bound on each wait for a line of output
RUN_TIMEOUT = 30.0  # bound on each script run


def _env() -> Dict[str, str]:
    return cli_env(PYTHONUNBUFFERED="1")  # lines reach the test as they are printed


def run(name: str, *args: str, env: Optional[Dict[str, str]] = None) -> Tuple[int, str, str]:
    """Run examples/NAME with ``args`` to completion: (exit status, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / name), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=env if env is not None else _env(),
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode, proc.stdout, proc.stderr


def run_ok(name: str, *args: str) -> str:
    code, out, err = run(name, *args)
    assert code == 0, f"{name} exited {code}\n--- stdout\n{out}\n--- stderr\n{err}"
    return out


class Running:
    """An example running in the background; the test waits for lines it prints."""

    def __init__(self, name: str, *args: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES_DIR / name), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=_env(),
        )
        self.lines: queue.Queue[Optional[str]] = queue.Queue()
        self.stdout: List[str] = []
        self.stderr: List[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read(self, stream: Optional[IO[str]], is_stdout: bool) -> None:
        assert stream is not None
        for line in stream:
            line = line.rstrip("\n")
            if is_stdout:
                self.stdout.append(line)
                self.lines.put(line)
            else:
                self.stderr.append(line)
        if is_stdout:
            self.lines.put(None)

    def output(self) -> str:
        return "--- stdout\n" + "\n".join(self.stdout) + "\n--- stderr\n" + "\n".join(self.stderr)

    def wait_for(self, pattern: str, timeout: float = WAIT) -> re.Match[str]:
        """Wait for a stdout line matching the regular expression ``pattern``."""
        regex = re.compile(pattern)
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"{self.name} printed no line matching {pattern!r} within "
                            f"{timeout:g}s\n{self.output()}")
            if line is None:
                self.proc.wait(timeout=WAIT)
                pytest.fail(f"{self.name} exited ({self.proc.returncode}) before printing a line "
                            f"matching {pattern!r}\n{self.output()}")
            match = regex.search(line)
            if match:
                return match

    def finish(self, timeout: float = RUN_TIMEOUT) -> str:
        """Wait for the exit, assert status 0 and return all of stdout."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not exit within {timeout:g}s\n{self.output()}")
        for t in self._readers:
            t.join(timeout=WAIT)
        assert code == 0, f"{self.name} exited {code}\n{self.output()}"
        return "\n".join(self.stdout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
        for t in self._readers:  # they stop at the end of the output
            t.join(timeout=WAIT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def start() -> Iterator[Callable[..., Running]]:
    """``start(name, *args)`` runs an example in the background; all are killed at teardown."""
    started: List[Running] = []

    def _start(name: str, *args: str) -> Running:
        running = Running(name, *args)
        started.append(running)
        return running

    yield _start
    for running in started:
        running.kill()


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    """One server for the examples that leave it as they found it."""
    with NatsServer() as srv:
        yield srv


def lines(out: str) -> List[str]:
    return out.splitlines()


# --------------------------------------------------------------------------- scenarios


def check_pub(server: NatsServer, start: Callable[..., Running]) -> None:
    with natsync.connect(server.url) as nc:
        sub = nc.subscribe("greet.joe")
        nc.flush()
        out = run_ok("pub.py", server.url, "--count", "4", "--data", "hi")
        assert "published 4 messages to greet.joe" in out
        assert [sub.next_msg(timeout=WAIT).data for _ in range(4)] == [
            b"hi 1", b"hi 2", b"hi 3", b"hi 4"
        ]
        # The URL may come from $NATS_URL instead of the command line.
        env = dict(_env(), NATS_URL=server.url)
        code, out, err = run("pub.py", "--count", "1", env=env)
        assert code == 0, err
        assert sub.next_msg(timeout=WAIT).data == b"hello 1"


def check_sub(server: NatsServer, start: Callable[..., Running]) -> None:
    sub = start("sub.py", server.url, "--subject", "greet.*", "--count", "3")
    sub.wait_for(r"^listening on greet\.\*$")
    run_ok("pub.py", server.url, "--subject", "greet.ann", "--count", "3", "--data", "hey")
    out = sub.finish()
    assert lines(out)[1:] == [
        "[1] greet.ann: hey 1",
        "[2] greet.ann: hey 2",
        "[3] greet.ann: hey 3",
        "received 3 messages",
    ]


def check_request(server: NatsServer, start: Callable[..., Running]) -> None:
    # nobody is subscribed: the server says so at once
    code, out, err = run("request.py", server.url, "--subject", "nobody.home")
    assert code == 1 and "no responders on nobody.home" in err, (out, err)

    with natsync.connect(server.url) as nc:
        nc.subscribe("time.now", cb=lambda msg: msg.respond(b"pong: " + msg.data))
        nc.subscribe("black.hole")  # subscribed, never answers
        nc.flush()
        out = run_ok("request.py", server.url, "--data", "tick")
        assert lines(out) == ["reply: pong: tick"]

        code, out, err = run("request.py", server.url, "--subject", "black.hole",
                             "--timeout", "0.3")
        assert code == 1 and "no reply on black.hole within 0.3s" in err, (out, err)


def check_reply(server: NatsServer, start: Callable[..., Running]) -> None:
    replier = start("reply.py", server.url, "--subject", "echo.svc", "--count", "3")
    replier.wait_for("^ready$")
    for word in ("one", "two", "three"):
        out = run_ok("request.py", server.url, "--subject", "echo.svc", "--data", word)
        assert lines(out) == [f"reply: pong: {word}"]
    out = replier.finish()
    assert lines(out)[-1] == "served 3 requests"
    # it has drained and left: nobody answers any more
    code, _, err = run("request.py", server.url, "--subject", "echo.svc")
    assert code == 1 and "no responders" in err


def check_queue_group(server: NatsServer, start: Callable[..., Running]) -> None:
    out = run_ok("queue_group.py", server.url, "--workers", "3", "--tasks", "30")
    counts = [int(m.group(1)) for m in re.finditer(r"^worker-\d handled (\d+)$", out, re.M)]
    assert sum(counts) == 30 and 1 <= len(counts) <= 3, out
    assert lines(out)[-1] == "all 30 tasks handled exactly once"


def check_headers(server: NatsServer, start: Callable[..., Running]) -> None:
    out = run_ok("headers.py", server.url)
    assert lines(out) == [
        'data: {"id": 42}',
        "header Content-Type: application/json",
        "header Tag: ['priority', 'gift']",
        "header Trace-Id: 7f3a",
        "second message headers: None",
        "reply headers: {'Trace-Id': '9c1d'}",
    ]


def check_drain(server: NatsServer, start: Callable[..., Running]) -> None:
    out = run_ok("drain.py", server.url, "--count", "20")
    assert "processed after drain: 20 of 20" in lines(out)
    assert lines(out)[-1] == "closed: True"


def check_worker_service(server: NatsServer, start: Callable[..., Running]) -> None:
    service = start("worker_service.py", server.url, "--threads", "2", "--job-seconds", "0.3")
    service.wait_for("^ready$")
    replies: Dict[str, bytes] = {}
    failures: List[BaseException] = []

    with natsync.connect(server.url) as nc:

        def ask(word: str) -> None:
            try:
                replies[word] = nc.request("svc.upper", word.encode(), timeout=WAIT).data
            except errors.Error as exc:
                failures.append(exc)

        words = ["alpha", "beta", "gamma", "delta", "epsilon"]
        askers = [threading.Thread(target=ask, args=(w,)) for w in words]
        for t in askers:
            t.start()
        # Every request is in the service, most of them still waiting for a pool
        # thread, when SIGTERM arrives: all must still be answered.
        for n in range(1, len(words) + 1):
            service.wait_for(f"^accepted job {n}$")
        service.proc.send_signal(signal.SIGTERM)
        for t in askers:
            t.join(timeout=WAIT)
        out = service.finish()
        assert not failures, failures
        assert replies == {w: w.upper().encode() for w in words}
        assert "draining" in lines(out)
        assert lines(out)[-1] == "drained: accepted 5, answered 5"
        with pytest.raises(errors.NoRespondersError):
            nc.request("svc.upper", b"late", timeout=WAIT)


class Gate:
    """A TCP forwarder to a server whose door the test closes and opens.

    While closed, new connections are accepted and closed at once (the client
    sees the server go away before INFO and retries); open ones are untouched.
    It lets the test decide when the example may reconnect.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.url = f"nats://127.0.0.1:{self.port}"
        self.is_open = threading.Event()
        self.is_open.set()
        self.socks: List[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.is_open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=WAIT)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self.socks += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                t = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                self.threads.append(t)
                t.start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        except OSError:
            pass
        self.listener.close()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in self.threads:
            t.join(timeout=WAIT)


def check_survive_restart(server: NatsServer, start: Callable[..., Running]) -> None:
    # A server of its own, since this one is killed. The example reaches it
    # through a Gate, so that after the restart the test's own subscriber is
    # back (and subscribed) before the example can reconnect and replay: a
    # subscriber that is itself disconnected misses messages in core NATS.
    with NatsServer() as own:
        gate = Gate(own.port)
        try:
            with natsync.connect(own.url, reconnect_time_wait=0.05,
                                 max_reconnect_attempts=-1) as nc:
                sub = nc.subscribe("numbers")
                nc.flush()
                pub = start("survive_restart.py", gate.url, "--count", "100", "--wait", "20")
                pub.wait_for(r"^published 1\.\.50; stop the server now$")
                # 1..50 are on the server; wait until they reached us too, so the
                # kill cannot catch them in the server's send buffer.
                first = [int(sub.next_msg(timeout=WAIT).data) for _ in range(50)]
                gate.is_open.clear()
                own.kill()
                pub.wait_for("^disconnected$")
                buffered = pub.wait_for(r"^buffered (\d+) messages \((\d+) bytes\)")
                assert buffered.group(1) == "50"
                own.start()
                nc.flush(timeout=WAIT)  # reconnected, re-subscribed, round trip done
                gate.is_open.set()
                out = pub.finish()
                rest = [int(sub.next_msg(timeout=WAIT).data) for _ in range(50)]
                assert first + rest == list(range(1, 101))
                assert "reconnected" in lines(out)
                assert lines(out)[-1] == "all 100 messages published, reconnects: 1"
        finally:
            gate.close()


def check_js_consume_worker(server: NatsServer, start: Callable[..., Running]) -> None:
    # A JetStream server of its own, stopped and started while the worker runs.
    import natsync.jetstream

    with NatsServer(jetstream=True) as own:
        worker = start("js_consume_worker.py", own.url, "--count", "20")
        worker.wait_for("^waiting for orders$")
        with natsync.connect(own.url, reconnect_time_wait=0.05, max_reconnect_attempts=-1) as nc:
            js = natsync.jetstream.new(nc)
            for i in range(10):
                js.publish("orders.new", b"order %d" % i)
            for i in range(10):
                worker.wait_for(rf"^order {i + 1}: order {i}$")
            own.stop()
            worker.wait_for("^disconnected$")
            own.start()
            worker.wait_for("^reconnected$")
            nc.flush(timeout=WAIT)
            for i in range(10, 20):
                js.publish("orders.new", b"order %d" % i)
            for i in range(10, 20):
                worker.wait_for(rf"^order {i + 1}: order {i}$")
            out = worker.finish()
        assert "done: 20 orders handled" in lines(out)


def check_request_timeouts(server: NatsServer, start: Callable[..., Running]) -> None:
    out = run_ok("request_timeouts.py", server.url)
    assert lines(out) == [
        "1. nobody serves 'inventory.count':",
        "  attempt 1: no responders",
        "  attempt 2: no responders",
        "  gave up: no reply on 'inventory.count' after 2 attempts",
        "2. a responder that drops the first request:",
        "  attempt 1: timed out after 0.5s",
        "  attempt 2: reply '42 apples'",
        "  result: 42 apples",
    ]


def check_wildcards(server: NatsServer, start: Callable[..., Running]) -> None:
    out = run_ok("wildcards.py", server.url)
    assert [" ".join(line.split()) for line in lines(out)] == [
        "weather.* got weather.eu",
        "weather.> got weather.eu, weather.eu.paris, weather.us.nyc",
        "weather.*.paris got weather.eu.paris",
        "weather.eu.paris got weather.eu.paris",
    ]


def check_auto_unsubscribe(server: NatsServer, start: Callable[..., Running]) -> None:
    out = run_ok("auto_unsubscribe.py", server.url)
    assert lines(out) == [
        "max_msgs=3: [1, 2, 3]",
        "unsubscribe(limit=5): [1, 2, 3, 4, 5]",
    ]


def check_slow_consumer(server: NatsServer, start: Callable[..., Running]) -> None:
    out = run_ok("slow_consumer.py", server.url)
    assert lines(out) == [
        "error_cb: SlowConsumerError on 'metrics'",
        "slow: pending 10, dropped 90",
        "fast: pending 100, dropped 0",
        "slow kept the first ones: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9",
        "still connected: True",
    ]


def check_reconnect_buffer_policies(server: NatsServer, start: Callable[..., Running]) -> None:
    down = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    out = run_ok("reconnect_buffer_policies.py", down)
    unsent_123 = "  after close: unsent_messages() = [1, 2, 3], stats['unsent_msgs'] = 3"
    buffered = [f"  publish {n}: buffered ({n} in the buffer)" for n in (1, 2, 3)]
    got = lines(out)
    got = [re.sub(r"after waiting [\d.]+s$", "after waiting Ns", line) for line in got]
    assert got == [
        'reconnect_buf_overflow="error"',
        *buffered,
        "  publish 4: OutboundBufferLimitError",
        "  publish 5: OutboundBufferLimitError",
        unsent_123,
        'reconnect_buf_overflow="drop_oldest"',
        *buffered,
        "  publish 4: buffered (3 in the buffer)",
        "  publish 5: buffered (3 in the buffer)",
        "  stats['reconnect_buf_dropped'] = 2",
        "  after close: unsent_messages() = [3, 4, 5], stats['unsent_msgs'] = 3",
        "  error_cb received: OutboundBufferLimitError",
        'reconnect_buf_overflow="block", flush_timeout=0.3',
        *buffered,
        "  publish 4: OutboundBufferLimitError after waiting Ns",
        unsent_123,
        "reconnect_buf_size=0 (buffer nothing)",
        "  publish 1: OutboundBufferLimitError",
        "  after close: unsent_messages() = [], stats['unsent_msgs'] = 0",
    ]

    # Given a live server it refuses to run, rather than show nothing.
    code, _, err = run("reconnect_buffer_policies.py", server.url)
    assert code == 1 and "pass the URL of a server that is not running" in err


def check_kv_config_watch(server: NatsServer, start: Callable[..., Running]) -> None:
    with NatsServer(jetstream=True) as js_server:  # the shared server has no JetStream
        out = run_ok("kv_config_watch.py", js_server.url, "--threads", "3")
        with natsync.connect(js_server.url) as nc:  # the example removed its bucket
            with pytest.raises(errors.Error):
                nc.jetstream().key_value("example_config")
    got = lines(out)
    assert got[-1] == "all 3 workers saw every value in order: info -> debug -> warning -> error"
    for n in (1, 2, 3):
        mine = [line for line in got if line.startswith(f"worker-{n}: ")]
        assert mine == [
            f"worker-{n}: log level is now info (revision 1)",
            f"worker-{n}: log level is now debug (revision 2)",
            f"worker-{n}: log level is now warning (revision 3)",
            f"worker-{n}: log level is now error (revision 4)",
            f"worker-{n}: stopping at revision 5",
        ]


def check_micro_service(server: NatsServer, start: Callable[..., Running]) -> None:
    out = lines(run_ok("micro_service.py", server.url))
    for line in ("add -> 5", "div -> 0.25", "div by zero -> error 400: division by zero",
                 "error_cb: 400:division by zero", "add: 1 requests, 0 errors",
                 "div: 2 requests, 1 errors, last error 400:division by zero", "stopped: True"):
        assert line in out, (line, out)
    (found,) = [ln for ln in out if ln.startswith("found calc 1.0.0 (")]
    assert found.endswith("): calc.add, calc.div")


def check_object_store_backup(server: NatsServer, start: Callable[..., Running]) -> None:
    # Object Store needs JetStream: a server of its own.
    with NatsServer(jetstream=True) as js_server, tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "src", Path(tmp) / "dst"
        (src / "sub").mkdir(parents=True)
        (src / "a.txt").write_text("alpha\n")
        (src / "sub" / "b.bin").write_bytes(os.urandom(300_000))
        (src / "sub" / "empty").write_bytes(b"")
        (src / "sub" / "b.bin").chmod(0o600)
        out = run_ok("object_store_backup.py", js_server.url, "backup", str(src))
        assert lines(out) == [
            "stored a.txt (6 bytes, 1 chunks)",
            "stored sub/b.bin (300000 bytes, 3 chunks)",
            "stored sub/empty (0 bytes, 0 chunks)",
            "backed up 3 files to bucket backups",
        ]
        (src / "a.txt").unlink()
        out = run_ok("object_store_backup.py", js_server.url, "backup", str(src))
        assert f"deleted a.txt (gone from {src})" in lines(out)
        out = run_ok("object_store_backup.py", js_server.url, "restore", str(dst))
        assert lines(out)[-1] == "restored 2 files from bucket backups"
        restored = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file())
        assert restored == ["sub/b.bin", "sub/empty"]
        for name in restored:
            assert (dst / name).read_bytes() == (src / name).read_bytes()
        assert (dst / "sub" / "b.bin").stat().st_mode & 0o777 == 0o600


def check_runs(name: str) -> Callable[[NatsServer, Callable[..., Running]], None]:
    """The default for an example without a scenario: it exits 0 against a live server."""

    def scenario(server: NatsServer, start: Callable[..., Running]) -> None:
        run_ok(name, server.url)

    return scenario


def check_js_publish_ack(server: NatsServer, start: Callable[..., Running]) -> None:
    with NatsServer(jetstream=True) as js_server:
        out = lines(run_ok("js_publish_ack.py", js_server.url, "--count", "3"))
        with natsync.connect(js_server.url) as nc:  # the example removed its stream
            assert nc.jetstream().streams_info() == []
    assert out == [
        "order 1: stored in ORDERS_DEMO as seq 1",
        "order 2: stored in ORDERS_DEMO as seq 2",
        "order 3: stored in ORDERS_DEMO as seq 3",
        "order 1 again: duplicate=True, still seq 1",
        "stale write refused: err_code 10071",
        "async: 100 acks, seq 4..103",
        "stream ORDERS_DEMO holds 103 messages",
    ]


def check_js_pull_worker(server: NatsServer, start: Callable[..., Running]) -> None:
    with NatsServer(jetstream=True) as js_server:
        worker = start("js_pull_worker.py", js_server.url, "--count", "4", "--batch", "2")
        worker.wait_for("^waiting for jobs$")
        with natsync.connect(js_server.url) as nc:
            js = nc.jetstream()
            for job in ("job 1", "flaky 2", "job 3", "job 4"):
                js.publish("jobs.new", job.encode())
            out = lines(worker.finish())
            info = js.consumer_info("JOBS_DEMO", "workers")
            assert info.num_ack_pending == 0 and info.num_pending == 0
            assert js.stream_info("JOBS_DEMO").state.messages == 0  # work queue: acked = gone
    assert out[-1] == "handled 4 jobs"
    assert "flaky 2: failed on delivery 1, nak" in out
    assert "flaky 2: done (delivery 2)" in out
    assert {"job 1: done (delivery 1)", "job 3: done (delivery 1)",
            "job 4: done (delivery 1)"} <= set(out)


def check_js_ordered_replay(server: NatsServer, start: Callable[..., Running]) -> None:
    with NatsServer(jetstream=True) as js_server:
        out = lines(run_ok("js_ordered_replay.py", js_server.url, "--from-seq", "3",
                           "--seed", "6"))
    assert out == [
        "seq 3: events.a event 2",
        "seq 4: events.b event 3",
        "seq 5: events.a event 4",
        "seq 6: events.b event 5",
        "replayed 4 events, up to seq 6",
    ]


SCENARIOS: Dict[str, Callable[[NatsServer, Callable[..., Running]], None]] = {
    "js_publish_ack.py": check_js_publish_ack,
    "js_pull_worker.py": check_js_pull_worker,
    "js_ordered_replay.py": check_js_ordered_replay,
    "pub.py": check_pub,
    "sub.py": check_sub,
    "request.py": check_request,
    "reply.py": check_reply,
    "queue_group.py": check_queue_group,
    "headers.py": check_headers,
    "drain.py": check_drain,
    "worker_service.py": check_worker_service,
    "survive_restart.py": check_survive_restart,
    "js_consume_worker.py": check_js_consume_worker,
    "request_timeouts.py": check_request_timeouts,
    "wildcards.py": check_wildcards,
    "auto_unsubscribe.py": check_auto_unsubscribe,
    "slow_consumer.py": check_slow_consumer,
    "reconnect_buffer_policies.py": check_reconnect_buffer_policies,
    "kv_config_watch.py": check_kv_config_watch,
    "micro_service.py": check_micro_service,
    "object_store_backup.py": check_object_store_backup,
}


def test_examples_exist() -> None:
    assert EXAMPLES, f"no examples found in {EXAMPLES_DIR}"
    missing = sorted(set(SCENARIOS) - set(EXAMPLES))
    assert not missing, f"scenarios for examples that do not exist: {missing}"


@pytest.mark.parametrize("name", EXAMPLES)
def test_example(name: str, server: NatsServer, start: Callable[..., Running]) -> None:
    SCENARIOS.get(name, check_runs(name))(server, start)
