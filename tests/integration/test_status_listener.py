"""Client.add_status_listener: libraries learn of outages without the user's callbacks."""

from __future__ import annotations

import threading
from typing import List

import pytest

import natsync
from natsync import State, errors
from natsync.testing import NatsServer

FAST = dict(reconnect_time_wait=0.05, reconnect_jitter=0.0, max_reconnect_attempts=-1)
WAIT = 20.0


class Seen:
    def __init__(self) -> None:
        self.states: List[State] = []
        self.cond = threading.Condition()

    def __call__(self, state: State) -> None:
        with self.cond:
            self.states.append(state)
            self.cond.notify_all()

    def wait(self, n: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.states) >= n, WAIT), self.states


def test_listener_sees_loss_reconnect_and_close(nats_server: NatsServer) -> None:
    user_events: List[str] = []
    seen = Seen()
    nc = natsync.connect(nats_server.url, reconnected_cb=lambda: user_events.append("reconnected"),
                         **FAST)
    try:
        remove = nc.add_status_listener(seen)
        gone = Seen()
        remove_gone = nc.add_status_listener(gone)
        remove_gone()
        remove_gone()  # idempotent
        nats_server.kill()
        seen.wait(1)
        assert seen.states == [State.RECONNECTING]
        nats_server.restart()
        seen.wait(2)
        assert seen.states == [State.RECONNECTING, State.CONNECTED]
        nc.flush(WAIT)
        assert nc.is_connected
    finally:
        nc.close()
    assert seen.states == [State.RECONNECTING, State.CONNECTED, State.CLOSED]
    assert gone.states == []
    assert user_events == ["reconnected"]  # the user's callback still runs
    remove()


def test_listener_must_be_callable(nats_server: NatsServer) -> None:
    with natsync.connect(nats_server.url) as nc:
        with pytest.raises(errors.Error, match="callable"):
            nc.add_status_listener("not a function")  # type: ignore[arg-type]


def test_listener_error_goes_to_error_cb(nats_server: NatsServer) -> None:
    errs: List[BaseException] = []
    done = threading.Event()

    def error_cb(exc: BaseException) -> None:
        errs.append(exc)
        done.set()

    def bad(state: State) -> None:
        raise RuntimeError("listener failed")

    nc = natsync.connect(nats_server.url, error_cb=error_cb)
    nc.add_status_listener(bad)
    nc.close()
    assert done.wait(WAIT)
    assert isinstance(errs[0], RuntimeError)
