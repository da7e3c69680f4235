"""``natsync kv add|ls|put|get|del|history|watch|rm`` against a real JetStream server."""

from __future__ import annotations

import sys
from typing import Any

import pytest

import natsync
from natsync.cli import main
from natsync.js import errors as js_errors
from natsync.testing import NatsServer
from tests.cli_support import Proc
from tests.js_support import bucket_name


def kv_cli(js_server: NatsServer, capsys: Any, *args: str) -> tuple[int, str, str]:
    code = main(["-s", js_server.url, "kv", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_kv_needs_an_action(js_server: NatsServer, capsys: Any) -> None:
    code, _, err = kv_cli(js_server, capsys)
    assert code == 2 and "ACTION" in err
    code, _, err = kv_cli(js_server, capsys, "frobnicate")
    assert code == 2 and "invalid choice" in err


def test_add_shows_the_bucket(js_server: NatsServer, capsys: Any) -> None:
    name = bucket_name()
    code, out, err = kv_cli(js_server, capsys, "add", name, "--history", "5", "--ttl", "1h",
                            "--max-value-size", "1024", "--storage", "memory", "--description", "cfg")
    assert code == 0, err
    assert f"Key-Value bucket {name}" in out
    for line in ("History:         5", "TTL:             3600s", "Storage:         memory",
                 "Max value size:  1,024 bytes", "Description:     cfg", f"Stream:          KV_{name}"):
        assert line in out
    with natsync.connect(js_server.url) as nc:
        status = nc.jetstream().key_value(name).status()
        assert (status.history, status.ttl) == (5, 3600.0)
    code, _, err = kv_cli(js_server, capsys, "add", "bad.name")
    assert code == 1 and "invalid bucket name 'bad.name'" in err
    code, _, err = kv_cli(js_server, capsys, "add", name, "--history", "65")
    assert code == 1 and "64" in err


def test_put_get_and_raw(js_server: NatsServer, capsys: Any, monkeypatch: Any) -> None:
    name = bucket_name()
    assert kv_cli(js_server, capsys, "add", name, "--history", "5")[0] == 0
    code, out, err = kv_cli(js_server, capsys, "put", name, "db.url", "postgres://db")
    assert (code, out) == (0, "postgres://db\n"), err
    code, out, err = kv_cli(js_server, capsys, "get", name, "db.url")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{name} > db.url revision: 1 created @ ")
    assert lines[1:] == ["", "postgres://db"]
    assert kv_cli(js_server, capsys, "get", name, "db.url", "--raw")[1] == "postgres://db\n"

    # VALUE from stdin
    class Stdin:
        buffer = __import__("io").BytesIO(b"from stdin")

    monkeypatch.setattr(sys, "stdin", Stdin)
    assert kv_cli(js_server, capsys, "put", name, "db.url")[0] == 0
    assert kv_cli(js_server, capsys, "get", name, "db.url", "--raw")[1] == "from stdin\n"
    assert kv_cli(js_server, capsys, "get", name, "db.url", "--revision", "1", "--raw")[1] == "postgres://db\n"

    code, _, err = kv_cli(js_server, capsys, "get", name, "nothing")
    assert code == 1 and f"key 'nothing' is not set in bucket '{name}'" in err
    code, _, err = kv_cli(js_server, capsys, "get", "nobucket", "k")
    assert code == 1 and "no bucket 'nobucket': create it with natsync kv add nobucket" in err
    code, _, err = kv_cli(js_server, capsys, "put", name, "bad..key", "v")
    assert code == 1 and "invalid key 'bad..key'" in err


def test_ls(js_server: NatsServer, capsys: Any) -> None:
    first, second = bucket_name(), bucket_name()
    with natsync.connect(js_server.url) as nc:
        js = nc.jetstream()
        js.create_key_value(bucket=first, history=3, description="first one").put("k", b"v")
        js.create_key_value(bucket=second)
        js.add_stream(name="not_a_bucket", subjects=["nab.>"])
    code, out, err = kv_cli(js_server, capsys, "ls", "--names")
    assert code == 0, err
    names = out.split()
    assert first in names and second in names and "not_a_bucket" not in names
    code, out, err = kv_cli(js_server, capsys, "ls")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["Bucket", "Values", "Size", "History", "TTL", "Description"]
    row = next(r.split() for r in rows if r.split()[0] == first)
    assert row[1] == "1" and row[4] == "3" and row[5] == "forever" and row[6:] == ["first", "one"]


def test_del_key_and_rm_bucket(js_server: NatsServer, capsys: Any) -> None:
    name = bucket_name()
    with natsync.connect(js_server.url) as nc:
        kv = nc.jetstream().create_key_value(bucket=name)
        kv.put("k", b"v")
        code, out, err = kv_cli(js_server, capsys, "del", name, "k")
        assert (code, out) == (0, f"Deleted key k in bucket {name}\n"), err
        with pytest.raises(js_errors.KeyNotFoundError) as info:
            kv.get("k")
        assert info.value.op == "DEL"
        code, _, err = kv_cli(js_server, capsys, "get", name, "k")
        assert code == 1 and "was deleted" in err
        # the whole bucket only with -f
        code, _, err = kv_cli(js_server, capsys, "rm", name)
        assert code == 1 and "add -f" in err
        nc.jetstream().key_value(name)  # still there
        code, out, err = kv_cli(js_server, capsys, "rm", name, "-f")
        assert (code, out) == (0, f"Deleted bucket {name}\n"), err
        with pytest.raises(js_errors.BucketNotFoundError):
            nc.jetstream().key_value(name)
        code, _, err = kv_cli(js_server, capsys, "del", name, "-f")
        assert code == 1 and f"no bucket '{name}'" in err


def test_history(js_server: NatsServer, capsys: Any) -> None:
    name = bucket_name()
    with natsync.connect(js_server.url) as nc:
        kv = nc.jetstream().create_key_value(bucket=name, history=5)
        kv.put("k", b"one")
        kv.put("k", b"two")
        kv.delete("k")
    code, out, err = kv_cli(js_server, capsys, "history", name, "k")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"History for {name} > k"
    assert lines[1].split() == ["Key", "Revision", "Op", "Created", "Length", "Value"]
    rows = [line.split() for line in lines[2:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [("k", "1", "PUT"), ("k", "2", "PUT"), ("k", "3", "DEL")]
    assert rows[0][-2:] == ["3", "one"] and rows[2][-1] == "0"
    code, _, err = kv_cli(js_server, capsys, "history", name, "never")
    assert code == 1 and "no history" in err


def test_watch(js_server: NatsServer, capsys: Any) -> None:
    name = bucket_name()
    with natsync.connect(js_server.url) as nc:
        kv = nc.jetstream().create_key_value(bucket=name)
        kv.put("cfg.a", b"1")
        kv.put("other", b"x")
        watch = Proc("-s", js_server.url, "kv", "watch", name, "cfg.>", "--count", "3")
        try:
            first = watch.line()
            assert first is not None and first.endswith(f"PUT {name} > cfg.a: 1")
            assert first.startswith("[20")
            kv.put("cfg.b", b"2")
            line = watch.line()
            assert line is not None and line.endswith(f"PUT {name} > cfg.b: 2")
            kv.delete("cfg.a")
            line = watch.line()
            assert line is not None and line.endswith(f"DEL {name} > cfg.a")
            assert watch.line() is None  # exits after --count 3
            assert watch.finish() == 0, watch.stderr
        finally:
            watch.kill()
