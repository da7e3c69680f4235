"""Publish to JetStream and get an acknowledgement for every message.

    python examples/js_publish_ack.py [URL] [--count 5]

Core NATS is at most once: a message published while nobody listens is gone.
A JetStream publish is stored in a stream, and the PubAck says where. This
example creates the stream ORDERS_DEMO (subjects orders.>), publishes with
acks, shows that a repeated Nats-Msg-Id is stored once, that an expectation
header guards against a concurrent writer, publishes a batch asynchronously,
and deletes the stream at the end. Needs a server with JetStream (-js).
"""

from __future__ import annotations

import argparse
import os

import natsync
from natsync.js import errors as jserrors

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
STREAM = "ORDERS_DEMO"


def main() -> None:
    parser = argparse.ArgumentParser(description="JetStream publish with acknowledgements.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--count", type=int, default=5)
    args = parser.parse_args()

    with natsync.connect(args.url, name="example-js-publish") as nc:
        js = nc.jetstream()
        js.add_stream(name=STREAM, subjects=["orders.>"], duplicate_window=60.0)
        try:
            for i in range(1, args.count + 1):
                ack = js.publish("orders.new", f"order {i}".encode(),
                                 headers={"Nats-Msg-Id": f"order-{i}"})
                print(f"order {i}: stored in {ack.stream} as seq {ack.seq}")

            # A retry after a lost ack sends the same Nats-Msg-Id: stored once.
            again = js.publish("orders.new", b"order 1", headers={"Nats-Msg-Id": "order-1"})
            print(f"order 1 again: duplicate={again.duplicate}, still seq {again.seq}")

            # Only append if nobody else wrote since we read the last sequence.
            last = js.stream_info(STREAM).state.last_seq
            try:
                js.publish("orders.new", b"stale write",
                           headers={"Nats-Expected-Last-Sequence": str(last - 1)})
            except jserrors.WrongLastSequenceError as exc:
                print(f"stale write refused: err_code {exc.err_code}")

            futures = [js.publish_async("orders.bulk", f"bulk {i}".encode()) for i in range(100)]
            js.publish_async_completed(timeout=10)
            seqs = [f.result().seq for f in futures]
            print(f"async: {len(seqs)} acks, seq {seqs[0]}..{seqs[-1]}")
            print(f"stream {STREAM} holds {js.stream_info(STREAM).state.messages} messages")
        finally:
            js.delete_stream(STREAM)


if __name__ == "__main__":
    main()
