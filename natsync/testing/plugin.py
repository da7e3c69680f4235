"""pytest plugin: fixtures that run real ``nats-server`` processes.

Fixtures (function scope, each server on free loopback ports, closed after the test):

``nats_server``
    a plain started :class:`~natsync.testing.NatsServer`.
``jetstream_server``
    a started server with JetStream enabled.
``nats_server_factory``
    ``factory(**kwargs) -> NatsServer``: start servers with any
    :class:`~natsync.testing.NatsServer` options; all are closed at teardown.
``nats_cluster``
    a started 3-node :class:`~natsync.testing.NatsCluster` with its routes formed.

When a test fails, the end of the log of every server it started (through a fixture
or directly) is added to the report as a "nats-server log" section.

Installed natsync registers this plugin under the name ``natsync``; load it by hand
with ``pytest -p natsync.testing.plugin`` or ``pytest_plugins`` when it is not installed.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import Any, Callable

import pytest

from natsync.testing.cluster import NatsCluster
from natsync.testing.server import (
    LOG_TAIL_LINES,
    NatsServer,
    _add_start_listener,
    find_nats_server,
)

__all__ = [
    "format_server_logs",
    "jetstream_server",
    "nats_cluster",
    "nats_server",
    "nats_server_factory",
]

SECTION_TITLE = "nats-server log"

_servers_key = pytest.StashKey[list[NatsServer]]()

# The items whose protocol is running, innermost last (pytester nests sessions).
_running_items: list[pytest.Item] = []


def _record_started(server: NatsServer) -> None:
    """Remember ``server`` on the test item that is running, for the failure report."""
    if not _running_items:
        return
    started = _running_items[-1].stash.setdefault(_servers_key, [])
    if not any(s is server for s in started):
        started.append(server)


_add_start_listener(_record_started)


def format_server_logs(servers: Sequence[NatsServer], lines: int = LOG_TAIL_LINES) -> list[tuple[str, str]]:
    """The report sections for ``servers``: ``(title, last lines of the log)`` each."""
    sections = []
    for index, server in enumerate(servers):
        label = server.name or f"#{index + 1}"
        state = f"pid {server.pid}, running" if server.is_running else f"pid {server.pid}, stopped"
        title = f"{SECTION_TITLE} {label} ({server.url}, {state})"
        text = server.log_tail(lines)
        sections.append((title, text if text else "(the log is empty)"))
    return sections


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _running_items.append(item)
    try:
        yield
    finally:
        if _running_items and _running_items[-1] is item:
            _running_items.pop()
        elif item in _running_items:  # pragma: no cover - unbalanced nesting
            _running_items.remove(item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    servers = item.stash.get(_servers_key, [])
    for title, text in format_server_logs(servers):
        report.sections.append((title, text))


def _require_binary() -> None:
    """Fail the test (not error deep in a fixture) with install advice when there is no binary."""
    try:
        find_nats_server()
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def nats_server_factory() -> Generator[Callable[..., NatsServer], None, None]:
    """``factory(**kwargs)`` starts a :class:`NatsServer`; every one is closed at teardown."""
    _require_binary()
    servers: list[NatsServer] = []

    def factory(**kwargs: Any) -> NatsServer:
        server = NatsServer(**kwargs)
        servers.append(server)
        return server.start()

    try:
        yield factory
    finally:
        for server in reversed(servers):
            server.close()


@pytest.fixture
def nats_server(nats_server_factory: Callable[..., NatsServer]) -> NatsServer:
    """A started plain nats-server on a free loopback port."""
    return nats_server_factory()


@pytest.fixture
def jetstream_server(nats_server_factory: Callable[..., NatsServer]) -> NatsServer:
    """A started nats-server with JetStream enabled (store in a temp dir)."""
    return nats_server_factory(jetstream=True)


@pytest.fixture
def nats_cluster() -> Generator[NatsCluster, None, None]:
    """A started 3-node cluster whose routes are formed."""
    _require_binary()
    cluster = NatsCluster(3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
