"""Answer requests on a subject with a callback; after --count requests, drain and exit.

    python examples/reply.py [URL] [--subject time.now] [--count 3] [--timeout 30]

Prints "ready" once the server has registered the subscription. Try it with
examples/request.py in another terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

import natsync

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> int:
    parser = argparse.ArgumentParser(description="Answer --count requests, then drain.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--subject", default="time.now")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    served = 0
    done = threading.Event()

    def handle(msg: natsync.Msg) -> None:
        # Runs on this subscription's own thread, one message at a time, so the
        # counter needs no lock.
        nonlocal served
        msg.respond(b"pong: " + msg.data)
        served += 1
        print(f"answered {msg.data.decode()!r}")
        if served == args.count:
            done.set()

    nc = natsync.connect(args.url, name="example-reply")
    nc.subscribe(args.subject, cb=handle)
    nc.flush(timeout=5)
    print("ready")
    finished = done.wait(timeout=args.timeout)
    # drain(): stop receiving, let the callback finish what already arrived,
    # send the last replies, then close.
    nc.drain()
    print(f"served {served} requests")
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
