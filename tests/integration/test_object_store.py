"""The Object Store against a real JetStream server: put/get, links, seal, watch, failures."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import shutil
from pathlib import Path
from typing import Any, List

import pytest

import natsync
from natsync import errors
from natsync.js.api import ObjectInfo, ObjectLink, ObjectMeta, ObjectMetaOptions, ObjectStoreConfig
from natsync.js.errors import (
    BadObjectMetaError,
    DigestMismatchError,
    InvalidBucketNameError,
    InvalidObjectNameError,
    LinkIsABucketError,
    NotFoundError,
    ObjectAlreadyExists,
    ObjectDeletedError,
    ObjectNotFoundError,
)
from natsync.js.object_store import ObjectReader, ObjectStore

WAIT = 20.0
_bucket_numbers = itertools.count(1)


@pytest.fixture
def obs(js: Any) -> ObjectStore:
    return js.create_object_store(f"B{next(_bucket_numbers)}")


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def chunk_msgs(js: Any, obs: ObjectStore) -> int:
    """How many chunk messages the bucket's stream holds."""
    si = js.stream_info(f"OBJ_{obs.bucket}", subjects_filter=f"$O.{obs.bucket}.C.>")
    return sum((si.state.subjects or {}).values())


# --------------------------------------------------------------------------- put and get


def test_put_and_get_round_trip_every_source(js: Any, obs: ObjectStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1200  # 307,200 bytes: 3 chunks of 128 KiB
    info = obs.put("blob", data)
    assert (info.name, info.bucket, info.size, info.chunks) == ("blob", obs.bucket, len(data), 3)
    assert info.digest is not None and info.digest.startswith("SHA-256=")
    assert info.options is not None and info.options.max_chunk_size == 128 * 1024
    assert obs.get("blob").data == data

    stored = obs.get_info("blob")
    assert (stored.nuid, stored.size, stored.digest) == (info.nuid, info.size, info.digest)
    assert stored.mtime and stored.mtime.endswith("Z") and not stored.mtime.startswith("0001")

    # str, a binary file, a text file's buffer, bytearray; a small chunk size
    assert obs.put("text", "héllo wörld").size == len("héllo wörld".encode())
    assert obs.get("text").data == "héllo wörld".encode()
    path = tmp_path / "src.bin"
    path.write_bytes(data)
    with path.open("rb") as f:
        small = obs.put("file", f, meta=ObjectMeta(options=ObjectMetaOptions(max_chunk_size=10_000)))
    assert small.chunks == 31 and small.options is not None and small.options.max_chunk_size == 10_000
    with path.open("r") as text:
        obs.put("textfile", text)
    assert obs.get("textfile").data == data
    obs.put("bytearray", bytearray(data[:1000]))
    assert obs.get("bytearray").data == data[:1000]

    # writeinto: the bytes go to the file, data stays empty; a text file gets its buffer
    out = tmp_path / "out.bin"
    with out.open("wb") as f:
        res = obs.get("file", writeinto=f)
    assert res.data == b"" and res.info.size == len(data) and out.read_bytes() == data
    with out.open("w") as f:
        obs.get("blob", writeinto=f)
    assert out.read_bytes() == data

    # an empty object
    empty = obs.put("empty", b"")
    assert (empty.size, empty.chunks) == (0, 0)
    assert obs.get("empty").data == b""
    with obs.get_stream("empty") as r:
        assert r.read() == b""


def test_get_stream_is_a_readable_binary_file(obs: ObjectStore) -> None:
    lines = b"".join(b"line %d\n" % i for i in range(20_000))  # ~200 KB, several chunks
    obs.put("lines", lines, meta=ObjectMeta(options=ObjectMetaOptions(max_chunk_size=7_777)))
    with obs.get_stream("lines") as f:
        assert isinstance(f, io.IOBase) and isinstance(f, ObjectReader) and f.readable()
        assert f.info.size == len(lines)
        assert f.read(3) == b"lin"
        assert f.readline() == b"e 0\n"
        assert next(iter(f)) == b"line 1\n"
        buf = bytearray(10)
        assert f.readinto(buf) == 10 and bytes(buf) == b"line 2\nlin"
        rest = f.read()
    assert b"lin" + b"e 0\n" + b"line 1\n" + b"line 2\nlin" + rest == lines
    assert f.closed

    with obs.get_stream("lines") as f:
        assert list(f) == lines.splitlines(keepends=True)
    with obs.get_stream("lines") as f:
        sink = io.BytesIO()
        shutil.copyfileobj(f, sink, 4096)
        assert sink.getvalue() == lines
    # closing early stops the consumer; the object is still readable afterwards
    with obs.get_stream("lines") as f:
        f.read(100)
    assert obs.get("lines").data == lines
    with pytest.raises(ValueError):
        f.read(1)


def test_replacing_an_object_purges_its_old_chunks(js: Any, obs: ObjectStore) -> None:
    first = obs.put("doc", b"a" * 300_000)
    assert chunk_msgs(js, obs) == 3
    second = obs.put("doc", b"b" * 1000, meta=ObjectMeta(description="v2"))
    assert second.nuid != first.nuid
    assert chunk_msgs(js, obs) == 1  # only the new object's chunk is left
    assert obs.get("doc").data == b"b" * 1000
    assert obs.get_info("doc").description == "v2"


def test_meta_headers_and_unknown_fields_round_trip(js: Any, obs: ObjectStore) -> None:
    meta = ObjectMeta(description="the report", headers={"Content-Type": "text/csv"},
                      metadata={"owner": "ops"})
    obs.put("report.csv", b"a,b\n1,2\n", meta=meta)
    info = obs.get_info("report.csv")
    assert info.description == "the report" and info.metadata == {"owner": "ops"}
    assert info.headers == {"Content-Type": ["text/csv"]}
    # The meta the put was given is not changed by it.
    assert meta.name is None and meta.options is None

    # A field another client wrote survives a natsync update_meta.
    subject = f"$O.{obs.bucket}.M.{_enc('report.csv')}"
    raw = json.loads(js.get_last_msg(f"OBJ_{obs.bucket}", subject).data)
    raw["x_future"] = {"kept": True}
    js.publish(subject, json.dumps(raw).encode(), headers={"Nats-Rollup": "sub"})
    obs.update_meta("report.csv", ObjectMeta(name="report.csv", description="new"))
    raw = json.loads(js.get_last_msg(f"OBJ_{obs.bucket}", subject).data)
    assert raw["x_future"] == {"kept": True} and raw["description"] == "new"


def _enc(name: str) -> str:
    import base64

    return base64.urlsafe_b64encode(name.encode()).decode()


# --------------------------------------------------------------------------- delete, rename


def test_delete_then_get(js: Any, obs: ObjectStore) -> None:
    obs.put("gone", b"x" * 200_000)
    obs.put("kept", b"y")
    obs.delete("gone")
    with pytest.raises(ObjectNotFoundError):
        obs.get("gone")
    with pytest.raises(ObjectNotFoundError):
        obs.get_info("gone")
    with pytest.raises(NotFoundError):  # nats-py's base class catches it too
        obs.get_stream("gone")
    info = obs.get_info("gone", show_deleted=True)
    assert info.deleted and info.size == 0 and info.digest == ""
    assert chunk_msgs(js, obs) == 1  # only "kept"
    obs.delete("gone")  # deleting a deleted object is a no-op
    with pytest.raises(ObjectNotFoundError):
        obs.delete("never")
    assert sorted(i.name for i in obs.list()) == ["gone", "kept"]  # nats-py lists deleted ones
    assert [i.name for i in obs.list(ignore_deletes=True)] == ["kept"]
    # put under the deleted name brings it back
    obs.put("gone", b"again")
    assert obs.get("gone").data == b"again"


def test_update_meta_with_a_rename(obs: ObjectStore) -> None:
    obs.put("old", b"payload" * 50_000)
    obs.put("other", b"z")
    obs.update_meta("old", ObjectMeta(name="new", description="renamed"))
    with pytest.raises(ObjectNotFoundError):
        obs.get_info("old", show_deleted=True)  # the old name's info is purged
    got = obs.get("new")
    assert got.data == b"payload" * 50_000 and got.info.description == "renamed"
    assert sorted(i.name for i in obs.list()) == ["new", "other"]

    with pytest.raises(ObjectAlreadyExists):
        obs.update_meta("new", ObjectMeta(name="other"))
    with pytest.raises(ObjectDeletedError):
        obs.update_meta("missing", ObjectMeta(name="x"))
    obs.delete("other")
    obs.update_meta("new", ObjectMeta(name="other"))  # a deleted name may be taken
    assert obs.get("other").data == b"payload" * 50_000
    # without a name, update_meta keeps the name and changes the rest
    obs.update_meta("other", ObjectMeta(description="d2", headers={"K": ["v"]}))
    info = obs.get_info("other")
    assert (info.name, info.description, info.headers) == ("other", "d2", {"K": ["v"]})


# --------------------------------------------------------------------------- links, seal, status


def test_links(js: Any, obs: ObjectStore) -> None:
    other = js.create_object_store(f"{obs.bucket}-other")
    target = other.put("target", b"t" * 150_000)
    obs.put("local", b"here")

    link = obs.add_link("to-target", target)
    assert link.is_link() and link.options is not None
    assert link.options.link == ObjectLink(bucket=other.bucket, name="target")
    assert obs.get("to-target").data == b"t" * 150_000  # across buckets
    with obs.get_stream("to-target") as f:
        assert f.read() == b"t" * 150_000
    obs.add_link("to-local", obs.get_info("local"))
    assert obs.get("to-local").data == b"here"  # same bucket

    blink = obs.add_bucket_link("to-other", other)
    assert blink.options is not None and blink.options.link == ObjectLink(bucket=other.bucket)
    with pytest.raises(LinkIsABucketError):
        obs.get("to-other")

    with pytest.raises(BadObjectMetaError, match="is a link"):
        obs.add_link("link-to-link", obs.get_info("to-target"))
    with pytest.raises(ObjectAlreadyExists):
        obs.add_link("local", target)  # a regular object's name
    obs.add_link("to-target", obs.get_info("local"))  # a link may be overwritten
    assert obs.get("to-target").data == b"here"
    obs.delete("local")
    with pytest.raises(BadObjectMetaError, match="deleted"):
        obs.add_link("x", obs.get_info("local", show_deleted=True))
    with pytest.raises(BadObjectMetaError, match="put cannot store a link"):
        obs.put("y", b"", meta=ObjectMeta(options=ObjectMetaOptions(link=ObjectLink(bucket="b"))))


def test_seal_and_status(js: Any, obs: ObjectStore) -> None:
    obs.put("a", b"1" * 1000, meta=ObjectMeta(description="one"))
    status = obs.status()
    assert status.bucket == obs.bucket and not status.sealed and status.size > 1000
    assert status.replicas == 1 and status.backing_store == "JetStream"
    obs.seal()
    assert obs.status().sealed
    before = js.stream_info(f"OBJ_{obs.bucket}").state.messages
    with pytest.raises(errors.Error, match="sealed"):
        obs.put("b", b"2")
    with pytest.raises(errors.Error, match="sealed"):
        obs.add_link("c", obs.get_info("a"))
    assert js.stream_info(f"OBJ_{obs.bucket}").state.messages == before  # nothing was sent
    assert obs.get("a").data == b"1" * 1000  # still readable


def test_store_management_and_config(js: Any) -> None:
    name = f"M{next(_bucket_numbers)}"
    cfg = ObjectStoreConfig(description="cfg", ttl=3600.0, max_bytes=10_000_000)
    obs = js.create_object_store(name, config=cfg, metadata={"team": "a"})
    si = js.stream_info(f"OBJ_{name}")
    c = si.config
    assert c.subjects == [f"$O.{name}.C.>", f"$O.{name}.M.>"]
    assert c.allow_rollup_hdrs and c.allow_direct and c.max_age == 3600.0
    assert c.max_bytes == 10_000_000 and c.description == "cfg"
    assert obs.status().ttl == 3600.0 and obs.status().description == "cfg"
    assert c.metadata is not None and c.metadata.get("team") == "a"
    assert not obs.status().compressed
    packed = js.create_object_store(f"{name}-s2", compression=True)
    assert packed.status().compressed
    packed.put("p", b"p" * 200_000)
    assert packed.get("p").data == b"p" * 200_000
    assert js.object_store(name).bucket == name
    js.delete_object_store(name)
    with pytest.raises(NotFoundError):
        js.object_store(name)

    # A bucket made by an old client, without direct gets, works the same.
    js.add_stream(name=f"OBJ_{name}", subjects=[f"$O.{name}.C.>", f"$O.{name}.M.>"],
                  allow_rollup_hdrs=True, discard="new")
    old = js.object_store(name)
    old.put("o", b"old" * 100_000)
    assert old.get("o").data == b"old" * 100_000 and old.get_info("o").size == 300_000
    assert [i.name for i in old.list()] == ["o"]


def test_bad_input_raises_before_sending(js: Any, obs: ObjectStore) -> None:
    for bad in ("", "a.b", "a b", "a*", "x>"):
        with pytest.raises(InvalidBucketNameError, match="invalid bucket name"):
            js.create_object_store(bad)
        with pytest.raises(InvalidBucketNameError):
            js.object_store(bad)
        with pytest.raises(InvalidBucketNameError):
            js.delete_object_store(bad)
    with pytest.raises(InvalidObjectNameError, match="non-empty"):
        obs.put("", b"x")
    with pytest.raises(InvalidObjectNameError):
        obs.get("")
    with pytest.raises(BadObjectMetaError, match="must be an ObjectMeta"):
        obs.put("n", b"x", meta={"name": "n"})  # type: ignore[arg-type]
    with pytest.raises(BadObjectMetaError, match="must be an ObjectMeta"):
        obs.update_meta("n", "new")  # type: ignore[arg-type]
    with pytest.raises(errors.Error, match="invalid type for object store"):
        obs.put("n", 12345)  # type: ignore[arg-type]
    with pytest.raises(BadObjectMetaError, match="max_payload"):
        obs.put("n", b"x", meta=ObjectMeta(options=ObjectMetaOptions(max_chunk_size=10**8)))
    with pytest.raises(NotFoundError):
        obs.list()  # nothing was stored


# --------------------------------------------------------------------------- corruption


def _store_info(js: Any, obs: ObjectStore, info: ObjectInfo, **changes: Any) -> None:
    raw = info.as_dict()
    raw.update(changes)
    js.publish(f"$O.{obs.bucket}.M.{_enc(info.name)}", json.dumps(raw).encode(),
               headers={"Nats-Rollup": "sub"})


def test_digest_and_size_are_checked(js: Any, obs: ObjectStore, tmp_path: Path) -> None:
    data = b"d" * 300_000
    info = obs.put("obj", data)
    other_digest = "SHA-256=" + _enc_bytes(sha(b"something else"))
    _store_info(js, obs, info, digest=other_digest)
    with pytest.raises(DigestMismatchError, match="digest"):
        obs.get("obj")
    with pytest.raises(DigestMismatchError):
        with (tmp_path / "o").open("wb") as f:
            obs.get("obj", writeinto=f)
    _store_info(js, obs, info, size=len(data) + 1)
    with pytest.raises(DigestMismatchError, match="ended after 300,000 bytes"):
        obs.get("obj")
    _store_info(js, obs, info, size=len(data) - 1)
    with pytest.raises(DigestMismatchError, match="more bytes"):
        obs.get("obj")
    # an older Go client's lower-case algorithm name reads fine
    assert info.digest is not None
    _store_info(js, obs, info, digest="sha-256=" + info.digest[len("SHA-256="):])
    assert obs.get("obj").data == data
    js.publish(f"$O.{obs.bucket}.M.{_enc('junk')}", b"not json", headers={"Nats-Rollup": "sub"})
    with pytest.raises(BadObjectMetaError, match="not valid object info"):
        obs.get_info("junk")


def _enc_bytes(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode()


# --------------------------------------------------------------------------- watch


def test_watch(obs: ObjectStore) -> None:
    with obs.watch() as w:
        assert w.updates(timeout=WAIT) is None  # empty bucket: the marker at once
        obs.put("a", b"1")
        got = w.updates(timeout=WAIT)
        assert got is not None and got.name == "a" and got.size == 1
        obs.delete("a")
        got = w.updates(timeout=WAIT)
        assert got is not None and got.name == "a" and got.deleted
        with pytest.raises(errors.TimeoutError):
            w.updates(timeout=0.2)

    obs.put("b", b"2")
    obs.put("b", b"22")
    w = obs.watch()  # the current state (latest per object), then the marker
    first = [w.updates(timeout=WAIT) for _ in range(3)]
    assert [(i.name, i.size, i.deleted) for i in first[:2] if i] == [("a", 0, True), ("b", 2, False)]
    assert first[2] is None
    w.stop()

    w = obs.watch(ignore_deletes=True, include_history=True)
    entries = []
    while (entry := w.updates(timeout=WAIT)) is not None:
        entries.append(entry)
    # infos are rolled up per object, so the history is the latest of each; "a" is deleted
    assert [(i.name, i.size) for i in entries] == [("b", 2)]
    w.stop()

    w = obs.watch(updates_only=True)
    obs.put("c", b"3")
    got = w.updates(timeout=WAIT)
    assert got is not None and got.name == "c"  # no marker, no history
    w.stop()


def test_watch_iteration_ends_on_stop(obs: ObjectStore) -> None:
    import threading

    obs.put("a", b"1")
    w = obs.watch()
    seen: List[Any] = []

    def consume() -> None:
        for entry in w:
            seen.append(entry)
            if entry is None:
                obs.put("b", b"2")
            elif entry.name == "b":
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    t.join(WAIT)
    assert not t.is_alive()
    assert [e.name if e else None for e in seen] == ["a", None, "b"]


# --------------------------------------------------------------------------- failing sources, lost chunks


class FailingSource(io.RawIOBase):
    """A file that reads ``good`` chunks' worth of bytes, then fails like a bad disk."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        if self.left <= 0:
            raise OSError(5, "Input/output error")
        self.left -= 1
        return b"z" * n


def test_a_source_that_fails_midway_leaves_nothing_behind(js: Any, obs: ObjectStore) -> None:
    obs.put("kept", b"k")
    with pytest.raises(OSError, match="Input/output error"):
        obs.put("broken", FailingSource(good=5))
    with pytest.raises(ObjectNotFoundError):
        obs.get_info("broken", show_deleted=True)
    assert chunk_msgs(js, obs) == 1  # the five chunks sent were purged; "kept" is intact
    assert [i.name for i in obs.list()] == ["kept"]


def test_a_get_whose_chunks_are_gone_times_out_clearly(nc: natsync.Client) -> None:
    js = nc.jetstream(timeout=1.0)
    obs = js.create_object_store(f"B{next(_bucket_numbers)}")
    info = obs.put("lost", b"l" * 300_000)
    js.purge_stream(f"OBJ_{obs.bucket}", subject=f"$O.{obs.bucket}.C.{info.nuid}")
    with pytest.raises(errors.TimeoutError, match=r"no chunk arrived within 1s after 0 of 3 chunks"):
        obs.get("lost")
