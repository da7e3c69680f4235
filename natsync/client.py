"""The Client facade: connect, publish, subscribe, request, flush, drain, close.

Who owns what:

* ``Client`` (this module) - the state machine (``_state.State``), the options, the
  server pool, the subscription table, and the handlers its parts report to;
  ``_status.ClientStatus`` holds its read-only properties and
  ``_shutdown.ClientShutdown`` its ``drain()`` and ``close()`` (mixins: the
  client's own behaviour, in files of their own).
* ``connection.Connection`` - one socket generation: socket, parser, reader and
  flusher threads, write lock, PONG waiters. It reports up through
  ``ConnectionOwner``, implemented by ``_Hooks`` below.
* ``_reconnect.Reconnector`` - the reconnect thread and its state (pool passes,
  backoff, resubscription, replay, flushes waiting across the outage); it asks
  the client through ``ReconnectHost`` (``_Hooks`` again).
* ``outbox.Outbox`` - the outbound queue that becomes the reconnect buffer.
* ``subscription.Subscription`` and ``msg.Msg`` - reach the client only through
  ``SubscriptionHost``/``MsgHost`` (``_Hooks``).

Threads (all named ``natsync-...``, all joined by :meth:`Client.close`):

* reader   - one per connection: socket -> parser -> subscriptions / state
* flusher  - one per connection: outbox -> socket, coalescing writes
* pinger   - one per client: keep-alive PINGs and stale-connection detection
* reconnect- while reconnecting: server pool, backoff, handshake, resubscribe, replay
* events   - one per client: user connection callbacks, in order
* sub-workerN - the callback pool: elastic, bounded, idle workers retire (_dispatch.py)
* sub-N    - one per callback subscription made with ``dedicated_thread=True``

Lock order (every module follows it):

1. ``Client._close_lock`` - only around setting ``_closing``; nothing nests in it.
2. ``Client._lock``, which *is* the outbox lock (``Outbox.lock``): the client's
   state, the subscription table, the outbox, a connection's PONG waiters and the
   reconnector's state.
3. A subscription's lock (``Subscription._lock``), taken under 2 or alone.
4. A connection's write lock (``Connection.wlock``): only *tried* under 2
   (``write_direct``), never waited for under 2; otherwise held around socket
   writes, and a direct writer takes 2 briefly between its writes (to collect
   what others queued meanwhile), which is safe as nobody waits for 4 under 2.
5. Leaves, never held while taking another lock: the events queue
   (``CallbackThread``), a ``Waiter``'s lock.

No I/O (except the write under 4) and no user code runs under any of them.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

from . import errors, transport
from ._callbacks import CallbackThread
from ._dispatch import CallbackPool
from ._framing import frame_message, too_big
from ._jsentry import JetStreamEntry
from ._reconnect import Reconnector
from ._request import _connect_failure, _RespMux
from ._shutdown import ClientShutdown
from ._state import State, check_transition
from ._status import ClientStatus
from ._version import __version__
from .connection import Connection, Waiter
from .handshake import Established
from .msg import Headers, Msg
from .nuid import NUID
from .options import Options, build_options
from .outbox import CONNECTED, Ctl, Outbox
from .protocol import encode
from .protocol.parser import Parser
from .protocol.subjects import validate_queue, validate_sub_subject, validate_subject
from .servers import Server, ServerPool
from .subscription import (
    DEFAULT_SUB_PENDING_BYTES_LIMIT,
    DEFAULT_SUB_PENDING_MSGS_LIMIT,
    MsgHandler,
    Subscription,
)

log = logging.getLogger("natsync")

_PUB_CACHE_MAX = 4096
#: Frames this big skip the outbox when the connection is idle (see _publish_full).
DIRECT_WRITE_MIN = 64 * 1024
_ids = itertools.count(1)


class Client(ClientStatus, ClientShutdown, JetStreamEntry):
    """A synchronous NATS client. Create with :func:`natsync.connect` or
    ``Client()`` then :meth:`connect`. All methods are thread-safe."""

    def __init__(self) -> None:
        self._id = next(_ids)
        # kept across a connect() after close(), like the object itself
        self._status_listeners: List[Callable[[State], None]] = []
        self._init_state()

    def _init_state(self) -> None:
        """Every field of a client that never connected (also a fresh start after close)."""
        self._opts: Optional[Options] = None
        self._state = State.NEW
        self._outbox = Outbox(pending_size=2 * 1024 * 1024, buf_size=None, buf_msgs=None,
                              overflow="error", flush_timeout=None)
        self._lock = self._outbox.lock
        self._conn: Optional[Connection] = None
        self._hooks = _Hooks(self)
        self._gen = 0
        self._pool: Optional[ServerPool] = None
        self._subs: Dict[int, Subscription] = {}
        self._all_subs: List[Subscription] = []  # those with a dedicated thread, for close
        self._dispatcher = CallbackPool(self._id)
        self._sid = 0
        self._pub_cache: Dict[str, bytes] = {}
        self._max_payload = 1024 * 1024
        self._info: Dict[str, Any] = {}
        self._last_error: Optional[BaseException] = None
        self._in_msgs = 0  # received on earlier connections (each counts its own)
        self._in_bytes = 0
        self._reconnects = 0
        self._errors_received = 0
        self._unsent: List[Msg] = []
        self._unsent_frames: List[bytes] = []
        self._closing = threading.Event()  # set when close starts: wakes every wait
        self._closed_done = threading.Event()
        self._close_lock = threading.Lock()
        self._draining_pubs = False
        self._reconnector: Optional[Reconnector] = None
        self._pinger: Optional[threading.Thread] = None
        self._events: Optional[CallbackThread] = None
        self._mux: Optional[_RespMux] = None
        self._req_ids = itertools.count(1)
        self._nuid = NUID()
        self._connected_server: Optional[Server] = None
        self._dialing: Optional[transport.Stream] = None
        self._aux_threads: List[threading.Thread] = []

    # ================================================================ connect
    def connect(self, servers: Union[str, List[str], None] = None, **options: Any) -> None:
        """Connect with the options of the README's option table. Raises a
        :mod:`natsync.errors` exception on failure and leaves no thread behind
        (unless ``retry_on_failed_connect``, which keeps trying in the background)."""
        if self._state is State.CLOSED:
            # as nats-py: a closed client may connect again, afresh
            if not self._closed_done.wait(30.0):
                raise errors.Error("nats: the previous close() of this client has not finished; "
                                   "wait for it before connecting again")
            self._init_state()
        elif self._state is not State.NEW or self._opts is not None:
            raise errors.Error("nats: this Client is already connected (or connecting); "
                               "close() it before connecting again, or create a new Client")
        opts = build_options(servers, **options)
        self._opts = opts
        ob = self._outbox
        ob.pending_size = opts.pending_size
        ob.buf_size_limit = opts.reconnect_buf_size
        ob.buf_msgs_limit = opts.reconnect_buf_msgs
        ob.overflow = opts.reconnect_buf_overflow
        ob.flush_timeout = opts.flush_timeout
        ob.on_drop = self._report_async
        self._pool = ServerPool(list(opts.servers), randomize=not opts.dont_randomize)
        self._reconnector = Reconnector(opts, self._pool, self._outbox, self._hooks, str(self._id))
        self._events = CallbackThread(self._callback_failed, f"natsync-events-{self._id}")
        self._events.start()
        try:
            failures = self._first_pass()
        except BaseException as exc:  # a natsync bug: still leave no thread behind
            self._fail_connect()
            if isinstance(exc, errors.Error):
                raise
            raise errors.Error(f"nats: connect failed unexpectedly: {exc!r}") from exc
        if failures is None:
            return
        failure = _connect_failure(failures)
        if opts.retry_on_failed_connect:
            # connect() does not raise these, so error_cb hears of each (as later attempts)
            for _server, failed in failures:
                self._report_async(errors.attempt_cause(failed))
            with self._lock:
                self._state = check_transition(self._state, State.RECONNECTING)
                self._outbox.to_buffering_locked()
                self._start_pinger()
                self._reconnector.start_locked(None, [])
            return
        self._fail_connect()
        raise failure

    def _first_pass(self) -> Optional[List[tuple[Server, errors.Error]]]:
        """Try each server once: None when connected, else each server's failure."""
        assert self._pool is not None
        failures: List[tuple[Server, errors.Error]] = []
        for server in self._pool.first_pass():
            try:
                est = self._establish(server)
            except errors.Error as exc:
                server.reconnects += 1
                server.last_error = exc
                failures.append((server, exc))
                if isinstance(exc, errors.AuthorizationError):
                    self._pool.record_auth_failure(server)
                continue
            self._start_connected(est, server)
            return None
        return failures

    def _fail_connect(self) -> None:
        """connect() failed: close without a trace (no callbacks, no thread left)."""
        with self._lock:
            self._state = check_transition(self._state, State.CLOSED)
            self._outbox.close_locked("the connection failed")
        self._closing.set()
        assert self._events is not None
        self._events.stop(1.0)
        self._closed_done.set()

    def _establish(self, server: Server) -> Established:
        from .handshake import establish

        assert self._opts is not None
        try:
            return establish(server, self._opts, __version__, self._make_parser, self._register_dial)
        finally:
            self._dialing = None

    def _register_dial(self, sock: transport.Sock) -> None:
        """The socket being dialled, so close() can abort a slow connect at once."""
        self._dialing = sock
        if self._closing.is_set():
            transport.hard_shutdown(sock)

    def _make_parser(self) -> Parser:
        hooks = self._hooks

        def msg_factory(subject: str, sid: int, reply: str, payload: bytes,
                        header: Optional[bytes]) -> Msg:
            return Msg(subject, sid, reply, payload, header, hooks)

        return Parser(msg_factory=msg_factory)

    def _adopt_locked(self, est: Established, server: Server) -> Connection:
        """Make ``est`` the current connection (lock held); returns it."""
        assert self._pool is not None and self._opts is not None
        old = self._conn
        if old is not None:
            self._in_msgs += old.in_msgs
            self._in_bytes += old.in_bytes
        self._gen += 1
        conn = Connection(est, server, self._gen, self._outbox, self._hooks, self._subs,
                          str(self._id))
        self._conn = conn
        self._connected_server = server
        self._pool.record_success(server)
        self._apply_info_locked(est.info)
        return conn

    def _start_connected(self, est: Established, server: Server) -> None:
        with self._lock:
            conn = self._adopt_locked(est, server)
            self._state = check_transition(self._state, State.CONNECTED)
            self._outbox.to_connected_locked(conn.gen)
            conn.start(flusher=True)
            self._start_pinger()

    def _start_pinger(self) -> None:
        if self._pinger is None:
            self._pinger = threading.Thread(target=self._ping_loop,
                                            name=f"natsync-pinger-{self._id}", daemon=True)
            self._pinger.start()

    def _ping_loop(self) -> None:
        """Pinger: a PING every ping_interval; too many unanswered, or a write blocked for
        as long, means a stale connection (also while a replay is being written)."""
        assert self._opts is not None
        interval = self._opts.ping_interval
        limit = self._opts.max_outstanding_pings
        while not self._closing.wait(interval):
            with self._lock:
                conn = self._conn
                if conn is None or conn.lost:
                    continue
                why = conn.keepalive_locked(interval, limit)
            if why:
                self._on_lost(conn, errors.StaleConnectionError(
                    f"nats: stale connection to {conn.server.hostport}: {why}; reconnecting"))

    def _apply_info_locked(self, info: Dict[str, Any]) -> List[Server]:
        """Take a server INFO: max_payload, and the cluster's connect_urls into the pool
        (returns the servers that are new, for discovered_server_cb)."""
        assert self._pool is not None and self._opts is not None
        self._info = info
        mp = info.get("max_payload")
        if isinstance(mp, int) and mp > 0:
            self._max_payload = mp
        urls = info.get("connect_urls") or []
        added: List[Server] = []
        if urls:
            tls = bool(self._connected_server and self._connected_server.tls) or bool(
                info.get("tls_required"))
            srv = self._connected_server
            added = self._pool.add_discovered(  # a WebSocket connection learns WebSocket URLs
                urls, tls=tls, randomize=not self._opts.dont_randomize,
                scheme=srv.uri.scheme if srv is not None and srv.websocket else None)
        return added

    # =========================================================== publishing
    def publish(self, subject: str, payload: bytes = b"", reply: str = "",
                headers: Optional[Headers] = None) -> None:
        """Publish ``payload`` to ``subject``. While reconnecting the message is buffered
        (see the reconnect buffer rules); raises rather than lose an accepted message."""
        if headers is None and type(payload) is bytes and not self._draining_pubs:
            # the fast path: the subject's "PUB <subject> " is cached once validated
            prefix = self._pub_cache.get(subject)
            if prefix is None:
                prefix = self._pub_prefix(subject)
            n = len(payload)
            if n > self._max_payload:
                raise self._too_big(subject, n)
            if n >= DIRECT_WRITE_MIN:
                self._publish_full(subject, payload, reply, headers)
                return
            if reply:
                validate_subject(reply)
                frame = b"%s%s %d\r\n%s\r\n" % (prefix, reply.encode(), n, payload)
            else:
                frame = b"%s%d\r\n%s\r\n" % (prefix, n, payload)
            self._outbox.put(frame, n)
            return
        self._publish_full(subject, payload, reply, headers)

    def _pub_prefix(self, subject: str) -> bytes:
        validate_subject(subject)
        prefix = b"PUB " + subject.encode() + b" "
        if subject.startswith("_INBOX."):
            return prefix  # a reply subject: used once, it would only crowd the cache out
        cache = self._pub_cache
        if len(cache) >= _PUB_CACHE_MAX:
            cache.clear()
        cache[subject] = prefix
        return prefix

    def _too_big(self, subject: str, n: int) -> errors.Error:
        return too_big(subject, n, self._max_payload)

    def _encode(self, subject: str, payload: bytes, reply: str,
                headers: Optional[Headers]) -> tuple[bytes, int]:
        """Validate and encode one message: (frame, payload length). Raises before anything is sent."""
        if self._draining_pubs and self._state is not State.CLOSED:
            raise errors.ConnectionDrainingError(
                "nats: connection draining: no new publishes are accepted")
        return frame_message(subject, payload, reply, headers, self._max_payload)

    def _publish_full(self, subject: str, payload: bytes, reply: str,
                      headers: Optional[Headers], now: bool = False) -> None:
        """Validate, encode and send or queue one message. With ``now`` (a request or
        a reply: a peer waits) and for a large frame, this thread writes it when the
        connection is idle: no hand-off to the flusher (and two copies less)."""
        frame, n = self._encode(subject, payload, reply, headers)
        if now or len(frame) >= DIRECT_WRITE_MIN:
            self._send_now(frame, n)
        else:
            self._outbox.put(frame, n)

    def _send_plain(self, subject: str, prefix: bytes, reply: bytes, payload: bytes,
                    gather: bool = False, queue: bool = False) -> None:
        """publish's fast path for a message a peer waits for (a request or a reply):
        ``prefix`` is the validated ``PUB <subject> ``, ``reply`` a valid reply subject or
        empty; sent with :meth:`_send_now`."""
        n = len(payload)
        if n > self._max_payload:
            raise self._too_big(subject, n)
        frame = (b"%s%s %d\r\n%s\r\n" % (prefix, reply, n, payload) if reply
                 else b"%s%d\r\n%s\r\n" % (prefix, n, payload))
        self._send_now(frame, n, gather, queue)

    def _send_now(self, frame: bytes, n: int, gather: bool = False, queue: bool = False) -> None:
        """Send a message frame (``n`` payload bytes) that a peer waits for: written by this
        thread when the connection is idle, else queued (``gather``: see ``write_direct``;
        ``queue``: more follow from this thread, so a small frame is queued for the flusher)."""
        conn = None if queue and n < DIRECT_WRITE_MIN else self._conn
        if conn is None or not conn.write_direct(frame, n, is_msg=True, gather=gather):
            self._outbox.put(frame, n)

    # ========================================================== subscribing
    def subscribe(
        self,
        subject: str,
        queue: str = "",
        cb: Optional[MsgHandler] = None,
        max_msgs: int = 0,
        pending_msgs_limit: int = DEFAULT_SUB_PENDING_MSGS_LIMIT,
        pending_bytes_limit: int = DEFAULT_SUB_PENDING_BYTES_LIMIT,
        dedicated_thread: bool = False,
    ) -> Subscription:
        """Subscribe to ``subject`` (wildcards allowed), optionally in a queue group.

        With ``cb`` each message is passed to it, in order, on the client's callback
        pool, or with ``dedicated_thread=True`` (for callbacks that block for long) on
        a thread of the subscription's own; without ``cb``, take messages with
        ``next_msg()`` or by iterating."""
        validate_sub_subject(subject)
        if queue:
            validate_queue(queue)
        if cb is not None and not callable(cb):
            raise errors.BadSubscriptionError("nats: invalid subscription: cb must be a "
                "callable taking a Msg")
        if max_msgs < 0:
            raise errors.BadSubscriptionError("nats: invalid subscription: max_msgs must be 0 "
                "(no limit) or positive")
        with self._lock:
            self._check_usable_locked("subscribe")
            self._sid += 1
            sub = Subscription(self._hooks, self._sid, subject, queue, cb, max_msgs,
                               pending_msgs_limit, pending_bytes_limit,
                               pool=None if dedicated_thread else self._dispatcher)
            self._subs[sub.sid] = sub
            if sub.dedicated_thread:
                self._all_subs = [s for s in self._all_subs if not s.is_closed]
                self._all_subs.append(sub)
            self._send_ctl_locked(Ctl(encode.encode_sub(subject, sub.sid, queue)))
            if max_msgs:
                self._send_ctl_locked(Ctl(encode.encode_unsub(sub.sid, max_msgs)))
        sub._start()
        return sub

    def _send_ctl_locked(self, frame: Ctl) -> None:
        """Send SUB/UNSUB in order with messages; while reconnecting it is state only,
        except during a replay, where it goes out between the replay's chunks."""
        if not self._outbox.put_ctl_locked(frame) and self._reconnector is not None:
            self._reconnector.ctl_locked(frame)

    def _check_usable_locked(self, what: str) -> None:
        st = self._state
        if st is State.CLOSED:
            raise errors.ConnectionClosedError(f"nats: connection closed: cannot {what}")
        if st is State.NEW:
            raise errors.ConnectionClosedError(f"nats: connection closed: not connected; call "
                f"connect() before {what}")
        if st is State.DRAINING_SUBS or st is State.DRAINING_PUBS:
            raise errors.ConnectionDrainingError(f"nats: connection draining: cannot {what}")

    def _unsubscribe(self, sub: Subscription, limit: int) -> None:
        with self._lock:
            if self._state is State.CLOSED:
                raise errors.ConnectionClosedError("nats: connection closed: cannot unsubscribe")
            if self._subs.get(sub.sid) is not sub:
                if sub.max_msgs and sub.received >= sub.max_msgs:
                    return  # it already ended by its auto-unsubscribe limit (as nats-py)
                raise errors.BadSubscriptionError(
                    f"nats: invalid subscription: {sub.subject!r} is not active "
                    "(already unsubscribed or drained)")
            if limit > 0 and sub.received < limit:
                sub._max = limit
                self._send_ctl_locked(Ctl(encode.encode_unsub(sub.sid, limit)))
                return
            del self._subs[sub.sid]
            self._send_ctl_locked(Ctl(encode.encode_unsub(sub.sid)))
        # a limit already reached keeps the messages that arrived within it (as nats-py)
        sub._close(discard=limit <= 0)

    def _auto_unsub_done(self, sub: Subscription) -> None:
        """Reader: a subscription reached its max_msgs; the server dropped it too."""
        with self._lock:
            if self._subs.get(sub.sid) is sub:
                del self._subs[sub.sid]

    # ============================================================= request
    def new_inbox(self) -> str:
        """A unique inbox subject under ``inbox_prefix``."""
        prefix = self._opts.inbox_prefix if self._opts else "_INBOX"
        return f"{prefix}.{self._nuid.next()}"

    def _resp_mux(self) -> _RespMux:
        with self._lock:
            mux = self._mux
            if mux is not None:
                return mux
            self._check_usable_locked("request")
            self._sid += 1
            mux = _RespMux(self._hooks, self._sid, self.new_inbox() + ".")
            self._subs[mux.sid] = mux
            self._send_ctl_locked(Ctl(encode.encode_sub(mux.subject, mux.sid)))
            self._mux = mux
            return mux

    def request(self, subject: str, payload: bytes = b"", timeout: float = 0.5,
                headers: Optional[Headers] = None) -> Msg:
        """Publish a request and wait for the first response.

        Raises :class:`NoRespondersError` when nobody listens on ``subject`` and
        :class:`TimeoutError` when no response arrives within ``timeout``."""
        if timeout is None or timeout <= 0:
            raise errors.BadTimeoutError("nats: timeout invalid: the request timeout must be a "
                "positive number of seconds")
        mux = self._mux or self._resp_mux()
        token = str(next(self._req_ids))
        w = Waiter()
        mux.waiters[token] = w
        active = mux.active
        active.add(token)
        try:
            try:
                if headers is None and type(payload) is bytes and not self._draining_pubs:
                    # publish's fast path; the reply subject is our own inbox, valid by
                    # making. Other threads' requests under way: gather their writes.
                    prefix = self._pub_cache.get(subject) or self._pub_prefix(subject)
                    self._send_plain(subject, prefix, mux.bprefix + token.encode(), payload,
                                     len(active) > 1)
                else:
                    self._publish_full(subject, payload, mux.prefix + token, headers, now=True)
            except BaseException:
                mux.waiters.pop(token, None)
                raise
            if not w.wait(timeout):
                mux.waiters.pop(token, None)
                raise errors.TimeoutError(f"nats: timeout: request to {subject!r} timed out "
                                          f"after {timeout}s without a response")
        finally:
            active.discard(token)
        if w.error is not None:
            raise w.error
        msg = w.msg
        assert msg is not None
        if msg._hdr is not None and msg.status == 503:
            raise errors.NoRespondersError(
                f"nats: no responders available for request on {subject!r}: nobody is "
                "subscribed to it; start a responder or check the subject")
        return msg

    def request_many(self, subject: str, payload: bytes = b"", timeout: float = 1.0,
                     max_msgs: Optional[int] = None, stall: Optional[float] = None,
                     headers: Optional[Headers] = None) -> Iterator[Msg]:
        """Send one request and yield every reply until ``timeout`` seconds pass,
        ``max_msgs`` replies came, or (after the first) none came for ``stall`` seconds.
        Sent when iteration starts; raises NoRespondersError when nobody listens."""
        from ._request_many import request_many  # built on the public API: loaded on use

        return request_many(self, subject, payload, timeout, max_msgs, stall, headers)

    # =============================================================== flush
    def flush(self, timeout: float = 10.0) -> None:
        """Round trip PING/PONG: every earlier publish reached the server.

        While reconnecting it waits for the reconnect, the replay and a PONG."""
        if timeout is None or timeout <= 0:
            raise errors.BadTimeoutError("nats: timeout invalid: the flush timeout must be a "
                "positive number of seconds")
        w = Waiter()
        with self._lock:
            if self._state is State.CLOSED:
                raise errors.ConnectionClosedError("nats: connection closed: cannot flush")
            if self._state is State.NEW:
                raise errors.ConnectionClosedError("nats: connection closed: not connected; "
                    "call connect() first")
            if self._outbox.mode is CONNECTED and self._conn is not None:
                self._conn.ping_locked(w)
            else:
                assert self._reconnector is not None
                self._reconnector.add_waiter_locked(w)
        if not w.wait(timeout):
            w.cancelled = True
            raise errors.TimeoutError(
                f"nats: timeout: flush timed out after {timeout}s"
                + ("" if self.is_connected else " while reconnecting: the server is unreachable"))
        if w.error is not None:
            raise w.error

    def rtt(self, timeout: float = 10.0) -> float:
        """Seconds for a PING/PONG round trip to the server."""
        t0 = time.perf_counter()
        self.flush(timeout)
        return time.perf_counter() - t0

    # ================================================= reader-side handlers
    def _on_info(self, conn: Connection, info: Dict[str, Any]) -> None:
        assert self._opts is not None
        with self._lock:
            if conn is not self._conn:
                return
            added = self._apply_info_locked(info)
        ev = self._events
        assert ev is not None
        if added:
            ev.submit(self._opts.discovered_server_cb)
        if info.get("ldm"):
            # stay: the server closes its clients one by one over its grace period, and
            # each then reconnects elsewhere; leaving at once would stampede the others
            ev.submit(self._opts.lame_duck_mode_cb)

    def _on_err(self, conn: Connection, text: str) -> None:
        exc = errors.from_server_err(text, conn.server.hostport)
        self._errors_received += 1
        self._last_error = exc
        self._report_async(exc)
        if errors.is_fatal_server_err(exc):
            # the server closes the connection after this; reconnect at once
            self._on_lost(conn, exc, report=False)

    # ====================================================== losing a connection
    def _on_lost(self, conn: Connection, exc: Optional[BaseException], *, report: bool = True,
                 graceful: bool = False) -> None:
        """A connection broke (reader EOF/error, failed write, stale, forced).

        Unless the client is closing (then it is the client's own doing), the cause
        becomes ``last_error`` and, with ``report``, goes to error_cb (as nats-py).
        ``graceful`` (a forced reconnect, the server is still there): only the sending
        side is closed, so the server reads what this connection sent before the new
        connection sends anything (the reconnect thread waits for that, bounded)."""
        assert self._opts is not None
        fire_disconnected = False
        close_now = False
        with self._lock:
            if conn is not self._conn or conn.lost:
                return
            conn.lost = True
            if exc is not None and not isinstance(exc, (errors.Error, OSError)):
                exc = errors.UnexpectedEOF(
                    f"nats: unexpected EOF: connection to {conn.server.hostport} lost: {exc!r}")
            closing = self._state is State.CLOSED or self._closing.is_set()
            if exc is not None and not closing:
                self._last_error = exc
        # shut the socket before the queued frames become the reconnect buffer, so a
        # write in flight stops now rather than hand the old connection ever more
        if graceful:
            conn.half_close()
        else:
            conn.shutdown()
        with self._lock:
            if closing or self._state is State.CLOSED or self._closing.is_set():
                pass
            elif not self._opts.allow_reconnect:
                close_now = True  # the close fires disconnected_cb then closed_cb
                self._outbox.to_buffering_locked()  # the close collects what is queued
            elif self._state in (State.CONNECTED, State.DRAINING_SUBS, State.DRAINING_PUBS):
                fire_disconnected = True
                self._state = check_transition(self._state, State.RECONNECTING)
                self._outbox.to_buffering_locked()
                assert self._reconnector is not None
                self._reconnector.start_locked(conn, conn.take_waiters_locked())
            # else: already reconnecting (lost during replay): the reconnect thread goes on
        if report and exc is not None and not closing:
            self._report_async(exc)
        if fire_disconnected:
            assert self._events is not None
            self._emit_status(State.RECONNECTING)
            self._events.submit(self._opts.disconnected_cb)
        if close_now:
            threading.Thread(target=self._close, args=("the connection was lost and "
                                                       "allow_reconnect is False",),
                             name=f"natsync-closer-{self._id}", daemon=True).start()

    def _on_reconnected(self) -> None:
        """The replay is done: status listeners, then reconnected_cb."""
        assert self._events is not None and self._opts is not None
        self._emit_status(State.CONNECTED)
        self._events.submit(self._opts.reconnected_cb)

    def force_reconnect(self) -> None:
        """Drop the current connection and reconnect now (buffering meanwhile).

        Publish order holds across it: the old connection is half-closed and the new
        one dialed once the server has read all of the old one (waiting at most
        ``connect_timeout``, at least 2 s), then the buffer is replayed."""
        with self._lock:
            conn = self._conn
            if self._state is State.CLOSED:
                raise errors.ConnectionClosedError("nats: connection closed: cannot reconnect")
            if self._state is not State.CONNECTED or conn is None:
                return
        self._on_lost(conn, None, graceful=True)

    # ============================================================ reporting
    def _report_async(self, exc: BaseException) -> None:
        """Send an asynchronous error to error_cb on the events thread (or log it)."""
        self._last_error = exc
        opts = self._opts
        if opts is not None and opts.error_cb is not None and self._events is not None:
            self._events.submit(opts.error_cb, exc)
        else:
            log.error("natsync: %s", exc)

    def report_error(self, exc: BaseException) -> None:
        """Pass ``exc`` to ``error_cb`` on the client's event thread (or log it when there
        is none), as for a message callback that raised. For code built on the client
        (services, consumers) whose own threads run application code."""
        self._report_callback_error(exc, "")

    def _callback_failed(self, exc: Exception) -> None:
        opts = self._opts
        if opts is not None and opts.error_cb is not None:
            opts.error_cb(exc)
        else:
            log.error("natsync: a connection callback raised", exc_info=exc)

    def _report_callback_error(self, exc: BaseException, subject: str) -> None:
        opts = self._opts
        if opts is not None and opts.error_cb is not None and self._events is not None:
            self._events.submit(opts.error_cb, exc)
        else:
            log.error("natsync: message callback for %r raised", subject, exc_info=exc)

    def __enter__(self) -> Client:
        return self

    def __repr__(self) -> str:
        return f"<natsync.Client #{self._id} {self._state.value}>"


class _Hooks:
    """The client as its parts see it: :class:`~natsync.connection.ConnectionOwner` for
    its connections, :class:`~natsync._host.ClientHost` for its subscriptions and
    messages.

    A separate object so the client's public surface stays nats-py's; it lives in
    this module and forwards to the client's handlers."""

    __slots__ = ("_client",)

    def __init__(self, client: Client) -> None:
        self._client = client

    def conn_info(self, conn: Connection, info: Dict[str, Any]) -> None:
        self._client._on_info(conn, info)

    def conn_err(self, conn: Connection, text: str) -> None:
        self._client._on_err(conn, text)

    def conn_sub_done(self, sub: Any) -> None:
        self._client._auto_unsub_done(sub)

    def conn_lost(self, conn: Connection, exc: Optional[BaseException]) -> None:
        self._client._on_lost(conn, exc)

    # ---------------------------------------------------------- ReconnectHost
    @property
    def closing(self) -> threading.Event:
        return self._client._closing

    @property
    def last_error(self) -> Optional[BaseException]:
        return self._client._last_error

    def establish(self, server: Server) -> Established:
        return self._client._establish(server)

    def adopt_locked(self, est: Established, server: Server) -> Connection:
        return self._client._adopt_locked(est, server)

    def live_subs_locked(self) -> List[Subscription]:
        return [s for s in self._client._subs.values() if not s.is_closed]

    def reconnected_locked(self) -> None:
        c = self._client
        c._state = check_transition(c._state, State.CONNECTED)
        c._reconnects += 1

    def reconnected(self) -> None:
        self._client._on_reconnected()

    def give_up(self, exc: errors.Error) -> None:
        self._client._last_error = exc
        reason = ("reconnect attempts exhausted" if isinstance(exc, errors.NoServersError)
                  else "the reconnect loop failed")
        self._client._close(reason, exc)

    # ------------------------------------------------------------ ClientHost
    @property
    def is_closed(self) -> bool:
        return self._client.is_closed

    def report_error(self, exc: BaseException) -> None:
        self._client._report_async(exc)

    def report_callback_error(self, exc: BaseException, subject: str) -> None:
        self._client._report_callback_error(exc, subject)

    def unsubscribe_sub(self, sub: Subscription, limit: int) -> None:
        self._client._unsubscribe(sub, limit)

    def drain_sub(self, sub: Subscription, timeout: Optional[float]) -> None:
        self._client._drain_sub(sub, timeout)

    def respond(self, reply: str, data: bytes, headers: Optional[Headers], later: bool = False) -> None:
        c = self._client
        if not headers and type(data) is bytes and not c._draining_pubs:
            validate_subject(reply)  # not cached: reply subjects never repeat
            c._send_plain(reply, b"PUB %s " % reply.encode(), b"", data, queue=later)
            return
        c._publish_full(reply, data, "", headers, now=not later)

    def publish(self, subject: str, payload: bytes = b"", reply: str = "",
                headers: Optional[Headers] = None) -> None:
        self._client.publish(subject, payload, reply, headers)

    def request(self, subject: str, payload: bytes = b"", timeout: float = 0.5,
                headers: Optional[Headers] = None) -> Msg:
        return self._client.request(subject, payload, timeout, headers)
