"""Test helpers: a thread-safe, ordered record of connection callbacks, with bounded waits,
and a bounded poll for the states that no callback reports."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest

WAIT = 20.0  # default bound on every wait

# The name each connection callback is logged under.
_NAMES = {
    "disconnected_cb": "disconnected",
    "reconnected_cb": "reconnected",
    "closed_cb": "closed",
    "discovered_server_cb": "discovered",
    "lame_duck_mode_cb": "ldm",
}


class Events:
    """Thread-safe record of connection callbacks, with waits that have a timeout.

    ``log`` holds the callbacks in the order they ran ("disconnected", "reconnected",
    "closed", "discovered", "ldm"); what error_cb got is in ``errors``.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.errors: list[BaseException] = []
        self.log: list[str] = []

    def error_cb(self, exc: BaseException) -> None:
        with self._cond:
            self.errors.append(exc)
            self._cond.notify_all()

    def _record(self, name: str) -> None:
        with self._cond:
            self.log.append(name)
            self._cond.notify_all()

    def disconnected_cb(self) -> None:
        self._record("disconnected")

    def reconnected_cb(self) -> None:
        self._record("reconnected")

    def closed_cb(self) -> None:
        self._record("closed")

    def discovered_server_cb(self) -> None:
        self._record("discovered")

    def lame_duck_mode_cb(self) -> None:
        self._record("ldm")

    def callbacks(self) -> dict[str, Any]:
        """The callbacks as keyword arguments for ``natsync.connect``."""
        cbs: dict[str, Any] = {"error_cb": self.error_cb}
        cbs.update((option, getattr(self, option)) for option in _NAMES)
        return cbs

    def wait_for(self, what: Callable[[], bool], label: str, timeout: float = WAIT) -> None:
        with self._cond:
            if not self._cond.wait_for(what, timeout):
                pytest.fail(
                    f"timed out after {timeout}s waiting for {label}; "
                    f"errors={self.errors!r} log={self.log!r}"
                )

    def wait_count(self, name: str, n: int = 1, timeout: float = WAIT) -> None:
        self.wait_for(lambda: self.log.count(name) >= n, f"{name} x{n}", timeout)

    def wait_error(self, kind: type[BaseException], n: int = 1,
                   timeout: float = WAIT) -> list[BaseException]:
        """Wait until error_cb has got ``n`` errors of ``kind``; all it got of that kind."""
        self.wait_for(
            lambda: sum(isinstance(e, kind) for e in self.errors) >= n, f"{n} {kind.__name__}",
            timeout,
        )
        with self._cond:
            return [e for e in self.errors if isinstance(e, kind)]


def wait_until(cond: Callable[[], Any], what: str = "a condition", timeout: float = WAIT) -> None:
    """Poll ``cond()`` until it is true; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
