"""Thread-safe unique identifiers for inboxes (the NUID scheme).

An id is 22 base62 characters: a 12-character prefix drawn from a
cryptographic source, followed by a 10-character sequence. Each call advances
the sequence by a random increment; when the sequence would pass ``62**10`` the
prefix is drawn again and the sequence restarts at a random point. Ids are
therefore unique in practice and cheap to make (one lock, a few integer
operations and string joins per call).

After ``os.fork()`` every live :class:`NUID` re-randomises itself in the child
so parent and child never hand out the same ids.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import weakref

__all__ = ["DIGITS", "NUID", "TOTAL_LEN", "new_inbox", "next_nuid"]

DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BASE = len(DIGITS)  # 62
PREFIX_LEN = 12
SEQ_LEN = 10
TOTAL_LEN = PREFIX_LEN + SEQ_LEN
MAX_SEQ = BASE**SEQ_LEN
MIN_INC = 33
MAX_INC = 333

# The sequence is encoded two digits at a time from a 3844-entry table.
_PAIR = BASE * BASE
_PAIRS = tuple(a + b for a in DIGITS for b in DIGITS)

_instances: weakref.WeakSet[NUID] = weakref.WeakSet()


class NUID:
    """A generator of 22-character unique ids; safe to share between threads."""

    __slots__ = ("__weakref__", "_inc", "_lock", "_prefix", "_rng", "_seq")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(secrets.randbits(128))
        self._prefix = ""
        self._seq = 0
        self._inc = 0
        self._reset()
        _instances.add(self)

    def _reset(self) -> None:
        """Draw a new prefix, sequence start and increment (lock held or not shared)."""
        self._prefix = "".join(secrets.choice(DIGITS) for _ in range(PREFIX_LEN))
        self._seq = self._rng.randrange(MAX_SEQ)
        self._inc = self._rng.randrange(MIN_INC, MAX_INC)

    def _after_fork(self) -> None:
        # The parent's lock may have been held by a thread that does not exist
        # in the child; start over with a fresh lock and fresh randomness.
        self._lock = threading.Lock()
        self._rng = random.Random(secrets.randbits(128))
        self._reset()

    def next(self) -> str:
        """Return the next unique id (22 base62 characters)."""
        pairs = _PAIRS
        with self._lock:
            seq = self._seq + self._inc
            if seq >= MAX_SEQ:
                self._reset()
                seq = self._seq + self._inc
            self._seq = seq
            prefix = self._prefix
        seq, p4 = divmod(seq, _PAIR)
        seq, p3 = divmod(seq, _PAIR)
        seq, p2 = divmod(seq, _PAIR)
        p0, p1 = divmod(seq, _PAIR)
        return prefix + pairs[p0] + pairs[p1] + pairs[p2] + pairs[p3] + pairs[p4]


def _reinit_after_fork() -> None:
    for nuid in list(_instances):
        nuid._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)

_global = NUID()


def next_nuid() -> str:
    """Return a unique id from the module's shared :class:`NUID`."""
    return _global.next()


def new_inbox(prefix: str = "_INBOX") -> str:
    """Return a fresh inbox subject, ``f"{prefix}.{next_nuid()}"``.

    ``prefix`` is not validated here; :mod:`natsync.options` validates the
    configured ``inbox_prefix`` once.
    """
    return f"{prefix}.{_global.next()}"
