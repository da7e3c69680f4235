"""The reconnect wait policy: a small immutable object.

``Backoff.delay(attempt, tls)`` is how long the reconnect loop waits after a
full pass over the server pool: ``time_wait`` plus a random jitter of up to
``jitter`` (plain connections) or ``jitter_tls`` (TLS connections, whose
handshakes are costlier, so clients are spread more widely). A ``delay_cb``
replaces that formula entirely. The random source is injectable, so tests are
deterministic.
"""

from __future__ import annotations

import math
import random as _random
from dataclasses import dataclass
from typing import Callable

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Reconnect wait: ``time_wait + random() * (jitter_tls if tls else jitter)``.

    ``delay_cb(attempt)``, when set, replaces the formula; its result is clamped
    at 0 (a NaN becomes 0 too). ``random`` returns a float in ``[0, 1)``.
    """

    time_wait: float = 2.0
    jitter: float = 0.1
    jitter_tls: float = 1.0
    delay_cb: Callable[[int], float] | None = None
    random: Callable[[], float] = _random.random

    def __post_init__(self) -> None:
        for name in ("time_wait", "jitter", "jitter_tls"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(
                    f"Backoff.{name} must be a number of seconds, not {type(value).__name__}"
                )
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"Backoff.{name} must be a finite number of seconds >= 0, got {value!r}"
                )
        if self.delay_cb is not None and not callable(self.delay_cb):
            raise TypeError("Backoff.delay_cb must be a callable f(attempt) -> float, or None")
        if not callable(self.random):
            raise TypeError("Backoff.random must be a callable returning a float in [0, 1)")

    def delay(self, attempt: int, tls: bool) -> float:
        """Seconds to wait before reconnect attempt number ``attempt``."""
        if self.delay_cb is not None:
            return max(0.0, float(self.delay_cb(attempt)))
        return self.time_wait + self.random() * (self.jitter_tls if tls else self.jitter)
