"""The ordered consumer of ADR-37: pull-based, client-managed, in stream order.

An :class:`OrderedConsumer` owns an ephemeral server-side consumer (memory
storage, one replica, no acks, one delivery). Each message's consumer sequence
must be the previous one + 1; on a gap, a missed heartbeat, a deleted consumer,
a ``503`` or any reconnect, it deletes that consumer (best effort) and creates a
new one starting at the last stream sequence + 1, with backoff between failed
attempts, so the application sees every message once, in order, across outages.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional

from .. import errors as core_errors
from ..js import api
from ..js.pullreq import next_subject
from ..nuid import NUID
from . import errors
from ._consumers import delete_consumer, upsert_consumer
from ._puller import Puller, Restart
from ._pullstate import PullOptions
from ._types import JetStreamLike
from .consume import ConsumeContext, MessageHandler, MessageStream, _PullSource
from .consumer import ErrorCallback, fetch_request, reporter
from .fetch import CLIENT_MARGIN, MessageBatch

if TYPE_CHECKING:  # pragma: no cover
    from ..msg import Msg

__all__ = ["OrderedConsumer", "OrderedConsumerConfig"]

log = logging.getLogger("natsync.jetstream")

#: Waits between failed attempts to recreate the consumer (the last one repeats).
RESET_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
#: Default ``inactive_threshold``: the server removes an abandoned consumer after it.
DEFAULT_INACTIVE_THRESHOLD = 300.0
#: Bound on the best-effort delete of a replaced consumer.
DELETE_TIMEOUT = 1.0
_nuid = NUID()


@dataclass
class OrderedConsumerConfig:
    """Settings of an ordered consumer (nats.py v3's names)."""

    filter_subjects: Optional[List[str]] = None
    deliver_policy: api.DeliverPolicy = api.DeliverPolicy.ALL
    opt_start_seq: Optional[int] = None
    opt_start_time: Optional[datetime.datetime] = None
    replay_policy: api.ReplayPolicy = api.ReplayPolicy.INSTANT
    inactive_threshold: Optional[float] = None
    headers_only: Optional[bool] = None
    max_reset_attempts: Optional[int] = None
    metadata: Optional[Dict[str, str]] = None
    name_prefix: Optional[str] = None
    extra: Dict[str, object] = field(default_factory=dict, repr=False)


class OrderedConsumer:
    """Every message of a stream (or of its filter subjects), once and in order."""

    def __init__(self, js: JetStreamLike, stream: str, config: OrderedConsumerConfig) -> None:
        if config.max_reset_attempts is not None and (
                isinstance(config.max_reset_attempts, bool)
                or not isinstance(config.max_reset_attempts, int) or config.max_reset_attempts < 1):
            raise errors.InvalidArgumentError(
                "max_reset_attempts must be a positive integer or None (no limit)")
        fs: object = config.filter_subjects
        if fs is not None and (isinstance(fs, str) or not fs):
            raise errors.InvalidArgumentError(
                "filter_subjects must be a non-empty list of subjects")
        self._js = js
        self._nc = js.client
        self._stream = stream
        self._cfg = config
        self._prefix = config.name_prefix or _nuid.next()
        self._serial = 0
        self._sseq = 0  # last stream sequence delivered to the application
        self._cseq = 0  # last consumer sequence of the current server-side consumer
        self._name: Optional[str] = None
        self._info: Optional[api.ConsumerInfo] = None
        self._lock = threading.Lock()
        self._active: Optional[_OrderedSource] = None

    @property
    def name(self) -> str:
        """The name of the current server-side consumer ("" before the first pull)."""
        return self._name or ""

    @property
    def stream_name(self) -> str:
        return self._stream

    @property
    def info(self) -> Optional[api.ConsumerInfo]:
        return self._info

    def get_info(self) -> api.ConsumerInfo:
        if self._name is None and not self._recreate(None):
            raise core_errors.ConnectionClosedError("nats: connection closed")
        assert self._name is not None
        self._info = self._js.get_consumer_info(self._stream, self._name)
        return self._info

    # --------------------------------------------------------- (re)creation
    def _config(self) -> api.ConsumerConfig:
        c = self._cfg
        self._serial += 1
        name = f"{self._prefix}_{self._serial}"
        start_seq: Optional[int]
        if self._sseq > 0:
            deliver, start_seq, start_time = api.DeliverPolicy.BY_START_SEQUENCE, self._sseq + 1, None
        else:
            deliver, start_seq, start_time = c.deliver_policy, c.opt_start_seq, c.opt_start_time
        inactive = DEFAULT_INACTIVE_THRESHOLD if c.inactive_threshold is None else c.inactive_threshold
        fs = list(c.filter_subjects) if c.filter_subjects else None
        return api.ConsumerConfig(
            name=name, deliver_policy=deliver, opt_start_seq=start_seq, opt_start_time=start_time,
            ack_policy=api.AckPolicy.NONE, max_deliver=1, mem_storage=True, num_replicas=1,
            inactive_threshold=inactive, replay_policy=c.replay_policy, headers_only=c.headers_only,
            metadata=c.metadata,
            filter_subject=fs[0] if fs and len(fs) == 1 else None,
            filter_subjects=fs if fs and len(fs) > 1 else None,
        )

    def _recreate(self, stop: Optional[threading.Event], deadline: Optional[float] = None) -> bool:
        """Replace the server-side consumer, with backoff; False when stopped meanwhile
        (or the client closed); TimeoutError past ``deadline``."""
        old = self._name
        if old is not None:
            try:
                delete_consumer(self._js.api, self._stream, old, DELETE_TIMEOUT)
            except core_errors.Error:
                pass
        attempts = 0
        limit = self._cfg.max_reset_attempts
        while True:
            if self._nc.is_closed or (stop is not None and stop.is_set()):
                return False
            attempts += 1
            try:
                info = upsert_consumer(self._js.api, self._stream, self._config(), "create")
            except core_errors.Error as exc:
                if limit is not None and attempts >= limit:
                    raise errors.OrderedConsumerResetError(
                        f"nats: could not recreate the ordered consumer on stream {self._stream!r} "
                        f"after {attempts} attempts: {exc}", exc) from exc
                delay = RESET_BACKOFF[min(attempts - 1, len(RESET_BACKOFF) - 1)]
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise core_errors.TimeoutError(
                            f"nats: could not create the ordered consumer on stream "
                            f"{self._stream!r} in time: {exc}") from exc
                    delay = min(delay, left)
                log.debug("natsync.jetstream: ordered consumer reset failed (%s); retry in %ss",
                          exc, delay)
                if stop is not None:
                    if stop.wait(delay):
                        return False
                else:
                    time.sleep(delay)
                continue
            self._name = str(info.name)
            self._info = info
            self._cseq = 0
            return True

    def _accept(self, msg: Msg) -> bool:
        """Check a message's sequence; False on a gap (the consumer must be recreated)."""
        seq = msg.metadata.sequence
        if seq.consumer != self._cseq + 1:
            return False
        self._cseq = seq.consumer
        self._sseq = seq.stream
        return True

    # ------------------------------------------------------------ one pull
    def fetch(self, max_messages: Optional[int] = None, max_bytes: Optional[int] = None,
              max_wait: Optional[float] = None, heartbeat: Optional[float] = None
              ) -> Iterator[Msg]:
        """One pull, in order; a gap or an error ends it early, and the next fetch goes
        on from the last message delivered."""
        req = fetch_request(max_messages, max_bytes, max_wait, heartbeat)
        return self._fetch(req, req.expires + CLIENT_MARGIN, req.expires)

    def fetch_nowait(self, max_messages: Optional[int] = None,
                     max_bytes: Optional[int] = None) -> Iterator[Msg]:
        req = fetch_request(max_messages, max_bytes, None, None, no_wait=True)
        return self._fetch(req, self._js.timeout, self._js.timeout)

    def _fetch(self, req: object, wait: float, create_within: float) -> Iterator[Msg]:
        from ._pullstate import PullRequest

        assert isinstance(req, PullRequest)
        if self._name is None and not self._recreate(None, time.monotonic() + create_within):
            raise core_errors.ConnectionClosedError("nats: connection closed")
        assert self._name is not None
        batch = MessageBatch(self._nc, next_subject(self._js.api_prefix, self._stream, self._name),
                             req, wait, self._stream, self._name)
        return self._checked(batch)

    def _checked(self, batch: MessageBatch) -> Iterator[Msg]:
        for msg in batch:
            if not self._accept(msg):
                batch.stop()
                self._name_needs_reset()
                return
            yield msg
        if batch.error is not None:
            self._name_needs_reset()

    def _name_needs_reset(self) -> None:
        """The next pull recreates the consumer from the last stream sequence + 1."""
        old, self._name = self._name, None
        if old is not None:
            try:
                delete_consumer(self._js.api, self._stream, old, DELETE_TIMEOUT)
            except core_errors.Error:
                pass

    def next(self, max_wait: float = 5.0, heartbeat: Optional[float] = None) -> Msg:
        for msg in self.fetch(max_messages=1, max_wait=max_wait, heartbeat=heartbeat):
            return msg
        raise core_errors.TimeoutError(
            f"nats: no message from the ordered consumer on {self._stream!r} within {max_wait}s")

    # ------------------------------------------------------ continuous pull
    def _source(self, max_messages: Optional[int], max_bytes: Optional[int],
                max_wait: Optional[float], heartbeat: Optional[float],
                error_cb: Optional[ErrorCallback]) -> _OrderedSource:
        opts = PullOptions.build(max_messages, max_bytes, max_wait, heartbeat)
        with self._lock:
            if self._active is not None and not self._active.stopped:
                raise errors.InvalidArgumentError(
                    "this ordered consumer is already being consumed; stop that first")
            src = _OrderedSource(self, opts, reporter(self._nc, error_cb))
            self._active = src
        return src

    def messages(self, max_messages: Optional[int] = None, max_bytes: Optional[int] = None,
                 max_wait: Optional[float] = None, heartbeat: Optional[float] = None, *,
                 error_cb: Optional[ErrorCallback] = None) -> MessageStream:
        """Every message in order, as a blocking iterator (see ``Consumer.messages``)."""
        return MessageStream(self._source(max_messages, max_bytes, max_wait, heartbeat, error_cb))

    def consume(self, cb: MessageHandler, max_messages: Optional[int] = None,
                max_bytes: Optional[int] = None, max_wait: Optional[float] = None,
                heartbeat: Optional[float] = None, *,
                error_cb: Optional[ErrorCallback] = None) -> ConsumeContext:
        """``cb(msg)`` for every message in order, on a thread of its own."""
        if not callable(cb):
            raise errors.InvalidArgumentError("consume() needs a callable cb(msg)")
        src = self._source(max_messages, max_bytes, max_wait, heartbeat, error_cb)
        return ConsumeContext(src, cb, src.report)

    def close(self) -> None:
        """Stop consuming and delete the server-side consumer (best effort)."""
        with self._lock:
            src, self._active = self._active, None
        if src is not None:
            src.stop()
        self._name_needs_reset()

    def __enter__(self) -> OrderedConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<OrderedConsumer {self._stream}/{self.name} at seq {self._sseq}>"


class _OrderedSource(_PullSource):
    """The pulls of one ``messages()``/``consume()`` of an ordered consumer: a new
    Puller each time the server-side consumer is recreated."""

    def __init__(self, oc: OrderedConsumer, opts: PullOptions, report: ErrorCallback) -> None:
        self.oc = oc
        self.opts = opts
        self.report = report
        self.stopped = False
        self._draining = False
        self._stop = threading.Event()
        self._puller: Optional[Puller] = None
        self._pulls = 0
        self._need_new = False
        self.resets = 0

    @property
    def pull_requests(self) -> int:
        p = self._puller
        return self._pulls + (p.pull_requests if p is not None else 0)

    def _start(self) -> bool:
        oc = self.oc
        if oc._name is None or self._need_new:
            if not oc._recreate(self._stop):
                return False
            self._need_new = False
        assert oc._name is not None
        self._puller = Puller(oc._nc, next_subject(oc._js.api_prefix, oc._stream, oc._name),
                              oc._stream, oc._name, self.opts, self.report,
                              restart_on_outage=True)
        if self.stopped:
            self._puller.stop()
        return True

    def _drop(self, reason: str) -> None:
        p, self._puller = self._puller, None
        if p is not None:
            self._pulls += p.pull_requests
            p.stop()
        self._need_new = True
        self.resets += 1
        log.debug("natsync.jetstream: ordered consumer on %r resets: %s", self.oc._stream, reason)

    def next_msg(self, timeout: Optional[float]) -> Optional[Msg]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.stopped and (self._puller is None or not self._draining):
                return None
            if self._puller is None:
                if self._draining or not self._start():
                    return None
            p = self._puller
            assert p is not None
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0005)
            try:
                msg = p.next_msg(left)
            except Restart as r:
                self._drop(str(r))
                continue
            if msg is None:
                if self.stopped or self._draining:
                    self._puller = None
                    return None
                self._drop("the pull ended")
                continue
            if not self.oc._accept(msg):
                self._drop("sequence gap")
                continue
            return msg

    def stop(self) -> None:
        self.stopped = True
        self._stop.set()
        p = self._puller
        if p is not None:
            p.stop()

    def drain(self) -> None:
        self._draining = True
        self.stopped = True
        self._stop.set()
        p = self._puller
        if p is not None:
            p.drain()
