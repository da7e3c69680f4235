"""The continuous pull driver behind ``messages()`` and ``consume()`` (ADR-37).

One :class:`Puller` owns one inbox subscription (no callback: a queue) and the
pull requests it sends to ``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``
with that inbox as reply. The thread that takes messages (the application's,
for ``messages()``; the consumer's own, for ``consume()``) runs :meth:`Puller.next_msg`,
which does everything in order on that thread, without a helper thread:

* takes the next message from the queue, waiting at most until the heartbeat
  deadline (2x the idle heartbeat since something last arrived);
* a stream message lowers the pending counts; when they reach the refill
  threshold the next pull request is published at once (:mod:`._pullstate`);
* a status message is classified with the shared table of :mod:`natsync.js.status`:
  heartbeats are noted, ``404``/``408`` and friends adjust the pending counts,
  warnings go to ``error_cb``, a terminal ``409`` ends the pull with an error;
* a missed heartbeat is reported as :class:`MissedHeartbeatError` and the pull
  starts afresh; a ``503`` checks whether the consumer still exists (if not the
  pull ends with :class:`ConsumerDeletedError`) and retries later.

Connection changes come from :meth:`Client.add_status_listener`, on the client's
event thread: on a loss the pull pauses (no requests, no heartbeat deadline), on
a reconnect the counts are reset and a full pull request is sent right there.
So an outage never ends ``messages()`` or ``consume()``; they go on after it.

Locking: ``Puller._lock`` guards the state only; no I/O and no user code runs
under it. ``stop()`` unsubscribes, which wakes a waiting ``next_msg`` at once.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from .. import errors as core_errors
from .._state import State
from ..protocol.headers import encode_headers
from . import errors
from ._pullstate import PullOptions, PullRequest, PullState, Status, parse_pending, pull_action

if TYPE_CHECKING:  # pragma: no cover
    from .._client_api import ClientAPI
    from ..msg import Msg

log = logging.getLogger("natsync.jetstream")

ErrorHandler = Callable[[BaseException], None]
#: Returns the error that ends a pull when the consumer is gone, None when it exists.
ConsumerCheck = Callable[[], Optional[BaseException]]

#: Longest wait between retries after a 503 (nobody served the pull request).
NO_RESPONDERS_RETRY = 1.0
#: How long the consumer must keep being reported missing after 503s before the pull
#: ends with ConsumerDeletedError (during a leader election it briefly looks missing).
GONE_CONFIRM = 5.0
_SUB_PENDING_MSGS = 1 << 20
_SUB_PENDING_BYTES = 1 << 30
_ids = itertools.count(1)


def msg_size(msg: Msg) -> int:
    """A message's size as the server counts it for ``max_bytes``:
    subject + reply + header block + payload."""
    hdrs = msg.headers
    n = len(msg.subject) + len(msg.reply) + len(msg.data)
    if hdrs:
        n += len(encode_headers(hdrs))
    return n


class Restart(Exception):
    """Internal: an ordered consumer must recreate its consumer (not raised to users)."""

    def __init__(self, reason: str, cause: Optional[BaseException] = None) -> None:
        super().__init__(reason)
        self.cause = cause


class Puller:
    """One continuous pull on one consumer (see the module docstring)."""

    def __init__(
        self,
        nc: ClientAPI,
        subject: str,
        stream: str,
        consumer: str,
        opts: PullOptions,
        report: ErrorHandler,
        check_consumer: Optional[ConsumerCheck] = None,
        restart_on_outage: bool = False,
    ) -> None:
        self.nc = nc
        self.subject = subject
        self.stream = stream
        self.consumer = consumer
        self.opts = opts
        self._report = report
        self._check_consumer = check_consumer
        self._restart_on_outage = restart_on_outage
        self._lock = threading.Lock()
        self._state = PullState(opts)
        self._hb_window = 2 * opts.heartbeat
        self._last = time.monotonic()
        self._retry_at: Optional[float] = None
        self._stopped = False
        self._draining = False
        self._error: Optional[BaseException] = None
        self._restart: Optional[Restart] = None
        self._gone_since: Optional[float] = None
        self.delivered = 0
        self.id = next(_ids)
        self.inbox = nc.new_inbox()
        self._sub = nc.subscribe(self.inbox, pending_msgs_limit=_SUB_PENDING_MSGS,
                                 pending_bytes_limit=_SUB_PENDING_BYTES)
        self._remove_listener = nc.add_status_listener(self._on_conn_status)
        try:
            with self._lock:
                req = self._state.check()
            self._pull(req)
        except BaseException:
            self._teardown()
            raise

    # ---------------------------------------------------------------- info
    @property
    def pending_messages(self) -> int:
        """Messages requested and not yet received."""
        return self._state.pending_msgs

    @property
    def pending_bytes(self) -> int:
        """Bytes requested and not yet received (with ``max_bytes``)."""
        return self._state.pending_bytes

    @property
    def pull_requests(self) -> int:
        """Pull requests sent so far."""
        return self._state.pulls

    @property
    def is_stopped(self) -> bool:
        return self._stopped

    # ---------------------------------------------------------------- pulls
    def _pull(self, req: Optional[PullRequest]) -> None:
        if req is None:
            return
        try:
            self.nc.publish(self.subject, req.to_json(), reply=self.inbox)
        except core_errors.ConnectionClosedError:
            pass  # the subscription closes too: next_msg ends
        except core_errors.Error as exc:
            # e.g. the reconnect buffer is full: report; the heartbeat deadline retries
            self._report(exc)

    def _on_conn_status(self, status: State) -> None:
        """Client event thread: pause on a loss, pull afresh after a reconnect."""
        if status is State.RECONNECTING:
            with self._lock:
                self._state.on_disconnect()
            return
        if status is not State.CONNECTED:
            return
        with self._lock:
            if self._stopped or self._draining:
                return
            self._last = time.monotonic()
            self._retry_at = None
            if self._restart_on_outage:
                self._restart = Restart("reconnected")
                self._state.on_disconnect()
                req = None
            else:
                req = self._state.on_reconnect()
        if self._restart is not None:
            self._close_sub(discard=True)  # wakes next_msg, which raises Restart
            return
        self._pull(req)

    # ----------------------------------------------------------- consuming
    def next_msg(self, timeout: Optional[float] = None) -> Optional[Msg]:
        """The next stream message; None when stopped, drained or the client closed.

        Raises the terminal error that ended the pull, :class:`natsync.errors.TimeoutError`
        when ``timeout`` passes first, or (ordered consumers) :class:`Restart`."""
        user_deadline = None if timeout is None else time.monotonic() + timeout
        sub = self._sub
        while True:
            if self._error is not None:
                raise self._error
            now = time.monotonic()
            with self._lock:
                paused = self._state.paused
                hb_deadline = None if paused else self._last + self._hb_window
                retry_at = self._retry_at
            wake = hb_deadline if hb_deadline is not None else now + self.opts.heartbeat
            if retry_at is not None and retry_at < wake:
                wake = retry_at
            if user_deadline is not None and user_deadline < wake:
                wake = user_deadline
            try:
                msg = sub.next_msg(timeout=max(wake - now, 0.0005))
            except core_errors.TimeoutError:
                self._on_idle(user_deadline, timeout)
                continue
            except (core_errors.BadSubscriptionError, core_errors.ConnectionClosedError):
                return self._ended()
            self._last = time.monotonic()
            code = msg.status
            if code is None:
                self._gone_since = None
                with self._lock:
                    req = self._state.on_message(
                        msg_size(msg) if self.opts.max_bytes else 0)
                self.delivered += 1
                self._pull(req)
                return msg
            self._on_status_msg(msg, code)

    def _ended(self) -> Optional[Msg]:
        if self._restart is not None:
            r, self._restart = self._restart, None
            raise r
        if self._error is not None:
            raise self._error
        self._teardown()
        return None

    def _on_idle(self, user_deadline: Optional[float], timeout: Optional[float]) -> None:
        now = time.monotonic()
        req: Optional[PullRequest] = None
        missed = False
        with self._lock:
            if self._draining:
                pass
            elif self._retry_at is not None and now >= self._retry_at:
                self._retry_at = None
                self._state.reset()
                req = self._state.check()
            elif not self._state.paused and now >= self._last + self._hb_window:
                missed = True
                self._last = now
                self._state.reset()
                req = None if self._restart_on_outage else self._state.check()
        if missed:
            exc = errors.MissedHeartbeatError(
                f"nats: no heartbeat from consumer {self.consumer!r} of stream {self.stream!r} "
                f"for {self._hb_window:g} s: the server may be paused or unreachable; pulling again",
                stream=self.stream, consumer=self.consumer)
            if self._restart_on_outage:
                raise Restart("missed heartbeat", exc)
            self._report(exc)
        self._pull(req)
        if user_deadline is not None and now >= user_deadline:
            raise core_errors.TimeoutError(
                f"nats: no message from consumer {self.consumer!r} within {timeout}s")

    def _on_status_msg(self, msg: Msg, code: int) -> None:
        hdrs = msg.headers
        desc = hdrs.get("Description", "") if hdrs else ""
        desc = desc if isinstance(desc, str) else ""
        action = pull_action(code, desc)
        if action is Status.IGNORE:
            return
        what = f"{code} {desc}".strip()
        if action is Status.TERMINAL:
            self._terminal(code, desc)
        if action is Status.NO_RESPONDERS:
            self._on_no_responders()
            return
        if self._restart_on_outage and action is Status.RESET:
            raise Restart(what)
        with self._lock:
            req = None if self._draining else self._state.on_status(action, parse_pending(hdrs))
        if action in (Status.WARNING, Status.RESET):
            self._report(errors.PullWarning(
                f"nats: pull request to consumer {self.consumer!r} of stream {self.stream!r} "
                f"ended with {what}; the pull goes on",
                code=code, description=desc, stream=self.stream, consumer=self.consumer))
        self._pull(req)

    def _terminal(self, code: int, desc: str) -> None:
        low = desc.lower()
        where = f"consumer {self.consumer!r} of stream {self.stream!r}"
        exc: errors.PullStatusError
        if "deleted" in low:
            exc = errors.ConsumerDeletedError(
                f"nats: {where} was deleted ({code} {desc}); create it again to go on consuming",
                code=code, description=desc, stream=self.stream, consumer=self.consumer)
        elif "push" in low:
            exc = errors.ConsumerPushBasedError(
                f"nats: {where} is a push consumer ({code} {desc}): pull with a consumer that "
                "has no deliver_subject", code=code, description=desc, stream=self.stream,
                consumer=self.consumer)
        else:
            exc = errors.PullBadRequestError(
                f"nats: the server refused the pull request for {where}: {code} {desc}",
                code=code, description=desc, stream=self.stream, consumer=self.consumer)
        if self._restart_on_outage:
            raise Restart(f"{code} {desc}", exc)
        self._fail(exc)

    def _on_no_responders(self) -> None:
        if self._restart_on_outage:
            raise Restart("no responders")
        gone = self._check_consumer() if self._check_consumer is not None else None
        now = time.monotonic()
        if gone is None:
            self._gone_since = None
        elif self._gone_since is None:
            self._gone_since = now
        elif now - self._gone_since >= GONE_CONFIRM:
            self._fail(gone)
        with self._lock:
            self._state.on_status(Status.NO_RESPONDERS, (0, 0))
            self._retry_at = now + min(self.opts.heartbeat, NO_RESPONDERS_RETRY)
        self._report(errors.JetStreamNotReadyError(
            f"nats: no responders for pull requests to consumer {self.consumer!r} of stream "
            f"{self.stream!r}: JetStream is not ready (restart or leader election?); retrying",
            code=503, stream=self.stream, consumer=self.consumer))

    def _fail(self, exc: BaseException) -> None:
        self._error = exc
        self.stop()
        raise exc

    # ----------------------------------------------------------- ending
    def _close_sub(self, discard: bool) -> None:
        sub = self._sub
        try:
            if discard:
                sub.unsubscribe()
            else:
                # a limit already reached unsubscribes at once and keeps what is queued
                received = sub.delivered + sub.pending_msgs + sub.dropped
                sub.unsubscribe(limit=received) if received else sub.unsubscribe()
        except (core_errors.BadSubscriptionError, core_errors.ConnectionClosedError):
            pass

    def stop(self) -> None:
        """Stop now: no more pull requests; queued messages are dropped (the server
        redelivers unacknowledged ones after ``ack_wait``). Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._state.paused = True
        self._close_sub(discard=True)
        self._teardown()

    def drain(self) -> None:
        """Stop pulling; what already arrived is still delivered, then the pull ends."""
        with self._lock:
            if self._stopped or self._draining:
                return
            self._draining = True
            self._state.paused = True
        self._close_sub(discard=False)

    def _teardown(self) -> None:
        self._stopped = True
        self._remove_listener()

    def close_for_restart(self) -> None:
        """Ordered consumers: drop this pull before recreating the consumer."""
        self.stop()


def iterate(puller: Puller) -> Iterator[Msg]:
    while True:
        msg = puller.next_msg(None)
        if msg is None:
            return
        yield msg
