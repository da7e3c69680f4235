"""Test helpers shared by the JetStream suites."""

from __future__ import annotations

import itertools

WAIT = 20.0  # default bound on every wait
_names = itertools.count(1)


def bucket_name() -> str:
    """A bucket name not used before in this test run."""
    return f"b{next(_names)}"
