"""Request/reply plumbing: the shared inbox subscription all requests use, and the
one error connect() raises for a failed first pass over the server pool."""

from __future__ import annotations

from typing import Dict, List, Set, Tuple

from . import errors
from .connection import Waiter
from .msg import Msg
from .servers import Server
from .subscription import Subscription, SubscriptionHost


class _RespMux(Subscription):
    """The one wildcard inbox subscription all requests share."""

    def __init__(self, client: SubscriptionHost, sid: int, prefix: str) -> None:
        super().__init__(client, sid, prefix + "*", pending_msgs_limit=0, pending_bytes_limit=0)
        self.prefix = prefix
        self.bprefix = prefix.encode()
        self.plen = len(prefix)
        self.waiters: Dict[str, Waiter] = {}
        #: requests between their start and their return (waiting or not): more than
        #: one means other threads may be about to write too (see Client.request)
        self.active: Set[str] = set()

    def fail_all(self, exc: BaseException) -> None:
        """The client closed: every waiting request gets ``exc``."""
        waiters = list(self.waiters.values())
        self.waiters.clear()
        for w in waiters:
            w.resolve(error=exc)

    def _put_batch(self, msgs: List[Msg], nbytes: int = -1) -> bool:
        pop = self.waiters.pop
        plen = self.plen
        for msg in msgs:
            w = pop(msg.subject[plen:], None)
            if w is not None:
                w.resolve(msg)
        return False


def _connect_failure(failures: List[Tuple[Server, errors.Error]]) -> errors.Error:
    """The one error connect() raises for a failed first pass over the pool."""
    if not failures:
        return errors.NoServersError("nats: no servers available for connection: the pool is empty")
    for kind in (errors.AuthorizationError, errors.SecureConnFailedError,
                 errors.SecureConnRequiredError, errors.SecureConnWantedError,
                 errors.InvalidUserCredentialsError):
        for _s, exc in failures:
            if isinstance(exc, kind):
                return exc
    if len(failures) == 1 and not isinstance(failures[0][1], errors.NoServersError):
        return failures[0][1]
    if all(isinstance(e, errors.ConnectTimeoutError) for _s, e in failures):
        return errors.ConnectTimeoutError(
            "nats: every server timed out: " + "; ".join(str(e) for _s, e in failures))
    detail = "; ".join(f"{s.hostport}: {_reason(s, e)}" for s, e in failures)
    return errors.NoServersError(
        f"nats: no servers available for connection ({detail}). Check the URLs, that the "
        "server runs, or pass retry_on_failed_connect=True to keep trying in the background.")


def _reason(server: Server, exc: errors.Error) -> str:
    """The reason alone, without the "nats: cannot reach HOST:" its message starts with."""
    text = str(exc)
    for prefix in ("nats: ", f"cannot reach {server.hostport}: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text
