"""Fixtures shared by the integration suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from natsync.testing import NatsServer


@pytest.fixture(scope="module")
def js_server() -> Iterator[NatsServer]:
    """One nats-server with JetStream (store in a temp dir) for each test module."""
    with NatsServer(jetstream=True) as srv:
        yield srv
