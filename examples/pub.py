"""Publish a few messages to a subject.

    python examples/pub.py [URL] [--subject greet.joe] [--count 3] [--data hello]

The server URL comes from the first argument, else $NATS_URL, else
nats://127.0.0.1:4222. Start examples/sub.py first to see the messages arrive.
"""

from __future__ import annotations

import argparse
import os

import natsync

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> None:
    parser = argparse.ArgumentParser(description="Publish a few messages to a subject.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--subject", default="greet.joe")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--data", default="hello")
    args = parser.parse_args()

    with natsync.connect(args.url, name="example-pub") as nc:
        for i in range(1, args.count + 1):
            nc.publish(args.subject, f"{args.data} {i}".encode())
        # publish() only queues a message; flush() returns once the server has
        # received everything published so far (a PING/PONG round trip).
        nc.flush(timeout=5)
        print(f"published {args.count} messages to {args.subject}")


if __name__ == "__main__":
    main()
