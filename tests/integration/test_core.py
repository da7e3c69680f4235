"""Core client against a real nats-server: pub/sub, request/reply, headers,
queue groups, unsubscribe, drain, slow consumers, errors, thread safety."""

from __future__ import annotations

import array
import threading
import time
from typing import Any, List

import pytest

import natsync
from natsync import errors
from natsync.testing import NatsServer
from tests.conn_events import wait_until


@pytest.fixture
def nc(nats_server: NatsServer) -> Any:
    c = natsync.connect(nats_server.url, name="core-test")
    yield c
    c.close()


def test_connect_properties(nats_server: NatsServer, nc: natsync.Client) -> None:
    assert nc.is_connected and not nc.is_closed and not nc.is_reconnecting
    assert nc.connected_url is not None and nc.connected_url.port == nats_server.port
    assert nc.max_payload == 1024 * 1024
    assert isinstance(nc.client_id, int)
    v = nc.connected_server_version
    assert v.major >= 2 and v >= "2.0.0"
    assert nc.client_ip == "127.0.0.1"
    conns = nats_server.connz()["connections"]
    assert any(c.get("name") == "core-test" for c in conns)


def test_pub_sub_next_msg(nc: natsync.Client) -> None:
    sub = nc.subscribe("greet.*")
    nc.publish("greet.joe", b"hello")
    nc.publish("greet.ann", bytearray(b"hi"), reply="back")
    m1 = sub.next_msg(timeout=2)
    m2 = sub.next_msg(timeout=2)
    assert (m1.subject, m1.data, m1.reply, m1.headers) == ("greet.joe", b"hello", "", None)
    assert (m2.subject, m2.data, m2.reply) == ("greet.ann", b"hi", "back")
    with pytest.raises(errors.TimeoutError):
        sub.next_msg(timeout=0.05)
    with pytest.raises(TimeoutError):  # also the builtin
        sub.next_msg(timeout=0.01)
    assert sub.delivered == 2 and sub.pending_msgs == 0


def test_wildcards(nc: natsync.Client) -> None:
    star = nc.subscribe("a.*.c")
    full = nc.subscribe("a.>")
    for s in ("a.b.c", "a.x.c", "a.b.d", "a.b.c.d"):
        nc.publish(s, s.encode())
    nc.flush()
    got_star = [star.next_msg(1).subject for _ in range(2)]
    got_full = [full.next_msg(1).subject for _ in range(4)]
    assert got_star == ["a.b.c", "a.x.c"]
    assert got_full == ["a.b.c", "a.x.c", "a.b.d", "a.b.c.d"]


def test_callback_order_and_isolation(nc: natsync.Client) -> None:
    slow_seen: List[int] = []
    fast_seen: List[int] = []
    fast_done = threading.Event()
    release = threading.Event()

    def slow(msg: natsync.Msg) -> None:
        release.wait(5)
        slow_seen.append(int(msg.data))

    def fast(msg: natsync.Msg) -> None:
        assert threading.current_thread().name.startswith("natsync-sub-")
        fast_seen.append(int(msg.data))
        if len(fast_seen) == 100:
            fast_done.set()

    nc.subscribe("slow", cb=slow)
    nc.subscribe("fast", cb=fast)
    for i in range(100):
        nc.publish("slow", str(i).encode())
        nc.publish("fast", str(i).encode())
    # the fast subscription finishes while the slow one is still blocked
    assert fast_done.wait(5)
    assert slow_seen == []
    release.set()
    wait_until(lambda: len(slow_seen) == 100)
    assert fast_seen == list(range(100)) and slow_seen == list(range(100))


def test_iteration_ends_on_unsubscribe(nc: natsync.Client) -> None:
    sub = nc.subscribe("it")
    got: List[bytes] = []

    def consume() -> None:
        for m in sub:
            got.append(m.data)
            if len(got) == 3:
                sub.unsubscribe()

    t = threading.Thread(target=consume)
    t.start()
    for i in range(3):
        nc.publish("it", b"%d" % i)
    t.join(5)
    assert not t.is_alive()
    assert got == [b"0", b"1", b"2"]
    assert list(sub.messages) == []


def test_queue_groups(nats_server: NatsServer, nc: natsync.Client) -> None:
    counts = [0, 0, 0]
    lock = threading.Lock()

    def worker(i: int) -> Any:
        def cb(msg: natsync.Msg) -> None:
            with lock:
                counts[i] += 1
        return cb

    subs = [nc.subscribe("work", queue="workers", cb=worker(i)) for i in range(3)]
    plain = nc.subscribe("work")
    assert subs[0].queue == "workers"
    for _ in range(300):
        nc.publish("work", b"job")
    nc.flush()
    wait_until(lambda: sum(counts) == 300)
    assert plain.pending_msgs == 300  # a non-queue subscriber gets every message
    assert sum(1 for c in counts if c > 0) >= 2  # the work was shared


def test_request_reply(nc: natsync.Client) -> None:
    def echo(msg: natsync.Msg) -> None:
        msg.respond(b"re:" + msg.data, headers={"X-Echo": "1"})

    nc.subscribe("svc.echo", cb=echo)
    r = nc.request("svc.echo", b"ping", timeout=2)
    assert r.data == b"re:ping"
    assert r.headers == {"X-Echo": "1"}
    # many requests share one inbox subscription
    for i in range(50):
        assert nc.request("svc.echo", b"%d" % i, timeout=2).data == b"re:%d" % i
    mux = [s for s in nc._subs.values() if s.subject.endswith(".*")]
    assert len(mux) == 1


def test_request_no_responders_and_timeout(nc: natsync.Client) -> None:
    with pytest.raises(errors.NoRespondersError):
        nc.request("nobody.home", b"x", timeout=2)
    nc.subscribe("silent")  # a subscriber that never answers
    t0 = time.monotonic()
    with pytest.raises(errors.TimeoutError):
        nc.request("silent", b"x", timeout=0.2)
    assert time.monotonic() - t0 < 5
    with pytest.raises(errors.BadSubjectError):
        nc.request("bad subject", b"x", timeout=2)
    mux = nc._mux  # a request that failed leaves no bookkeeping behind
    assert mux is not None and not mux.waiters and not mux.active


def test_concurrent_requests(nc: natsync.Client) -> None:
    nc.subscribe("svc.add", cb=lambda m: m.respond(b"%d" % (int(m.data) + 1)))
    results: List[int] = []
    lock = threading.Lock()

    def worker(base: int) -> None:
        for i in range(50):
            r = nc.request("svc.add", b"%d" % (base + i), timeout=5)
            assert int(r.data) == base + i + 1
            with lock:
                results.append(int(r.data))

    ts = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert len(results) == 400
    assert nc._mux is not None and not nc._mux.active and not nc._mux.waiters


def test_headers_multi_value(nc: natsync.Client) -> None:
    sub = nc.subscribe("h")
    nc.publish("h", b"body", headers={"A": "1", "Multi": ["x", "y"], "Case-Kept": "v"})
    m = sub.next_msg(2)
    assert m.data == b"body"
    assert m.headers == {"A": "1", "Multi": ["x", "y"], "Case-Kept": "v"}
    nc.publish("h", b"", headers={"Only": "header"})
    m = sub.next_msg(2)
    assert m.data == b"" and m.headers == {"Only": "header"}


def test_headers_interop_with_nats_py_encoding(nats_server: NatsServer, nc: natsync.Client) -> None:
    """A raw HPUB formatted the way nats.go/nats-py send it parses the same."""
    import socket

    sub = nc.subscribe("interop")
    nc.flush()
    raw = socket.create_connection(("127.0.0.1", nats_server.port))
    raw.recv(4096)
    hdr = b"NATS/1.0\r\nFoo: Bar\r\nFoo: Baz\r\nX: y z\r\n\r\n"
    body = b"payload"
    raw.sendall(b'CONNECT {"headers":true,"verbose":false}\r\n'
                + b"HPUB interop %d %d\r\n" % (len(hdr), len(hdr) + len(body)) + hdr + body
                + b"\r\nPING\r\n")
    m = sub.next_msg(2)
    raw.close()
    assert m.headers == {"Foo": ["Bar", "Baz"], "X": "y z"} and m.data == body


def test_unsubscribe_and_auto_unsubscribe(nc: natsync.Client) -> None:
    sub = nc.subscribe("u")
    nc.publish("u", b"1")
    nc.flush()
    assert sub.next_msg(1).data == b"1"
    sub.unsubscribe()
    nc.publish("u", b"2")
    nc.flush()
    with pytest.raises(errors.BadSubscriptionError):
        sub.next_msg(0.1)
    with pytest.raises(errors.BadSubscriptionError):
        sub.unsubscribe()

    auto = nc.subscribe("auto")
    auto.unsubscribe(limit=3)
    for i in range(10):
        nc.publish("auto", b"%d" % i)
    nc.flush()
    assert [m.data for m in auto] == [b"0", b"1", b"2"]

    mm = nc.subscribe("maxed", max_msgs=2)
    for i in range(5):
        nc.publish("maxed", b"%d" % i)
    nc.flush()
    assert [m.data for m in mm] == [b"0", b"1"]
    assert nc.stats["in_msgs"] >= 6


def test_drain_subscription_delivers_pending(nc: natsync.Client) -> None:
    seen: List[int] = []
    gate = threading.Event()

    def cb(msg: natsync.Msg) -> None:
        gate.wait(5)
        seen.append(int(msg.data))

    sub = nc.subscribe("d", cb=cb)
    for i in range(50):
        nc.publish("d", b"%d" % i)
    nc.flush()
    threading.Timer(0.1, gate.set).start()
    sub.drain()
    assert seen == list(range(50))
    nc.publish("d", b"late")
    nc.flush()
    assert seen == list(range(50))


def test_drain_connection(nats_server: NatsServer) -> None:
    closed = threading.Event()
    nc = natsync.connect(nats_server.url, closed_cb=closed.set)
    seen: List[int] = []
    gate = threading.Event()

    def cb(msg: natsync.Msg) -> None:
        gate.wait(5)
        seen.append(int(msg.data))

    nc.subscribe("dc", cb=cb)
    pub = natsync.connect(nats_server.url)
    for i in range(100):
        pub.publish("dc", b"%d" % i)
    pub.flush()
    threading.Timer(0.1, gate.set).start()
    nc.drain()
    assert seen == list(range(100))
    assert nc.is_closed and closed.wait(2)
    with pytest.raises(errors.ConnectionClosedError):
        nc.publish("x", b"")
    pub.close()


def test_slow_consumer(nats_server: NatsServer) -> None:
    errs: List[BaseException] = []
    nc = natsync.connect(nats_server.url, error_cb=errs.append)
    sub = nc.subscribe("sc", pending_msgs_limit=10)
    for i in range(100):
        nc.publish("sc", b"%d" % i)
    nc.flush()
    wait_until(lambda: sub.pending_msgs + sub.dropped == 100)
    assert sub.pending_msgs == 10 and sub.dropped == 90
    wait_until(lambda: len(errs) >= 1)
    slow = [e for e in errs if isinstance(e, errors.SlowConsumerError)]
    assert len(slow) == 1 and slow[0].sid == sub.sid
    assert nc.is_connected  # the connection stays up
    assert [sub.next_msg(1).data for _ in range(10)] == [b"%d" % i for i in range(10)]
    # bytes limit
    sub2 = nc.subscribe("scb", pending_bytes_limit=100)
    nc.publish("scb", b"x" * 60)
    nc.publish("scb", b"x" * 60)
    nc.flush()
    wait_until(lambda: sub2.dropped == 1)
    assert sub2.pending_bytes == 60
    nc.close()


def test_bad_input_raises_before_sending(nc: natsync.Client) -> None:
    for bad in ("", "a b", "a\r\nPUB x 1", "a\tb", "a..b", ".a", "a."):
        with pytest.raises(errors.BadSubjectError):
            nc.publish(bad, b"x")
    with pytest.raises(errors.BadSubjectError):
        nc.subscribe("a.>.b")
    with pytest.raises(errors.BadSubjectError):
        nc.publish("ok", b"x", reply="bad reply")
    with pytest.raises(errors.BadHeaderError):
        nc.publish("ok", b"x", headers={"K": "v\r\nInjected: 1"})
    with pytest.raises(errors.BadHeaderError):
        nc.publish("ok", b"x", headers={"K\r\n": "v"})
    with pytest.raises(errors.MaxPayloadError):
        nc.publish("ok", b"x" * (nc.max_payload + 1))
    with pytest.raises(errors.Error):
        nc.publish("ok", "text is not bytes")  # type: ignore[arg-type]
    with pytest.raises(errors.Error):
        nc.publish("ok", 5)  # type: ignore[arg-type]
    # the same with a reply or headers (the full encoder): never "five zero bytes"
    for bad in (5, [1, 2], "text"):
        with pytest.raises(errors.Error, match="bytes-like"):
            nc.publish("ok", bad, reply="r")  # type: ignore[arg-type]
        with pytest.raises(errors.Error, match="bytes-like"):
            nc.publish("ok", bad, headers={"K": "v"})  # type: ignore[arg-type]
    nc.publish("ok", bytearray(b"ba"), headers={"K": "v"})
    nc.publish("ok", memoryview(b"mv"), reply="r")
    with pytest.raises(errors.BadSubjectError):
        nc.publish(b"bytes.subject", b"x")  # type: ignore[arg-type]
    assert nc.is_connected
    nc.flush()
    assert nc.stats["out_msgs"] == 2  # only the two good ones


def test_stats_count_payload_bytes(nc: natsync.Client) -> None:
    sub = nc.subscribe("st")
    for _ in range(10):
        nc.publish("st", b"12345")
    nc.flush()
    for _ in range(10):
        sub.next_msg(1)
    st = nc.stats
    assert st["out_msgs"] == 10 and st["out_bytes"] == 50
    assert st["in_msgs"] == 10 and st["in_bytes"] == 50
    assert st["reconnects"] == 0


def test_no_echo(nats_server: NatsServer) -> None:
    with natsync.connect(nats_server.url, no_echo=True) as nc:
        sub = nc.subscribe("echo")
        nc.publish("echo", b"me")
        nc.flush()
        with pytest.raises(errors.TimeoutError):
            sub.next_msg(0.2)
    with natsync.connect(nats_server.url) as nc2:
        sub = nc2.subscribe("echo")
        nc2.publish("echo", b"me")
        assert sub.next_msg(2).data == b"me"


def test_eight_threads_publishing_keep_per_thread_order(nats_server: NatsServer) -> None:
    N = 2000
    sub_nc = natsync.connect(nats_server.url)
    sub = sub_nc.subscribe("seq", pending_msgs_limit=-1, pending_bytes_limit=-1)
    sub_nc.flush()
    pub = natsync.connect(nats_server.url)

    def worker(t: int) -> None:
        for i in range(N):
            pub.publish("seq", b"%d:%d" % (t, i))

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    pub.flush()
    last = [-1] * 8
    for _ in range(8 * N):
        t_s, i_s = sub.next_msg(5).data.split(b":")
        t, i = int(t_s), int(i_s)
        assert i == last[t] + 1
        last[t] = i
    assert last == [N - 1] * 8
    pub.close()
    sub_nc.close()


def test_flush_rtt_and_closed_errors(nats_server: NatsServer) -> None:
    nc = natsync.connect(nats_server.url)
    nc.flush(timeout=2)
    assert 0 < nc.rtt() < 5
    nc.close()
    nc.close()  # idempotent
    for call in (lambda: nc.publish("x"), lambda: nc.subscribe("x"),
                 lambda: nc.request("x", timeout=1), lambda: nc.flush()):
        with pytest.raises(errors.ConnectionClosedError):
            call()
    assert nc.is_closed and not nc.is_connected


def test_context_manager_and_two_step(nats_server: NatsServer) -> None:
    c = natsync.Client()
    with pytest.raises(errors.ConnectionClosedError):
        c.publish("x", b"")
    c.connect(servers=[nats_server.url])
    with c:
        assert c.is_connected
    assert c.is_closed


def test_callbacks_run_on_events_thread(nats_server: NatsServer) -> None:
    names: List[str] = []
    done = threading.Event()

    def closed() -> None:
        names.append(threading.current_thread().name)
        done.set()

    nc = natsync.connect(nats_server.url, closed_cb=closed)
    nc.close()
    assert done.wait(2)
    assert names[0].startswith("natsync-events-")


def test_callback_exception_goes_to_error_cb(nc: natsync.Client, nats_server: NatsServer) -> None:
    errs: List[BaseException] = []
    c = natsync.connect(nats_server.url, error_cb=errs.append)

    def boom(msg: natsync.Msg) -> None:
        raise ValueError("boom")

    c.subscribe("boom", cb=boom)
    c.publish("boom", b"")
    c.publish("boom", b"")
    c.flush()
    wait_until(lambda: len(errs) == 2)
    assert all(isinstance(e, ValueError) for e in errs)
    assert c.is_connected
    c.close()


def test_connect_refused_names_server() -> None:
    from natsync.testing import free_port

    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(errors.NoServersError) as ei:
        natsync.connect(f"nats://127.0.0.1:{port}", connect_timeout=1)
    assert str(port) in str(ei.value)
    assert time.monotonic() - t0 < 5


def test_new_inbox_unique(nc: natsync.Client) -> None:
    boxes = {nc.new_inbox() for _ in range(1000)}
    assert len(boxes) == 1000 and all(b.startswith("_INBOX.") for b in boxes)


def test_drain_from_inside_a_callback(nats_server: NatsServer) -> None:
    """drain() from a callback cannot wait for that callback: it finishes in the background."""
    closed = threading.Event()
    nc = natsync.connect(nats_server.url, closed_cb=closed.set)
    seen: List[int] = []

    def cb(msg: natsync.Msg) -> None:
        seen.append(int(msg.data))
        if int(msg.data) == 0:
            t0 = time.monotonic()
            nc.drain(timeout=10)
            assert time.monotonic() - t0 < 2

    nc.subscribe("dcb", cb=cb)
    for i in range(20):
        nc.publish("dcb", b"%d" % i)
    assert closed.wait(10)
    assert seen == list(range(20))  # everything pending was delivered before the close
    assert nc.is_closed


def test_sub_drain_from_its_own_callback(nc: natsync.Client) -> None:
    seen: List[int] = []
    done = threading.Event()

    def cb(msg: natsync.Msg) -> None:
        seen.append(int(msg.data))
        if int(msg.data) == 0:
            sub.drain()
        if len(seen) == 10:
            done.set()

    sub = nc.subscribe("sdcb", cb=cb)
    for i in range(10):
        nc.publish("sdcb", b"%d" % i)
    assert done.wait(5)
    wait_until(lambda: sub.is_closed and sub.pending_msgs == 0)
    nc.publish("sdcb", b"late")
    nc.flush()
    assert seen == list(range(10))


def test_unsubscribe_limit_already_reached_keeps_arrived(nc: natsync.Client) -> None:
    sub = nc.subscribe("lim2")
    nc.publish("lim2", b"a")
    nc.publish("lim2", b"b")
    nc.flush()
    wait_until(lambda: sub.pending_msgs == 2)
    assert sub.next_msg(1).data == b"a"
    sub.unsubscribe(limit=2)
    assert [m.data for m in sub] == [b"b"]


def test_requests_interleaved_with_publishes_keep_order(nats_server: NatsServer) -> None:
    """request() writes on the caller's thread when the connection is idle; it never
    overtakes or reorders publishes made before or after it."""
    watcher = natsync.connect(nats_server.url)
    seen = watcher.subscribe("ord.>", pending_msgs_limit=-1)
    watcher.flush()
    nc = natsync.connect(nats_server.url)
    nc.subscribe("ord.svc", cb=lambda m: m.respond(b"ok"))
    nc.flush()

    def worker(t: int) -> None:
        for i in range(300):
            if i % 10 == 0:
                assert nc.request("ord.svc", b"%d:%d" % (t, i), timeout=5).data == b"ok"
            else:
                nc.publish("ord.pub", b"%d:%d" % (t, i))

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    nc.flush()
    last = [-1] * 4
    n = 0
    while True:
        try:
            m = seen.next_msg(0.5)
        except errors.TimeoutError:
            break
        if m.subject == "ord.svc" or m.subject == "ord.pub":
            t_s, i_s = m.data.split(b":")
            t, i = int(t_s), int(i_s)
            assert i == last[t] + 1, (t, i, last[t])
            last[t] = i
            n += 1
    assert last == [299] * 4 and n == 1200
    nc.close()
    watcher.close()


def test_buffers_of_wide_items_are_sent_as_their_bytes(nc: natsync.Client) -> None:
    """A buffer whose items are wider than a byte (array('i'), a cast memoryview) is
    sent as all of its bytes: the size on the wire is its byte length, not len()."""
    sub = nc.subscribe("wide.>")
    ints = array.array("i", [1, 2, 3])
    wide = memoryview(bytes(range(16))).cast("I")
    nc.publish("wide.plain", ints)  # type: ignore[arg-type]
    nc.publish("wide.reply", ints, reply="back")  # type: ignore[arg-type]
    nc.publish("wide.view", wide)  # type: ignore[arg-type]
    got = [sub.next_msg(5) for _ in range(3)]
    assert [m.data for m in got] == [ints.tobytes(), ints.tobytes(), bytes(range(16))]
    assert got[1].reply == "back"
    nc.flush()
    assert nc.is_connected


def test_large_and_small_publishes_from_one_thread_keep_their_order(nc: natsync.Client) -> None:
    """Large frames are written by the publishing thread when the connection is idle,
    small ones go through the outbox: one thread's messages still arrive in order."""
    sub = nc.subscribe("mixed", pending_bytes_limit=-1, pending_msgs_limit=-1)
    big = bytes(range(256)) * 400  # 100 KiB: over the direct-write size
    sent = []
    for i in range(120):
        payload = (b"%d:" % i) + (big if i % 3 == 0 else b"small")
        sent.append(payload)
        if i % 5 == 4:
            nc.publish("mixed", memoryview(payload), reply="r")
        else:
            nc.publish("mixed", payload)
    nc.flush()
    got = [sub.next_msg(10).data for _ in sent]
    assert got == sent
    assert nc.stats["out_msgs"] == len(sent)
