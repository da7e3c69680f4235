"""Subject wildcards: "*" matches one token, ">" matches one or more at the end.

    python examples/wildcards.py [URL]
"""

from __future__ import annotations

import os
import sys

import natsync

URL = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> None:
    with natsync.connect(URL, name="example-wildcards") as nc:
        subs = {
            pattern: nc.subscribe(pattern)
            for pattern in ("weather.*", "weather.>", "weather.*.paris", "weather.eu.paris")
        }
        for subject in ("weather", "weather.eu", "weather.eu.paris", "weather.us.nyc"):
            nc.publish(subject, subject.encode())
        # After the round trip every message has been routed and received: the
        # server sends them before its PONG, and they are read in order.
        nc.flush(timeout=5)

        for pattern, sub in subs.items():
            got = [sub.next_msg(timeout=1).subject for _ in range(sub.pending_msgs)]
            print(f"{pattern:17} got {', '.join(got) or 'nothing'}")


if __name__ == "__main__":
    main()
