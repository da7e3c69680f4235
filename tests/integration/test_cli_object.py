"""``natsync object add|ls|put|get|info|del|rm`` against a real JetStream server."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import natsync
from natsync.cli import main
from natsync.testing import NatsServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    with NatsServer(jetstream=True, store_dir=str(tmp_path_factory.mktemp("js"))) as srv:
        yield srv


def cli(server: NatsServer, *args: str) -> int:
    return main(["-s", server.url, "object", *args])


def test_add_ls_info_rm(server: NatsServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(server, "ls") == 0
    assert "No Object Store buckets" in capsys.readouterr().out
    assert cli(server, "add", "docs", "--description", "my docs", "--ttl", "7d",
               "--max-bytes", "64M") == 0
    assert 'Created bucket "docs"' in capsys.readouterr().out
    with natsync.connect(server.url) as nc:
        cfg = nc.jetstream().stream_info("OBJ_docs").config
        assert cfg.max_age == 7 * 86400 and cfg.max_bytes == 64 * 1024 * 1024
    assert cli(server, "add", "other") == 0
    assert cli(server, "ls") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-2:] == ["docs", "other"]
    assert cli(server, "info", "docs") == 0
    out = capsys.readouterr().out
    assert "Bucket: docs" in out and "Description: my docs" in out and "Sealed: False" in out
    assert cli(server, "ls", "docs") == 0
    assert 'No objects in bucket "docs"' in capsys.readouterr().out
    assert cli(server, "rm", "other") == 0
    assert 'Deleted bucket "other"' in capsys.readouterr().out
    assert cli(server, "rm", "other") == 1
    assert "natsync: error:" in capsys.readouterr().err
    assert cli(server, "add", "bad.name") == 1
    assert "invalid bucket name" in capsys.readouterr().err


def test_put_get_info_del(server: NatsServer, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    cli(server, "add", "files")
    src = tmp_path / "notes.txt"
    src.write_bytes(b"hello object store\n" * 100)
    assert cli(server, "put", "files", str(src)) == 0
    out = capsys.readouterr().out
    assert 'Stored "notes.txt" in bucket "files"' in out and "SHA-256=" in out
    assert cli(server, "put", "files", str(src), "--as", "dir/copy.txt", "--chunk-size", "100",
               "--description", "a copy") == 0
    assert "in 19 chunks" in capsys.readouterr().out

    assert cli(server, "ls", "files") == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["dir/copy.txt", "notes.txt"]

    assert cli(server, "info", "files", "dir/copy.txt") == 0
    out = capsys.readouterr().out
    assert "Object: dir/copy.txt" in out and "Description: a copy" in out
    assert "Chunks: 19" in out and "1,900 bytes" in out

    dst = tmp_path / "out.txt"
    assert cli(server, "get", "files", "dir/copy.txt", "-O", str(dst)) == 0
    assert dst.read_bytes() == src.read_bytes()
    assert f"to {dst}" in capsys.readouterr().out
    assert cli(server, "get", "files", "notes.txt") == 0  # to stdout
    assert capsys.readouterr().out == src.read_text()

    assert cli(server, "del", "files", "notes.txt") == 0
    assert 'Deleted "notes.txt"' in capsys.readouterr().out
    assert cli(server, "get", "files", "notes.txt") == 1
    assert "ObjectNotFoundError" in capsys.readouterr().err
    assert cli(server, "ls", "files") == 0
    assert "notes.txt" not in capsys.readouterr().out
    assert cli(server, "ls", "files", "--deleted") == 0
    assert "deleted" in capsys.readouterr().out

    assert cli(server, "put", "files", str(tmp_path / "missing")) == 1
    assert "cannot read" in capsys.readouterr().err
    assert cli(server, "put", "nobucket", str(src)) == 1
    assert "natsync: error:" in capsys.readouterr().err


def test_large_put_and_get_show_progress_in_a_real_process(server: NatsServer, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))

    def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "natsync", "-s", server.url, "object", *args],
                              input=stdin, capture_output=True, env=env, timeout=120, check=False)

    assert run("add", "big").returncode == 0
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    proc = run("put", "big", str(big))
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    # Not a terminal: plain lines at each 10% reached between samples, and always the end.
    assert "put big.bin: 100% (3,145,728/3,145,728 bytes" in err
    proc = run("get", "big", "big.bin")
    assert proc.returncode == 0 and proc.stdout == big.read_bytes()
    assert "get big.bin: 100% (3,145,728/3,145,728 bytes" in proc.stderr.decode()
    proc = run("get", "big", "big.bin", "--no-progress", "-O", str(tmp_path / "b2"))
    assert proc.returncode == 0 and proc.stderr == b""
    assert (tmp_path / "b2").read_bytes() == big.read_bytes()
    # from standard input, which needs a name
    proc = run("put", "big", "-", "--as", "piped", stdin=b"from a pipe")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""  # small: no progress
    assert run("get", "big", "piped").stdout == b"from a pipe"
    proc = run("put", "big", "-")
    assert proc.returncode == 1 and b"needs --as NAME" in proc.stderr
    assert b"Traceback" not in proc.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_put_draws_a_progress_bar_on_a_terminal(server: NatsServer, tmp_path: Path) -> None:
    import pty

    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    assert main(["-s", server.url, "object", "add", "ttybucket"]) == 0
    big = tmp_path / "tty.bin"
    big.write_bytes(os.urandom(2 * 1024 * 1024))
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(
            [sys.executable, "-m", "natsync", "-s", server.url, "object", "put", "ttybucket", str(big)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env)
        os.close(slave)
        slave = -1
        chunks = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not select.select([master], [], [], max(0.0, deadline - time.monotonic()))[0]:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        out, _ = p.communicate(timeout=120)
    finally:
        if slave != -1:
            os.close(slave)
        os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert p.returncode == 0, text
    # one line redrawn in place with a carriage return, ending full
    assert re.search(r"\r(?!\n)put tty\.bin \[=+\] 100% 2,097,152/2,097,152 bytes", text), text
    assert b'Stored "tty.bin"' in out
