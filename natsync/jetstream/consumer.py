"""``Consumer``: a handle on one pull consumer (nats.py v3's ``PullConsumer``).

``fetch``/``fetch_nowait``/``next`` send one pull request each; ``messages()`` and
``consume(cb)`` pull continuously with prefetch, refill thresholds, heartbeats and
pause/resume across outages (ADR-37). Arguments are checked before anything is
sent; bad ones raise :class:`~natsync.js.errors.InvalidArgumentError`.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Union

from .. import errors as core_errors
from ..js import api
from ..js import errors as js_errors
from ..js.pullreq import next_subject
from . import errors
from ._puller import Puller
from ._pullstate import BYTES_ONLY_BATCH, MAX_HEARTBEAT, PullOptions, PullRequest
from ._types import JetStreamLike
from .consume import ConsumeContext, MessageHandler, MessageStream, PullerSource
from .fetch import CLIENT_MARGIN, MessageBatch

if TYPE_CHECKING:  # pragma: no cover
    from .._client_api import ClientAPI
    from ..msg import Msg

__all__ = ["Consumer", "ErrorCallback", "DEFAULT_FETCH_WAIT"]

log = logging.getLogger("natsync.jetstream")

ErrorCallback = Callable[[BaseException], None]
#: ``max_wait`` of ``fetch()`` when none is given (nats.py v3 and nats.go: 30 s).
DEFAULT_FETCH_WAIT = 30.0


def reporter(nc: ClientAPI, error_cb: Optional[ErrorCallback]) -> ErrorCallback:
    """Where warnings and errors of a pull go: ``error_cb``, else the client's, else the log."""
    if error_cb is not None and not callable(error_cb):
        raise errors.InvalidArgumentError("error_cb must be a callable taking an exception")

    def report(exc: BaseException) -> None:
        cb: Optional[Callable[[Any], None]] = error_cb
        if cb is None and nc.options is not None:
            cb = nc.options.error_cb
        if cb is None:
            log.warning("natsync.jetstream: %s", exc)
            return
        try:
            cb(exc)
        except Exception:
            log.exception("natsync.jetstream: error_cb raised")

    return report


def fetch_request(max_messages: Optional[int], max_bytes: Optional[int], max_wait: Optional[float],
                  heartbeat: Optional[float], no_wait: bool = False) -> PullRequest:
    """Check fetch arguments (before anything is sent) and build the pull request."""
    if max_messages is not None and max_bytes is not None:
        raise errors.InvalidArgumentError(
            "max_messages and max_bytes cannot be used together: pass one of them")
    if max_messages is None and max_bytes is None:
        raise errors.InvalidArgumentError(
            "pass max_messages= (how many messages) or max_bytes= (how many bytes)")
    for name, val in (("max_messages", max_messages), ("max_bytes", max_bytes)):
        if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < 1):
            raise errors.InvalidArgumentError(f"{name} must be a positive integer, got {val!r}")
    batch = max_messages if max_messages is not None else (1 if no_wait else BYTES_ONLY_BATCH)
    if no_wait:
        return PullRequest(batch, max_bytes or 0, 0.0, 0.0, no_wait=True)
    wait = DEFAULT_FETCH_WAIT if max_wait is None else _seconds("max_wait", max_wait)
    hb = 0.0
    if heartbeat is not None:
        hb = _seconds("heartbeat", heartbeat)
        if hb > wait / 2:
            raise errors.InvalidArgumentError(
                f"heartbeat {hb:g} s is more than half of max_wait {wait:g} s; lower it "
                "or raise max_wait")
        if hb > MAX_HEARTBEAT:
            raise errors.InvalidArgumentError(f"heartbeat must be at most {MAX_HEARTBEAT:g} s")
    return PullRequest(batch, max_bytes or 0, wait, hb)


def _seconds(name: str, val: object) -> float:
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not val > 0:
        raise errors.InvalidArgumentError(
            f"{name} must be a positive number of seconds, got {val!r}")
    return float(val)


class Consumer:
    """A pull consumer of a stream. Get one from ``stream.create_consumer(...)``,
    ``stream.get_consumer(name)`` or ``js.get_consumer(stream, name)``."""

    def __init__(self, js: JetStreamLike, stream: str, info: api.ConsumerInfo) -> None:
        self._js = js
        self._nc = js.client
        self._stream = stream
        self._info = info
        self._name = str(info.name)
        self._subject = next_subject(js.api_prefix, stream, self._name)
        self._active: List[Union[MessageStream, ConsumeContext]] = []
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    @property
    def stream_name(self) -> str:
        return self._stream

    @property
    def info(self) -> api.ConsumerInfo:
        """The consumer info as last fetched (see :meth:`get_info`)."""
        return self._info

    def get_info(self) -> api.ConsumerInfo:
        """Fetch the consumer info from the server (and keep it in :attr:`info`)."""
        self._info = self._js.get_consumer_info(self._stream, self._name)
        return self._info

    # ------------------------------------------------------------ one pull
    def fetch(self, max_messages: Optional[int] = None, max_bytes: Optional[int] = None,
              max_wait: Optional[float] = None, heartbeat: Optional[float] = None) -> MessageBatch:
        """One pull request for up to ``max_messages`` (or ``max_bytes``), waiting up to
        ``max_wait`` seconds (default 30) for them. Returns the batch at once; iterate it
        to get the messages as they arrive. An empty batch is not an error; ``batch.error``
        tells why a batch ended early."""
        req = fetch_request(max_messages, max_bytes, max_wait, heartbeat)
        return MessageBatch(self._nc, self._subject, req, req.expires + CLIENT_MARGIN,
                            self._stream, self._name)

    def fetch_nowait(self, max_messages: Optional[int] = None,
                     max_bytes: Optional[int] = None) -> MessageBatch:
        """What the consumer has right now, up to ``max_messages`` (or ``max_bytes``),
        without waiting for more."""
        req = fetch_request(max_messages, max_bytes, None, None, no_wait=True)
        return MessageBatch(self._nc, self._subject, req, self._js.timeout, self._stream,
                            self._name)

    def next(self, max_wait: float = 5.0, heartbeat: Optional[float] = None) -> Msg:
        """The next message, waiting up to ``max_wait`` seconds. Raises
        :class:`natsync.errors.TimeoutError` when none came, or why the pull failed."""
        batch = self.fetch(max_messages=1, max_wait=max_wait, heartbeat=heartbeat)
        for msg in batch:
            return msg
        if batch.error is not None:
            raise batch.error
        raise core_errors.TimeoutError(
            f"nats: no message from consumer {self._name!r} of stream {self._stream!r} "
            f"within {max_wait}s")

    # ------------------------------------------------------ continuous pull
    def _puller(self, max_messages: Optional[int], max_bytes: Optional[int],
                max_wait: Optional[float], heartbeat: Optional[float],
                threshold_messages: Optional[int], threshold_bytes: Optional[int],
                report: ErrorCallback) -> Puller:
        opts = PullOptions.build(max_messages, max_bytes, max_wait, heartbeat,
                                 threshold_messages, threshold_bytes)
        return Puller(self._nc, self._subject, self._stream, self._name, opts, report,
                      self._check_exists)

    def _check_exists(self) -> Optional[BaseException]:
        """After a 503: the error that ends the pull if the consumer is gone, else None.

        In a cluster, a consumer (or stream) without a leader can answer "not found"
        to an info request during an election, so "gone" also needs the name to be
        missing from the stream's (or account's) list of names, which the cluster's
        meta layer keeps through elections."""
        try:
            self._js.get_consumer_info(self._stream, self._name)
            return None
        except (js_errors.ConsumerNotFoundError, js_errors.StreamNotFoundError) as exc:
            cause: BaseException = exc
        except core_errors.Error:
            return None  # not reachable right now: keep trying
        try:
            if self._stream in self._js.stream_names() and \
                    self._name in self._js.consumer_names(self._stream):
                return None
        except js_errors.StreamNotFoundError:
            pass
        except core_errors.Error:
            return None
        return errors.ConsumerDeletedError(
            f"nats: consumer {self._name!r} of stream {self._stream!r} no longer exists "
            f"({cause}); create it again to go on consuming", code=404,
            stream=self._stream, consumer=self._name)

    def messages(self, max_messages: Optional[int] = None, max_bytes: Optional[int] = None,
                 max_wait: Optional[float] = None, heartbeat: Optional[float] = None, *,
                 threshold_messages: Optional[int] = None, threshold_bytes: Optional[int] = None,
                 error_cb: Optional[ErrorCallback] = None) -> MessageStream:
        """A blocking iterator over the consumer's messages, pulled ahead.

        Up to ``max_messages`` (default 500) or ``max_bytes`` are kept requested;
        a new pull request goes out when the count drops to the threshold (half by
        default). ``max_wait`` is each request's expiry (default 30 s, at least 1 s),
        ``heartbeat`` the idle heartbeat (default half of that, at most 30 s).
        Warnings go to ``error_cb`` (default: the client's)."""
        report = reporter(self._nc, error_cb)
        p = self._puller(max_messages, max_bytes, max_wait, heartbeat, threshold_messages,
                         threshold_bytes, report)
        ms = MessageStream(PullerSource(p))
        self._track(ms)
        return ms

    def consume(self, cb: MessageHandler, max_messages: Optional[int] = None,
                max_bytes: Optional[int] = None, max_wait: Optional[float] = None,
                heartbeat: Optional[float] = None, *, threshold_messages: Optional[int] = None,
                threshold_bytes: Optional[int] = None,
                error_cb: Optional[ErrorCallback] = None) -> ConsumeContext:
        """Call ``cb(msg)`` for each message on a thread this consumer owns, with the
        prefetch of :meth:`messages`; returns a handle with ``stop()``, ``drain()``
        and ``closed()``. Errors (a raising ``cb``, warnings, a deleted consumer) go
        to ``error_cb`` (default: the client's)."""
        if not callable(cb):
            raise errors.InvalidArgumentError("consume() needs a callable cb(msg)")
        report = reporter(self._nc, error_cb)
        p = self._puller(max_messages, max_bytes, max_wait, heartbeat, threshold_messages,
                         threshold_bytes, report)
        cc = ConsumeContext(PullerSource(p), cb, report)
        self._track(cc)
        return cc

    def _track(self, item: Union[MessageStream, ConsumeContext]) -> None:
        with self._lock:
            self._active = [a for a in self._active if not _ended(a)]
            self._active.append(item)

    def close(self) -> None:
        """Stop every ``messages()`` and ``consume()`` of this handle."""
        with self._lock:
            active, self._active = self._active, []
        for a in active:
            a.stop()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Consumer {self._stream}/{self._name}>"


def _ended(item: Union[MessageStream, ConsumeContext]) -> bool:
    if isinstance(item, ConsumeContext):
        return item.closed().is_set()
    return item.is_done
