"""Object Store data without a server: names, digests, the JSON of infos and configs, sources."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import pytest

from natsync import errors
from natsync.js._object_codec import (
    chunk_subject,
    decode_digest,
    digest_value,
    encode_name,
    info_json,
    is_valid_bucket,
    meta_subject,
)
from natsync.js._object_io import check_source, source_chunks
from natsync.js.api import ObjectInfo, ObjectLink, ObjectMeta, ObjectMetaOptions, ObjectStoreConfig

# What nats.go stores for an object (ADR-20's example, with a real digest).
GO_INFO = {
    "name": "object-name",
    "description": "object-desc",
    "metadata": {"owner": "infra"},
    "headers": {"key1": ["foo"], "key2": ["bar", "baz"]},
    "options": {"link": {"bucket": "link-to-bucket", "name": "link-to-name"}, "max_chunk_size": 8196},
    "bucket": "object-bucket",
    "nuid": "CkuyLEX4z2hbyjj1aWCfiH",
    "size": 344000,
    "mtime": "0001-01-01T00:00:00Z",
    "chunks": 42,
    "digest": "SHA-256=IdgP4UYMGt47rgecOqFoLrd24AXukHf5-SVzqQ5Psg8=",
    "deleted": True,
    "future_field": {"x": 1},
}


def test_names_and_subjects() -> None:
    assert encode_name("a") == "YQ=="  # padded, as Go's base64.URLEncoding
    assert encode_name("dir/file?.txt") == base64.urlsafe_b64encode(b"dir/file?.txt").decode()
    assert "/" not in encode_name("\xff\xfe??>>") and "+" not in encode_name("\xff\xfe??>>")
    assert meta_subject("B", "a") == "$O.B.M.YQ=="
    assert chunk_subject("B", "NUID") == "$O.B.C.NUID"
    for good in ("a", "A-b_9", "x" * 100):
        assert is_valid_bucket(good)
    for bad in ("", "a.b", "a b", "a*", ">", "ü", None, 3):
        assert not is_valid_bucket(bad)


def test_digest_written_upper_case_read_in_any_case() -> None:
    raw = hashlib.sha256(b"hello").digest()
    value = digest_value(raw)
    assert value.startswith("SHA-256=") and value.endswith("=")
    assert value == "SHA-256=" + base64.urlsafe_b64encode(raw).decode()
    assert decode_digest(value) == raw
    assert decode_digest("sha-256=" + value[8:]) == raw  # older Go clients
    assert decode_digest(value.rstrip("=")) == raw  # unpadded
    std = "SHA-256=" + base64.b64encode(raw).decode()  # standard alphabet
    assert decode_digest(std) == raw
    for bad in ("", "SHA-256", "MD5=" + value[8:], "SHA-256=!!!!", "SHA-256=" + "QUJD"):
        with pytest.raises(ValueError):
            decode_digest(bad)


def test_info_reads_go_json_and_writes_it_back() -> None:
    info = ObjectInfo.from_response(json.loads(json.dumps(GO_INFO)))
    assert info.name == "object-name" and info.bucket == "object-bucket"
    assert info.size == 344000 and info.chunks == 42 and info.deleted is True
    assert info.metadata == {"owner": "infra"}
    assert isinstance(info.options, ObjectMetaOptions)
    assert info.options.link == ObjectLink(bucket="link-to-bucket", name="link-to-name")
    assert info.options.max_chunk_size == 8196
    assert info.is_link()
    assert info.meta == ObjectMeta(
        name="object-name", description="object-desc", headers=GO_INFO["headers"],
        options=info.options, metadata={"owner": "infra"},
    )
    # Written back: the same JSON, unknown fields included, mtime never stored.
    info.mtime = "2024-01-01T00:00:00Z"
    assert json.loads(info_json(info)) == GO_INFO


def test_info_json_details() -> None:
    info = ObjectInfo(name="n", bucket="b", nuid="x", size=0, chunks=0, mtime="2020-01-01T00:00:00Z",
                      headers={"One": "v", "Many": ["a", "b"]})
    out = json.loads(info_json(info))
    assert out["mtime"] == "0001-01-01T00:00:00Z"
    assert out["headers"] == {"One": ["v"], "Many": ["a", "b"]}  # Go's http.Header form
    assert "options" not in out and "description" not in out
    assert not ObjectInfo(name="n", bucket="b", nuid="x").is_link()
    # evolve copies and keeps unknown fields
    other = ObjectInfo.from_response(dict(GO_INFO)).evolve(name="renamed")
    assert json.loads(info_json(other))["future_field"] == {"x": 1} and other.name == "renamed"


def test_store_config_json() -> None:
    cfg = ObjectStoreConfig(bucket="b", ttl=1.5, max_bytes=10)
    out = cfg.as_dict()
    assert out["ttl"] == 1_500_000_000 and out["bucket"] == "b" and out["replicas"] == 1
    assert ObjectStoreConfig.from_response({"bucket": "b", "ttl": 2_000_000_000}).ttl == 2.0
    assert cfg.evolve(description="d").description == "d" and cfg.description is None


def test_source_chunks() -> None:
    data = bytes(range(256)) * 10  # 2560 bytes
    for source in (data, bytearray(data), memoryview(data), io.BytesIO(data)):
        got = list(source_chunks(source, 1000))
        assert [len(c) for c in got] == [1000, 1000, 560]
        assert b"".join(got) == data
        # views of immutable bytes; copies of what may change while the put runs
        kind = memoryview if type(source) is bytes else bytes
        assert all(type(c) is kind for c in got)
    assert list(source_chunks("héllo", 2)) == [b"h\xc3", b"\xa9l", b"lo"]
    assert list(source_chunks(b"", 10)) == [] and list(source_chunks(io.BytesIO(), 10)) == []

    class Trickle(io.RawIOBase):  # short reads, as a pipe gives them
        def __init__(self) -> None:
            self.left = data

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            n = min(7, len(b), len(self.left))
            b[:n], self.left = self.left[:n], self.left[n:]
            return n

    got = list(source_chunks(Trickle(), 1000))
    assert [len(c) for c in got] == [1000, 1000, 560] and b"".join(got) == data
    text = io.TextIOWrapper(io.BytesIO(b"abc"))
    assert list(source_chunks(text, 2)) == [b"ab", b"c"]  # the binary buffer under it


def test_bad_sources() -> None:
    for bad in (123, None, ["a"], object()):
        with pytest.raises(errors.Error, match="invalid type for object store"):
            check_source(bad)
    with pytest.raises(errors.Error, match="binary mode"):
        check_source(io.StringIO("text"))
    with pytest.raises(errors.Error, match="binary mode"):
        list(source_chunks(io.StringIO("text"), 4))
    check_source(io.BytesIO(b""))
    check_source("str")
