"""Key/Value store against a real JetStream server: reads, writes, CAS, markers, TTLs."""

from __future__ import annotations

import threading
from typing import Any, List

import pytest

import natsync
from natsync import errors
from natsync.js import api
from natsync.js import errors as js_errors
from natsync.js.kv import KeyValue
from natsync.testing import NatsServer
from tests.conn_events import wait_until
from tests.js_support import WAIT, bucket_name

# --------------------------------------------------------------------------- buckets


def test_bucket_stream_layout(js: Any) -> None:
    name = bucket_name()
    kv = js.create_key_value(bucket=name, history=5, ttl=3600, description="d", max_value_size=100)
    assert kv.bucket == name
    info = js.stream_info(f"KV_{name}")
    cfg = info.config
    assert cfg.subjects == [f"$KV.{name}.>"]
    assert cfg.max_msgs_per_subject == 5
    assert cfg.discard == api.DiscardPolicy.NEW
    assert cfg.allow_rollup_hdrs and cfg.deny_delete and cfg.allow_direct
    assert cfg.duplicate_window == 120.0 and cfg.max_age == 3600.0
    assert cfg.max_msg_size == 100
    status = kv.status()
    assert (status.bucket, status.history, status.ttl, status.values) == (name, 5, 3600.0, 0)


def test_create_with_config_object_and_open(js: Any) -> None:
    name = bucket_name()
    js.create_key_value(api.KeyValueConfig(bucket=name, history=3))
    kv = js.key_value(name)
    assert kv.status().history == 3
    # same config again: the existing bucket is returned
    js.create_key_value(api.KeyValueConfig(bucket=name, history=3))
    with pytest.raises(js_errors.StreamNameAlreadyInUseError, match=r"key_value\('"):
        js.create_key_value(bucket=name, history=4)
    assert js.delete_key_value(name) is True
    with pytest.raises(js_errors.BucketNotFoundError, match="create_key_value"):
        js.key_value(name)
    with pytest.raises(js_errors.NotFoundError):
        js.delete_key_value(name)


def test_open_a_stream_that_is_not_a_bucket(js: Any) -> None:
    js.add_stream(name="KV_plainstream", subjects=["plain.>"], max_msgs_per_subject=-1)
    with pytest.raises(js_errors.BadBucketError):
        js.key_value("plainstream")


def test_bad_input_raises_before_sending(js: Any, kv: KeyValue) -> None:
    with pytest.raises(js_errors.InvalidBucketNameError):
        js.create_key_value(bucket="a.b")
    with pytest.raises(js_errors.InvalidBucketNameError):
        js.key_value("a b")
    with pytest.raises(js_errors.KeyHistoryTooLargeError):
        js.create_key_value(bucket=bucket_name(), history=65)
    for bad in ("", ".a", "a.", "a..b", "a b", "a*", "a>"):
        with pytest.raises(js_errors.InvalidKeyError):
            kv.put(bad, b"x")
        with pytest.raises(js_errors.InvalidKeyError):
            kv.get(bad)
    for value in ("text", None, 5, [1]):
        with pytest.raises(js_errors.InvalidArgumentError, match="bytes-like"):
            kv.put("k", value)  # type: ignore[arg-type]
        with pytest.raises(js_errors.InvalidArgumentError, match="bytes-like"):
            kv.update("k", value, last=1)  # type: ignore[arg-type]
    assert kv.status().values == 0  # nothing reached the bucket
    assert kv.put("k", bytearray(b"ba")) == 1 and kv.put("k", memoryview(b"mv")) == 2
    assert kv.get("k").value == b"mv"


def test_value_over_max_value_size(js: Any) -> None:
    kv = js.create_key_value(bucket=bucket_name(), max_value_size=8)
    assert kv.put("ok", b"12345678") == 1
    with pytest.raises(errors.MaxPayloadError, match="max_value_size of 8"):
        kv.put("big", b"123456789")
    with pytest.raises(errors.MaxPayloadError):
        kv.create("big", b"123456789")
    assert kv.status().values == 1


# --------------------------------------------------------------------------- reads and writes


def test_put_get_revisions(kv: KeyValue) -> None:
    r1 = kv.put("app.url", b"one")
    r2 = kv.put("app.url", b"two")
    r3 = kv.put("other", b"x")
    assert (r1, r2, r3) == (1, 2, 3)
    e = kv.get("app.url")
    assert (e.bucket, e.key, e.value, e.revision, e.operation) == (kv.bucket, "app.url", b"two", 2, None)
    assert e.created is not None and e.created.tzinfo is not None
    assert kv.get("app.url", revision=1).value == b"one"
    with pytest.raises(js_errors.KeyNotFoundError):
        kv.get("app.url", revision=3)  # revision 3 is another key
    with pytest.raises(js_errors.KeyNotFoundError):
        kv.get("missing")
    assert kv.put("empty", b"") == 4
    assert kv.get("empty").value == b""


def test_delete_and_purge_markers(kv: KeyValue) -> None:
    kv.put("k", b"v1")
    kv.put("k", b"v2")
    assert kv.delete("k") is True
    with pytest.raises(js_errors.KeyNotFoundError) as info:
        kv.get("k")
    assert info.value.op == "DEL"
    assert info.value.entry.operation == "DEL" and info.value.entry.value == b""
    assert info.value.entry.revision == 3
    assert isinstance(info.value, js_errors.NotFoundError)

    kv.put("p", b"a")
    kv.put("p", b"b")
    assert kv.purge("p") is True
    with pytest.raises(js_errors.KeyNotFoundError) as info:
        kv.get("p")
    assert info.value.op == "PURGE"
    # a purge rolls the key up to its marker: only one message left for "p"
    status = kv.status()
    assert status.values == 3 + 1


def test_delete_with_last(kv: KeyValue) -> None:
    rev = kv.put("k", b"v")
    kv.put("k", b"w")
    with pytest.raises(js_errors.KeyWrongLastSequenceError):
        kv.delete("k", last=rev)
    assert kv.delete("k", last=rev + 1)


def test_create_and_update(kv: KeyValue) -> None:
    rev = kv.create("c", b"first")
    with pytest.raises(js_errors.KeyWrongLastSequenceError) as info:
        kv.create("c", b"again")
    assert isinstance(info.value, js_errors.BadRequestError)
    rev2 = kv.update("c", b"second", last=rev)
    with pytest.raises(js_errors.KeyWrongLastSequenceError):
        kv.update("c", b"stale", last=rev)
    assert kv.get("c").value == b"second" and kv.get("c").revision == rev2
    # create succeeds over a delete marker and over a purge marker
    kv.delete("c")
    rev3 = kv.create("c", b"reborn")
    assert kv.get("c").value == b"reborn" and kv.get("c").revision == rev3
    kv.purge("c")
    kv.create("c", b"again")
    assert kv.get("c").value == b"again"
    # update with last=None/0 means "must not exist"
    with pytest.raises(js_errors.KeyWrongLastSequenceError):
        kv.update("c", b"x")


@pytest.mark.parametrize("shared", [True, False], ids=["one-connection", "own-connections"])
def test_cas_contention_exactly_1600(js: Any, kv: KeyValue, js_server: NatsServer, shared: bool) -> None:
    """8 threads each add 1 to one counter 200 times with update(last=) and retry."""
    kv.put("counter", b"0")
    failures: List[BaseException] = []

    def increment_200(mine: KeyValue) -> None:
        for _ in range(200):
            while True:
                e = mine.get("counter")
                try:
                    mine.update("counter", str(int(e.value or b"0") + 1).encode(), last=e.revision)
                    break
                except js_errors.KeyWrongLastSequenceError:
                    continue  # another thread got there first: read again

    def worker() -> None:
        try:
            if shared:
                increment_200(kv)
            else:
                with natsync.connect(js_server.url) as own:
                    increment_200(own.jetstream(timeout=WAIT).key_value(kv.bucket))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not failures, failures
    final = kv.get("counter")
    assert final.value == b"1600"
    assert final.revision is not None and final.revision >= 1601


def test_bucket_without_direct_get(js: Any) -> None:
    kv = js.create_key_value(bucket=bucket_name(), direct=False, history=2)
    assert kv.status().stream_info.config.allow_direct is False
    kv.put("k", b"v1")
    kv.put("k", b"v2")
    e = kv.get("k")
    assert (e.value, e.revision) == (b"v2", 2) and e.created is not None
    assert kv.get("k", revision=1).value == b"v1"
    kv.delete("k")
    with pytest.raises(js_errors.KeyNotFoundError) as info:
        kv.get("k")
    assert info.value.op == "DEL"
    with pytest.raises(js_errors.KeyNotFoundError):
        kv.get("missing")


def test_history_limit_and_status(kv: KeyValue) -> None:
    for i in range(12):
        kv.put("h", str(i).encode())
    status = kv.status()
    assert status.values == 10  # history=10 keeps the last ten
    assert kv.get("h", revision=3).value == b"2"
    with pytest.raises(js_errors.KeyNotFoundError):
        kv.get("h", revision=1)


# --------------------------------------------------------------------------- TTLs


def test_bucket_ttl_expires_values(js: Any) -> None:
    kv = js.create_key_value(bucket=bucket_name(), ttl=1.0)
    assert kv.status().stream_info.config.duplicate_window == 1.0
    kv.put("short", b"lived")
    assert kv.get("short").value == b"lived"

    def gone() -> bool:
        try:
            kv.get("short")
        except js_errors.KeyNotFoundError:
            return True
        return False

    wait_until(gone, "the value to expire")


def test_create_with_msg_ttl(js: Any) -> None:
    kv = js.create_key_value(bucket=bucket_name(), history=5)
    kv.put("stays", b"forever")
    kv.create("lease", b"holder-1", msg_ttl=1)
    assert kv.get("lease").value == b"holder-1"
    with pytest.raises(js_errors.KeyWrongLastSequenceError):
        kv.create("lease", b"holder-2")

    def expired() -> bool:
        try:
            kv.get("lease")
        except js_errors.KeyNotFoundError:
            return True
        return False

    wait_until(expired, "the per-message TTL to expire the key")
    assert kv.create("lease", b"holder-2") > 0
    assert kv.get("lease").value == b"holder-2"
    assert kv.get("stays").value == b"forever"
    with pytest.raises(js_errors.InvalidArgumentError):
        kv.create("x", b"y", msg_ttl=0)


def test_limit_markers_read_as_purged(js: Any) -> None:
    kv = js.create_key_value(bucket=bucket_name(), ttl=1.0, limit_marker_ttl=5.0)
    assert kv.status().marker_ttl == 5.0
    kv.put("k", b"v")

    def marked() -> bool:
        try:
            kv.get("k")
        except js_errors.KeyNotFoundError as exc:
            return exc.op == "PURGE"
        return False

    wait_until(marked, "the server's MaxAge marker")


def test_republish(js: Any, nc: natsync.Client) -> None:
    name = bucket_name()
    kv = js.create_key_value(bucket=name, republish=api.RePublish(src=f"$KV.{name}.>", dest="repub.>"))
    sub = nc.subscribe("repub.>")
    nc.flush()
    rev = kv.put("a.b", b"hello")
    msg = sub.next_msg(timeout=WAIT)
    assert (msg.subject, msg.data) == ("repub.a.b", b"hello")
    assert msg.headers is not None and msg.headers["Nats-Sequence"] == str(rev)


def test_get_is_a_direct_get_on_the_wire(js: Any, js_server: NatsServer) -> None:
    """ADR-31: the latest value by subject (empty payload), a revision by {"seq": N}."""
    import json

    name = bucket_name()
    kv = js.create_key_value(bucket=name, history=3)
    kv.put("app.url", b"v1")
    kv.put("app.url", b"v2")
    with natsync.connect(js_server.url) as spy:
        direct = spy.subscribe(f"$JS.API.DIRECT.GET.KV_{name}.>")
        by_seq = spy.subscribe(f"$JS.API.DIRECT.GET.KV_{name}")
        msg_get = spy.subscribe(f"$JS.API.STREAM.MSG.GET.KV_{name}")
        spy.flush()
        assert kv.get("app.url").value == b"v2"
        req = direct.next_msg(timeout=WAIT)
        assert (req.subject, req.data) == (f"$JS.API.DIRECT.GET.KV_{name}.$KV.{name}.app.url", b"")
        assert kv.get("app.url", revision=1).value == b"v1"
        assert json.loads(by_seq.next_msg(timeout=WAIT).data) == {"seq": 1}
        spy.flush()
        assert msg_get.pending_msgs == 0


def test_headers_on_the_wire(js: Any, js_server: NatsServer) -> None:
    """ADR-8/ADR-48: the exact headers every other client writes and reads."""
    name = bucket_name()
    kv = js.create_key_value(bucket=name, history=5)
    with natsync.connect(js_server.url) as spy:
        sub = spy.subscribe(f"$KV.{name}.>")
        spy.flush()
        rev = kv.put("k", b"v")
        kv.update("k", b"w", last=rev)
        kv.delete("k")
        kv.create("k", b"x", msg_ttl=60)
        kv.purge("k", msg_ttl=30)
        seen = [sub.next_msg(timeout=WAIT) for _ in range(6)]
    assert [(m.subject, m.data) for m in seen] == [(f"$KV.{name}.k", d) for d in
                                                  (b"v", b"w", b"", b"x", b"x", b"")]
    assert seen[0].headers is None
    assert seen[1].headers == {"Nats-Expected-Last-Subject-Sequence": "1"}
    assert seen[2].headers == {"KV-Operation": "DEL"}
    # create: "must not exist" first, refused by the server; then over the delete marker
    assert seen[3].headers == {"Nats-Expected-Last-Subject-Sequence": "0", "Nats-TTL": "60"}
    assert seen[4].headers == {"Nats-Expected-Last-Subject-Sequence": "3", "Nats-TTL": "60"}
    assert seen[5].headers == {"KV-Operation": "PURGE", "Nats-Rollup": "sub", "Nats-TTL": "30"}


def test_a_deleted_bucket_says_so(js: Any) -> None:
    name = bucket_name()
    kv = js.create_key_value(bucket=name)
    kv.put("a", b"1")
    js.delete_key_value(name)
    for call in (lambda: kv.get("a"), kv.status, kv.watchall, kv.keys, lambda: kv.history("a")):
        with pytest.raises(js_errors.BucketNotFoundError, match="it was deleted"):
            call()
    with pytest.raises(js_errors.NoStreamResponseError, match=f"bucket '{name}' did not take"):
        kv.put("a", b"2")
