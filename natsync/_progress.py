"""A dependency-free progress display for the ``natsync`` command.

On a terminal the bar is redrawn in place with ``\\r``, at most ``1 / interval``
times a second; elsewhere (a pipe, a CI log) a plain line is written each time
another ``step`` percent is done, so logs stay short and readable.

``render_bar`` is pure (no clock, no stream) so it can be tested directly.
:class:`Poller` samples a counter on a thread of its own, which keeps drawing
out of the hot loops that do the counting.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Callable, Optional, TextIO, Type

__all__ = ["Poller", "Progress", "format_eta", "render_bar"]

BAR_WIDTH = 30
REDRAW_INTERVAL = 0.1
PLAIN_STEP = 10


def format_eta(seconds: float) -> str:
    """``seconds`` as ``"7s"``, ``"2m05s"`` or ``"1h02m"``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def render_bar(
    done: int,
    total: int,
    *,
    elapsed: float = 0.0,
    label: str = "",
    unit: str = "msgs",
    width: int = BAR_WIDTH,
) -> str:
    """One line: ``label [=====>    ]  45% 45,000/100,000 msgs 12,345 msgs/s ETA 4s``."""
    frac = 0.0 if total <= 0 else min(max(done / total, 0.0), 1.0)
    filled = int(frac * width)
    if filled >= width:
        bar = "=" * width
    else:
        bar = "=" * filled + ">" + " " * (width - filled - 1)
    parts = [f"{label} " if label else "", f"[{bar}] {frac * 100:3.0f}% {done:,}/{total:,} {unit}"]
    if elapsed > 0 and done > 0:
        rate = done / elapsed
        parts.append(f" {rate:,.0f} {unit}/s")
        if done < total:
            parts.append(f" ETA {format_eta((total - done) / rate)}")
    return "".join(parts)


class Progress:
    """Progress of ``total`` units of work, drawn on ``stream`` (default stderr).

    ``tty`` chooses the style; None asks ``stream.isatty()``. ``clock`` is
    injectable for tests.
    """

    def __init__(
        self,
        total: int,
        *,
        label: str = "",
        unit: str = "msgs",
        stream: Optional[TextIO] = None,
        tty: Optional[bool] = None,
        interval: float = REDRAW_INTERVAL,
        step: int = PLAIN_STEP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.unit = unit
        self.stream: TextIO = stream if stream is not None else sys.stderr
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty()) if callable(isatty) else False
        self.tty = tty
        self.interval = interval
        self.step = max(1, min(100, step))
        self._clock = clock
        self._start = clock()
        self._last_draw = float("-inf")
        self._last_len = 0
        self._last_milestone = 0
        self._finished = False

    def update(self, done: int, *, force: bool = False) -> None:
        """Record that ``done`` units are complete; draw if it is time to."""
        if self._finished:
            return
        now = self._clock()
        if self.tty:
            if force or now - self._last_draw >= self.interval:
                self._last_draw = now
                self._draw(done, now)
            return
        if self.total <= 0:
            return
        pct = min(100, done * 100 // self.total)
        milestone = pct // self.step * self.step
        if milestone > self._last_milestone:
            self._last_milestone = milestone
            elapsed = now - self._start
            rate = f", {done / elapsed:,.0f} {self.unit}/s" if elapsed > 0 else ""
            prefix = f"{self.label}: " if self.label else ""
            self._write(f"{prefix}{milestone}% ({done:,}/{self.total:,} {self.unit}{rate})\n")

    def finish(self, done: int) -> None:
        """Draw the final state and end the line (idempotent)."""
        if self._finished:
            return
        if self.tty:
            self._draw(done, self._clock())
            self._write("\n")
        else:
            self.update(done)
        self._finished = True

    def _draw(self, done: int, now: float) -> None:
        line = render_bar(
            done, self.total, elapsed=now - self._start, label=self.label, unit=self.unit
        )
        pad = " " * max(0, self._last_len - len(line))
        self._last_len = len(line)
        self._write("\r" + line + pad)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: progress is optional
            pass


class Poller:
    """Sample ``read()`` every ``progress.interval`` seconds on a thread and draw it.

    A context manager: the thread starts on entry; on exit it stops and the
    final value is drawn with :meth:`Progress.finish`.
    """

    def __init__(self, progress: Progress, read: Callable[[], int]) -> None:
        self.progress = progress
        self.read = read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="natsync-cli-progress", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.progress.interval):
            self.progress.update(self.read())

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self.progress.finish(self.read())
