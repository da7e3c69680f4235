"""drain() versus close(): drain delivers every message already received first.

    python examples/drain.py [URL] [--count 20]

A slow callback subscription receives --count messages; drain() stops new
messages, waits until the callback has processed all that arrived, flushes
what was published, and closes. close() would have dropped the backlog.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import natsync

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> int:
    parser = argparse.ArgumentParser(description="drain() finishes the backlog before closing.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()

    processed = []

    def slow_handler(msg: natsync.Msg) -> None:
        time.sleep(0.01)  # pretend to work
        processed.append(msg.data)

    consumer = natsync.connect(args.url, name="example-drain-consumer")
    consumer.subscribe("jobs", cb=slow_handler)
    consumer.flush(timeout=5)

    with natsync.connect(args.url, name="example-drain-producer") as producer:
        for n in range(args.count):
            producer.publish("jobs", f"job {n}".encode())
        producer.flush(timeout=5)
    # The server has sent every message to the consumer, most of them wait in
    # its pending queue behind the slow callback. Wait for them to be received:
    consumer.flush(timeout=5)
    print(f"processed before drain: {len(processed)} (the rest is pending)")

    consumer.drain(timeout=10)
    print(f"processed after drain: {len(processed)} of {args.count}")
    print(f"closed: {consumer.is_closed}")
    return 0 if len(processed) == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
