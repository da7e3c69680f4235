"""The Key/Value methods of ``JetStreamContext`` (nats-py's names), as a mixin.

Kept apart from the context's own module so the store is loaded only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from . import api
    from ._parent import JetStreamParent
    from .kv import KeyValue

__all__ = ["KeyValueContext"]


class KeyValueContext:
    """``create_key_value``, ``key_value`` and ``delete_key_value``; see :mod:`natsync.js.kv`."""

    def create_key_value(self, config: Optional[api.KeyValueConfig] = None, **params: Any) -> KeyValue:
        """Create a Key/Value bucket (``bucket=``, ``history=``, ``ttl=``, ... or a
        :class:`~natsync.js.api.KeyValueConfig`) and return it. The same bucket again
        returns the existing one; another configuration raises."""
        from .kv import create_key_value

        return create_key_value(self._context(), config, **params)

    def key_value(self, bucket: str) -> KeyValue:
        """Open an existing bucket; :class:`~natsync.js.errors.BucketNotFoundError` if none."""
        from .kv import key_value

        return key_value(self._context(), bucket)

    def delete_key_value(self, bucket: str) -> bool:
        """Delete a bucket and everything in it."""
        from .kv import delete_key_value

        return delete_key_value(self._context(), bucket)

    def _context(self) -> JetStreamParent:
        return self  # type: ignore[return-value]  # mixed into JetStreamContext only
