"""The continuous pull state machine of ADR-37, with no I/O, threads or clocks.

``PullOptions`` are the validated settings of ``messages()``/``consume()``;
``PullState`` keeps the pending counts (messages and bytes requested from the
server and not yet received) and decides when to send the next pull request:

* the first pull asks for ``max_messages`` (or ``max_bytes``);
* each received message lowers the counts (bytes sized as the server sizes them:
  subject + reply + header block + payload);
* when a count drops to its refill threshold (half by default) the next pull asks
  for what is missing and the counts are full again;
* a ``408``/``409`` status carries ``Nats-Pending-Messages``/``Nats-Pending-Bytes``:
  what that ended request will never deliver, taken off the counts;
* ``409 Leadership Change``, a missed heartbeat and a reconnect reset the counts to
  zero, so the next check pulls a full batch; while disconnected nothing is pulled.

``pull_action`` maps a status message (code + description), classified by the
shared table of :mod:`natsync.js.status`, to what a continuous pull does with it. The driver in
``_puller.py`` calls into this module under its own lock and does the I/O.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ..js.errors import InvalidArgumentError
from ..js.pullreq import pull_request
from ..js.status import StatusKind, classify

DEFAULT_MAX_MESSAGES = 500
#: ``batch`` of a pull limited by bytes only (nats.go and nats.py do the same).
BYTES_ONLY_BATCH = 1_000_000
DEFAULT_EXPIRES = 30.0
MIN_EXPIRES = 1.0
MAX_HEARTBEAT = 30.0


@dataclass(frozen=True)
class PullRequest:
    """One pull request: the JSON body of ``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``."""

    batch: int
    max_bytes: int = 0
    expires: float = 0.0
    heartbeat: float = 0.0
    no_wait: bool = False

    def to_json(self) -> bytes:
        return pull_request(self.batch, expires=self.expires or None, no_wait=self.no_wait,
                            max_bytes=self.max_bytes or None, heartbeat=self.heartbeat or None)


@dataclass(frozen=True)
class PullOptions:
    """Validated settings of a continuous pull (``messages()`` / ``consume()``)."""

    max_messages: int
    max_bytes: int  # 0: no byte limit
    expires: float
    heartbeat: float
    threshold_messages: int
    threshold_bytes: int

    @classmethod
    def build(
        cls,
        max_messages: Optional[int] = None,
        max_bytes: Optional[int] = None,
        max_wait: Optional[float] = None,
        heartbeat: Optional[float] = None,
        threshold_messages: Optional[int] = None,
        threshold_bytes: Optional[int] = None,
    ) -> PullOptions:
        """Check the arguments (before anything is sent) and apply ADR-37's defaults.

        ``max_wait`` is the ``expires`` of each pull request (default 30 s, at least
        1 s); the heartbeat defaults to half of it, capped at 30 s."""
        if max_messages is not None and max_bytes is not None:
            raise InvalidArgumentError(
                "max_messages and max_bytes cannot be used together: pass one of them "
                "(max_bytes alone pulls as many messages as fit in that many bytes)")
        if max_messages is not None:
            _check_positive_int("max_messages", max_messages)
        if max_bytes is not None:
            _check_positive_int("max_bytes", max_bytes)
        expires = DEFAULT_EXPIRES if max_wait is None else _check_seconds("max_wait", max_wait)
        if expires < MIN_EXPIRES:
            raise InvalidArgumentError(
                f"max_wait (the expiry of each pull request) must be at least "
                f"{MIN_EXPIRES:g} s, got {expires:g}; use fetch() for shorter waits")
        if heartbeat is None:
            hb = min(expires / 2, MAX_HEARTBEAT)
        else:
            hb = _check_seconds("heartbeat", heartbeat)
            if hb > expires / 2:
                raise InvalidArgumentError(
                    f"heartbeat {hb:g} s is more than half of max_wait {expires:g} s; "
                    "the server could not send one before a pull request expires. Lower it "
                    "or raise max_wait")
            if hb > MAX_HEARTBEAT:
                raise InvalidArgumentError(
                    f"heartbeat must be at most {MAX_HEARTBEAT:g} s, got {hb:g}")
        if max_bytes is not None:
            msgs, nbytes = BYTES_ONLY_BATCH, max_bytes
        else:
            msgs, nbytes = (DEFAULT_MAX_MESSAGES if max_messages is None else max_messages), 0
        t_msgs = math.ceil(msgs / 2) if threshold_messages is None else threshold_messages
        t_bytes = math.ceil(nbytes / 2) if threshold_bytes is None else threshold_bytes
        if not 0 <= t_msgs < msgs or not (nbytes == 0 or 0 <= t_bytes < nbytes):
            raise InvalidArgumentError(
                "a refill threshold must be at least 0 and below max_messages/max_bytes "
                f"(got threshold_messages={t_msgs}, threshold_bytes={t_bytes})")
        return cls(msgs, nbytes, expires, hb, t_msgs, t_bytes)


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")


def _check_seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidArgumentError(
            f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


class Status(enum.Enum):
    """What a continuous pull does with a status message."""

    IGNORE = "ignore"  # 100 heartbeat / flow control: the consumer is alive
    END = "end"  # 404, 408, 409 max bytes: that request is over, no error
    WARNING = "warning"  # 409 exceeded limits and others: report, go on
    RESET = "reset"  # 409 leadership change / server shutdown: counts to zero, pull again
    NO_RESPONDERS = "no_responders"  # 503: nobody serves the pull (consumer gone or JS down)
    TERMINAL = "terminal"  # 409 consumer deleted / push based, 400: the pull cannot go on


def pull_action(code: int, description: str) -> Status:
    """The ADR-37 action for a status, from the shared table in :mod:`natsync.js.status`."""
    kind = classify(code, description)
    if kind in (StatusKind.HEARTBEAT, StatusKind.FLOW_CONTROL, StatusKind.MESSAGE):
        return Status.IGNORE
    if kind is StatusKind.REQUEST_DONE:
        low = description.lower()
        return Status.RESET if ("leadership" in low or "shutdown" in low) else Status.END
    if kind in (StatusKind.NO_MESSAGES, StatusKind.REQUEST_TIMEOUT):
        return Status.END
    if kind is StatusKind.WARNING:
        return Status.WARNING
    if kind is StatusKind.NO_RESPONDERS:
        return Status.NO_RESPONDERS
    return Status.TERMINAL


def parse_pending(headers: Optional[Dict[str, Any]]) -> Tuple[int, int]:
    """``Nats-Pending-Messages`` and ``Nats-Pending-Bytes`` of a 408/409 (0 when absent)."""
    if not headers:
        return 0, 0
    return _int_header(headers, "Nats-Pending-Messages"), _int_header(headers, "Nats-Pending-Bytes")


def _int_header(headers: Dict[str, Any], key: str) -> int:
    v = headers.get(key)
    if isinstance(v, list):
        v = v[0] if v else None
    try:
        return max(int(v), 0) if v is not None else 0
    except ValueError:
        return 0


class PullState:
    """Pending counts and the refill rule; not thread-safe (the driver locks)."""

    __slots__ = ("opts", "pending_msgs", "pending_bytes", "paused", "pulls")

    def __init__(self, opts: PullOptions) -> None:
        self.opts = opts
        self.pending_msgs = 0
        self.pending_bytes = 0
        self.paused = False
        self.pulls = 0  # pull requests made, for the curious and the tests

    def check(self) -> Optional[PullRequest]:
        """The pull request to send now, if a count is at or below its threshold."""
        o = self.opts
        if self.paused:
            return None
        low_msgs = self.pending_msgs <= o.threshold_messages
        low_bytes = o.max_bytes > 0 and self.pending_bytes <= o.threshold_bytes
        if not (low_msgs or low_bytes):
            return None
        if o.max_bytes > 0:
            batch, nbytes = o.max_messages, o.max_bytes - self.pending_bytes
        else:
            batch, nbytes = o.max_messages - self.pending_msgs, 0
        if batch <= 0 or (o.max_bytes > 0 and nbytes <= 0):
            return None
        self.pending_msgs = o.max_messages
        self.pending_bytes = o.max_bytes
        self.pulls += 1
        return PullRequest(batch, nbytes, o.expires, o.heartbeat)

    def on_message(self, size: int) -> Optional[PullRequest]:
        """A message was delivered to the application."""
        self.pending_msgs = max(self.pending_msgs - 1, 0)
        if self.opts.max_bytes:
            self.pending_bytes = max(self.pending_bytes - size, 0)
        return self.check()

    def on_status(self, kind: Status, pending: Tuple[int, int]) -> Optional[PullRequest]:
        """A status message of ``kind`` with the ``(messages, bytes)`` it says are void."""
        if kind is Status.RESET:
            self.reset()
        elif kind in (Status.END, Status.WARNING):
            msgs, nbytes = pending
            self.pending_msgs = max(self.pending_msgs - msgs, 0)
            if self.opts.max_bytes:
                self.pending_bytes = max(self.pending_bytes - nbytes, 0)
        elif kind is Status.NO_RESPONDERS:
            # that pull reached nobody: nothing is pending; the driver retries later
            self.reset()
            return None
        else:
            return None
        return self.check()

    def reset(self) -> None:
        """Forget what is pending: the next check pulls a full batch."""
        self.pending_msgs = 0
        self.pending_bytes = 0

    def on_disconnect(self) -> None:
        self.paused = True

    def on_reconnect(self) -> Optional[PullRequest]:
        """Connected again: pull requests made before are lost, pull afresh."""
        self.paused = False
        self.reset()
        return self.check()
