"""A JetStream worker that keeps consuming across server restarts (ADR-37 consume).

    python examples/js_consume_worker.py [URL] [--stream ORDERS] [--count 0]

It creates (or reuses) the stream ORDERS on ``orders.>`` and a durable pull
consumer ``worker``, then handles each order on the consumer's own thread with
``consumer.consume(handle)``: it prints the order and acknowledges it. Messages
are pulled ahead in batches; a stopped or restarted server pauses the worker,
which picks up where it left off once the server is back. Publish orders with
``natsync pub orders.new 'order 1'`` (or any JetStream client). With --count N
it drains and exits after N orders; otherwise Ctrl-C drains and exits.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Any

import natsync
import natsync.jetstream

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
_out = threading.Lock()


def say(text: str) -> None:
    """One line to stdout, now. Several threads print here (the consumer's, the
    client's events thread, the main one): a lock keeps their lines whole."""
    with _out:
        print(text, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="A JetStream consume() worker.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--stream", default="ORDERS")
    parser.add_argument("--count", type=int, default=0, help="exit after N orders (0: run until Ctrl-C)")
    args = parser.parse_args()

    enough = threading.Event()
    handled = 0

    def handle(msg: natsync.Msg) -> None:
        # Runs on the consumer's thread, one message at a time, in order.
        nonlocal handled
        meta = msg.metadata
        say(f"order {meta.sequence.stream}: {msg.data.decode()}")
        msg.ack()
        handled += 1
        if args.count and handled >= args.count:
            enough.set()

    def on_error(exc: BaseException) -> None:
        # Warnings (a missed heartbeat while the server is down) and errors land here.
        say(f"warning: {type(exc).__name__}")

    nc = natsync.connect(
        args.url,
        name="js-consume-worker",
        reconnect_time_wait=0.5,
        max_reconnect_attempts=-1,  # a worker never gives up on its server
        disconnected_cb=lambda: say("disconnected"),
        reconnected_cb=lambda: say("reconnected"),
    )
    try:
        js = natsync.jetstream.new(nc)
        try:
            stream = js.get_stream(args.stream)
        except natsync.jetstream.errors.StreamNotFoundError:
            stream = js.create_stream(name=args.stream, subjects=["orders.>"])
        consumer = stream.create_or_update_consumer(name="worker", ack_policy="explicit")
        # Keep up to 100 orders requested; pull more when 50 are left; a heartbeat
        # every 2 s tells whether the server is still there.
        cc = consumer.consume(handle, max_messages=100, max_wait=4.0, heartbeat=2.0,
                              error_cb=on_error)

        def stop(signum: int, frame: Any) -> None:
            enough.set()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        say("waiting for orders")
        enough.wait()
        cc.drain()  # hand what already arrived to handle(), then stop
        say(f"done: {handled} orders handled")
    finally:
        nc.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
