"""Receive a bounded number of messages, then exit.

    python examples/sub.py [URL] [--subject "greet.*"] [--count 3] [--timeout 10]

Prints "listening on SUBJECT" once the server has registered the subscription,
then one line per message. Exits 1 if a message does not arrive within
--timeout seconds.
"""

from __future__ import annotations

import argparse
import os
import sys

import natsync
from natsync import errors

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> int:
    parser = argparse.ArgumentParser(description="Receive a bounded number of messages.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--subject", default="greet.*")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()

    with natsync.connect(args.url, name="example-sub") as nc:
        sub = nc.subscribe(args.subject)
        nc.flush(timeout=5)  # the server has registered the subscription
        print(f"listening on {args.subject}")
        for n in range(1, args.count + 1):
            try:
                msg = sub.next_msg(timeout=args.timeout)
            except errors.TimeoutError:
                print(f"only {n - 1} of {args.count} messages arrived", file=sys.stderr)
                return 1
            print(f"[{n}] {msg.subject}: {msg.data.decode()}")
        print(f"received {args.count} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
