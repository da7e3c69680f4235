"""JetStream for natsync: nats-py 2.x's ``nats.js`` without ``await``.

``nc.jetstream()`` returns a :class:`JetStreamContext`, ``nc.jsm()`` a
:class:`JetStreamManager`. Types are in :mod:`natsync.js.api`, errors in
:mod:`natsync.js.errors`.

The wire layer both JetStream facades share, with no dependency on this facade:

* :mod:`natsync.js.api_request`  JSON API requests, prefix/domain, error mapping
* :mod:`natsync.js.names`        name and argument validation
* :mod:`natsync.js.status`       status-message classification (100/404/408/409/...)
* :mod:`natsync.js.pullreq`      the pull request JSON
* :mod:`natsync.protocol.jsack`  ack payloads and ack-subject metadata parsing
  (``Msg.ack()``, ``nak()``, ``term()``, ``in_progress()``, ``metadata`` use it)

The nats-py style facade itself:

* :mod:`natsync.js.manager`        JetStreamManager: streams, consumers, messages
* :mod:`natsync.js.client`         JetStreamContext: publish, subscriptions, KV/Object Store
* :mod:`natsync.js.async_publish`  publish_async: the window, ack timeouts, failures on loss
* :mod:`natsync.js.pull`           PullSubscription and fetch
* :mod:`natsync.js.push`           PushSubscription and the ordered consumer
"""

from __future__ import annotations

from . import api, errors
from .client import JetStreamContext
from .manager import JetStreamManager

__all__ = ["JetStreamContext", "JetStreamManager", "api", "errors"]
