"""``natsync object add|ls|put|get|info|del|rm`` against a real JetStream server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import natsync
from natsync.cli import main
from natsync.testing import NatsServer
from tests.cli_support import run_cli, run_cli_on_tty


def cli(js_server: NatsServer, *args: str) -> int:
    return main(["-s", js_server.url, "object", *args])


def test_add_ls_info_rm(js_server: NatsServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(js_server, "ls") == 0
    assert "No Object Store buckets" in capsys.readouterr().out
    assert cli(js_server, "add", "docs", "--description", "my docs", "--ttl", "7d",
               "--max-bytes", "64M") == 0
    assert 'Created bucket "docs"' in capsys.readouterr().out
    with natsync.connect(js_server.url) as nc:
        cfg = nc.jetstream().stream_info("OBJ_docs").config
        assert cfg.max_age == 7 * 86400 and cfg.max_bytes == 64 * 1024 * 1024
    assert cli(js_server, "add", "other") == 0
    assert cli(js_server, "ls") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-2:] == ["docs", "other"]
    assert cli(js_server, "info", "docs") == 0
    out = capsys.readouterr().out
    assert "Bucket: docs" in out and "Description: my docs" in out and "Sealed: False" in out
    assert cli(js_server, "ls", "docs") == 0
    assert 'No objects in bucket "docs"' in capsys.readouterr().out
    assert cli(js_server, "rm", "other") == 0
    assert 'Deleted bucket "other"' in capsys.readouterr().out
    assert cli(js_server, "rm", "other") == 1
    assert "natsync: error:" in capsys.readouterr().err
    assert cli(js_server, "add", "bad.name") == 1
    assert "invalid bucket name" in capsys.readouterr().err


def test_put_get_info_del(js_server: NatsServer, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    cli(js_server, "add", "files")
    src = tmp_path / "notes.txt"
    src.write_bytes(b"hello object store\n" * 100)
    assert cli(js_server, "put", "files", str(src)) == 0
    out = capsys.readouterr().out
    assert 'Stored "notes.txt" in bucket "files"' in out and "SHA-256=" in out
    assert cli(js_server, "put", "files", str(src), "--as", "dir/copy.txt", "--chunk-size", "100",
               "--description", "a copy") == 0
    assert "in 19 chunks" in capsys.readouterr().out

    assert cli(js_server, "ls", "files") == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["dir/copy.txt", "notes.txt"]

    assert cli(js_server, "info", "files", "dir/copy.txt") == 0
    out = capsys.readouterr().out
    assert "Object: dir/copy.txt" in out and "Description: a copy" in out
    assert "Chunks: 19" in out and "1,900 bytes" in out

    dst = tmp_path / "out.txt"
    assert cli(js_server, "get", "files", "dir/copy.txt", "-O", str(dst)) == 0
    assert dst.read_bytes() == src.read_bytes()
    assert f"to {dst}" in capsys.readouterr().out
    assert cli(js_server, "get", "files", "notes.txt") == 0  # to stdout
    assert capsys.readouterr().out == src.read_text()

    assert cli(js_server, "del", "files", "notes.txt") == 0
    assert 'Deleted "notes.txt"' in capsys.readouterr().out
    assert cli(js_server, "get", "files", "notes.txt") == 1
    assert "ObjectNotFoundError" in capsys.readouterr().err
    assert cli(js_server, "ls", "files") == 0
    assert "notes.txt" not in capsys.readouterr().out
    assert cli(js_server, "ls", "files", "--deleted") == 0
    assert "deleted" in capsys.readouterr().out

    assert cli(js_server, "put", "files", str(tmp_path / "missing")) == 1
    assert "cannot read" in capsys.readouterr().err
    assert cli(js_server, "put", "nobucket", str(src)) == 1
    assert "natsync: error:" in capsys.readouterr().err


def test_large_put_and_get_show_progress_in_a_real_process(js_server: NatsServer, tmp_path: Path) -> None:
    def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return run_cli("-s", js_server.url, "object", *args, stdin=stdin, timeout=120)

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
def test_put_draws_a_progress_bar_on_a_terminal(js_server: NatsServer, tmp_path: Path) -> None:
    assert main(["-s", js_server.url, "object", "add", "ttybucket"]) == 0
    big = tmp_path / "tty.bin"
    big.write_bytes(os.urandom(2 * 1024 * 1024))
    code, out, text = run_cli_on_tty("-s", js_server.url, "object", "put", "ttybucket", str(big),
                                     timeout=120)
    assert code == 0, text
    # one line redrawn in place with a carriage return, ending full
    assert re.search(r"\r(?!\n)put tty\.bin \[=+\] 100% 2,097,152/2,097,152 bytes", text), text
    assert b'Stored "tty.bin"' in out
