"""A publisher that survives a server restart without losing a message.

    python examples/survive_restart.py [URL] [--count 100] [--subject numbers] [--wait 60]

It publishes the first half of a numbered stream and flushes, then asks you to
stop the server. While the server is down it publishes the second half: those
messages go into the reconnect buffer (the script prints how many). Start the
server again: the client reconnects, re-subscribes, sends the buffered messages
in order, and the script exits 0. Run examples/sub.py --subject numbers
--count 100 next to it to watch them arrive. Gives up after --wait seconds
per step; then it prints the messages that were never sent and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

import natsync

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> int:
    parser = argparse.ArgumentParser(description="A publisher that survives a server restart.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--subject", default="numbers")
    parser.add_argument("--wait", type=float, default=60.0)
    args = parser.parse_args()

    disconnected = threading.Event()
    reconnected = threading.Event()

    def on_disconnected() -> None:
        print("disconnected")
        disconnected.set()

    def on_reconnected() -> None:
        # Runs after the buffered messages were handed to the new connection.
        print("reconnected")
        reconnected.set()

    nc = natsync.connect(
        args.url,
        name="survive-restart",
        reconnect_time_wait=0.25,  # retry quickly (default 2 s)
        max_reconnect_attempts=-1,  # never give up on our own; --wait bounds it
        reconnect_buf_msgs=10_000,  # at most this many messages wait for the server
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
    )
    half = args.count // 2
    for n in range(1, half + 1):
        nc.publish(args.subject, str(n).encode())
    nc.flush(timeout=5)  # 1..half have reached the server
    print(f"published 1..{half}; stop the server now")

    if not disconnected.wait(args.wait):
        print("the server did not go away; publishing the rest normally")
    for n in range(half + 1, args.count + 1):
        nc.publish(args.subject, str(n).encode())  # does not fail while reconnecting
    if disconnected.is_set():
        print(
            f"buffered {nc.buffered_msgs} messages ({nc.buffered_bytes} bytes) "
            "while disconnected; start the server again"
        )
        if not reconnected.wait(args.wait):
            nc.close()
            unsent = nc.unsent_messages()  # nothing accepted is lost silently
            first = unsent[0].data.decode() if unsent else "-"
            print(f"gave up: {len(unsent)} messages were never sent, the first is {first}")
            return 1
    nc.flush(timeout=5)
    nc.close()  # a close while connected also runs disconnected_cb, as in nats-py
    print(f"all {args.count} messages published, reconnects: {nc.stats['reconnects']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
