"""Shared test configuration: the nats-server fixtures and the thread-leak check."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest

import natsync.testing.plugin as natsync_plugin
from natsync._dispatch import CallbackPool

pytest_plugins = ["pytester"]

THREAD_PREFIX = "natsync-"
THREAD_JOIN_TIMEOUT = 5.0


def pytest_configure(config: pytest.Config) -> None:
    # An installed natsync registers the plugin itself (entry point "natsync"); load it
    # here only when it is missing, since registering the module twice is an error.
    if not config.pluginmanager.is_registered(natsync_plugin):
        config.pluginmanager.register(natsync_plugin, "natsync.testing.plugin")


@pytest.fixture(autouse=True)
def no_thread_leak() -> Iterator[None]:
    """Fail a test that leaves a natsync thread alive after its teardown."""
    before = set(threading.enumerate())
    yield
    new = [
        t
        for t in threading.enumerate()
        if t not in before and t.name.startswith(THREAD_PREFIX) and t.is_alive()
    ]
    if new:
        # A client that outlives the test (a module-scoped fixture) may have grown its
        # callback pool during it: those workers belong to an open client, not a leak.
        owned = _threads_of_open_pools()
        new = [t for t in new if t not in owned]
    deadline = time.monotonic() + THREAD_JOIN_TIMEOUT
    for thread in new:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    leaked = sorted(t.name for t in new if t.is_alive())
    if leaked:
        pytest.fail(
            f"{len(leaked)} natsync thread(s) still alive {THREAD_JOIN_TIMEOUT:g} s after the "
            f"test: {', '.join(leaked)}; close() every client the test creates",
            pytrace=False,
        )


def _threads_of_open_pools() -> set[threading.Thread]:
    owned: set[threading.Thread] = set()
    for obj in gc.get_objects():
        if isinstance(obj, CallbackPool) and not obj.closed:
            owned.update(obj.threads())
    return owned
