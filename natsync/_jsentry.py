"""The ``nc.jetstream()`` and ``nc.jsm()`` entry points, mixed into Client.

Kept out of client.py so the JetStream package loads only when it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # pragma: no cover
    from ._client_api import ClientAPI
    from .js import JetStreamContext, JetStreamManager


class JetStreamEntry:
    """``jetstream()`` and ``jsm()``, as nats-py's Client has them."""

    def jetstream(self, **opts: Any) -> JetStreamContext:
        """A JetStream context: ``prefix="$JS.API"``, ``domain=None``, ``timeout=5.0``,
        ``publish_async_max_pending=4000``."""
        from .js import JetStreamContext

        return JetStreamContext(cast("ClientAPI", self), **opts)

    def jsm(self, **opts: Any) -> JetStreamManager:
        """A JetStream manager: ``prefix="$JS.API"``, ``domain=None``, ``timeout=5.0``."""
        from .js import JetStreamManager

        return JetStreamManager(cast("ClientAPI", self), **opts)
