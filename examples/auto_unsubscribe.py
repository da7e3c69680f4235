"""Auto-unsubscribe: stop after a number of messages, and iterate until then.

    python examples/auto_unsubscribe.py [URL]

``max_msgs`` (or ``sub.unsubscribe(limit=N)`` later) makes the server stop
delivering after N messages in total; iterating over the subscription ends by
itself once those have been received.
"""

from __future__ import annotations

import os
import sys

import natsync

URL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> None:
    with natsync.connect(URL, name="example-auto-unsubscribe") as nc:
        first_three = nc.subscribe("ticks", max_msgs=3)
        later = nc.subscribe("ticks")
        later.unsubscribe(limit=5)  # the same, decided after subscribing

        for n in range(1, 11):
            nc.publish("ticks", str(n).encode())

        # Both loops end by themselves: no timeout, no break.
        print("max_msgs=3:", [int(m.data) for m in first_three])
        print("unsubscribe(limit=5):", [int(m.data) for m in later])


if __name__ == "__main__":
    main()
