"""Key/Value interop with nats-py (the asyncio client): same buckets, bytes and revisions."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any, Dict, List, Optional, Tuple

import pytest

import natsync
from natsync.js import errors as js_errors
from natsync.testing import NatsServer

nats = pytest.importorskip("nats")
nats_js_errors = pytest.importorskip("nats.js.errors")

WAIT = 20.0
_names = itertools.count(1)

# (key, value, revision, operation) as each client reports an entry
Row = Tuple[str, Optional[bytes], Optional[int], Optional[str]]


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer(jetstream=True) as srv:
        yield srv


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, WAIT * 2))


def bucket_name() -> str:
    return f"interop{next(_names)}"


def write_script(kv: Any) -> List[Tuple[str, str, bytes]]:
    """The operations both directions replay: (op, key, value)."""
    return [
        ("put", "app.name", b"natsync"),
        ("put", "app.version", b"1"),
        ("put", "app.version", b"2"),
        ("create", "app.owner", b"ann"),
        ("delete", "app.owner", b""),
        ("put", "tmp", b"x"),
        ("purge", "tmp", b""),
        ("put", "bin", bytes(range(256))),
        ("create", "app.owner", b"bob"),
    ]


async def py_history(kv: Any, key: str) -> List[Any]:
    """nats-py's ``history()``, retried past its known early end-of-initial-values
    marker (nats.py#842): it can stop before the first entry and raise NoKeysError
    although the key has a history. A key with no history fails all three tries."""
    for attempt in range(3):
        try:
            return list(await kv.history(key))
        except nats_js_errors.NoKeysError:
            if attempt == 2:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


async def py_read(url: str, bucket: str, keys: List[str]) -> Dict[str, Any]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=WAIT)
        kv = await js.key_value(bucket)
        got: Dict[str, Any] = {}
        for key in keys:
            try:
                e = await kv.get(key)
                got[key] = (e.key, e.value, e.revision, e.operation)
            except nats_js_errors.KeyNotFoundError as exc:
                got[key] = ("missing", exc.op)
            hist = await py_history(kv, key)
            got["history:" + key] = [(h.key, h.value or b"", h.revision, h.operation) for h in hist]
        status = await kv.status()
        got["status"] = (status.values, status.history)
        return got
    finally:
        await nc.close()


def ns_read(url: str, bucket: str, keys: List[str]) -> Dict[str, Any]:
    with natsync.connect(url) as nc:
        kv = nc.jetstream(timeout=WAIT).key_value(bucket)
        got: Dict[str, Any] = {}
        for key in keys:
            try:
                e = kv.get(key)
                got[key] = (e.key, e.value, e.revision, e.operation)
            except js_errors.KeyNotFoundError as exc:
                got[key] = ("missing", exc.op)
            got["history:" + key] = [(h.key, h.value or b"", h.revision, h.operation)
                                     for h in kv.history(key)]
        status = kv.status()
        got["status"] = (status.values, status.history)
        return got


KEYS = ["app.name", "app.version", "app.owner", "tmp", "bin"]


def test_natsync_writes_nats_py_reads(server: NatsServer) -> None:
    name = bucket_name()
    with natsync.connect(server.url) as nc:
        kv = nc.jetstream(timeout=WAIT).create_key_value(bucket=name, history=10)
        for op, key, value in write_script(kv):
            if op in ("put", "create"):
                getattr(kv, op)(key, value)
            else:
                getattr(kv, op)(key)
    theirs = run(py_read(server.url, name, KEYS))
    ours = ns_read(server.url, name, KEYS)
    assert theirs == ours
    assert ours["app.owner"] == ("app.owner", b"bob", 9, None)
    assert ours["tmp"] == ("missing", "PURGE")
    assert [op for *_, op in ours["history:app.owner"]] == [None, "DEL", None]


def test_nats_py_writes_natsync_reads(server: NatsServer) -> None:
    name = bucket_name()

    async def write() -> None:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream(timeout=WAIT)
            kv = await js.create_key_value(bucket=name, history=10)
            for op, key, value in write_script(kv):
                if op in ("put", "create"):
                    await getattr(kv, op)(key, value)
                else:
                    await getattr(kv, op)(key)
        finally:
            await nc.close()

    run(write())
    ours = ns_read(server.url, name, KEYS)
    theirs = run(py_read(server.url, name, KEYS))
    assert ours == theirs
    assert ours["app.version"] == ("app.version", b"2", 3, None)
    assert ours["bin"][1] == bytes(range(256))


def test_bucket_created_by_one_is_opened_by_the_other(server: NatsServer) -> None:
    ours, theirs = bucket_name(), bucket_name()
    with natsync.connect(server.url) as nc:
        nc.jetstream().create_key_value(bucket=ours, history=4, ttl=600, description="ours")

    async def other_side() -> Tuple[int, Optional[float], int]:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            await js.create_key_value(bucket=theirs, history=3)
            kv = await js.key_value(ours)
            await kv.put("from.py", b"hi")
            status = await kv.status()
            return status.history, status.ttl, status.values
        finally:
            await nc.close()

    assert run(other_side()) == (4, 600.0, 1)
    with natsync.connect(server.url) as nc:
        js = nc.jetstream()
        kv = js.key_value(theirs)
        assert kv.status().history == 3
        kv.put("from.natsync", b"hello")
        assert kv.get("from.natsync").value == b"hello"
        assert js.key_value(ours).get("from.py").value == b"hi"


def test_natsync_watch_sees_nats_py_writes(server: NatsServer) -> None:
    name = bucket_name()
    with natsync.connect(server.url) as nc:
        kv = nc.jetstream(timeout=WAIT).create_key_value(bucket=name, history=5)
        kv.put("seen.before", b"0")
        with kv.watchall() as w:
            assert [w.updates(timeout=WAIT).key, w.updates(timeout=WAIT)] == ["seen.before", None]

            async def write() -> None:
                pnc = await nats.connect(server.url)
                try:
                    pkv = await pnc.jetstream().key_value(name)
                    await pkv.put("live", b"1")
                    await pkv.delete("live")
                    await pkv.put("other", b"2")
                    await pkv.purge("other")
                finally:
                    await pnc.close()

            run(write())
            got = [w.updates(timeout=WAIT) for _ in range(4)]
            assert [(e.key, e.value, e.revision, e.operation) for e in got] == [
                ("live", b"1", 2, None), ("live", b"", 3, "DEL"),
                ("other", b"2", 4, None), ("other", b"", 5, "PURGE"),
            ]
