"""``natsync kv add|ls|put|get|del|history|watch|rm`` against a real JetStream server."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import natsync
from natsync.cli import main
from natsync.js import errors as js_errors
from natsync.testing import NatsServer

WAIT = 20.0
REPO = Path(__file__).resolve().parents[2]
_names = itertools.count(1)


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer(jetstream=True) as srv:
        yield srv


def bucket_name() -> str:
    return f"cli{next(_names)}"


def kv_cli(server: NatsServer, capsys: Any, *args: str) -> tuple[int, str, str]:
    code = main(["-s", server.url, "kv", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_shows_the_bucket(server: NatsServer, capsys: Any) -> None:
    name = bucket_name()
    code, out, err = kv_cli(server, capsys, "add", name, "--history", "5", "--ttl", "1h",
                            "--max-value-size", "1024", "--storage", "memory", "--description", "cfg")
    assert code == 0, err
    assert f"Key-Value bucket {name}" in out
    for line in ("History:         5", "TTL:             3600s", "Storage:         memory",
                 "Max value size:  1,024 bytes", "Description:     cfg", f"Stream:          KV_{name}"):
        assert line in out
    with natsync.connect(server.url) as nc:
        status = nc.jetstream().key_value(name).status()
        assert (status.history, status.ttl) == (5, 3600.0)
    code, _, err = kv_cli(server, capsys, "add", "bad.name")
    assert code == 1 and "invalid bucket name 'bad.name'" in err
    code, _, err = kv_cli(server, capsys, "add", name, "--history", "65")
    assert code == 1 and "64" in err


def test_put_get_and_raw(server: NatsServer, capsys: Any, monkeypatch: Any) -> None:
    name = bucket_name()
    assert kv_cli(server, capsys, "add", name, "--history", "5")[0] == 0
    code, out, err = kv_cli(server, capsys, "put", name, "db.url", "postgres://db")
    assert (code, out) == (0, "postgres://db\n"), err
    code, out, err = kv_cli(server, capsys, "get", name, "db.url")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{name} > db.url revision: 1 created @ ")
    assert lines[1:] == ["", "postgres://db"]
    assert kv_cli(server, capsys, "get", name, "db.url", "--raw")[1] == "postgres://db\n"

    # VALUE from stdin
    class Stdin:
        buffer = __import__("io").BytesIO(b"from stdin")

    monkeypatch.setattr(sys, "stdin", Stdin)
    assert kv_cli(server, capsys, "put", name, "db.url")[0] == 0
    assert kv_cli(server, capsys, "get", name, "db.url", "--raw")[1] == "from stdin\n"
    assert kv_cli(server, capsys, "get", name, "db.url", "--revision", "1", "--raw")[1] == "postgres://db\n"

    code, _, err = kv_cli(server, capsys, "get", name, "nothing")
    assert code == 1 and f"key 'nothing' is not set in bucket '{name}'" in err
    code, _, err = kv_cli(server, capsys, "get", "nobucket", "k")
    assert code == 1 and "no bucket 'nobucket': create it with natsync kv add nobucket" in err
    code, _, err = kv_cli(server, capsys, "put", name, "bad..key", "v")
    assert code == 1 and "invalid key 'bad..key'" in err


def test_ls(server: NatsServer, capsys: Any) -> None:
    first, second = bucket_name(), bucket_name()
    with natsync.connect(server.url) as nc:
        js = nc.jetstream()
        js.create_key_value(bucket=first, history=3, description="first one").put("k", b"v")
        js.create_key_value(bucket=second)
        js.add_stream(name="not_a_bucket", subjects=["nab.>"])
    code, out, err = kv_cli(server, capsys, "ls", "--names")
    assert code == 0, err
    names = out.split()
    assert first in names and second in names and "not_a_bucket" not in names
    code, out, err = kv_cli(server, capsys, "ls")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["Bucket", "Values", "Size", "History", "TTL", "Description"]
    row = next(r.split() for r in rows if r.split()[0] == first)
    assert row[1] == "1" and row[4] == "3" and row[5] == "forever" and row[6:] == ["first", "one"]


def test_del_key_and_rm_bucket(server: NatsServer, capsys: Any) -> None:
    name = bucket_name()
    with natsync.connect(server.url) as nc:
        kv = nc.jetstream().create_key_value(bucket=name)
        kv.put("k", b"v")
        code, out, err = kv_cli(server, capsys, "del", name, "k")
        assert (code, out) == (0, f"Deleted key k in bucket {name}\n"), err
        with pytest.raises(js_errors.KeyNotFoundError) as info:
            kv.get("k")
        assert info.value.op == "DEL"
        code, _, err = kv_cli(server, capsys, "get", name, "k")
        assert code == 1 and "was deleted" in err
        # the whole bucket only with -f
        code, _, err = kv_cli(server, capsys, "rm", name)
        assert code == 1 and "add -f" in err
        nc.jetstream().key_value(name)  # still there
        code, out, err = kv_cli(server, capsys, "rm", name, "-f")
        assert (code, out) == (0, f"Deleted bucket {name}\n"), err
        with pytest.raises(js_errors.BucketNotFoundError):
            nc.jetstream().key_value(name)
        code, _, err = kv_cli(server, capsys, "del", name, "-f")
        assert code == 1 and f"no bucket '{name}'" in err
