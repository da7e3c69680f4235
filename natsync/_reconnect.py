"""Reconnection, one object with its own state: :class:`Reconnector`.

It runs the reconnect thread: passes over the server pool with the backoff
between them, the shared handshake (through its host), the resubscription of
every live subscription, and the replay of the reconnect buffer in publish
order. Its own state is the thread, whether a replay is being written, the
SUB/UNSUB made meanwhile (sent between the replay's chunks) and the flushes that
wait for a PONG across the outage.

It never edits the client's fields: the client implements :class:`ReconnectHost`
and drives it through :meth:`Reconnector.start_locked`,
:meth:`~Reconnector.add_waiter_locked`, :meth:`~Reconnector.ctl_locked`,
:meth:`~Reconnector.take_waiters_locked` and :meth:`~Reconnector.join`. Methods
ending in ``_locked`` are called with the outbox lock (the client's lock) held.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, List, Optional, Protocol, Sequence

from . import errors, transport
from .connection import Connection, Waiter, unsent_frames
from .handshake import Established
from .outbox import Outbox
from .protocol import encode
from .servers import Server, ServerPool

if TYPE_CHECKING:  # pragma: no cover
    from .backoff import Backoff
    from .options import Options
    from .subscription import Subscription

__all__ = ["ReconnectHost", "Reconnector"]


class ReconnectHost(Protocol):
    """What the reconnect loop asks of the client."""

    @property
    def closing(self) -> threading.Event:
        """Set once the client starts closing: every wait ends."""

    @property
    def last_error(self) -> Optional[BaseException]:
        """The client's latest error."""

    def establish(self, server: Server) -> Established:
        """Dial ``server`` and complete the handshake (raises a natsync error)."""

    def adopt_locked(self, est: Established, server: Server) -> Connection:
        """Make ``est`` the client's current connection."""

    def live_subs_locked(self) -> Sequence[Subscription]:
        """The subscriptions to send again on a new connection."""

    def reconnected_locked(self) -> None:
        """The replay is done: the client is connected again."""

    def reconnected(self) -> None:
        """After the switch: the status listeners and reconnected_cb."""

    def report_error(self, exc: BaseException) -> None:
        """An asynchronous error for error_cb (and last_error)."""

    def conn_lost(self, conn: Connection, exc: Optional[BaseException]) -> None:
        """``conn`` broke during the replay."""

    def give_up(self, exc: errors.Error) -> None:
        """Stop reconnecting: close the client with ``exc``."""


class Reconnector:
    """The reconnect loop of one client and its state."""

    def __init__(self, opts: Options, pool: ServerPool, outbox: Outbox, host: ReconnectHost,
                 name: str) -> None:
        self._opts = opts
        self._pool = pool
        self._outbox = outbox
        self._lock = outbox.lock
        self._host = host
        self._name = name
        self._thread: Optional[threading.Thread] = None
        self._replaying = False
        # SUB/UNSUB made while a replay is being written: sent between replay chunks
        self._replay_ctl: List[bytes] = []
        # flushes waiting for a PONG across the outage: re-PINGed after the replay
        self._waiters: List[Waiter] = []

    # ------------------------------------------------- driven by the client
    def start_locked(self, lost: Optional[Connection], waiters: List[Waiter]) -> None:
        """Start the reconnect thread after ``lost`` broke (None: the first connect
        failed); ``waiters`` are the flushes that were waiting on it."""
        self._waiters.extend(waiters)
        prev = self._thread
        t = threading.Thread(target=self._run, args=(lost, prev),
                             name=f"natsync-reconnect-{self._name}", daemon=True)
        self._thread = t
        t.start()

    def add_waiter_locked(self, w: Waiter) -> None:
        """A flush made while reconnecting: PINGed once the replay is done."""
        self._waiters.append(w)

    def ctl_locked(self, frame: bytes) -> None:
        """A SUB/UNSUB the outbox did not take (reconnecting): during a replay it goes
        out between the replay's chunks; otherwise the resubscription covers it."""
        if self._replaying:
            self._replay_ctl.append(frame)

    def take_waiters_locked(self) -> List[Waiter]:
        """On close: the flushes still waiting, to be failed."""
        w, self._waiters = self._waiters, []
        return w

    def join(self, timeout: float) -> None:
        t = self._thread
        if t is not None and t is not threading.current_thread() and t.ident is not None:
            t.join(timeout)

    # ------------------------------------------------------- the thread
    def _run(self, lost: Optional[Connection], prev: Optional[threading.Thread]) -> None:
        """The reconnect thread's body. Nothing escapes it silently: an unexpected
        exception is reported to error_cb and closes the client with it."""
        try:
            self._loop(lost, prev)
        except BaseException as exc:  # a natsync bug must not leave the client "reconnecting"
            if self._host.closing.is_set():
                return
            err = exc if isinstance(exc, errors.Error) else errors.Error(
                f"nats: the reconnect loop failed unexpectedly ({exc!r}); the client is closed. "
                "Please report this as a natsync bug.")
            self._host.report_error(err)
            self._host.give_up(err)

    def _loop(self, lost_conn: Optional[Connection], prev: Optional[threading.Thread]) -> None:
        opts = self._opts
        pool = self._pool
        closing = self._host.closing
        # the previous generation must be fully stopped before the replay starts, so
        # a failing old flusher requeues its frames ahead of the buffer, never after
        self._join(prev, 10.0)
        if lost_conn is not None:
            # Bytes the old socket handed to its kernel may still be unread by the
            # server, which reads each connection on its own: were the new connection
            # to publish first, they would reach subscribers after newer messages. A
            # half-closed connection (force_reconnect) ends when the server has read
            # all of it, so wait for its reader (bounded), then close it for good.
            self._join(lost_conn.reader, max(opts.connect_timeout, 2.0))
            lost_conn.shutdown()
            for t in lost_conn.threads():
                self._join(t, 10.0)
        lost = lost_conn.server if lost_conn is not None else None
        backoff = opts.backoff()
        rounds = 0
        while not closing.is_set():
            with self._lock:
                servers = pool.round_iter(opts.max_reconnect_attempts)
            if lost is not None and lost in servers:
                servers = [s for s in servers if s is not lost] + [lost]
            if not servers:
                break
            for server in servers:
                if closing.is_set():
                    return
                if self._attempt(server):
                    return
            lost = None
            rounds += 1
            tls = any(s.tls for s in servers) or bool(opts.tls)
            if closing.wait(self._delay(backoff, rounds, tls)):
                return
        if not closing.is_set():
            self._host.give_up(errors.NoServersError(
                "nats: no servers available for connection: reconnect attempts exhausted "
                f"(max_reconnect_attempts={opts.max_reconnect_attempts}); last error: "
                f"{self._host.last_error!r}. Raise max_reconnect_attempts (-1: forever) to "
                "keep trying longer."))

    def _join(self, t: Optional[threading.Thread], timeout: float) -> None:
        if t is not None and t is not threading.current_thread() and t.ident is not None:
            t.join(timeout)

    def _attempt(self, server: Server) -> bool:
        """One attempt on ``server``: True when done (reconnected, or closing)."""
        server.last_attempt = time.monotonic()
        try:
            est = self._host.establish(server)
        except Exception as exc:
            if not isinstance(exc, errors.Error):  # a natsync bug: report, go on
                exc = errors.Error(f"nats: reconnect attempt to {server.hostport} failed "
                                   f"unexpectedly: {exc!r}")
            server.reconnects += 1
            server.last_error = exc
            if self._host.closing.is_set():
                return True  # close() aborted this attempt: not a failure to report
            # every failed attempt reaches error_cb and last_error (as nats-py)
            self._host.report_error(errors.attempt_cause(exc))
            if isinstance(exc, (errors.AuthorizationError, errors.InvalidUserCredentialsError)):
                with self._lock:
                    self._pool.record_auth_failure(server)
            return False
        return self._replay(est, server)

    def _delay(self, backoff: Backoff, rounds: int, tls: bool) -> float:
        """The wait before the next pass; a reconnect_delay_cb that raises (or returns no
        number) is reported and the plain wait is used, so the loop goes on."""
        try:
            return backoff.delay(rounds, tls)
        except Exception as exc:
            self._host.report_error(errors.Error(
                f"nats: reconnect_delay_cb raised {exc!r} for attempt {rounds}; waiting "
                f"reconnect_time_wait ({backoff.time_wait}s) instead. Fix the callback: it "
                "must return a number of seconds."))
            return backoff.time_wait

    def _replay(self, est: Established, server: Server) -> bool:
        """Resubscribe and replay the buffer on a fresh connection.

        Returns True when done (connected, or the client is closing), False when
        this connection broke and the loop must go on.
        """
        host = self._host
        ob = self._outbox
        with self._lock:
            if host.closing.is_set():
                transport.hard_shutdown(est.sock)
                return True
            conn = host.adopt_locked(est, server)
            subs = list(host.live_subs_locked())
            self._replaying = True  # later SUB/UNSUB go out between the chunks
            self._replay_ctl = []
            conn.start(flusher=False)
        frames: List[bytes] = []
        for s in subs:
            frames.append(encode.encode_sub(s.subject, s.sid, s.queue))
            if s.max_msgs:
                frames.append(encode.encode_unsub(s.sid, max(s.max_msgs - s.received, 1)))
        try:
            if frames:
                conn.write(b"".join(frames))
            while True:
                with self._lock:
                    if host.closing.is_set():
                        return True
                    if conn.lost:
                        return False
                    ctl = self._replay_ctl
                    self._replay_ctl = []
                    batch = ob.take_replay_locked()
                    if not batch and not ctl:
                        self._finish_locked(conn)
                        break
                # SUB/UNSUB first, then the chunk, in one write: a failure requeues every
                # message of the chunk not wholly written (the SUBs are re-sent anyway)
                head = b"".join(ctl)
                try:
                    conn.write(head + b"".join(batch))
                except transport.PartialSend as ps:
                    ob.requeue_front(unsent_frames(batch, max(ps.sent - len(head), 0)))
                    host.conn_lost(conn, ps.cause)
                    return False
        except transport.PartialSend as ps:
            host.conn_lost(conn, ps.cause)
            return False
        host.reconnected()
        return True

    def _finish_locked(self, conn: Connection) -> None:
        """The buffer is empty: switch to connected, re-PING pending flushes, start the flusher."""
        self._outbox.to_connected_locked(conn.gen)
        self._host.reconnected_locked()
        for w in self._waiters:
            if not w.cancelled:
                conn.ping_locked(w)
        self._waiters = []
        self._replaying = False
        conn.start(flusher=True)
