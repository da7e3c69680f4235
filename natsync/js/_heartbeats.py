"""Idle-heartbeat alarms for push subscriptions: one monitor thread per client.

A push subscription with ``idle_heartbeat`` registers a :class:`Watch` with the
:class:`HeartbeatMonitor` of its client (:func:`monitor_for`). Everything the
subscription receives (messages, heartbeats, flow control) calls
:meth:`Watch.beat`, which only stores the time. The monitor's thread
(``natsync-js-heartbeats-N``) sleeps until the earliest deadline of all its
watches (last beat + 3 intervals), calls ``on_silence`` for each watch whose
deadline passed (once per silence: again only after it beat and fell silent
anew), and ends when its last watch is removed; the next :meth:`watch` starts
it again. So heartbeat alarms cost one thread per client, only while some
subscription is watched, and none per subscription.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import weakref
from typing import Any, Callable, List, Optional, Set

__all__ = ["HeartbeatMonitor", "Watch", "monitor_for", "MISSED_INTERVALS"]

log = logging.getLogger("natsync")

#: The alarm goes off after this many heartbeat intervals without any traffic.
MISSED_INTERVALS = 3

_ids = itertools.count(1)
_registry_lock = threading.Lock()
_monitors: weakref.WeakKeyDictionary[Any, HeartbeatMonitor] = weakref.WeakKeyDictionary()


class Watch:
    """One watched subscription: its interval, last activity and alarm state."""

    __slots__ = ("interval", "last", "on_silence", "_alarm_at", "__weakref__")

    def __init__(self, interval: float, on_silence: Callable[[], bool]) -> None:
        self.interval = interval
        self.last = time.monotonic()
        #: called on the monitor thread when the deadline passes; returns False when
        #: the silence does not count (e.g. while reconnecting) so it is checked again
        self.on_silence = on_silence
        self._alarm_at: Optional[float] = None  # when the alarm went off (monitor only)

    def beat(self) -> None:
        """Something arrived: push the deadline back (cheap, lock-free)."""
        self.last = time.monotonic()

    @property
    def deadline(self) -> float:
        return self.last + MISSED_INTERVALS * self.interval


class HeartbeatMonitor:
    """Watches every heartbeat-monitored subscription of one client on one thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._watches: Set[Watch] = set()
        self._thread: Optional[threading.Thread] = None

    def watch(self, interval: float, on_silence: Callable[[], bool]) -> Watch:
        """Start watching; call :meth:`unwatch` with the result when done."""
        w = Watch(interval, on_silence)
        with self._cond:
            self._watches.add(w)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, daemon=True, name=f"natsync-js-heartbeats-{next(_ids)}")
                self._thread.start()
            self._cond.notify()
        return w

    def unwatch(self, w: Watch, wait: bool = True) -> None:
        """Stop watching ``w``; the thread ends when nothing is left to watch (with
        ``wait``, this waits for that, a few seconds at most)."""
        with self._cond:
            self._watches.discard(w)
            thread = self._thread if not self._watches else None
            self._cond.notify()
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(5.0)

    @property
    def watching(self) -> int:
        return len(self._watches)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._watches:
                    self._thread = None
                    return
                due = self._due_locked(time.monotonic())
                if not due:
                    self._cond.wait(self._sleep_locked(time.monotonic()))
                    continue
            for w in due:
                self._alarm(w)

    def _due_locked(self, now: float) -> List[Watch]:
        due = []
        for w in self._watches:
            if w._alarm_at is not None:
                if w.last <= w._alarm_at:
                    continue  # still silent: alarmed once already
                w._alarm_at = None  # it came back: the next silence alarms again
            if now >= w.deadline:
                w._alarm_at = now
                due.append(w)
        return due

    def _sleep_locked(self, now: float) -> float:
        wake = 60.0
        for w in self._watches:
            # an alarmed watch is looked at once an interval to see it come back
            at = now + w.interval if w._alarm_at is not None else w.deadline
            wake = min(wake, at - now)
        return max(wake, 0.005)

    def _alarm(self, w: Watch) -> None:
        try:
            counted = w.on_silence()
        except Exception:
            log.exception("natsync: heartbeat alarm handler raised")
            counted = True
        if not counted:
            with self._cond:
                if w._alarm_at is not None and w.last <= w._alarm_at:
                    w._alarm_at = None
                    w.last = time.monotonic()  # look again a full alarm period later


def monitor_for(nc: Any) -> HeartbeatMonitor:
    """The heartbeat monitor of client ``nc`` (made on first use)."""
    with _registry_lock:
        mon = _monitors.get(nc)
        if mon is None:
            mon = _monitors[nc] = HeartbeatMonitor()
        return mon
