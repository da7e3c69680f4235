"""natsync: a synchronous, threaded NATS client.

Public names follow nats-py (the asyncio client) without ``await``::

    import natsync

    with natsync.connect("nats://127.0.0.1:4222") as nc:
        sub = nc.subscribe("greet.*")
        nc.publish("greet.joe", b"hello")
        print(sub.next_msg(timeout=1).data)
"""

from __future__ import annotations

from typing import Any, List, Union

from . import errors
from ._state import State
from ._version import __version__
from .client import Client
from .msg import Msg
from .server_version import ServerVersion
from .subscription import Subscription

__all__ = [
    "Client",
    "Msg",
    "ServerVersion",
    "State",
    "Subscription",
    "__version__",
    "connect",
    "errors",
]


def connect(servers: Union[str, List[str], None] = None, **options: Any) -> Client:
    """Connect to NATS and return a connected :class:`Client` (a context manager).

    ``servers`` is a URL, a comma-separated string of URLs, or a list; see the
    README for every option. Raises a :mod:`natsync.errors` exception when no
    server can be reached (unless ``retry_on_failed_connect=True``).
    """
    nc = Client()
    nc.connect(servers, **options)
    return nc
