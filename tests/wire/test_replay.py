"""The reconnect buffer on the wire: what a new connection receives, in which
order, and what happens to messages when a connection breaks mid-write.

Exact accounting across a broken connection: the fake server stops reading so
the client's writes block part-way, then ends the connection *gracefully*
(FIN, then reads until the client closes). Every byte the client handed to its
kernel then reaches the fake server, so the messages the next connection gets
must start exactly at the first message the broken one did not get whole
(possibly the frame that was cut), with nothing lost or repeated. With an
abrupt RST instead, what sat in the kernel buffers is lost (core NATS is
at-most-once), and the tests only require "the cut frame or later".
"""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Tuple

import pytest

from natsync import errors
from tests.wire.conftest import Clients, Events, wait_for
from tests.wire.fakeserver import FakeConn, FakeServer, Frame

pytestmark = pytest.mark.timeout(60)

BIG_OPTS: Dict[str, Any] = {"reconnect_buf_size": 64 * 1024 * 1024, "pending_size": 64 * 1024 * 1024}
#: More than loopback's kernel buffers absorb (about 3 MB measured), so the
#: client's writes block while the fake server does not read.
BULK_MSGS = 6000
BULK_SIZE = 1024


def _numbered(i: int, size: int = BULK_SIZE) -> bytes:
    head = b"%06d:" % i
    return head + b"x" * (size - len(head))


def _index(f: Frame) -> int:
    return int(f.payload[:6])


def _handshake_held(conn: FakeConn) -> None:
    """INFO, then CONNECT+PING; the PONG is the caller's move."""
    conn.send_info()
    conn.expect_connect()


# ---------------------------------------------------------------- 11. replay order


def test_reconnect_replays_subs_then_buffer_then_new_publishes(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    marks: List[Tuple[int, bool, int]] = []

    def on_reconnected() -> None:
        # runs after the replay: nothing is buffered any more; publish a marker
        marks.append((nc.buffered_msgs, nc.is_connected, nc.stats["reconnects"]))
        nc.publish("cb.marker", b"from-reconnected-cb")
        events.reconnected_cb()

    nc, conn1 = clients.connect(fake_server, connect_timeout=5.0,
                                **{**events.callbacks(), "reconnected_cb": on_reconnected})

    sub_a = nc.subscribe("A")
    sub_b = nc.subscribe("B", max_msgs=5)
    for i in range(3):
        nc.publish("pre", b"pre-%d" % i)
    nc.flush(timeout=2)
    conn1.send_msg("B", 2, b"b1")
    conn1.send_msg("B", 2, b"b2")
    assert [sub_b.next_msg(timeout=2).data for _ in range(2)] == [b"b1", b"b2"]
    assert [f.short() for f in conn1.frames[2:]] == [
        "SUB A 1", "SUB B 2", "UNSUB 2 5",
        "PUB pre 5 b'pre-0'", "PUB pre 5 b'pre-1'", "PUB pre 5 b'pre-2'", "PING"]

    conn1.close()
    events.wait_count("disconnected")
    # while the client reconnects (its next connection is held before INFO):
    n = 50
    for i in range(n):
        nc.publish("num", b"n-%d" % i)
    sub_c = nc.subscribe("C")
    sub_a.unsubscribe()
    assert nc.is_reconnecting
    assert nc.buffered_msgs == n  # SUB/UNSUB are state, not buffered messages
    assert nc.buffered_bytes == sum(len(b"PUB num %d\r\nn-%d\r\n" % (len(b"n-%d" % i), i))
                                    for i in range(n))

    conn2 = fake_server.accept()
    _handshake_held(conn2)
    nc.publish("num", b"n-%d" % n)  # during the handshake: buffered too
    time.sleep(0.2)
    assert [f.op for f in conn2.frames] == ["CONNECT", "PING"], conn2.describe()
    assert conn2.tail == b""
    conn2.set_auto_pong(True)
    conn2.send_pong()

    events.wait_count("reconnected")
    for i in range(3):
        nc.publish("post", b"post-%d" % i)
    nc.flush(timeout=3)

    got = [f.short() for f in conn2.frames[2:]]
    expected_subs = ["SUB B 2", "UNSUB 2 3", "SUB C 3"]
    assert got[:3] == expected_subs, conn2.describe()
    replayed = got[3 : 3 + n + 1]
    assert replayed == [f"PUB num {len(b'n-%d' % i)} {b'n-%d' % i!r}" for i in range(n + 1)]
    rest = got[3 + n + 1 :]
    # the marker the reconnected callback published comes after every replayed
    # message; the post-reconnect publishes too (their relative order is the
    # callback thread's race with this one)
    assert sorted(rest[:-1]) == sorted(
        ["PUB cb.marker 19 b'from-reconnected-cb'"]
        + [f"PUB post 6 b'post-{i}'" for i in range(3)])
    assert [r for r in rest if r.startswith("PUB post")] == [
        f"PUB post 6 b'post-{i}'" for i in range(3)]
    assert rest[-1] == "PING"
    # each subscription state change was sent exactly once, and A not at all
    all_ctl = [f.short() for f in conn2.frames if f.op in ("SUB", "UNSUB")]
    assert all_ctl == expected_subs
    assert marks == [(0, True, 1)]
    assert nc.stats["reconnects"] == 1
    # the live subscriptions work on the new connection; A is gone
    conn2.send_msg("C", 3, b"c1")
    conn2.send_msg("B", 2, b"b3")
    assert sub_c.next_msg(timeout=2).data == b"c1"
    assert sub_b.next_msg(timeout=2).data == b"b3"
    with pytest.raises(errors.BadSubscriptionError):
        sub_a.next_msg(timeout=0.1)


def test_subscribe_then_unsubscribe_while_reconnecting_sends_nothing(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    nc, conn1 = clients.connect(fake_server, connect_timeout=5.0, **events.callbacks())
    conn1.close()
    events.wait_count("disconnected")
    s = nc.subscribe("temp")
    s.unsubscribe()
    q = nc.subscribe("keep", queue="g")
    q.unsubscribe(limit=2)  # auto-unsubscribe set while reconnecting
    conn2 = fake_server.accept()
    conn2.handshake()
    events.wait_count("reconnected")
    nc.flush(timeout=2)
    assert [f.short() for f in conn2.frames[2:]] == ["SUB keep g 2", "UNSUB 2 2", "PING"]


# ---------------------------------------------------------------- 12. replay breaks midway


def _check_prefix_stream(conn: FakeConn, first: int) -> Tuple[List[int], bytes]:
    """conn received CONNECT, PING, then whole PUBs numbered first, first+1, ... and
    maybe part of one more (the cut). Returns the indexes and the partial tail."""
    frames = conn.frames  # raises if a frame was cut and followed by more data
    assert [f.op for f in frames[:2]] == ["CONNECT", "PING"], conn.describe()
    pubs = [f for f in frames[2:] if f.op != "PONG"]
    assert all(f.op == "PUB" and f.subject == "bulk" for f in pubs), conn.describe()
    idx = [_index(f) for f in pubs]
    assert idx == list(range(first, first + len(idx))), "messages out of order or missing"
    assert all(f.payload == _numbered(i) for f, i in zip(pubs, idx)), "payload corrupted"
    return idx, conn.tail


def test_replay_broken_midway_resumes_on_next_connection(
    fake_server_factory: Any, clients: Clients, events: Events
) -> None:
    srv: FakeServer = fake_server_factory(rcvbuf=16384)
    nc, conn1 = clients.connect(srv, connect_timeout=5.0, **BIG_OPTS, **events.callbacks())
    conn1.close()
    events.wait_count("disconnected")
    frames = [b"PUB bulk %d\r\n%s\r\n" % (BULK_SIZE, _numbered(i)) for i in range(BULK_MSGS)]
    for i in range(BULK_MSGS):
        nc.publish("bulk", _numbered(i))
    assert nc.buffered_msgs == BULK_MSGS

    # connection 2 reads part of the replay, stops reading, then goes away
    conn2 = srv.accept()
    _handshake_held(conn2)
    hs = len(conn2.received)
    conn2.set_read_limit(hs + 300_000)
    conn2.send_pong()
    conn2.wait_bytes(hs + 300_000, timeout=10)
    wait_for(lambda: not _replay_moving(nc), 10, "the replay to block on a full socket")
    assert nc.is_reconnecting, "the replay finished: the kernel absorbed the whole buffer"
    assert events.log.count("reconnected") == 0
    # graceful end: FIN, then read everything the client's kernel accepted
    conn2.half_close()
    conn2.resume_reading()
    conn2.wait_eof(timeout=10)

    conn3 = srv.accept(timeout=10)
    conn3.handshake()
    events.wait_count("reconnected", timeout=20)
    nc.flush(timeout=10)

    idx2, tail2 = _check_prefix_stream(conn2, 0)
    assert len(idx2) > 100  # it did get part of the replay
    k = len(idx2)
    if tail2:  # the cut: a strict prefix of frame k
        assert frames[k].startswith(tail2) and len(tail2) < len(frames[k])
    f3 = conn3.frames
    assert [f.op for f in f3[:2]] == ["CONNECT", "PING"] and f3[-1].op == "PING"
    assert conn3.tail == b""
    pubs3 = f3[2:-1]
    assert all(f.op == "PUB" and f.payload == _numbered(_index(f)) for f in pubs3), (
        "a replayed frame is not a whole bulk PUB")
    idx3 = [_index(f) for f in pubs3]
    # the replay resumed exactly where the kernel stopped accepting: the frame
    # that was cut (or the next whole one), nothing before it lost or repeated
    assert idx3 == list(range(k, BULK_MSGS)), (
        f"conn2 got 0..{k - 1} (+{len(tail2)} bytes of the cut frame); conn3 got "
        f"{idx3[:3]}...{idx3[-3:]} ({len(idx3)})")
    assert sorted(set(idx2) | set(idx3)) == list(range(BULK_MSGS))
    assert nc.stats["reconnects"] == 1
    assert nc.buffered_msgs == 0


def _replay_moving(nc: Any) -> bool:
    """True while the buffer is still draining (sampled over a short interval)."""
    before = nc.buffered_msgs
    time.sleep(0.1)
    return bool(nc.buffered_msgs != before)


# ---------------------------------------------------------------- 13. flush while disconnected



def _flush_in_background(nc: Any) -> Tuple[List[Any], threading.Event, threading.Thread]:
    """Run ``nc.flush(timeout=10)`` on a thread: (["ok"] or [exception], done, thread)."""
    result: List[Any] = []
    done = threading.Event()

    def flusher() -> None:
        try:
            nc.flush(timeout=10)
            result.append("ok")
        except BaseException as exc:
            result.append(exc)
        done.set()

    t = threading.Thread(target=flusher, name="test-flush", daemon=True)
    t.start()
    return result, done, t

def test_flush_while_reconnecting_waits_for_replay_and_pong(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    nc, conn1 = clients.connect(fake_server, connect_timeout=5.0, **events.callbacks())
    conn1.close()
    events.wait_count("disconnected")
    for i in range(3):
        nc.publish("f", b"%d" % i)
    result, done, t = _flush_in_background(nc)

    conn2 = fake_server.accept()
    conn2.handshake(auto_pong=False)
    # after the handshake PONG: resubscription (none), replay, then the flush PING
    frames = conn2.wait_count("PING", 2)
    assert [f.short() for f in frames[2:]] == ["PUB f 1 b'0'", "PUB f 1 b'1'", "PUB f 1 b'2'",
                                               "PING"]
    # the server holds its PONG: flush must still be waiting
    assert not done.wait(0.5), f"flush returned before the PONG: {result}"
    conn2.send_pong()
    assert done.wait(5), "flush did not return after the PONG"
    t.join(5)
    assert result == ["ok"]
    events.wait_count("reconnected")


def test_flush_while_reconnecting_times_out(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    nc, conn1 = clients.connect(fake_server, connect_timeout=5.0, **events.callbacks())
    conn1.close()
    events.wait_count("disconnected")
    nc.publish("f", b"x")
    conn2 = fake_server.accept()  # held before INFO: still reconnecting
    with pytest.raises(errors.TimeoutError) as ei:
        nc.flush(timeout=0.3)
    assert isinstance(ei.value, TimeoutError)
    assert nc.is_reconnecting
    # once connected, a flush needs its own round trip and gets it
    conn2.handshake()
    events.wait_count("reconnected")
    nc.flush(timeout=2)
    pubs = [f.short() for f in conn2.frames if f.op == "PUB"]
    assert pubs == ["PUB f 1 b'x'"]


# ---------------------------------------------------------------- 14. bytes not yet written


@pytest.mark.parametrize("ending", ["graceful", "abort"])
def test_unwritten_messages_replayed_after_connection_breaks(
    fake_server_factory: Any, clients: Clients, events: Events, ending: str
) -> None:
    srv: FakeServer = fake_server_factory(rcvbuf=16384)
    nc, conn1 = clients.connect(srv, connect_timeout=5.0, **BIG_OPTS, **events.callbacks())
    sub = nc.subscribe("s")
    nc.flush(timeout=2)
    conn1.pause_reading()
    frames = [b"PUB bulk %d\r\n%s\r\n" % (BULK_SIZE, _numbered(i)) for i in range(BULK_MSGS)]
    for i in range(BULK_MSGS):
        nc.publish("bulk", _numbered(i))
    # the socket buffers fill; the flusher blocks with the rest not handed over
    time.sleep(0.3)
    assert len(conn1.received) < BULK_MSGS * BULK_SIZE // 4

    if ending == "graceful":
        # FIN, then read everything the client handed to its kernel
        conn1.half_close()
        conn1.resume_reading()
        conn1.wait_eof(timeout=10)
    else:
        # RST with unread data: whatever sat in the kernel buffers is gone
        conn1.abort()
    events.wait_count("disconnected", timeout=10)

    conn2 = srv.accept(timeout=10)
    conn2.handshake()
    events.wait_count("reconnected", timeout=20)
    nc.flush(timeout=10)

    f1 = conn1.frames
    assert [f.short() for f in f1[:4]] == ["CONNECT {...}", "PING", "SUB s 1", "PING"]
    pubs1 = [f for f in f1[4:] if f.op != "PONG"]
    idx1 = [_index(f) for f in pubs1]
    assert idx1 == list(range(len(idx1)))
    k = len(idx1)
    tail1 = conn1.tail
    if tail1:
        assert frames[k].startswith(tail1) and len(tail1) < len(frames[k])

    f2 = conn2.frames
    assert [f.short() for f in f2[:3]] == ["CONNECT {...}", "PING", "SUB s 1"], conn2.describe()
    assert f2[-1].op == "PING" and conn2.tail == b""
    pubs2 = [f for f in f2[3:-1]]
    assert all(f.op == "PUB" and f.payload == _numbered(_index(f)) for f in pubs2), (
        "a replayed frame is not a whole PUB")
    idx2 = [_index(f) for f in pubs2]
    assert idx2, "nothing was replayed"
    j = idx2[0]
    # order holds, nothing after the restart point is lost, the last one arrives
    assert idx2 == list(range(j, BULK_MSGS))
    if ending == "graceful":
        # every byte the kernel accepted was read: the replay resumes exactly at
        # the first message the first connection did not get whole
        assert j == k, f"conn1 got 0..{k - 1} (+{len(tail1)} bytes); conn2 starts at {j}"
        assert k + len(idx2) == BULK_MSGS
    else:
        # bytes in the kernel buffers were lost (at-most-once), never repeated
        assert j >= k, f"conn2 repeats messages conn1 got whole: starts at {j}, conn1 had {k}"
    assert nc.stats["reconnects"] == 1
    del sub


def test_outbox_frames_go_first_then_buffered_publishes(
    fake_server_factory: Any, clients: Clients, events: Events
) -> None:
    """Messages stuck in the outbox when the connection broke are replayed before
    messages published while reconnecting."""
    srv: FakeServer = fake_server_factory(rcvbuf=16384)
    nc, conn1 = clients.connect(srv, connect_timeout=5.0, **BIG_OPTS, **events.callbacks())
    conn1.pause_reading()
    for i in range(BULK_MSGS):
        nc.publish("bulk", _numbered(i))
    time.sleep(0.3)  # the socket buffers fill; the flusher blocks
    conn1.half_close()
    conn1.resume_reading()
    conn1.wait_eof(timeout=10)
    events.wait_count("disconnected", timeout=10)
    # next connection held before INFO: these go to the reconnect buffer
    conn2 = srv.accept(timeout=10)
    for i in range(BULK_MSGS, BULK_MSGS + 10):
        nc.publish("bulk", _numbered(i))
    conn2.handshake()
    events.wait_count("reconnected", timeout=20)
    nc.flush(timeout=10)
    pubs1 = [f for f in conn1.frames if f.op == "PUB"]
    k = len(pubs1)
    idx2 = [_index(f) for f in conn2.frames if f.op == "PUB"]
    assert idx2 == list(range(k, BULK_MSGS + 10))


def test_close_while_reconnecting_keeps_unsent_messages(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    nc, conn1 = clients.connect(fake_server, connect_timeout=5.0, **events.callbacks())
    conn1.close()
    events.wait_count("disconnected")
    for i in range(5):
        nc.publish("u", b"%d" % i, headers={"H": str(i)} if i == 2 else None)
    nc.close()
    unsent = nc.unsent_messages()
    assert [(m.subject, m.data) for m in unsent] == [("u", b"%d" % i) for i in range(5)]
    assert unsent[2].headers == {"H": "2"}
    assert nc.stats["unsent_msgs"] == 5
    assert events.log.count("closed") == 1
    # nothing reached any server
    assert [f.op for f in conn1.frames[2:]] == []


# ---------------------------------------------------------------- the replay window


def _hold_replay(srv: FakeServer, nc: Any, events: Events, read: int) -> FakeConn:
    """Break conn1 (already done by the caller), fill the reconnect buffer with
    bulk messages, then accept the next connection and let it read only ``read``
    bytes of the replay, so the client sits in the replay with a full socket."""
    for i in range(BULK_MSGS):
        nc.publish("bulk", _numbered(i))
    conn = srv.accept()
    _handshake_held(conn)
    hs = len(conn.received)
    conn.set_read_limit(hs + read)
    conn.set_auto_pong(True)
    conn.send_pong()
    conn.wait_bytes(hs + read, timeout=10)
    wait_for(lambda: not _replay_moving(nc), 10, "the replay to block on a full socket")
    assert nc.is_reconnecting and events.log.count("reconnected") == 0
    return conn


def test_subscription_changes_during_replay_reach_the_server(
    fake_server_factory: Any, clients: Clients, events: Events
) -> None:
    """subscribe/unsubscribe/request made while the replay is being written are
    state changes like any other made while reconnecting: the server must get
    them once the connection is up."""
    srv: FakeServer = fake_server_factory(rcvbuf=16384)
    nc, conn1 = clients.connect(srv, connect_timeout=5.0, **BIG_OPTS, **events.callbacks())
    old = nc.subscribe("old")
    nc.flush(timeout=2)
    conn1.close()
    events.wait_count("disconnected")
    conn2 = _hold_replay(srv, nc, events, 100_000)

    # inside the replay window
    late = nc.subscribe("late")
    old.unsubscribe()
    nc.publish("late.pub", b"after-bulk")

    conn2.resume_reading()
    events.wait_count("reconnected", timeout=20)
    nc.flush(timeout=10)
    frames = conn2.frames
    ctl = [f.short() for f in frames if f.op in ("SUB", "UNSUB")]
    pubs = [f for f in frames if f.op == "PUB"]
    assert [_index(f) for f in pubs[:-1]] == list(range(BULK_MSGS))
    assert pubs[-1].short() == "PUB late.pub 10 b'after-bulk'"
    # "SUB old 1" went out with the resubscriptions before the window opened
    assert ctl[0] == "SUB old 1"
    assert f"SUB late {late.sid}" in ctl, f"the subscription made during the replay was never sent: {ctl}"
    assert "UNSUB 1" in ctl, f"the unsubscribe made during the replay was never sent: {ctl}"
    assert len(ctl) == len(set(ctl)) == 3
    conn2.send_msg("late", late.sid, b"hello")
    assert late.next_msg(timeout=2).data == b"hello"


def test_request_first_used_during_replay_works(
    fake_server_factory: Any, clients: Clients, events: Events
) -> None:
    """The first request() creates the shared response subscription; made during
    the replay, that SUB must still reach the server."""
    srv: FakeServer = fake_server_factory(rcvbuf=16384)
    nc, conn1 = clients.connect(srv, connect_timeout=5.0, **BIG_OPTS, **events.callbacks())
    conn1.close()
    events.wait_count("disconnected")
    conn2 = _hold_replay(srv, nc, events, 100_000)
    result: List[Any] = []

    def requester() -> None:
        try:
            result.append(nc.request("svc", b"q", timeout=4))
        except BaseException as exc:
            result.append(exc)

    t = threading.Thread(target=requester, name="test-request", daemon=True)
    t.start()
    time.sleep(0.2)  # the request is made inside the replay window
    conn2.resume_reading()
    events.wait_count("reconnected", timeout=20)
    frames = conn2.wait_frames(
        lambda fs: any(f.op == "PUB" and f.subject == "svc" for f in fs), 10, "the request")
    req = next(f for f in frames if f.op == "PUB" and f.subject == "svc")
    subs = [f for f in frames if f.op == "SUB"]
    t_done = False
    if subs:
        sid = int(subs[-1].args[-1])
        conn2.send_msg(req.reply, sid, b"answer")
        t.join(5)
        t_done = not t.is_alive()
    else:
        t.join(5)
    assert subs, f"no SUB for the response inbox was ever sent; request got {result}"
    assert t_done and len(result) == 1 and not isinstance(result[0], BaseException), result
    assert result[0].data == b"answer"


def test_server_silent_during_replay_is_not_a_hang(
    fake_server_factory: Any, clients: Clients, events: Events
) -> None:
    """The new connection's server stops reading mid-replay and says nothing
    more (a dead peer without RST). Stale detection (or a write deadline) must
    drop it and try again, not leave the client reconnecting for ever."""
    srv: FakeServer = fake_server_factory(rcvbuf=16384)
    nc, conn1 = clients.connect(srv, connect_timeout=2.0, ping_interval=0.2,
                                max_outstanding_pings=2, **BIG_OPTS, **events.callbacks())
    conn1.close()
    events.wait_count("disconnected")
    conn2 = _hold_replay(srv, nc, events, 100_000)
    # conn2 is now silent and not reading; a live client gives up on it
    conn3 = srv.accept(timeout=6)
    # the client closed conn2 gracefully: what its kernel had accepted is still
    # delivered once the server reads again, then the EOF
    conn2.resume_reading()
    conn2.wait_eof(timeout=5)
    conn3.handshake()
    events.wait_count("reconnected", timeout=20)
    nc.flush(timeout=10)
    idx = [_index(f) for f in conn2.frames if f.op == "PUB"] + [
        _index(f) for f in conn3.frames if f.op == "PUB"]
    assert idx[-1] == BULK_MSGS - 1 and idx == sorted(idx)


def test_flush_in_flight_survives_a_disconnect(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    """A flush whose PING went out on a connection that then broke is re-sent on
    the next connection and resolved by that connection's PONG."""
    nc, conn1 = clients.connect(fake_server, auto_pong=False, connect_timeout=5.0,
                                **events.callbacks())
    nc.publish("f", b"1")
    result, done, t = _flush_in_background(nc)
    conn1.wait_count("PING", 2)  # handshake PING + the flush PING
    conn1.close()
    events.wait_count("disconnected")
    assert not done.is_set()
    conn2 = fake_server.accept()
    conn2.handshake(auto_pong=False)
    conn2.wait_count("PING", 2)
    assert not done.wait(0.3), f"flush returned without a PONG on the new connection: {result}"
    conn2.send_pong()
    assert done.wait(5)
    t.join(5)
    assert result == ["ok"]


def test_stuck_socket_is_declared_stale_and_unwritten_messages_replayed(
    fake_server_factory: Any, clients: Clients, events: Events
) -> None:
    """The server stops reading and answering while the client has a backlog:
    stale detection drops the connection (no hang in a blocked write) and the
    messages never handed to the kernel are replayed on the next connection."""
    srv: FakeServer = fake_server_factory(rcvbuf=16384)
    nc, conn1 = clients.connect(srv, auto_pong=False, connect_timeout=5.0, ping_interval=0.2,
                                max_outstanding_pings=2, **BIG_OPTS, **events.callbacks())
    conn1.pause_reading()
    for i in range(BULK_MSGS):
        nc.publish("bulk", _numbered(i))
    events.wait_count("disconnected", timeout=10)
    assert isinstance(nc.last_error, errors.StaleConnectionError), nc.last_error
    # the client closed its socket gracefully: read what its kernel had accepted
    conn1.resume_reading()
    conn1.wait_eof(timeout=10)
    conn2 = srv.accept(timeout=10)
    conn2.handshake()
    events.wait_count("reconnected", timeout=20)
    nc.flush(timeout=10)
    pubs1 = [f for f in conn1.frames if f.op == "PUB"]
    k = len(pubs1)
    assert [_index(f) for f in pubs1] == list(range(k))
    idx2 = [_index(f) for f in conn2.frames if f.op == "PUB"]
    assert idx2 == list(range(k, BULK_MSGS)), (
        f"conn1 got 0..{k - 1} (+{len(conn1.tail)} bytes); conn2 got {idx2[:2]}..{idx2[-2:]}")


def test_close_during_blocked_replay_keeps_the_rest_unsent(
    fake_server_factory: Any, clients: Clients, events: Events
) -> None:
    """close() while the replay is blocked: what never reached the kernel comes
    back from unsent_messages(), nothing is lost or reported twice."""
    srv: FakeServer = fake_server_factory(rcvbuf=16384)
    nc, conn1 = clients.connect(srv, connect_timeout=5.0, **BIG_OPTS, **events.callbacks())
    conn1.close()
    events.wait_count("disconnected")
    conn2 = _hold_replay(srv, nc, events, 100_000)
    nc.close()
    assert nc.is_closed
    conn2.resume_reading()
    conn2.wait_eof(timeout=10)
    pubs = [f for f in conn2.frames if f.op == "PUB"]
    k = len(pubs)
    assert [_index(f) for f in pubs] == list(range(k))
    unsent = nc.unsent_messages()
    assert unsent, "nothing unsent although the replay was blocked"
    got = [int(m.data[:6]) for m in unsent]
    assert got == list(range(k, BULK_MSGS)), (
        f"server got 0..{k - 1} (+{len(conn2.tail)} bytes), unsent {got[:2]}..{got[-2:]}")
    assert all(m.subject == "bulk" and m.data == _numbered(i) for m, i in zip(unsent, got))
    assert nc.stats["unsent_msgs"] == len(unsent)
    assert events.log.count("closed") == 1


def test_events_in_the_same_read_as_the_reconnect_pong(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    """PONG, async INFO and PING arriving together with the handshake's PONG are
    all handled (the INFO applied, the PING answered)."""
    nc, conn1 = clients.connect(fake_server, connect_timeout=5.0, **events.callbacks())
    sub = nc.subscribe("a")
    nc.flush(timeout=2)
    conn1.close()
    events.wait_count("disconnected")
    conn2 = fake_server.accept()
    conn2.send_info()
    conn2.expect_connect()
    conn2.set_auto_pong(True)
    conn2.send(b"PONG\r\n" + conn2.info_bytes(connect_urls=["127.0.0.9:4333"]) + b"PING\r\n"
               + b"MSG a 1 2\r\nhi\r\n")
    events.wait_count("reconnected")
    events.wait_count("discovered")
    conn2.wait_count("PONG", 1)
    assert sub.next_msg(timeout=2).data == b"hi"
    assert [(u.hostname, u.port) for u in nc.discovered_servers] == [("127.0.0.9", 4333)]


def test_force_reconnect_publishes_on_the_new_connection_only_after_the_server_read_the_old(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    """The server reads each connection on its own: messages still unread in the old
    socket would reach subscribers after newer ones sent on the new connection. So a
    forced reconnect half-closes the old connection and dials again only once the
    server has read all of it and closed it (bounded by connect_timeout)."""
    nc, conn1 = clients.connect(fake_server, connect_timeout=30.0, **events.callbacks())
    nc.publish("old", b"first")
    nc.flush(timeout=5)
    conn1.pause_reading()  # what follows stays unread in the kernel buffers
    old = [b"old-%d" % i for i in range(50)]
    for p in old:
        nc.publish("old", p)
    wait_for(lambda: nc.pending_data_size == 0, timeout=10.0, what="old messages handed to the kernel")
    nc.force_reconnect()
    events.wait_count("disconnected")
    new = [b"new-%d" % i for i in range(50)]
    for p in new:
        nc.publish("new", p)
    # a client that did not wait would dial now and send the new messages first
    with pytest.raises(AssertionError, match="no client connected"):
        fake_server.accept(timeout=1.0)
    conn1.resume_reading()
    conn1.wait_eof(timeout=10.0)  # the client's FIN, after every old message
    assert [f.payload for f in conn1.frames if f.op == "PUB"] == [b"first"] + old
    assert conn1.tail == b""
    conn1.close()  # the server read everything: now the client may go on
    conn2 = fake_server.accept(timeout=10.0)
    conn2.handshake()
    events.wait_count("reconnected", timeout=10.0)
    nc.flush(timeout=5)
    assert [f.payload for f in conn2.frames if f.op == "PUB"] == new
