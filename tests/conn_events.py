"""Test helper: a thread-safe record of connection callbacks, with bounded waits."""

from __future__ import annotations

import threading
from typing import Any, Callable

import pytest

WAIT = 15.0  # default bound on every wait


class Events:
    """Thread-safe record of connection callbacks, with waits that have a timeout."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.errors: list[BaseException] = []
        self.counts: dict[str, int] = {"disconnected": 0, "reconnected": 0, "closed": 0}

    def error_cb(self, exc: BaseException) -> None:
        with self._cond:
            self.errors.append(exc)
            self._cond.notify_all()

    def _bump(self, name: str) -> None:
        with self._cond:
            self.counts[name] += 1
            self._cond.notify_all()

    def disconnected_cb(self) -> None:
        self._bump("disconnected")

    def reconnected_cb(self) -> None:
        self._bump("reconnected")

    def closed_cb(self) -> None:
        self._bump("closed")

    def callbacks(self) -> dict[str, Any]:
        return {
            "error_cb": self.error_cb,
            "disconnected_cb": self.disconnected_cb,
            "reconnected_cb": self.reconnected_cb,
            "closed_cb": self.closed_cb,
        }

    def wait_for(self, what: Callable[[], bool], label: str, timeout: float = WAIT) -> None:
        with self._cond:
            if not self._cond.wait_for(what, timeout):
                pytest.fail(
                    f"timed out after {timeout}s waiting for {label}; "
                    f"errors={self.errors!r} counts={self.counts!r}"
                )

    def wait_count(self, name: str, n: int = 1) -> None:
        self.wait_for(lambda: self.counts[name] >= n, f"{name} x{n}")

    def wait_error(self, kind: type[BaseException], n: int = 1) -> list[BaseException]:
        self.wait_for(
            lambda: sum(isinstance(e, kind) for e in self.errors) >= n, f"{n} {kind.__name__}"
        )
        with self._cond:
            return [e for e in self.errors if isinstance(e, kind)]
