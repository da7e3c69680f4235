"""Slow consumers: pending limits, dropped messages and error_cb.

    python examples/slow_consumer.py [URL]

Each subscription queues messages until the application takes them. Past its
pending limits the client drops further messages for that subscription only,
counts them in ``sub.dropped`` and reports a SlowConsumerError to ``error_cb``
(once per episode). The connection and the other subscriptions are unaffected.
"""

from __future__ import annotations

import os
import sys
import threading

import natsync
from natsync import errors

URL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> int:
    reported = threading.Event()

    def on_error(exc: Exception) -> None:
        # Runs on the client's event thread, never on the thread reading the socket.
        if isinstance(exc, errors.SlowConsumerError):
            print(f"error_cb: SlowConsumerError on {exc.subject!r}")
            reported.set()
        else:
            print(f"error_cb: {exc!r}")

    with natsync.connect(URL, name="example-slow-consumer", error_cb=on_error) as nc:
        slow = nc.subscribe("metrics", pending_msgs_limit=10)  # nobody reads it yet
        fast = nc.subscribe("metrics", pending_msgs_limit=-1)  # <= 0: no limit
        for n in range(100):
            nc.publish("metrics", str(n).encode())
        nc.flush(timeout=5)  # all 100 have been delivered to the subscriptions

        if not reported.wait(timeout=5):
            print("no slow consumer was reported", file=sys.stderr)
            return 1
        print(f"slow: pending {slow.pending_msgs}, dropped {slow.dropped}")
        print(f"fast: pending {fast.pending_msgs}, dropped {fast.dropped}")
        kept = [slow.next_msg(timeout=1).data.decode() for _ in range(slow.pending_msgs)]
        print(f"slow kept the first ones: {', '.join(kept)}")
        # Raise the limits when the consumer is expected to lag behind:
        slow.set_pending_limits(10_000, 64 * 1024 * 1024)
        print(f"still connected: {nc.is_connected}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
