"""Fixtures shared by the integration suites.

``nc``, ``js`` and ``kv`` are the defaults of the JetStream suites; a module that needs a
client set up otherwise (another server, a stream made before each test) defines its own
fixture of that name, which takes precedence in that module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import natsync
from natsync.js.kv import KeyValue
from natsync.testing import NatsCluster, NatsServer
from tests.js_support import WAIT, bucket_name


@pytest.fixture(scope="module")
def js_server() -> Iterator[NatsServer]:
    """One nats-server with JetStream (store in a temp dir) for each test module."""
    with NatsServer(jetstream=True) as srv:
        yield srv


@pytest.fixture
def js_cluster() -> Iterator[NatsCluster]:
    """A new 3-node JetStream cluster for the test, its meta leader elected."""
    cluster = NatsCluster(3, jetstream=True)
    try:
        cluster.start()
        cluster.wait_for_jetstream(60.0)
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def nc(js_server: NatsServer) -> Iterator[natsync.Client]:
    """A client of the module's JetStream server; the streams (and so the buckets) the test
    made are deleted after it, then the client is closed."""
    with natsync.connect(js_server.url) as client:
        yield client
        jsm = client.jsm()
        for info in jsm.streams_info():
            jsm.delete_stream(info.config.name or "")


@pytest.fixture
def js(nc: natsync.Client) -> Any:
    """The JetStream context of ``nc``."""
    return nc.jetstream(timeout=WAIT)


@pytest.fixture
def kv(js: Any) -> KeyValue:
    """A new Key/Value bucket (history 10) for the test."""
    return js.create_key_value(bucket=bucket_name(), history=10)
