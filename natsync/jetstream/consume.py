"""``messages()`` and ``consume()``: continuous consumption that survives outages.

:class:`MessageStream` is the blocking iterator ``consumer.messages()`` returns
(nats.py v3's ``MessageStream``, with ``for`` instead of ``async for``);
:class:`ConsumeContext` is the handle ``consumer.consume(cb)`` returns (nats.go's
``ConsumeContext``): ``cb`` runs for each message on a thread the consumer owns.
Both are thin shells over one pull driver, :class:`natsync.jetstream._puller.Puller`.
"""

from __future__ import annotations

import itertools
import logging
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Type

from .. import errors as core_errors
from . import errors
from ._puller import Puller, Restart

if TYPE_CHECKING:  # pragma: no cover
    from ..msg import Msg

__all__ = ["MessageStream", "ConsumeContext", "MessageHandler"]

log = logging.getLogger("natsync.jetstream")

MessageHandler = Callable[["Msg"], None]
#: How long ``stop()``/``drain()`` of a consume() wait for its thread to finish.
JOIN_TIMEOUT = 30.0
_ids = itertools.count(1)


class _PullSource:
    """What MessageStream and ConsumeContext iterate: a Puller, or an ordered
    consumer's chain of Pullers (which recreates itself)."""

    def next_msg(self, timeout: Optional[float]) -> Optional[Msg]:  # pragma: no cover
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def drain(self) -> None:  # pragma: no cover
        raise NotImplementedError

    @property
    def pull_requests(self) -> int:  # pragma: no cover
        raise NotImplementedError


class PullerSource(_PullSource):
    """A plain consumer: one Puller for the whole run."""

    def __init__(self, puller: Puller) -> None:
        self.puller = puller

    def next_msg(self, timeout: Optional[float]) -> Optional[Msg]:
        try:
            return self.puller.next_msg(timeout)
        except Restart as r:  # pragma: no cover - only ordered pulls restart
            raise core_errors.Error(f"nats: unexpected restart of a pull: {r}") from None

    def stop(self) -> None:
        self.puller.stop()

    def drain(self) -> None:
        self.puller.drain()

    @property
    def pull_requests(self) -> int:
        return self.puller.pull_requests


class MessageStream:
    """A blocking iterator over a consumer's messages, pulled ahead in batches.

    ::

        with consumer.messages(max_messages=200) as msgs:
            for msg in msgs:
                handle(msg)
                msg.ack()

    Iteration ends after :meth:`stop` or :meth:`drain` (and when the client closes);
    it never ends because of an outage. A deleted consumer ends it with
    :class:`~natsync.jetstream.errors.ConsumerDeletedError`.
    """

    def __init__(self, source: _PullSource) -> None:
        self._source = source
        self._done = False

    def __iter__(self) -> Iterator[Msg]:
        return self

    def __next__(self) -> Msg:
        if self._done:
            raise StopIteration
        msg = self._source.next_msg(None)
        if msg is None:
            self._done = True
            raise StopIteration
        return msg

    def next(self, timeout: Optional[float] = None) -> Msg:
        """The next message, waiting up to ``timeout`` seconds (None: until one comes).

        Raises :class:`natsync.errors.TimeoutError` when none came in time and
        :class:`~natsync.jetstream.errors.MessagesStoppedError` once stopped."""
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise errors.InvalidArgumentError(
                f"timeout must be a positive number of seconds or None, got {timeout!r}")
        msg = None if self._done else self._source.next_msg(timeout)
        if msg is None:
            self._done = True
            raise errors.MessagesStoppedError(
                "nats: this messages() iterator was stopped or drained (or the client closed); "
                "call consumer.messages() again to go on")
        return msg

    def stop(self) -> None:
        """Stop at once: pull no more; messages already received and not yet taken are
        dropped (unacknowledged, so the server delivers them again)."""
        self._source.stop()

    def drain(self) -> None:
        """Pull no more, but go on yielding what already arrived, then end."""
        self._source.drain()

    @property
    def pull_requests(self) -> int:
        """How many pull requests were sent (the refill threshold keeps it low)."""
        return self._source.pull_requests

    @property
    def is_done(self) -> bool:
        """True once iteration has ended."""
        return self._done

    def __enter__(self) -> MessageStream:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()


class ConsumeContext:
    """The handle of ``consumer.consume(cb)``: ``stop()``, ``drain()``, ``closed()``.

    ``cb(msg)`` runs for each message on a thread this handle owns, one message at
    a time, in order. An exception from ``cb`` goes to ``error_cb`` and consumption
    goes on; warnings (missed heartbeats, 409s) go there too; a terminal error (the
    consumer was deleted) goes there and ends consumption.
    """

    def __init__(self, source: _PullSource, cb: MessageHandler,
                 report: Callable[[BaseException], None]) -> None:
        self._source = source
        self._cb = cb
        self._report = report
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"natsync-consume-{next(_ids)}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                try:
                    msg = self._source.next_msg(None)
                except core_errors.Error as exc:
                    self._report(exc)  # terminal: the consumer is gone
                    self._source.stop()
                    return
                if msg is None:
                    return
                try:
                    self._cb(msg)
                except Exception as exc:
                    self._report(exc)
        finally:
            self._closed.set()

    def stop(self) -> None:
        """Stop at once and wait for the thread (unless called from ``cb`` itself)."""
        self._source.stop()
        self._join()

    def drain(self) -> None:
        """Pull no more, hand what already arrived to ``cb``, then end; waits for that
        (unless called from ``cb`` itself)."""
        self._source.drain()
        self._join()

    def _join(self) -> None:
        if threading.current_thread() is not self._thread:
            self._thread.join(JOIN_TIMEOUT)
            if self._thread.is_alive():
                log.warning("natsync: a consume() callback did not return within %.0f s",
                            JOIN_TIMEOUT)

    def closed(self) -> threading.Event:
        """An event set once consumption has ended (``closed().wait(timeout)``)."""
        return self._closed

    @property
    def pull_requests(self) -> int:
        """How many pull requests were sent."""
        return self._source.pull_requests

    def __enter__(self) -> ConsumeContext:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()
