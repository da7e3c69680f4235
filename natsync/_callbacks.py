"""The connection-event thread: runs error_cb, disconnected_cb, reconnected_cb,
closed_cb, discovered_server_cb and lame_duck_mode_cb one at a time, in event
order, never on the reader thread and never under a lock.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any, Callable, Deque, Optional, Tuple

log = logging.getLogger("natsync")

_STOP = object()


class CallbackThread:
    """A single ordered queue of callables, run by one daemon thread."""

    def __init__(self, on_error: Callable[[Exception], None], name: str) -> None:
        self._on_error = on_error
        self._name = name
        self._q: Deque[Tuple[Any, Tuple[Any, ...]]] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._thread: Optional[threading.Thread] = None
        self._stopping = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def submit(self, fn: Optional[Callable[..., Any]], *args: Any) -> None:
        if fn is None:
            return
        with self._cond:
            if self._stopping:
                return
            self._q.append((fn, args))
            self._cond.notify()

    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self, timeout: float) -> None:
        """Run what is queued, then stop; joins unless called from the thread itself."""
        with self._cond:
            if not self._stopping:
                self._stopping = True
                self._q.append((_STOP, ()))
                self._cond.notify()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            if t.is_alive():
                log.warning("natsync: a connection callback did not return within %.1fs", timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._q:
                    self._cond.wait(5.0)
                fn, args = self._q.popleft()
            if fn is _STOP:
                return
            try:
                fn(*args)
            except Exception as exc:
                try:
                    self._on_error(exc)
                except Exception:  # error_cb itself failed: log, go on
                    log.exception("natsync: error callback raised")
