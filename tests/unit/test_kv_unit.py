"""Key/Value rules that need no server: names, keys, the bucket's stream, markers."""

from __future__ import annotations

import pytest

from natsync import errors
from natsync.js import api, kv
from natsync.js import errors as js_errors


@pytest.mark.parametrize("key", ["a", "a.b", "A-Z_0=9/x", "app.db.url", "-", "x.y.z.w", "=/"])
def test_valid_keys(key: str) -> None:
    assert kv.is_valid_key(key)
    assert kv.validate_key(key) == key


@pytest.mark.parametrize("key", ["", ".a", "a.", "a..b", "a b", "a*", "a.>", "ä", "a\nb", None, 5])
def test_invalid_keys_raise_invalid_key_error(key: object) -> None:
    assert not kv.is_valid_key(key)
    with pytest.raises(js_errors.InvalidKeyError) as info:
        kv.validate_key(key)
    assert isinstance(info.value, errors.Error)
    assert repr(key) in str(info.value) and "'..'" in str(info.value)


@pytest.mark.parametrize("pattern", [">", "*", "a.*", "a.>", "a.*.c", "*.b.>", "a"])
def test_valid_filters(pattern: str) -> None:
    assert kv.validate_filter(pattern) == pattern


@pytest.mark.parametrize("pattern", ["", "a.>.b", "a*", "a.b*", ">a", "a..b", ".a", "a b"])
def test_invalid_filters(pattern: str) -> None:
    with pytest.raises(js_errors.InvalidKeyError, match="pattern"):
        kv.validate_filter(pattern)


@pytest.mark.parametrize("bucket", ["a", "my-bucket_2", "ABC"])
def test_valid_buckets(bucket: str) -> None:
    assert kv.validate_bucket(bucket) == bucket


@pytest.mark.parametrize("bucket", ["", "a.b", "a b", "a*", "a>", "ä", None])
def test_invalid_buckets(bucket: object) -> None:
    with pytest.raises(js_errors.InvalidBucketNameError, match="letters, digits"):
        kv.validate_bucket(bucket)


def test_stream_config_follows_adr8() -> None:
    cfg = kv.stream_config(api.KeyValueConfig(bucket="cfg", history=5, ttl=3600.0,
                                              max_value_size=1024, max_bytes=10_000,
                                              storage=api.StorageType.MEMORY, replicas=1,
                                              description="settings"))
    assert cfg.name == "KV_cfg"
    assert cfg.subjects == ["$KV.cfg.>"]
    assert cfg.max_msgs_per_subject == 5
    assert cfg.discard == api.DiscardPolicy.NEW
    assert cfg.allow_rollup_hdrs and cfg.deny_delete and cfg.allow_direct
    assert cfg.duplicate_window == 120.0  # two minutes when the TTL is longer
    assert cfg.max_age == 3600.0
    assert cfg.max_msg_size == 1024 and cfg.max_bytes == 10_000
    assert cfg.max_msgs == -1 and cfg.max_consumers == -1
    wire = cfg.as_dict()
    assert wire["max_age"] == 3600 * 10**9 and wire["duplicate_window"] == 120 * 10**9
    assert wire["storage"] == "memory" and wire["discard"] == "new"


def test_duplicate_window_is_the_ttl_when_shorter() -> None:
    cfg = kv.stream_config(api.KeyValueConfig(bucket="short", ttl=30.0))
    assert cfg.duplicate_window == 30.0 and cfg.max_age == 30.0
    assert kv.stream_config(api.KeyValueConfig(bucket="forever")).duplicate_window == 120.0


def test_direct_can_be_turned_off_and_marker_ttl_maps() -> None:
    cfg = kv.stream_config(api.KeyValueConfig(bucket="b", direct=False, limit_marker_ttl=5.0))
    assert cfg.allow_direct is False
    assert cfg.subject_delete_marker_ttl == 5.0 and cfg.allow_msg_ttl


@pytest.mark.parametrize("history", [0, -1, 65, 100])
def test_history_out_of_range(history: int) -> None:
    with pytest.raises(js_errors.APIError) as info:
        kv.stream_config(api.KeyValueConfig(bucket="b", history=history))
    if history > 64:
        assert isinstance(info.value, js_errors.KeyHistoryTooLargeError)
    else:
        assert isinstance(info.value, js_errors.BadBucketError)
        assert "1 to 64" in str(info.value.description)


def test_bad_bucket_in_config_raises_before_anything() -> None:
    with pytest.raises(js_errors.InvalidBucketNameError):
        kv.stream_config(api.KeyValueConfig(bucket="no.dots"))
    with pytest.raises(js_errors.BadBucketError, match="limit_marker_ttl"):
        kv.stream_config(api.KeyValueConfig(bucket="b", limit_marker_ttl=0.5))


@pytest.mark.parametrize(
    "headers, op",
    [
        (None, None),
        ({}, None),
        ({"Other": "x"}, None),
        ({"KV-Operation": "DEL"}, "DEL"),
        ({"KV-Operation": "PURGE", "Nats-Rollup": "sub"}, "PURGE"),
        ({"KV-Operation": "PUT"}, None),
        ({"Nats-Marker-Reason": "MaxAge"}, "PURGE"),
        ({"Nats-Marker-Reason": "Purge"}, "PURGE"),
        ({"Nats-Marker-Reason": "Remove"}, "DEL"),
        ({"Nats-Marker-Reason": "SomethingNew"}, kv.UNKNOWN_MARKER),
        ({"KV-Operation": ["DEL"]}, "DEL"),
    ],
)
def test_operation_from_headers(headers: object, op: object) -> None:
    assert kv.operation(headers) == op  # type: ignore[arg-type]


def test_entry_and_nested_names_match_nats_py() -> None:
    e = kv.KeyValue.Entry(bucket="b", key="k", value=b"v", revision=3, delta=0, created=None,
                          operation=None)
    assert e == kv.Entry("b", "k", b"v", 3, 0, None, None)
    assert kv.KeyValue.BucketStatus is kv.BucketStatus
    assert kv.KeyValue.KeyWatcher is kv.KeyWatcher
    assert isinstance(kv.KeyWatcher.STOP_ITER, kv.StopIterSentinel)


def test_kv_error_tree_is_nats_pys() -> None:
    assert issubclass(js_errors.KeyNotFoundError, js_errors.NotFoundError)
    assert issubclass(js_errors.KeyNotFoundError, js_errors.KeyValueError)
    assert issubclass(js_errors.KeyDeletedError, js_errors.NotFoundError)
    assert issubclass(js_errors.KeyWrongLastSequenceError, js_errors.BadRequestError)
    assert issubclass(js_errors.BucketNotFoundError, js_errors.NotFoundError)
    assert issubclass(js_errors.BadBucketError, js_errors.APIError)
    assert issubclass(js_errors.NoKeysError, js_errors.KeyValueError)
    for cls in (js_errors.InvalidKeyError, js_errors.KeyValueError, js_errors.InvalidBucketNameError):
        assert issubclass(cls, errors.Error)
    err = js_errors.KeyNotFoundError(entry="E", op="DEL")
    assert (err.entry, err.op) == ("E", "DEL")
