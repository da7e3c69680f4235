"""Connection states and one connection generation (socket + its threads)."""

from __future__ import annotations

import enum
import threading
from typing import Optional

from .handshake import Established
from .servers import Server


class State(enum.Enum):
    """Connection states; transitions happen only under ``Client._lock``."""

    NEW = "new"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DRAINING_SUBS = "draining_subs"
    DRAINING_PUBS = "draining_pubs"
    CLOSED = "closed"


#: The allowed transitions; anything else is a bug in natsync.
TRANSITIONS = {
    State.NEW: frozenset({State.CONNECTED, State.RECONNECTING, State.CLOSED}),
    State.CONNECTED: frozenset({State.RECONNECTING, State.DRAINING_SUBS, State.CLOSED}),
    State.RECONNECTING: frozenset({State.CONNECTED, State.CLOSED}),
    State.DRAINING_SUBS: frozenset({State.DRAINING_PUBS, State.RECONNECTING, State.CLOSED}),
    State.DRAINING_PUBS: frozenset({State.RECONNECTING, State.CLOSED}),
    State.CLOSED: frozenset(),
}


def check_transition(old: State, new: State) -> State:
    """Return ``new`` when ``old -> new`` is allowed; raise on a natsync bug."""
    if new is not old and new not in TRANSITIONS[old]:
        raise RuntimeError(f"natsync internal error: state {old.value} -> {new.value} is not allowed")
    return new


class _Conn:
    """One connection generation: its socket and the threads bound to it."""

    __slots__ = ("sock", "gen", "parser", "info", "tls", "server", "reader", "flusher",
                 "wlock", "lost", "leftover", "write_since")

    def __init__(self, est: Established, server: Server, gen: int) -> None:
        self.sock = est.sock
        self.parser = est.parser
        self.info = est.info
        self.tls = est.tls
        self.leftover = est.leftover
        self.server = server
        self.gen = gen
        self.reader: Optional[threading.Thread] = None
        self.flusher: Optional[threading.Thread] = None
        self.wlock = threading.Lock()
        self.lost = False
        #: time.monotonic() when a blocking write started, 0.0 when not writing
        self.write_since = 0.0
