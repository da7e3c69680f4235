"""``ClientAPI``: the part of :class:`~natsync.client.Client` that the layers built on
it use (``natsync.js``, ``natsync.jetstream``, ``natsync.micro``, ``request_many``).

They type the client they are given with this Protocol, not with ``Client``, so none
of them imports :mod:`natsync.client` (which loads them on use): no import cycle, not
even one under ``TYPE_CHECKING``. It lists public names only; ``Client`` matches it
structurally (mypy checks that where ``Client.request_many`` hands itself over).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator, Optional, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from ._state import State
    from .msg import Headers, Msg
    from .options import Options
    from .server_version import ServerVersion
    from .subscription import MsgHandler, Subscription

__all__ = ["ClientAPI"]


class ClientAPI(Protocol):
    """The public Client methods and properties the layered packages call."""

    @property
    def options(self) -> Optional[Options]: ...

    @property
    def is_connected(self) -> bool: ...

    @property
    def is_reconnecting(self) -> bool: ...

    @property
    def is_closed(self) -> bool: ...

    @property
    def max_payload(self) -> int: ...

    @property
    def connected_server_version(self) -> ServerVersion: ...

    def new_inbox(self) -> str: ...

    def publish(self, subject: str, payload: bytes = b"", reply: str = "",
                headers: Optional[Headers] = None) -> None: ...

    def subscribe(self, subject: str, queue: str = "", cb: Optional[MsgHandler] = None,
                  max_msgs: int = 0, pending_msgs_limit: int = ...,
                  pending_bytes_limit: int = ..., dedicated_thread: bool = False
                  ) -> Subscription: ...

    def request(self, subject: str, payload: bytes = b"", timeout: float = 0.5,
                headers: Optional[Headers] = None) -> Msg: ...

    def request_many(self, subject: str, payload: bytes = b"", timeout: float = 1.0,
                     max_msgs: Optional[int] = None, stall: Optional[float] = None,
                     headers: Optional[Headers] = None) -> Iterator[Msg]: ...

    def flush(self, timeout: float = 10.0) -> None: ...

    def add_status_listener(self, fn: Callable[[State], None]) -> Callable[[], None]: ...

    def report_error(self, exc: BaseException) -> None: ...
