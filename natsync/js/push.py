"""Push subscriptions: durable, ephemeral, deliver groups, and the ordered consumer.

A :class:`PushSubscription` reads the consumer's deliver subject through an
ordinary core subscription and runs one worker thread (``natsync-js-push-N``)
that sorts what arrives (status table in :mod:`natsync.js.status`):

* idle heartbeats are counted as activity; with ``idle_heartbeat`` set, three
  intervals without any traffic raise the alarm, once per silence: a
  :class:`ConsumerNotActiveError` to ``error_cb`` (an ordered consumer resets
  instead). The client's one heartbeat monitor thread (:mod:`._heartbeats`) keeps
  the time for all its subscriptions: the alarm costs no thread of its own;
* a heartbeat whose ``Nats-Last-Consumer`` header names a consumer sequence past the
  last message this subscription received (messages dropped as a slow consumer, for
  example) is reported, once per gap, as :class:`ConsumerSequenceMismatchError`
  (nats.go's ``ErrConsumerSequenceMismatch``); an ordered consumer resets instead;
* flow-control requests are answered once each, when the application has taken
  the messages that came before them (so a slow reader slows the server down);
* ``409 Consumer Deleted`` is reported as :class:`ConsumerDeletedError` (ordered:
  reset);
* errors go to ``error_cb`` through the client's ``report_error`` (its events
  thread), or to the ``natsync`` logger when there is no ``error_cb``;
* stream messages go to the callback (on the worker thread, in order, auto-acked
  unless ``manual_ack``) or to ``next_msg()`` / iteration.

The ordered consumer (ADR-17) is an ephemeral, flow-controlled, ack-less,
memory-stored R1 consumer that the subscription recreates from the last stream
sequence it delivered + 1 after a consumer-sequence gap, missed heartbeats, a
deleted consumer or any reconnect, each time on a fresh deliver inbox so that
nothing from the old consumer can be mistaken for the new one.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Callable, Deque, Iterator, Optional, Tuple

from natsync import errors as core_errors
from natsync.protocol.jsack import parse_metadata

from . import api
from ._heartbeats import MISSED_INTERVALS, Watch, monitor_for
from ._report import report
from .errors import ConsumerDeletedError, ConsumerNotActiveError, ConsumerSequenceMismatchError
from .status import StatusKind, classify

if TYPE_CHECKING:  # pragma: no cover
    from natsync._client_api import ClientAPI
    from natsync._state import State
    from natsync.msg import Msg
    from natsync.subscription import Subscription

    from .manager import JetStreamManager

__all__ = ["PushSubscription", "DEFAULT_JS_SUB_PENDING_MSGS_LIMIT",
           "DEFAULT_JS_SUB_PENDING_BYTES_LIMIT"]

log = logging.getLogger("natsync")

DEFAULT_JS_SUB_PENDING_MSGS_LIMIT = 512 * 1024
DEFAULT_JS_SUB_PENDING_BYTES_LIMIT = 256 * 1024 * 1024

#: Ordered consumers heartbeat every 5 s unless told otherwise (as nats-py and nats.go).
ORDERED_DEFAULT_HEARTBEAT = 5.0
_RESET_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0)
#: The worker's wait for the next message is bounded (close and resets also wake it).
_WAIT_SLICE = 30.0

_ids = itertools.count(1)


class PushSubscription:
    """A JetStream push subscription (nats-py's ``JetStreamContext.PushSubscription``)."""

    def __init__(
        self,
        jsm: JetStreamManager,
        nc: ClientAPI,
        stream: str,
        consumer: str,
        config: api.ConsumerConfig,
        cb: Optional[Callable[[Msg], None]] = None,
        manual_ack: bool = False,
        ordered: bool = False,
        pending_msgs_limit: int = DEFAULT_JS_SUB_PENDING_MSGS_LIMIT,
        pending_bytes_limit: int = DEFAULT_JS_SUB_PENDING_BYTES_LIMIT,
    ) -> None:
        self._jsm = jsm
        self._nc = nc
        self._stream = stream
        self._consumer = consumer
        self._config = config
        self._cb = cb
        self._auto_ack = cb is not None and not manual_ack and not ordered and \
            config.ack_policy not in (api.AckPolicy.NONE, "none")
        self._ordered = ordered
        self._hb = config.idle_heartbeat or None
        self._msgs_limit = pending_msgs_limit
        self._bytes_limit = pending_bytes_limit
        self._lock = threading.Lock()
        self._avail = threading.Condition(self._lock)   # user queue got a message / ended
        self._room = threading.Condition(self._lock)    # user queue has room
        self._q: Deque[Msg] = deque()
        self._qbytes = 0
        self._taken = 0       # messages handed to the application
        self._queued = 0      # messages put in the user queue
        self._fc: Optional[Tuple[str, int]] = None   # flow-control reply, answer at taken >= n
        self._last_fc = ""
        self._closed = False  # the worker ended: no more messages
        self._stopping = False
        self._reset_reason: Optional[str] = None
        self._cseq = 0
        self._sseq = 0
        # the reply subject of the last stream message, for the heartbeat sequence check
        # (a deliver group's heartbeats tell of the whole group's deliveries: no check)
        self._check_seq = bool(self._hb) and not ordered and not config.deliver_group
        self._last_reply = ""
        self._gap_reported = ""  # _last_reply when its gap was reported (once per gap)
        self._sub = self._subscribe(config.deliver_subject or "")
        self._remove_listener = nc.add_status_listener(self._on_status)
        self._monitor = monitor_for(nc) if self._hb else None
        self._watch: Optional[Watch] = None
        if self._monitor is not None and self._hb:
            self._watch = self._monitor.watch(self._hb, self._on_silence)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"natsync-js-push-{next(_ids)}")
        self._thread.start()

    # --------------------------------------------------------- properties
    @property
    def subject(self) -> str:
        return self._sub.subject

    @property
    def queue(self) -> str:
        return self._config.deliver_group or ""

    @property
    def stream(self) -> str:
        return self._stream

    @property
    def consumer(self) -> str:
        """The consumer's current name (an ordered consumer gets a new one on each reset)."""
        return self._consumer

    @property
    def pending_msgs(self) -> int:
        return len(self._q) + self._sub.pending_msgs

    @property
    def pending_bytes(self) -> int:
        return self._qbytes + self._sub.pending_bytes

    @property
    def delivered(self) -> int:
        """Stream messages handed to the application."""
        return self._taken

    # ------------------------------------------------------------- public
    def consumer_info(self) -> api.ConsumerInfo:
        return self._jsm.consumer_info(self._stream, self._consumer)

    def next_msg(self, timeout: Optional[float] = 1.0) -> Msg:
        """The next stream message (statuses are handled internally); TimeoutError if none."""
        if self._cb is not None:
            raise core_errors.Error(
                "nats: next_msg() cannot be used on a subscription with a callback")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._q:
                if self._closed:
                    raise core_errors.BadSubscriptionError(
                        f"nats: the JetStream subscription on {self.subject!r} has ended")
                left = 5.0 if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    raise core_errors.TimeoutError(
                        f"nats: no message from consumer {self._consumer!r} within {timeout}s")
                self._avail.wait(min(left, 5.0))
            msg = self._q.popleft()
            self._qbytes -= len(msg.data)
            self._taken += 1
            self._room.notify()
            fc = self._fc_due_locked()
        if fc:
            self._answer_fc(fc)
        return msg

    def __iter__(self) -> Iterator[Msg]:
        while True:
            try:
                yield self.next_msg(timeout=None)
            except (core_errors.BadSubscriptionError, core_errors.ConnectionClosedError):
                return

    @property
    def messages(self) -> Iterator[Msg]:
        return iter(self)

    def unsubscribe(self) -> None:
        """Stop; an ordered (or other ephemeral) consumer is deleted on the server."""
        self._stop()
        if self._ordered and not self._nc.is_closed:
            self._delete_consumer(self._consumer)

    def drain(self) -> None:
        """Stop interest and deliver what already arrived (nats-py's ``drain``)."""
        try:
            self._sub.drain()
        except core_errors.Error:
            pass
        self._thread.join(30.0)
        self._stop()

    # ------------------------------------------------------------ internal
    def _subscribe(self, deliver: str) -> Subscription:
        return self._nc.subscribe(deliver, queue=self._config.deliver_group or "",
                                  pending_msgs_limit=self._msgs_limit,
                                  pending_bytes_limit=self._bytes_limit)

    def _stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._room.notify_all()
        self._unwatch(wait=True)
        self._remove_listener()
        try:
            self._sub.unsubscribe()
        except core_errors.Error:
            pass
        if threading.current_thread() is not self._thread:
            self._thread.join(30.0)

    def _on_status(self, state: State) -> None:
        name = getattr(state, "name", "")
        if name == "CLOSED":
            with self._lock:
                self._stopping = True
                self._room.notify_all()
            self._unwatch(wait=False)  # on the events thread: do not wait for the monitor
        elif name == "CONNECTED" and self._ordered:
            self._request_reset("reconnected")

    def _request_reset(self, reason: str) -> None:
        with self._lock:
            if self._stopping or self._reset_reason:
                return
            self._reset_reason = reason
            sub = self._sub
        try:
            sub.unsubscribe()  # wakes the worker out of next_msg
        except core_errors.Error:
            pass

    def _unwatch(self, wait: bool) -> None:
        with self._lock:
            w, self._watch = self._watch, None
        if w is not None and self._monitor is not None:
            self._monitor.unwatch(w, wait=wait)

    def _report(self, exc: Exception) -> None:
        report(self._nc, exc)

    # -------------------------------------------------------------- worker
    def _run(self) -> None:
        try:
            self._loop()
        finally:
            with self._lock:
                self._closed = True
                self._avail.notify_all()

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                reason = self._reset_reason
            if reason is not None:
                self._reset(reason)
                continue
            sub = self._sub
            try:
                msg = sub.next_msg(timeout=_WAIT_SLICE)
            except core_errors.TimeoutError:
                continue  # heartbeat alarms are the monitor's job
            except (core_errors.BadSubscriptionError, core_errors.ConnectionClosedError):
                with self._lock:
                    if self._reset_reason is None or self._stopping or self._nc.is_closed:
                        return
                continue
            w = self._watch
            if w is not None:
                w.beat()
            self._handle(msg)

    def _on_silence(self) -> bool:
        """On the monitor thread: nothing came for 3 heartbeat intervals."""
        hb = self._hb
        if not hb or self._nc.is_reconnecting or self._nc.is_closed:
            return False  # not the consumer's silence: look again later
        with self._lock:
            if self._stopping or self._reset_reason is not None:
                return False
        if self._ordered:
            self._request_reset("missed heartbeats")
            return True
        self._report(ConsumerNotActiveError(
            f"consumer {self._consumer!r} of stream {self._stream!r} sent no message and "
            f"no heartbeat for {MISSED_INTERVALS * hb:g}s ({MISSED_INTERVALS} idle_heartbeat "
            "intervals); the consumer may be gone or the server unreachable: check "
            "consumer_info(), or unsubscribe and subscribe again"))
        return True

    def _check_sequence(self, last: str) -> None:
        """A heartbeat says the consumer delivered up to ``last``: did we see it all?"""
        reply = self._last_reply
        if not reply or reply == self._gap_reported or not last.isdigit():
            return  # nothing received yet, or this gap was reported already
        try:
            meta = parse_metadata(reply)
        except core_errors.NotJSMessageError:
            return
        seen = meta.sequence.consumer
        if int(last) == seen:
            return
        self._gap_reported = reply
        exc = ConsumerSequenceMismatchError(
            stream_resume_sequence=meta.sequence.stream + 1, consumer_sequence=seen,
            last_consumer_sequence=int(last), stream=self._stream, consumer=self._consumer)
        self._report(exc)

    def _handle(self, msg: Msg) -> None:
        status = msg.status
        if status is not None and not msg.data:
            headers = msg.headers or {}
            desc = headers.get("Description", "")
            kind = classify(status, desc if isinstance(desc, str) else "", msg.reply)
            if kind is StatusKind.FLOW_CONTROL:
                self._flow_control(msg.reply)
            elif kind is StatusKind.HEARTBEAT:
                stalled = headers.get("Nats-Consumer-Stalled")
                if isinstance(stalled, str) and stalled:
                    self._flow_control(stalled)
                last = headers.get("Nats-Last-Consumer")
                if not isinstance(last, str):
                    pass
                elif self._ordered:
                    if last.isdigit() and int(last) != self._cseq:
                        self._request_reset("heartbeat shows missed messages")
                elif self._check_seq:
                    self._check_sequence(last)
            elif kind is StatusKind.TERMINAL or status == 409:
                if self._ordered:
                    self._request_reset(f"status {status} {desc}")
                else:
                    self._report(ConsumerDeletedError(
                        f"consumer {self._consumer!r} of stream {self._stream!r}: {status} {desc}"))
            return
        if self._ordered:
            try:
                meta = parse_metadata(msg.reply)
            except core_errors.NotJSMessageError:
                return
            if meta.sequence.consumer != self._cseq + 1:
                self._request_reset("consumer sequence gap")
                return
            self._cseq = meta.sequence.consumer
            self._sseq = meta.sequence.stream
        elif self._check_seq:
            self._last_reply = msg.reply
        self._deliver(msg)

    def _deliver(self, msg: Msg) -> None:
        cb = self._cb
        if cb is not None:
            try:
                cb(msg)
            except Exception as exc:
                self._report(exc)
                return
            finally:
                self._taken += 1
            if self._auto_ack and not msg.is_acked:
                try:
                    msg.ack()
                except core_errors.Error as exc:
                    self._report(exc)
            return
        with self._lock:
            limit = self._msgs_limit
            while limit > 0 and len(self._q) >= limit and not self._stopping:
                self._room.wait(5.0)
            if self._stopping:
                return
            self._q.append(msg)
            self._qbytes += len(msg.data)
            self._queued += 1
            self._avail.notify()

    def _flow_control(self, reply: str) -> None:
        if not reply or reply == self._last_fc:
            return  # each flow-control request is answered once
        if self._cb is not None:
            self._last_fc = reply
            self._answer_fc(reply)
            return
        with self._lock:
            self._fc = (reply, self._queued)
            fc = self._fc_due_locked()
        if fc:
            self._answer_fc(fc)

    def _fc_due_locked(self) -> Optional[str]:
        fc = self._fc
        if fc is None or self._taken < fc[1]:
            return None
        self._fc = None
        self._last_fc = fc[0]
        return fc[0]

    def _answer_fc(self, reply: str) -> None:
        try:
            self._nc.publish(reply, b"")
        except core_errors.Error as exc:
            self._report(exc)

    # ----------------------------------------------------- ordered resets
    def _reset(self, reason: str) -> None:
        """Recreate the ordered consumer from the last delivered stream sequence + 1."""
        old_consumer = self._consumer
        old_sub = self._sub
        try:
            old_sub.unsubscribe()
        except core_errors.Error:
            pass
        with self._lock:
            self._fc = None  # its flow control belonged to the old consumer
        attempt = 0
        while True:
            with self._lock:
                if self._stopping:
                    return
            deliver = self._nc.new_inbox()
            cfg = self._config.evolve(deliver_subject=deliver, name=None, durable_name=None)
            if self._sseq:
                cfg = cfg.evolve(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                                 opt_start_seq=self._sseq + 1, opt_start_time=None)
            try:
                new_sub = self._subscribe(deliver)
            except core_errors.ConnectionClosedError:
                return
            try:
                info = self._jsm.add_consumer(self._stream, cfg)
            except core_errors.Error as exc:
                try:
                    new_sub.unsubscribe()
                except core_errors.Error:
                    pass
                if self._nc.is_closed:
                    return
                log.debug("natsync: ordered consumer reset (%s) failed: %s", reason, exc)
                wait = _RESET_BACKOFF[min(attempt, len(_RESET_BACKOFF) - 1)]
                attempt += 1
                with self._lock:
                    self._room.wait_for(lambda: self._stopping, wait)
                continue
            with self._lock:
                self._sub = new_sub
                self._consumer = info.name
                self._config = cfg
                self._cseq = 0
                self._reset_reason = None
            w = self._watch
            if w is not None:
                w.beat()
            break
        if old_consumer != self._consumer:
            self._delete_consumer(old_consumer)

    def _delete_consumer(self, name: str) -> None:
        try:
            self._jsm.delete_consumer(self._stream, name)
        except core_errors.Error:
            pass  # it goes away by itself once its interest is gone


