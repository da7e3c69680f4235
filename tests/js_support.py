"""Test helpers shared by the JetStream suites."""

from __future__ import annotations

import itertools
import os
import time
from typing import Optional

WAIT = 20.0  # default bound on every wait
_names = itertools.count(1)


def bucket_name() -> str:
    """A bucket name not used before in this test run."""
    return f"b{next(_names)}"


def wait_consumer_state_written(store_dir: Optional[str], stream: str, consumer: str,
                                since: float, timeout: float = 30.0) -> None:
    """The server writes a consumer's ack state to disk at most every 100 ms; a SIGKILL
    before that loses the newest acks and JetStream (at least once) redelivers them. Wait
    until the state file is newer than ``since`` (the last ack) so that a test after the
    SIGKILL checks natsync, not that window."""
    assert store_dir is not None
    path = os.path.join(store_dir, "jetstream", "$G", "streams", stream, "obs", consumer,
                        "o.dat")
    deadline = time.monotonic() + timeout
    while not (os.path.exists(path) and os.stat(path).st_mtime >= since):
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.05)
