"""One connection generation: a socket that completed the handshake, and its threads.

A :class:`Connection` owns

* the socket and the protocol parser it was established with;
* the **reader** thread (socket -> parser -> events) and the **flusher** thread
  (outbox -> socket, coalescing what is queued into one write);
* the **write lock**: one writer at a time on the socket (the flusher, a request or
  reply written directly by its caller, the replay after a reconnect);
* the **PONG waiters**: each PONG answers the oldest PING (a keep-alive PING has a
  ``None`` slot, a timed-out flush a cancelled waiter);
* its receive counters.

It reports upward through :class:`ConnectionOwner` (INFO, ``-ERR``, a subscription
that reached its auto-unsubscribe limit, the loss of the connection) and never
imports or names the client. Messages go straight to the subscriptions in the
``subs`` mapping the owner hands over (the hot path: the messages of one read are
grouped per subscription and handed over in one call each).

Locks: the outbox lock (which is the client's lock) may be held while the write
lock is *tried* (never waited for); the write lock is held around socket writes,
and a direct writer takes the outbox lock briefly between its writes (nobody
waits for the write lock under the outbox lock, so this cannot deadlock). See
:mod:`natsync.client` for the whole lock order.
"""

from __future__ import annotations

import threading
from collections import deque
from operator import attrgetter
from time import monotonic, sleep
from typing import Any, Deque, Dict, List, Mapping, Optional, Protocol, Union

from . import errors, transport
from .handshake import Established
from .msg import Msg
from .outbox import Ctl, Outbox
from .protocol import encode
from .protocol.parser import Err, Info, Ok, Ping, Pong
from .servers import Server

__all__ = ["Connection", "ConnectionOwner", "MsgSink", "Waiter", "unsent_frames"]

_data = attrgetter("data")

#: A direct writer writes its own frame, then what other threads queued meanwhile,
#: for at most this many writes or (after its own) this many bytes; then it leaves
#: the rest to the flusher and returns to its caller.
DIRECT_ROUNDS = 16
DIRECT_BYTES = 1024 * 1024
#: Frames up to this size may wait for a yield of the GIL to gather others (see
#: Connection.write_direct); a larger frame is worth a write of its own at once.
GATHER_MAX = 16 * 1024
#: After this many yields in a row that gathered nothing (the threads the GIL went
#: to were not about to write: computing, say), a connection skips the yield for
#: its next GATHER_PAUSE writes that could gather, then tries again.
GATHER_MISSES = 8
GATHER_PAUSE = 64


class Waiter:
    """A flush/request slot: a pre-acquired lock released when resolved."""

    __slots__ = ("lock", "msg", "error", "cancelled")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.msg: Optional[Msg] = None
        self.error: Optional[BaseException] = None
        self.cancelled = False

    def resolve(self, msg: Optional[Msg] = None, error: Optional[BaseException] = None) -> None:
        self.msg = msg
        self.error = error
        try:
            self.lock.release()
        except RuntimeError:  # already resolved
            pass

    def wait(self, timeout: Optional[float]) -> bool:
        return self.lock.acquire(True, -1 if timeout is None else max(timeout, 0.0))


class MsgSink(Protocol):
    """Where the reader puts messages: a subscription."""

    def _put_batch(self, msgs: List[Msg], nbytes: int) -> bool:
        """Queue ``msgs`` (``nbytes`` of payload); True when the subscription reached
        its auto-unsubscribe limit."""


class ConnectionOwner(Protocol):
    """What a connection reports to the client that owns it."""

    def conn_info(self, conn: Connection, info: Dict[str, Any]) -> None:
        """An INFO arrived on ``conn`` (already checked by the parser)."""

    def conn_err(self, conn: Connection, text: str) -> None:
        """A ``-ERR`` arrived on ``conn``."""

    def conn_sub_done(self, sub: Any) -> None:
        """``sub`` received its auto-unsubscribe limit; the server dropped it too."""

    def conn_lost(self, conn: Connection, exc: Optional[BaseException]) -> None:
        """``conn`` broke (EOF, a socket error, a protocol error, a failed write)."""


class Connection:
    """One socket generation: socket, parser, reader and flusher, write lock, PONG waiters."""

    def __init__(self, est: Established, server: Server, gen: int, outbox: Outbox,
                 owner: ConnectionOwner, subs: Mapping[int, MsgSink], name: str) -> None:
        self.sock = est.sock
        self.parser = est.parser
        self.info = est.info
        self.tls = est.tls
        self.server = server
        self.gen = gen
        self._leftover = est.leftover
        self._outbox = outbox
        self._owner = owner
        self._subs = subs
        self._name = name
        self.reader: Optional[threading.Thread] = None
        self.flusher: Optional[threading.Thread] = None
        self.wlock = threading.Lock()
        #: set (under the outbox lock) by the owner once this connection is lost
        self.lost = False
        #: time.monotonic() when a blocking write started, 0.0 when not writing
        self.write_since = 0.0
        self._pongs: Deque[Optional[Waiter]] = deque()
        self._pings_out = 0
        self.in_msgs = 0
        self.in_bytes = 0
        # gathering (write_direct), changed only by the writer holding the write lock
        self._gather_misses = 0
        self._gather_paused = 0

    # ------------------------------------------------------------- threads
    def start(self, *, flusher: bool) -> None:
        """Start the reader (once) and, with ``flusher``, the flusher (once)."""
        if self.reader is None:
            self.reader = threading.Thread(target=self._read_loop, name=f"natsync-reader-{self._name}",
                                           daemon=True)
            self.reader.start()
        if flusher and self.flusher is None:
            self.flusher = threading.Thread(target=self._flush_loop,
                                            name=f"natsync-flusher-{self._name}", daemon=True)
            self.flusher.start()

    def threads(self) -> List[threading.Thread]:
        return [t for t in (self.reader, self.flusher) if t is not None]

    def shutdown(self) -> None:
        """Abort the socket at once: the reader and flusher end."""
        transport.hard_shutdown(self.sock)

    def half_close(self) -> None:
        """End only the sending side (a deliberate reconnect): the flusher's write fails
        at once, while the reader goes on until the server, having read everything this
        connection sent, closes its side (see :meth:`Reconnector` for why it waits)."""
        transport.half_close(self.sock)

    def _read_loop(self) -> None:
        """Reader: socket bytes -> parser events -> subscriptions and owner."""
        recv_into = self.sock.recv_into
        feed = self.parser.feed
        # one preallocated buffer: a large recv() would allocate (and mmap) per call
        view = memoryview(bytearray(transport.RECV_SIZE))
        try:
            events: List[Any] = self._leftover
            self._leftover = []
            while True:
                if events:
                    self._dispatch(events)
                n = recv_into(view)
                if not n:
                    raise errors.UnexpectedEOF(
                        f"nats: unexpected EOF: the server {self.server.hostport} closed the "
                        "connection")
                events = feed(view[:n].tobytes())
        except BaseException as exc:
            self._owner.conn_lost(self, exc)

    def _dispatch(self, events: List[Any]) -> None:
        """Hand each subscription its messages of one read in one go (in order), and
        handle the other events in stream order: messages before a PONG are queued
        before the flush it answers returns."""
        if len(events) == 1 and type(events[0]) is Msg:  # the usual read under light load
            self._deliver({events[0].sid: events})
            return
        groups: Dict[int, List[Msg]] = {}
        for ev in events:
            if type(ev) is Msg:
                g = groups.get(ev.sid)
                if g is None:
                    groups[ev.sid] = [ev]
                else:
                    g.append(ev)
                continue
            if groups:
                self._deliver(groups)
                groups = {}
            if type(ev) is Ping:
                self._answer_ping()
            elif type(ev) is Pong:
                self._on_pong()
            elif type(ev) is Info:
                self._owner.conn_info(self, ev.data)
            elif type(ev) is Err:
                self._owner.conn_err(self, ev.message)
            elif type(ev) is not Ok:  # pragma: no cover - the parser yields nothing else
                raise errors.ProtocolError(f"nats: protocol error: unexpected event {ev!r}")
        if groups:
            self._deliver(groups)

    def _deliver(self, groups: Dict[int, List[Msg]]) -> None:
        subs = self._subs
        for sid, msgs in groups.items():
            nbytes = sum(map(len, map(_data, msgs)))
            self.in_msgs += len(msgs)  # counted before the application can see them
            self.in_bytes += nbytes
            sub = subs.get(sid)
            if sub is not None and sub._put_batch(msgs, nbytes):
                self._owner.conn_sub_done(sub)

    def _flush_loop(self) -> None:
        """Flusher: take every queued frame, write them in one go; requeue what did not go."""
        ob = self._outbox
        take = ob.take
        gen = self.gen
        sock = self.sock
        wlock = self.wlock
        while True:
            data = take(gen)
            if data is None:
                return
            try:
                with wlock:
                    self.write_since = monotonic()
                    transport.send_all(sock, data)
                    self.write_since = 0.0
            except transport.PartialSend as ps:
                ob.requeue_front(unsent_frames(encode.split_frames(data), ps.sent))
                self._owner.conn_lost(self, ps.cause)
                return

    # -------------------------------------------------------------- writes
    def write(self, data: bytes) -> None:
        """Write ``data`` now under the write lock (the replay); raises PartialSend."""
        with self.wlock:
            self.write_since = monotonic()
            transport.send_all(self.sock, data)
            self.write_since = 0.0

    def write_direct(self, frame: bytes, payload_len: int, *, is_msg: bool,
                     gather: bool = False) -> bool:
        """Write ``frame`` on the calling thread if nothing else is queued or being written
        (a request or a reply: saves the hand-off to the flusher). False: queue it instead.

        Order holds: the frame is claimed under the outbox lock with the write lock
        taken before it is released, so anything published later queues behind it.

        Combining: while this thread writes, other threads queue their frames without
        waking the flusher, and this thread writes them too (in one write) before it
        lets go, within ``DIRECT_ROUNDS`` writes and ``DIRECT_BYTES``; then the flusher
        takes over.

        With ``gather`` (other threads are likely about to write too: other threads'
        requests are under way) a small frame waits for one yield of the GIL first,
        so that threads woken at the same moment (by one read holding several
        replies) queue theirs behind it, and all go out in this one write."""
        ob = self._outbox
        with ob.lock:
            if self.lost or not self.wlock.acquire(False):
                return False
            if not ob.claim_direct_locked(frame, payload_len, is_msg):
                self.wlock.release()
                return False
        data: Optional[Union[bytes, bytearray]] = frame
        single = True
        if gather and len(frame) < GATHER_MAX:
            if self._gather_paused:
                self._gather_paused -= 1
            else:
                try:
                    sleep(0)  # lets the threads that wait for the GIL run, up to their write
                except BaseException:  # Ctrl-C: nothing written yet; the flusher sends it
                    self.wlock.release()
                    ob.requeue_front([frame], direct=True, gen=self.gen, wake=True)
                    raise
                with ob.lock:
                    queued = ob.gather_locked(self.gen)
                if queued:
                    self._gather_misses = 0
                    data = frame + queued
                    single = False
                else:
                    self._gather_misses += 1
                    if self._gather_misses >= GATHER_MISSES:
                        self._gather_misses = 0
                        self._gather_paused = GATHER_PAUSE
        rounds = 0
        more_bytes = 0  # written for other threads
        gen = self.gen
        sock = self.sock
        while data is not None:
            try:
                self.write_since = monotonic()
                transport.send_all(sock, data)
                self.write_since = 0.0
            except transport.PartialSend as ps:
                self.wlock.release()
                frames = [frame] if single else encode.split_frames(data)
                ob.requeue_front(unsent_frames(frames, ps.sent), direct=True, gen=gen)
                self._owner.conn_lost(self, ps.cause)
                return True
            rounds += 1
            if not single:
                more_bytes += len(data)
            data = ob.take_direct(gen, rounds < DIRECT_ROUNDS and more_bytes < DIRECT_BYTES)
            single = False
        self.wlock.release()
        return True

    def _answer_ping(self) -> None:
        if not self._outbox.put_ctl(Ctl(encode.PONG)):
            # replaying: answer directly, between replay chunks
            try:
                self.write(encode.PONG)
            except transport.PartialSend:
                pass

    # -------------------------------------------------------- PING / PONG
    def ping_locked(self, waiter: Optional[Waiter]) -> None:
        """Queue a PING whose PONG resolves ``waiter`` (outbox lock held)."""
        self._pongs.append(waiter)
        self._outbox.put_ctl_locked(Ctl(encode.PING))

    def _on_pong(self) -> None:
        # each PONG answers exactly one PING, in order
        with self._outbox.lock:
            self._pings_out = 0
            if not self._pongs:
                return
            w = self._pongs.popleft()
        if w is not None and not w.cancelled:
            w.resolve()

    def keepalive_locked(self, interval: float, limit: int) -> str:
        """One pinger tick (outbox lock held): why the connection is stale, or ""
        after sending a keep-alive PING (none while the outbox is not connected)."""
        ws = self.write_since
        if ws and monotonic() - ws >= interval * limit:
            return f"a write made no progress for {monotonic() - ws:.1f}s"
        if self._outbox.mode != "connected":
            return ""
        if self._pings_out >= limit:
            return f"{limit} PINGs unanswered over {interval}s intervals"
        self._pings_out += 1
        self.ping_locked(None)
        return ""

    def take_waiters_locked(self) -> List[Waiter]:
        """The flushes still waiting for a PONG on this connection (outbox lock held)."""
        live = [w for w in self._pongs if w is not None and not w.cancelled]
        self._pongs.clear()
        self._pings_out = 0
        return live


def unsent_frames(batch: List[bytes], sent: int) -> List[bytes]:
    """The frames of ``batch`` not wholly within the first ``sent`` bytes."""
    done = 0
    for i, f in enumerate(batch):
        done += len(f)
        if done > sent:
            return batch[i:]
    return []
