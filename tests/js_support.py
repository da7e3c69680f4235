"""Test helpers shared by the JetStream suites: bucket names and a bounded wait."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

WAIT = 20.0  # default bound on every wait
_names = itertools.count(1)


def bucket_name() -> str:
    """A bucket name not used before in this test run."""
    return f"b{next(_names)}"


def wait_until(cond: Any, what: str, timeout: float = WAIT) -> None:
    """Poll ``cond()`` until it is true; fail the test naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
