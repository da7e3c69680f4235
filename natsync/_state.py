"""Connection states and their allowed transitions."""

from __future__ import annotations

import enum


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
