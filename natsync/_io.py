"""The per-connection I/O threads (reader, flusher) and the client's pinger.

Each function runs on its own thread, bound to one connection generation; it
ends when that connection is lost or the client closes.
"""

from __future__ import annotations

from operator import attrgetter
from time import monotonic
from typing import TYPE_CHECKING, Any, Dict, List

from . import errors, transport
from .msg import Msg
from .outbox import Ctl
from .protocol import encode
from .protocol.parser import Err, Info, Ok, Ping, Pong

_data = attrgetter("data")

if TYPE_CHECKING:  # pragma: no cover
    from ._state import _Conn
    from .client import Client


def read_loop(client: Client, conn: _Conn) -> None:
    """Reader: socket bytes -> parser events -> subscriptions and state."""
    sock = conn.sock
    feed = conn.parser.feed
    recv_into = sock.recv_into
    # one preallocated buffer: a large recv() would allocate (and mmap) per call
    view = memoryview(bytearray(transport.RECV_SIZE))
    try:
        events: List[Any] = conn.leftover
        conn.leftover = []
        while True:
            if events:
                dispatch(client, conn, events)
            n = recv_into(view)
            if not n:
                raise errors.UnexpectedEOF(
                    f"nats: unexpected EOF: the server {conn.server.hostport} closed the connection")
            events = feed(view[:n].tobytes())
    except BaseException as exc:
        client._on_lost(conn, exc)


def dispatch(client: Client, conn: _Conn, events: List[Any]) -> None:
    """Hand each subscription its messages of one read in one go (in order), and
    handle the other events in stream order: messages before a PONG are queued
    before the flush it answers returns."""
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
            _deliver(client, groups)
            groups = {}
        if type(ev) is Ping:
            client._on_ping(conn)
        elif type(ev) is Pong:
            client._on_pong()
        elif type(ev) is Info:
            client._on_info(conn, ev.data)
        elif type(ev) is Err:
            client._on_err(conn, ev.message)
        elif type(ev) is not Ok:  # pragma: no cover - the parser yields nothing else
            raise errors.ProtocolError(f"nats: protocol error: unexpected event {ev!r}")
    if groups:
        _deliver(client, groups)


def _deliver(client: Client, groups: Dict[int, List[Msg]]) -> None:
    subs = client._subs
    sized = [(sid, msgs, sum(map(len, map(_data, msgs)))) for sid, msgs in groups.items()]
    client._in_msgs += sum(len(msgs) for msgs in groups.values())
    client._in_bytes += sum(nb for _sid, _msgs, nb in sized)
    for sid, msgs, nbytes in sized:
        sub = subs.get(sid)
        if sub is not None and sub._put_batch(msgs, nbytes):
            client._auto_unsub_done(sub)


def flush_loop(client: Client, conn: _Conn) -> None:
    """Flusher: take every queued frame, write them in one go; requeue what did not go."""
    ob = client._outbox
    take = ob.take
    gen = conn.gen
    sock = conn.sock
    wlock = conn.wlock
    while True:
        data = take(gen)
        if data is None:
            return
        try:
            with wlock:
                conn.write_since = monotonic()
                transport.send_all(sock, data)
                conn.write_since = 0.0
        except transport.PartialSend as ps:
            ob.requeue_front(unsent_frames(encode.split_frames(data), ps.sent))
            client._on_lost(conn, ps.cause)
            return


def unsent_frames(batch: List[bytes], sent: int) -> List[bytes]:
    """The frames of ``batch`` not wholly within the first ``sent`` bytes."""
    done = 0
    for i, f in enumerate(batch):
        done += len(f)
        if done > sent:
            return batch[i:]
    return []


def ping_loop(client: Client) -> None:
    """Pinger: a PING every ping_interval; too many unanswered, or a write blocked for as
    long, means a stale connection (also while a replay is being written)."""
    opts = client._opts
    assert opts is not None
    interval = opts.ping_interval
    limit = opts.max_outstanding_pings
    while not client._closing.wait(interval):
        why = ""
        with client._lock:
            conn = client._conn
            if conn is None or conn.lost:
                continue
            ws = conn.write_since
            if ws and monotonic() - ws >= interval * limit:
                why = f"a write made no progress for {monotonic() - ws:.1f}s"
            elif client._outbox.mode != "connected":
                continue
            elif client._pings_out >= limit:
                why = f"{limit} PINGs unanswered over {interval}s intervals"
            else:
                client._pings_out += 1
                client._pongs.append(None)
                client._outbox.put_ctl_locked(Ctl(encode.PING))
        if why:
            client._on_lost(conn, errors.StaleConnectionError(
                f"nats: stale connection to {conn.server.hostport}: {why}; reconnecting"))
