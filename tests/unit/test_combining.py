"""Direct writes and combining (outbox.take_direct, Connection.write_direct): a thread
that writes its own request or reply also writes what other threads queued
meanwhile, and nobody wakes the flusher for those frames. No server: the outbox on
its own, and a Connection over a scripted socket object."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, List, Optional

import pytest

from natsync import connection as connection_mod
from natsync.connection import Connection
from natsync.handshake import Established
from natsync.outbox import Outbox
from natsync.protocol import encode
from natsync.protocol.parser import Parser
from natsync.servers import Server, parse_url

WAIT = 10.0


def frame(i: int) -> bytes:
    return encode.encode_pub(f"t.{i}", b"x%d" % i)


def new_outbox(gen: int = 1) -> Outbox:
    ob = Outbox(pending_size=1 << 20, buf_size=None, buf_msgs=None, overflow="error",
                flush_timeout=None)
    with ob.lock:
        ob.to_connected_locked(gen)
    return ob


class Flusher:
    """A thread doing what the flusher does with the outbox: take, record, repeat."""

    def __init__(self, ob: Outbox, gen: int = 1) -> None:
        self.batches: List[bytes] = []
        self.got = threading.Event()
        self._ob = ob
        self._gen = gen
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        assert wait_until(lambda: ob.flusher_idle)

    def _run(self) -> None:
        while True:
            data = self._ob.take(self._gen, idle_timeout=0.05)
            if data is None:
                return
            self.batches.append(bytes(data))
            self.got.set()

    def stop(self) -> None:
        with self._ob.lock:
            self._ob.stop_locked("test over")
        self._t.join(WAIT)
        assert not self._t.is_alive()


def claim_first(ob: Outbox) -> None:
    """Be the direct writer of frame 1, as write_direct is once it holds the write lock."""
    with ob.lock:
        assert ob.claim_direct_locked(frame(1), 2, True)


@pytest.fixture
def flushing() -> Iterator[tuple[Outbox, Flusher]]:
    """A connected outbox with a flusher thread waiting on it."""
    ob = new_outbox()
    fl = Flusher(ob)
    yield ob, fl
    fl.stop()


def wait_until(cond: Callable[[], bool], timeout: float = WAIT) -> bool:
    ev = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if cond():
            return True
        ev.wait(0.005)
    return cond()


# ------------------------------------------------------------------ the outbox


def test_frames_queued_during_a_direct_write_go_to_the_writer_not_the_flusher(
        flushing: tuple[Outbox, Flusher]) -> None:
    ob, fl = flushing
    claim_first(ob)
    ob.put(frame(2), 2)
    ob.put(frame(3), 2)
    # the idle flusher was not woken for them (it stays idle, with nothing taken)
    assert not fl.got.wait(0.2)
    assert ob.flusher_idle
    assert ob.take_direct(1) == frame(2) + frame(3)  # one write for both
    assert ob.direct  # still the writer while it writes them
    assert ob.take_direct(1) is None
    assert not ob.direct
    assert ob.counts() == (3, 6)  # the claimed frame and the two combined ones
    # once the writer let go, a publish wakes the flusher again
    ob.put(frame(4), 2)
    assert fl.got.wait(WAIT)
    assert fl.batches == [frame(4)]


def test_a_writer_that_wrote_enough_hands_the_rest_to_the_flusher(
        flushing: tuple[Outbox, Flusher]) -> None:
    ob, fl = flushing
    claim_first(ob)
    ob.put(frame(2), 2)
    assert ob.take_direct(1, more=False) is None
    assert not ob.direct
    assert fl.got.wait(WAIT)
    assert fl.batches == [frame(2)]


def test_control_frames_queued_during_a_direct_write_are_combined_too() -> None:
    ob = new_outbox()
    with ob.lock:
        assert ob.claim_direct_locked(frame(1), 2, True)
        ob.flusher_idle = True  # as if the flusher waited: it must not be woken
        assert ob.put_ctl_locked(encode.PING)
        assert ob.flusher_idle
    assert ob.take_direct(1) == encode.PING
    assert ob.take_direct(1) is None


def test_a_writer_of_an_older_connection_leaves_the_new_one_alone() -> None:
    ob = new_outbox(gen=1)
    with ob.lock:
        assert ob.claim_direct_locked(frame(1), 2, True)
        ob.to_buffering_locked()
        ob.to_connected_locked(2)  # reconnected while the old write was stuck
        assert ob.claim_direct_locked(frame(2), 2, True)  # a writer on the new one
    ob.put(frame(3), 2)
    assert ob.take_direct(1) is None  # the old writer: nothing of gen 2 is its business
    assert ob.direct  # the new writer's claim stands
    assert ob.take_direct(2) == frame(3)
    assert ob.take_direct(2) is None


def test_nothing_is_taken_after_the_connection_was_lost() -> None:
    ob = new_outbox()
    claim_first(ob)
    ob.put(frame(2), 2)
    with ob.lock:
        ob.to_buffering_locked()
    assert ob.take_direct(1) is None
    assert list(ob.frames) == [frame(2)]  # kept as the reconnect buffer


def test_no_claim_while_frames_are_queued_or_a_writer_writes() -> None:
    ob = new_outbox()
    with ob.lock:
        assert ob.claim_direct_locked(frame(1), 2, True)
        assert not ob.claim_direct_locked(frame(2), 2, True)  # one writer at a time
    assert ob.take_direct(1) is None
    ob.put(frame(3), 2)
    with ob.lock:
        assert not ob.claim_direct_locked(frame(4), 2, True)  # would overtake frame 3


# ------------------------------------------------------- a connection, scripted socket


class ScriptedSock:
    """send() runs ``on_send[i]`` for the i-th call: it returns how many bytes it takes
    (or raises), and may queue frames from "other threads" meanwhile."""

    def __init__(self) -> None:
        self.on_send: List[Callable[[bytes], int]] = []
        self.sent: List[bytes] = []

    def send(self, data: Any) -> int:
        data = bytes(data)
        act = self.on_send.pop(0)
        n = act(data)
        self.sent.append(data[:n])
        return n


class Owner:
    def __init__(self) -> None:
        self.lost: List[Optional[BaseException]] = []

    def conn_info(self, conn: Connection, info: Any) -> None:  # pragma: no cover
        pass

    def conn_err(self, conn: Connection, text: str) -> None:  # pragma: no cover
        pass

    def conn_sub_done(self, sub: Any) -> None:  # pragma: no cover
        pass

    def conn_lost(self, conn: Connection, exc: Optional[BaseException]) -> None:
        self.lost.append(exc)


def new_connection(ob: Outbox, sock: ScriptedSock) -> tuple[Connection, Owner]:
    owner = Owner()
    est = Established(sock=sock, info={}, parser=Parser(), tls=False, leftover=[])  # type: ignore[arg-type]
    server = Server(parse_url("nats://127.0.0.1:4222"))
    return Connection(est, server, 1, ob, owner, {}, "test"), owner


def test_write_direct_writes_what_was_queued_during_its_write_in_one_go() -> None:
    ob = new_outbox()
    sock = ScriptedSock()

    def first(data: bytes) -> int:
        ob.put(frame(2), 2)  # other threads publish while this write is on
        ob.put(frame(3), 2)
        return len(data)

    sock.on_send = [first, len]
    conn, owner = new_connection(ob, sock)
    assert conn.write_direct(frame(1), 2, is_msg=True)
    assert sock.sent == [frame(1), frame(2) + frame(3)]
    assert not ob.buf and not ob.direct and not owner.lost
    assert conn.wlock.acquire(False)  # released
    conn.wlock.release()
    assert ob.counts() == (3, 6)


def test_write_direct_stops_combining_after_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection_mod, "DIRECT_ROUNDS", 2)
    ob = new_outbox()
    sock = ScriptedSock()

    def queue_next(i: int) -> Callable[[bytes], int]:
        def act(data: bytes) -> int:
            ob.put(frame(i), 2)
            return len(data)
        return act

    sock.on_send = [queue_next(2), queue_next(3)]
    conn, owner = new_connection(ob, sock)
    with ob.lock:
        ob.flusher_idle = True  # an idle flusher, to be woken for the rest
    assert conn.write_direct(frame(1), 2, is_msg=True)
    assert sock.sent == [frame(1), frame(2)]  # two writes, then it let go
    assert bytes(ob.buf) == frame(3)  # left for the flusher
    assert not ob.flusher_idle  # ... which was woken for it
    assert not ob.direct


def test_a_failed_combined_write_puts_back_whole_frames_in_order() -> None:
    ob = new_outbox()
    sock = ScriptedSock()
    f1, f2, f3, f4 = frame(1), frame(2), frame(3), frame(4)

    def first(data: bytes) -> int:
        ob.put(f2, 2)
        ob.put(f3, 2)
        return len(data)

    def part(data: bytes) -> int:
        return len(f2) + 3  # frame 2 whole, 3 bytes of frame 3

    def fail(data: bytes) -> int:
        ob.put(f4, 2)  # published while the write fails: stays behind the others
        raise ConnectionResetError("peer reset")

    sock.on_send = [first, part, fail]
    conn, owner = new_connection(ob, sock)
    assert conn.write_direct(f1, 2, is_msg=True)
    assert len(owner.lost) == 1 and isinstance(owner.lost[0], ConnectionResetError)
    # frame 3 was cut: it goes back whole, ahead of frame 4; frame 2 was handed over
    assert bytes(ob.buf) == f3 + f4
    assert not ob.direct
    assert conn.wlock.acquire(False)
    conn.wlock.release()


def test_gather_waits_one_yield_and_writes_what_others_queued_with_its_frame(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ob = new_outbox()
    sock = ScriptedSock()
    sock.on_send = [len]
    yields: List[float] = []

    def other_threads_run(secs: float) -> None:  # the yield: woken requesters queue theirs
        yields.append(secs)
        ob.put(frame(2), 2)
        ob.put(frame(3), 2)

    monkeypatch.setattr(connection_mod, "sleep", other_threads_run)
    conn, owner = new_connection(ob, sock)
    with ob.lock:
        ob.flusher_idle = True
    assert conn.write_direct(frame(1), 2, is_msg=True, gather=True)
    assert yields == [0]
    assert sock.sent == [frame(1) + frame(2) + frame(3)]  # one write, in order
    assert ob.flusher_idle  # nobody woke the flusher
    assert not ob.buf and not ob.direct and ob.counts() == (3, 6)


def test_no_yield_without_gather_or_for_a_large_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    yields: List[float] = []
    monkeypatch.setattr(connection_mod, "sleep", yields.append)
    ob = new_outbox()
    sock = ScriptedSock()
    big = encode.encode_pub("big", b"x" * connection_mod.GATHER_MAX)
    sock.on_send = [len, len]
    conn, owner = new_connection(ob, sock)
    assert conn.write_direct(frame(1), 2, is_msg=True)
    assert conn.write_direct(big, connection_mod.GATHER_MAX, is_msg=True, gather=True)
    assert yields == [] and sock.sent == [frame(1), big]


def test_yields_that_gather_nothing_are_paused_then_tried_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection_mod, "GATHER_MISSES", 3)
    monkeypatch.setattr(connection_mod, "GATHER_PAUSE", 5)
    yields: List[float] = []
    found = [False]
    ob = new_outbox()

    def yield_(secs: float) -> None:
        yields.append(secs)
        if found[0]:
            ob.put(frame(99), 2)

    monkeypatch.setattr(connection_mod, "sleep", yield_)
    sock = ScriptedSock()
    sock.on_send = [len] * 20
    conn, owner = new_connection(ob, sock)

    def write() -> None:
        assert conn.write_direct(frame(1), 2, is_msg=True, gather=True)

    for _ in range(3):  # three yields find nothing...
        write()
    assert len(yields) == 3
    for _ in range(5):  # ... so the next five writes do not yield
        write()
    assert len(yields) == 3
    found[0] = True
    write()  # then it tries again, and a yield that gathers keeps it going
    write()
    assert len(yields) == 5
    assert sock.sent[-1] == frame(1) + frame(99)


def test_ctrl_c_during_the_yield_leaves_the_frame_to_the_flusher(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(secs: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(connection_mod, "sleep", interrupted)
    ob = new_outbox()
    sock = ScriptedSock()
    conn, owner = new_connection(ob, sock)
    with ob.lock:
        ob.flusher_idle = True
    with pytest.raises(KeyboardInterrupt):
        conn.write_direct(frame(1), 2, is_msg=True, gather=True)
    assert sock.sent == [] and not owner.lost  # nothing written, the connection goes on
    assert bytes(ob.buf) == frame(1) and not ob.direct  # accepted, so kept, first in line
    assert not ob.flusher_idle  # the flusher was woken for it
    assert conn.wlock.acquire(False)
    conn.wlock.release()
