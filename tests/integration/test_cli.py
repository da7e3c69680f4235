"""The natsync command against real nats-server processes.

Long-running commands (sub, reply) run as ``python -m natsync`` subprocesses whose
output is collected by reader threads; one-shot commands run in-process through
``natsync.cli.main`` with capsys, or as subprocesses where the real process matters
(exit status, no traceback, non-TTY progress).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, Optional

import nkeys  # type: ignore[import-untyped]
import pytest

import natsync
from natsync.cli import main
from natsync.testing import NatsServer, free_port
from tests import jwt_helpers as jh
from tests.cli_support import Proc, run_cli, run_cli_on_tty

WAIT = 15.0  # bound on every wait in this file

Factory = Callable[..., NatsServer]


@pytest.fixture
def procs() -> Iterator[Callable[..., Proc]]:
    started: list[Proc] = []

    def start(*args: str, env: Optional[dict[str, str]] = None) -> Proc:
        proc = Proc(*args, env=env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


def assert_clean_error(err: str, *fragments: str) -> None:
    assert err.startswith("natsync: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


# --------------------------------------------------------------------------- pub / sub


def test_pub_sub_round_trip_with_headers_and_count(
        nats_server: NatsServer, procs: Callable[..., Proc],
        capsys: pytest.CaptureFixture[str]) -> None:
    sub = procs("sub", "greet.*", "--count", "3", "-s", nats_server.url)
    sub.wait_ready()
    assert main(["pub", "greet.joe", "hello {{Count}} ({{.Count}})", "--count", "3",
                 "-H", "Trace:a", "-H", "Trace: b", "-H", "Seq:{{Count}}",
                 "-s", nats_server.url]) == 0
    assert 'Published 3 messages' in capsys.readouterr().out
    assert sub.finish() == 0
    out = sub.stdout.decode()
    for i in (1, 2, 3):
        block = (f'[#{i}] Received on "greet.joe" ({len(f"hello {i} ({i})")} bytes)\n'
                 f"Trace: a\nTrace: b\nSeq: {i}\n\nhello {i} ({i})\n")
        assert block in out
    assert "exiting after 3" in sub.stderr.decode()


def test_pub_reply_subject_and_per_message_lines(
        nats_server: NatsServer, capsys: pytest.CaptureFixture[str]) -> None:
    with natsync.connect(nats_server.url) as nc:
        sub = nc.subscribe("one")
        nc.flush()
        assert main(["pub", "one", "x", "--reply", "back.here", "--count", "2", "--sleep", "1ms",
                     "-s", nats_server.url]) == 0
        msgs = [sub.next_msg(timeout=WAIT) for _ in range(2)]
    assert [m.reply for m in msgs] == ["back.here", "back.here"]
    assert capsys.readouterr().out == 'Published 1 byte to "one"\n' * 2


def test_sub_raw_with_binary_payload_from_stdin_sent_verbatim(
        nats_server: NatsServer, procs: Callable[..., Proc]) -> None:
    sub = procs("sub", "bin", "--raw", "--count", "2", "-s", nats_server.url)
    sub.wait_ready()
    res = run_cli("pub", "bin", "--stdin", "--count", "2", "-s", nats_server.url,
                  stdin=b"\x00\xfe{{Count}}{{Bogus}}")
    assert res.returncode == 0, res.stderr
    assert res.stdout == b'Published 2 messages (40 bytes) to "bin"\n'
    assert sub.finish() == 0
    assert sub.stdout == b"\x00\xfe{{Count}}{{Bogus}}\n" * 2


def test_queue_group_delivers_each_message_once_and_ctrl_c_exits_130(
        nats_server: NatsServer, procs: Callable[..., Proc]) -> None:
    workers = [procs("sub", "jobs", "--queue", "workers", "--raw", "-s", nats_server.url)
               for _ in range(2)]
    for w in workers:
        w.wait_ready()
        assert 'in queue group "workers"' in w.stderr.decode()
    assert main(["pub", "jobs", "job {{Count}}", "--count", "40", "-q",
                 "-s", nats_server.url]) == 0

    def total() -> int:
        return sum(w.stdout.count(b"\n") for w in workers)

    workers[0].wait_for(lambda: total() >= 40, "40 deliveries to the group")
    for w in workers:
        assert w.interrupt() == 130
        assert b"Traceback" not in w.stderr
    got = [line for w in workers for line in w.stdout.decode().splitlines()]
    assert sorted(got) == sorted(f"job {i}" for i in range(1, 41))


def test_sub_survives_a_server_restart(nats_server: NatsServer,
                                       procs: Callable[..., Proc]) -> None:
    sub = procs("sub", "after.restart", "--raw", "--count", "1", "-s", nats_server.url)
    sub.wait_ready()
    nats_server.kill()
    sub.wait_for(lambda: b"disconnected, reconnecting" in b"".join(sub.err), "disconnect note")
    nats_server.start()
    sub.wait_for(lambda: b"natsync: reconnected" in b"".join(sub.err), "reconnect note")
    with natsync.connect(nats_server.url) as nc:
        # the SUB is re-sent before the note, but the server handles each connection on
        # its own, so publish until the message arrives (--count 1 keeps it to one)
        deadline = time.monotonic() + WAIT
        while sub.p.poll() is None and time.monotonic() < deadline:
            nc.publish("after.restart", b"back")
            nc.flush()
            try:
                sub.p.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
    assert sub.finish() == 0
    assert sub.stdout == b"back\n"


def test_ctrl_c_while_disconnected_exits_130(nats_server: NatsServer,
                                             procs: Callable[..., Proc]) -> None:
    sub = procs("sub", "x", "-s", nats_server.url)
    sub.wait_ready()
    nats_server.kill()
    sub.wait_for(lambda: b"disconnected" in b"".join(sub.err), "disconnect note")
    assert sub.interrupt() == 130
    assert b"Traceback" not in sub.stderr


# --------------------------------------------------------------------------- req / reply


def test_request_reply_with_templates_and_headers(
        nats_server: NatsServer, procs: Callable[..., Proc],
        capsys: pytest.CaptureFixture[str]) -> None:
    rep = procs("reply", "svc.echo", "re: {{Request}} #{{Count}}", "-H", "Served-By:cli",
                "--count", "2", "-s", nats_server.url)
    rep.wait_ready()
    assert main(["req", "svc.echo", "q{{Count}}", "--count", "2", "-H", "Client:test",
                 "-s", nats_server.url]) == 0
    out = capsys.readouterr().out
    assert "re: q1 #1\n" in out and "re: q2 #2\n" in out
    assert out.count("Served-By: cli\n") == 2
    assert "Received reply #1 with rtt " in out
    assert rep.finish() == 0
    requests = rep.stdout.decode()
    assert '[#1] Received on "svc.echo" with reply "_INBOX.' in requests
    assert "Client: test\n\nq1\n" in requests and "Client: test\n\nq2\n" in requests


def test_reply_echoes_by_default_and_req_raw(
        nats_server: NatsServer, procs: Callable[..., Proc]) -> None:
    rep = procs("reply", "echo", "--count", "1", "--quiet", "-s", nats_server.url)
    rep.wait_ready()
    res = run_cli("req", "echo", "ping", "--raw", "-s", nats_server.url)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"ping\n"
    assert rep.finish() == 0
    assert rep.stdout == b""


def test_req_without_responders(nats_server: NatsServer,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["req", "nobody.home", "hi", "-s", nats_server.url]) == 1
    assert_clean_error(capsys.readouterr().err, 'no responders on "nobody.home"')


def test_req_timeout(nats_server: NatsServer, capsys: pytest.CaptureFixture[str]) -> None:
    with natsync.connect(nats_server.url) as nc:
        nc.subscribe("silent")  # interest, but no answer
        nc.flush()
        assert main(["req", "silent", "hi", "--timeout", "200ms", "-s", nats_server.url]) == 1
    assert_clean_error(capsys.readouterr().err, 'no reply on "silent" within 0.2s')


# --------------------------------------------------------------------------- bench


def test_bench_pub_sub_json_csv_and_plain_progress(nats_server: NatsServer,
                                                   tmp_path: Path) -> None:
    jfile, cfile = tmp_path / "b.json", tmp_path / "b.csv"
    res = run_cli("bench", "bench.ps", "--pub", "2", "--sub", "2", "--msgs", "20000",
                  "--size", "64", "--json", str(jfile), "--csv", str(cfile),
                  "-s", nats_server.url)
    assert res.returncode == 0, res.stderr
    out, err = res.stdout.decode(), res.stderr.decode()
    for line in ("NATS Pub/Sub stats: ", " Pub stats: ", " Sub stats: ", "  [1] ", "  [2] ",
                 "  min "):
        assert line in out
    assert "bench: 100% (60,000/60,000 msgs" in err  # plain lines: stderr is not a TTY
    assert "\r" not in err
    report = json.loads(jfile.read_text())
    assert report["complete"] is True and report["mode"] == "pubsub"
    assert report["pub"]["msgs"] == 20000 and report["sub"]["msgs"] == 40000
    assert [c["msgs"] for c in report["pub"]["per_client"]] == [10000, 10000]
    assert [c["msgs"] for c in report["sub"]["per_client"]] == [20000, 20000]
    assert report["sub"]["bytes"] == 40000 * 64
    for group in ("pub", "sub", "pubsub"):
        assert report[group]["msgs_per_sec"] > 0 and report[group]["duration_s"] > 0
    pub = report["pub"]
    assert pub["min_msgs_per_sec"] <= pub["avg_msgs_per_sec"] <= pub["max_msgs_per_sec"]
    rows = cfile.read_text().splitlines()
    assert rows[0].startswith("run_id,mode,kind,client,msgs")
    assert sorted(r.split(",")[2] for r in rows[1:]) == ["pub", "pub", "sub", "sub"]


def test_bench_request_latency_json_on_stdout(nats_server: NatsServer) -> None:
    res = run_cli("bench", "bench.rr", "--request", "--pub", "2", "--msgs", "400",
                  "--json", "-", "--no-progress", "-s", nats_server.url)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)  # the human report went to stderr
    err = res.stderr.decode()
    assert "Request/reply stats: " in err and "Latency (400 requests): p50 " in err
    assert "bench:" not in err  # --no-progress
    assert report["mode"] == "request" and report["complete"] is True
    assert report["request"]["msgs"] == 400
    lat = report["latency_us"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]


def test_bench_publisher_only(nats_server: NatsServer,
                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "bench.p", "--msgs", "5000", "--no-progress",
                 "-s", nats_server.url]) == 0
    out = capsys.readouterr().out
    assert "Starting pub/sub benchmark [subject=bench.p, msgs=5,000" in out
    assert " Pub stats: " in out and "Sub stats" not in out


def test_bench_with_nothing_to_do(nats_server: NatsServer,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "x", "--pub", "0", "--sub", "0", "-s", nats_server.url]) == 1
    assert_clean_error(capsys.readouterr().err, "nothing to measure")


# --------------------------------------------------------------------------- demo


def test_demo_loses_nothing_and_shows_the_stages() -> None:
    res = run_cli("demo", "--count", "60", "--interval", "2ms")
    out = res.stdout.decode()
    assert res.returncode == 0, out + res.stderr.decode()
    stages = [
        "started nats-server",
        "stage 1: published 1..20 with the server up; the subscriber received 20",
        "server killed with SIGKILL",
        "both clients noticed the lost connection",
        "publishing while disconnected: buffered 20 msgs / ",
        "restarting nats-server on the same port",
        "subscriber reconnected",
        "publisher reconnected: replayed 20 buffered messages",
        "stage 3: published 41..60; the subscriber has 60 in all",
        "Result: OK: all 60 messages arrived exactly once and in order.",
    ]
    positions = [out.find(s) for s in stages]
    assert all(p >= 0 for p in positions), out
    assert positions == sorted(positions), out
    assert "reconnects       publisher 1, subscriber 1" in out


def test_demo_quiet_prints_only_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--count", "9", "--interval", "0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.lstrip().startswith("Summary")
    assert "server killed" not in out and "Result: OK" in out


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("argv", [
    ["pub", "x", "hi"], ["sub", "x"], ["req", "x", "hi"], ["reply", "x"], ["bench", "x"],
])
def test_refused_connection_is_a_clean_error(argv: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    assert main([*argv, "-s", url]) == 1
    assert_clean_error(capsys.readouterr().err, f"cannot connect to {url}")


def test_refused_connection_in_a_real_process() -> None:
    res = run_cli("pub", "x", "hi", "-s", f"nats://127.0.0.1:{free_port()}")
    assert res.returncode == 1
    assert_clean_error(res.stderr.decode(), "cannot connect", "refused")


def test_bad_subject_is_a_clean_error(nats_server: NatsServer,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pub", "bad subject", "x", "-s", nats_server.url]) == 1
    assert_clean_error(capsys.readouterr().err, "invalid subject")


def test_user_password(nats_server_factory: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    srv = nats_server_factory(user="alice", password="s3cret")
    assert main(["pub", "x", "hi", "-s", srv.url, "--user", "alice", "--password", "s3cret"]) == 0
    capsys.readouterr()
    assert main(["pub", "x", "hi", "-s", srv.url, "--user", "alice", "--password", "nope"]) == 1
    assert_clean_error(capsys.readouterr().err, "authorization")
    assert main(["pub", "x", "hi", "-s", srv.url]) == 1
    assert_clean_error(capsys.readouterr().err, "authorization")


def test_bad_token_in_a_real_process(nats_server_factory: Factory) -> None:
    srv = nats_server_factory(token="t0ken")
    assert run_cli("pub", "x", "-s", srv.url, "--token", "t0ken").returncode == 0
    res = run_cli("req", "x", "-s", srv.url, "--token", "wrong")
    assert res.returncode == 1
    assert_clean_error(res.stderr.decode(), "authorization")
    assert "wrong" not in res.stderr.decode()


def test_nkey_seed_file(nats_server_factory: Factory, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    key = jh.new_keypair(nkeys.PREFIX_BYTE_USER)
    srv = nats_server_factory(config=f"authorization {{ users = [ {{ nkey: {key.public} }} ] }}")
    seed = tmp_path / "user.nk"
    seed.write_text(key.seed + "\n")
    assert main(["pub", "x", "hi", "-s", srv.url, "--nkey", str(seed)]) == 0
    assert main(["pub", "x", "hi", "-s", srv.url, "--nkey", str(tmp_path / "missing.nk")]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_creds_file(nats_server_factory: Factory, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    operator = jh.make_operator()
    srv = nats_server_factory(config=operator.server_config())
    creds = operator.user("cli").write(tmp_path / "cli.creds")
    assert main(["req", "nobody", "-s", srv.url, "--creds", creds]) == 1  # connected, then 503
    assert "no responders" in capsys.readouterr().err
    assert main(["pub", "x", "-s", srv.url, "--creds", str(tmp_path / "missing.creds")]) == 1
    assert_clean_error(capsys.readouterr().err)


def test_tls_with_ca_file(nats_server_factory: Factory, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    srv = nats_server_factory(tls_cert=str(paths["cert"]), tls_key=str(paths["key"]))
    assert main(["pub", "x", "hi", "-s", srv.url, "--tlsca", str(paths["ca"])]) == 0
    capsys.readouterr()
    assert main(["pub", "x", "hi", "-s", srv.url]) == 1  # the system CAs do not know it
    assert_clean_error(capsys.readouterr().err)


def test_nats_url_is_honoured(nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NATS_URL", nats_server.url)
    with natsync.connect(nats_server.url) as nc:
        sub = nc.subscribe("env.check")
        nc.flush()
        assert main(["pub", "env.check", "via env"]) == 0
        assert sub.next_msg(timeout=WAIT).data == b"via env"
        # -s given before the subcommand wins over the environment
        monkeypatch.setenv("NATS_URL", f"nats://127.0.0.1:{free_port()}")
        assert main(["-s", nats_server.url, "pub", "env.check", "via flag"]) == 0
        assert sub.next_msg(timeout=WAIT).data == b"via flag"
        assert main(["pub", "env.check", "nowhere"]) == 1
    assert_clean_error(capsys.readouterr().err, "cannot connect")


def test_version_and_module_entry_point() -> None:
    res = run_cli("--version")
    assert res.returncode == 0
    assert res.stdout.decode().strip() == f"natsync {natsync.__version__}"


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_bench_draws_a_progress_bar_on_a_terminal(nats_server: NatsServer) -> None:
    """On a real terminal (a pty) the progress is one line redrawn in place."""
    code, out, tty_text = run_cli_on_tty("-s", nats_server.url, "bench", "tty.bench", "--pub", "1",
                                         "--sub", "1", "--msgs", "200000", "--size", "16")
    assert code == 0, tty_text[-2000:]
    # redrawn in place: a carriage return not followed by the newline the pty adds to "\n"
    assert re.search(r"\r(?!\n)", tty_text), tty_text[-500:]
    assert "bench: 20%" not in tty_text  # not the plain lines of a pipe
    assert "%" in tty_text and "msgs/sec" in out.decode()
