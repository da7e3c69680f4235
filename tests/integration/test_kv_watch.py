"""Key/Value watchers against a real JetStream server, and what is built on them:
keys, list_keys, history and purge_deletes; a watch across a SIGKILL and restart."""

from __future__ import annotations

import threading
import time
from typing import Any, List

import pytest

import natsync
from natsync import errors
from natsync.js import errors as js_errors
from natsync.js.kv import KeyValue
from natsync.testing import NatsServer
from tests.conn_events import wait_until
from tests.js_support import WAIT, bucket_name

# --------------------------------------------------------------------------- watch


def take(watcher: Any, n: int) -> List[Any]:
    return [watcher.updates(timeout=WAIT) for _ in range(n)]


def brief(items: List[Any]) -> List[Any]:
    return [None if e is None else (e.key, e.value, e.operation) for e in items]


def test_watch_empty_bucket_marker_at_once_then_live(kv: KeyValue) -> None:
    with kv.watchall() as w:
        assert w.updates(timeout=WAIT) is None
        kv.put("a", b"1")
        e = w.updates(timeout=WAIT)
        assert (e.key, e.value, e.revision, e.operation, e.delta) == ("a", b"1", 1, None, 0)
        with pytest.raises(errors.TimeoutError):
            w.updates(timeout=0.2)
    assert w.updates(timeout=WAIT) is KeyValue.KeyWatcher.STOP_ITER


def test_watch_initial_values_one_marker_after_the_last(kv: KeyValue) -> None:
    for i in range(50):
        kv.put(f"k{i % 20}", str(i).encode())
    kv.delete("k3")
    with kv.watchall() as w:
        items = take(w, 21)
        assert items[-1] is None and None not in items[:-1]
        assert [e.revision for e in items[:-1]] == sorted(e.revision for e in items[:-1])
        assert items[-2].delta == 0 and items[0].delta == 19
        latest = {e.key: (e.value, e.operation) for e in items[:-1]}
        assert latest["k3"] == (b"", "DEL")
        assert latest["k19"] == (b"39", None)
        kv.put("live", b"L")
        assert brief([w.updates(timeout=WAIT)]) == [("live", b"L", None)]
        kv.put("k0", b"again")
        assert brief([w.updates(timeout=WAIT)]) == [("k0", b"again", None)]


def test_watch_iteration_and_key_patterns(kv: KeyValue) -> None:
    for key in ("app.a", "app.b", "app.x.y", "other"):
        kv.put(key, key.encode())
    seen: List[Any] = []
    w = kv.watch("app.*")
    for item in w:
        seen.append(item)
        if item is None:
            w.stop()
    assert brief(seen) == [("app.a", b"app.a", None), ("app.b", b"app.b", None), None]
    with kv.watch(["app.x.>", "other"]) as w2:
        assert brief(take(w2, 3)) == [("app.x.y", b"app.x.y", None), ("other", b"other", None), None]
    with pytest.raises(js_errors.InvalidKeyError):
        kv.watch("app.>.x")


def test_watch_updates_only(kv: KeyValue) -> None:
    kv.put("old", b"1")
    with kv.watchall(updates_only=True) as w:
        assert w.updates(timeout=WAIT) is None
        kv.put("new", b"2")
        kv.delete("old")
        assert brief(take(w, 2)) == [("new", b"2", None), ("old", b"", "DEL")]
    with pytest.raises(js_errors.InvalidArgumentError):
        kv.watchall(updates_only=True, include_history=True)


def test_watch_ignore_deletes(kv: KeyValue) -> None:
    kv.put("a", b"1")
    kv.put("b", b"2")
    kv.delete("a")
    kv.put("c", b"3")
    kv.purge("c")
    with kv.watchall(ignore_deletes=True) as w:
        assert brief(take(w, 2)) == [("b", b"2", None), None]
        kv.delete("b")
        kv.put("d", b"4")
        assert brief([w.updates(timeout=WAIT)]) == [("d", b"4", None)]
    kv2 = kv  # only markers left for a, b, c: the marker still comes
    with kv2.watch("a", ignore_deletes=True) as w:
        assert w.updates(timeout=WAIT) is None


def test_watch_include_history_and_meta_only(kv: KeyValue) -> None:
    kv.put("h", b"1")
    kv.put("h", b"2")
    kv.delete("h")
    kv.put("h", b"3")
    with kv.watch("h", include_history=True) as w:
        assert brief(take(w, 5)) == [("h", b"1", None), ("h", b"2", None), ("h", b"", "DEL"),
                                     ("h", b"3", None), None]
    with kv.watch("h", meta_only=True) as w:
        items = take(w, 2)
        assert (items[0].key, items[0].value, items[0].revision) == ("h", b"", 4)
        assert items[1] is None


def test_watch_resume_from_revision(kv: KeyValue) -> None:
    for i in range(1, 6):
        kv.put(f"r{i}", str(i).encode())
    with kv.watchall(resume_from_revision=3) as w:
        items = take(w, 4)
        assert [e.revision for e in items[:3]] == [3, 4, 5] and items[3] is None
    with pytest.raises(js_errors.InvalidArgumentError):
        kv.watchall(resume_from_revision=0)


def test_watch_with_callback(kv: KeyValue) -> None:
    import queue

    kv.put("a", b"1")
    got: queue.Queue[Any] = queue.Queue()
    threads: List[str] = []

    def cb(entry: Any) -> None:
        threads.append(threading.current_thread().name)
        got.put(entry)
        if entry is not None and entry.value == b"boom":
            raise RuntimeError("a callback that raises does not end the watch")

    w = kv.watchall(cb=cb)
    try:
        assert brief([got.get(timeout=WAIT), got.get(timeout=WAIT)]) == [("a", b"1", None), None]
        kv.put("b", b"boom")
        kv.put("c", b"after")
        assert brief([got.get(timeout=WAIT), got.get(timeout=WAIT)]) == [("b", b"boom", None),
                                                                        ("c", b"after", None)]
    finally:
        w.stop()
    assert set(threads) == {f"natsync-kv-watch-{kv.bucket}"}
    with pytest.raises(errors.Error, match="callback"):
        w.updates(timeout=1)
    assert threading.current_thread().name not in threads


def test_a_watch_callback_that_raises_reaches_error_cb(js_server: NatsServer) -> None:
    import queue

    reported: queue.Queue[BaseException] = queue.Queue()
    with natsync.connect(js_server.url, error_cb=reported.put) as client:
        kv = client.jetstream(timeout=WAIT).create_key_value(bucket=bucket_name())
        seen: queue.Queue[Any] = queue.Queue()

        def cb(entry: Any) -> None:
            seen.put(entry)
            if entry is not None and entry.value == b"boom":
                raise RuntimeError("watch callback failed")

        w = kv.watchall(cb=cb)
        try:
            assert seen.get(timeout=WAIT) is None  # empty bucket: the marker at once
            kv.put("k", b"boom")
            kv.put("k", b"fine")
            exc = reported.get(timeout=WAIT)
            assert isinstance(exc, RuntimeError) and str(exc) == "watch callback failed"
            assert brief([seen.get(timeout=WAIT), seen.get(timeout=WAIT)]) == [
                ("k", b"boom", None), ("k", b"fine", None)]  # the watch went on
        finally:
            w.stop()
    assert reported.empty()


def test_stop_from_another_thread_ends_iteration(kv: KeyValue) -> None:
    w = kv.watchall()
    got: List[Any] = []
    reader = threading.Thread(target=lambda: got.extend(w))
    reader.start()
    kv.put("x", b"1")
    wait_until(lambda: len(got) == 2, "the marker and the update")
    w.stop()
    reader.join(timeout=WAIT)
    assert not reader.is_alive()
    assert brief(got) == [None, ("x", b"1", None)]


def test_watch_ends_when_the_client_closes(js_server: NatsServer) -> None:
    with natsync.connect(js_server.url) as nc:
        kv = nc.jetstream(timeout=WAIT).create_key_value(bucket=bucket_name())
        w = kv.watchall()
        assert w.updates(timeout=WAIT) is None
    assert w.updates(timeout=WAIT) is KeyValue.KeyWatcher.STOP_ITER
    assert list(w) == []


# --------------------------------------------------------------------------- keys, history, purge_deletes


def test_keys_and_list_keys(kv: KeyValue) -> None:
    with pytest.raises(js_errors.NoKeysError):
        kv.keys()
    assert list(kv.list_keys()) == []
    kv.put("a.1", b"x")
    kv.put("a.2", b"x")
    kv.put("b.1", b"x")
    kv.put("gone", b"x")
    kv.delete("gone")
    kv.put("a.1", b"y")
    assert sorted(kv.keys()) == ["a.1", "a.2", "b.1"]
    assert sorted(kv.list_keys(filters=["a.*"])) == ["a.1", "a.2"]
    assert sorted(kv.keys(filters=["b.>", "a.2"])) == ["a.2", "b.1"]
    with pytest.raises(js_errors.NoKeysError):
        kv.keys(filters=["zzz.>"])


def test_history(kv: KeyValue) -> None:
    kv.put("k", b"1")
    kv.put("other", b"o")
    kv.put("k", b"2")
    kv.purge("k")
    kv.put("k", b"3")
    hist = kv.history("k")
    assert [(e.revision, e.value, e.operation) for e in hist] == [(4, b"", "PURGE"), (5, b"3", None)]
    kv.put("d", b"1")
    kv.delete("d")
    assert [e.operation for e in kv.history("d")] == [None, "DEL"]
    with pytest.raises(js_errors.NoKeysError):
        kv.history("never")


def test_purge_deletes(kv: KeyValue) -> None:
    kv.put("a", b"1")
    kv.delete("a")
    kv.put("b", b"2")
    kv.purge("b")
    kv.put("c", b"3")
    assert kv.status().values == 4  # the purge already rolled "b" up to its marker
    kv.purge_deletes()  # markers younger than 30 minutes stay, what is behind them goes
    assert kv.status().values == 3
    kv.purge_deletes(olderthan=-1)
    assert kv.status().values == 1
    assert kv.keys() == ["c"]
    with pytest.raises(js_errors.KeyNotFoundError):
        kv.get("a")


def _put_when_ready(kv: KeyValue, key: str, value: bytes) -> int:
    """A put right after a restart: JetStream may take a moment to take writes again."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return kv.put(key, value)
        except (js_errors.Error, errors.TimeoutError, errors.NoRespondersError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.slow
def test_watch_goes_on_across_sigkill_and_restart(nats_server_factory: Any) -> None:
    srv = nats_server_factory(jetstream=True)
    with natsync.connect(srv.url, reconnect_time_wait=0.1, max_reconnect_attempts=-1) as nc:
        kv = nc.jetstream(timeout=WAIT).create_key_value(bucket="restart", history=5)
        kv.put("a", b"1")
        with kv.watchall() as w:
            assert brief(take(w, 2)) == [("a", b"1", None), None]
            kv.put("b", b"2")
            assert brief(take(w, 1)) == [("b", b"2", None)]
            srv.kill()
            srv.start()
            wait_until(lambda: nc.is_connected, "the client to reconnect")
            _put_when_ready(kv, "c", b"3")
            kv.put("a", b"4")
            assert brief(take(w, 2)) == [("c", b"3", None), ("a", b"4", None)]
            with pytest.raises(errors.TimeoutError):
                w.updates(timeout=0.5)  # nothing repeated, no second marker


def test_watch_goes_on_across_a_reconnect(js_server: NatsServer) -> None:
    with natsync.connect(js_server.url, reconnect_time_wait=0.1) as nc:
        kv = nc.jetstream(timeout=WAIT).create_key_value(bucket=bucket_name())
        writer = nc.jetstream(timeout=WAIT).key_value(kv.bucket)
        with kv.watchall() as w:
            assert w.updates(timeout=WAIT) is None
            writer.put("before", b"1")
            assert brief(take(w, 1)) == [("before", b"1", None)]
            nc.force_reconnect()
            wait_until(lambda: nc.is_connected, "the client to reconnect")
            _put_when_ready(writer, "after", b"2")
            assert brief(take(w, 1)) == [("after", b"2", None)]
            with pytest.raises(errors.TimeoutError):
                w.updates(timeout=0.5)


def test_callback_watch_thread_ends_when_the_client_closes(js_server: NatsServer) -> None:
    items: List[Any] = []
    with natsync.connect(js_server.url) as nc:
        js = nc.jetstream(timeout=7.5)
        assert js.timeout == 7.5
        kv = js.create_key_value(bucket=bucket_name())
        w = kv.watchall(cb=items.append)
        wait_until(lambda: items == [None], "the marker")
    # closed without stop(): the watcher thread ends by itself (the leak check verifies it)
    wait_until(lambda: not any(t.name == f"natsync-kv-watch-{kv.bucket}" and t.is_alive()
                               for t in threading.enumerate()), "the watcher thread to end")
    w.stop()  # still fine afterwards


def test_watch_sees_the_servers_limit_markers(js: Any) -> None:
    kv = js.create_key_value(bucket=bucket_name(), ttl=1.0, limit_marker_ttl=5.0)
    with kv.watchall() as w:
        assert w.updates(timeout=WAIT) is None
        kv.put("session", b"alive")
        assert brief(take(w, 1)) == [("session", b"alive", None)]
        # the value ages out: the server writes a MaxAge marker, read as a purge
        marker = w.updates(timeout=WAIT)
        assert (marker.key, marker.value, marker.operation) == ("session", b"", "PURGE")
        assert marker.revision == 2
