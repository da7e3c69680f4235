"""Fixtures of the wire suite: the scripted fake server, clients connected to it,
and a recorder of connection callbacks (tests/conn_events.Events).

tests/conftest.py already checks that no ``natsync-`` thread outlives a test.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

import natsync
from tests.conn_events import Events
from tests.wire.fakeserver import FakeConn, FakeServer

#: Options every wire-test client gets unless the test overrides them: fast,
#: deterministic reconnects to the one fake server.
CLIENT_DEFAULTS: Dict[str, Any] = {
    "connect_timeout": 2.0,
    "reconnect_time_wait": 0.05,
    "reconnect_jitter": 0.0,
    "dont_randomize": True,
    "max_reconnect_attempts": -1,
}


def natsync_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("natsync-") and t.is_alive()]


def assert_no_thread_left(before: List[threading.Thread]) -> None:
    """connect() failed: it must not leave a natsync thread behind (a short grace
    for a thread that is already on its way out)."""
    deadline = time.monotonic() + 2.0
    while True:
        left = [t for t in natsync_threads() if t not in before]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not left, f"connect() failed but left threads behind: {[t.name for t in left]}"


def wait_for(pred: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll a client-side condition that has no event to wait on."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


class Clients:
    """Makes clients connected to fake servers and closes them all at teardown."""

    def __init__(self) -> None:
        self.made: List[natsync.Client] = []

    def new(self) -> natsync.Client:
        nc = natsync.Client()
        self.made.append(nc)
        return nc

    def connect(
        self,
        server: FakeServer,
        *,
        auto_pong: bool = True,
        info: Optional[Dict[str, Any]] = None,
        servers: Optional[List[str]] = None,
        **options: Any,
    ) -> Tuple[natsync.Client, FakeConn]:
        """Connect a client to ``server`` (the server side does the handshake on
        its own thread); returns the client and the server's connection."""

        def serve() -> FakeConn:
            conn = server.accept()
            conn.handshake(auto_pong=auto_pong, info=info)
            return conn

        bg = server.background(serve, "handshake")
        nc = self.new()
        nc.connect(servers or server.url, **dict(CLIENT_DEFAULTS, **options))
        conn: FakeConn = bg.result()
        return nc, conn

    def close_all(self) -> None:
        for nc in self.made:
            nc.close()


@pytest.fixture
def fake_server_factory() -> Iterator[Callable[..., FakeServer]]:
    made: List[FakeServer] = []

    def factory(**kwargs: Any) -> FakeServer:
        srv = FakeServer(**kwargs)
        made.append(srv)
        return srv

    yield factory
    errors: List[BaseException] = []
    for srv in made:
        errors.extend(srv.close())
    if errors:
        raise AssertionError(f"fake server script(s) failed: {errors!r}") from errors[0]


@pytest.fixture
def fake_server(fake_server_factory: Callable[..., FakeServer]) -> FakeServer:
    return fake_server_factory()


@pytest.fixture
def clients(fake_server_factory: Callable[..., FakeServer]) -> Iterator[Clients]:
    """Depends on the server factory so clients close before the servers do."""
    c = Clients()
    yield c
    c.close_all()


@pytest.fixture
def events() -> Events:
    return Events()
