"""Replay a stream in order with an ordered consumer.

    python examples/js_ordered_replay.py [URL] [--from-seq 1] [--seed 10]

An ordered consumer is the client-side view of a stream that never skips or
repeats a message: it is ephemeral, needs no acks, and recreates itself from the
last sequence it delivered if a message goes missing, the consumer is lost or
the connection drops. This example appends --seed events to the stream
EVENTS_DEMO (created if needed), replays it from --from-seq to the end, and
removes the stream when it created it. Needs a server with JetStream (-js).
"""

from __future__ import annotations

import argparse
import os

import natsync
from natsync.js import api
from natsync.js import errors as jserrors

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
STREAM = "EVENTS_DEMO"


def main() -> None:
    parser = argparse.ArgumentParser(description="Ordered replay of a stream.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--from-seq", type=int, default=1)
    parser.add_argument("--seed", type=int, default=10, help="events to append first")
    args = parser.parse_args()

    with natsync.connect(args.url, name="example-ordered-replay") as nc:
        js = nc.jetstream()
        try:
            js.stream_info(STREAM)
            created = False
        except jserrors.NotFoundError:
            js.add_stream(name=STREAM, subjects=["events.>"])
            created = True
        try:
            for i in range(args.seed):
                js.publish_async(f"events.{'ab'[i % 2]}", f"event {i}".encode())
            js.publish_async_completed(timeout=10)
            last = js.stream_info(STREAM).state.last_seq
            sub = js.subscribe("events.>", ordered_consumer=True,
                               deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                               config=api.ConsumerConfig(opt_start_seq=args.from_seq))
            replayed = 0
            for msg in sub.messages:
                seq = msg.metadata.sequence.stream
                print(f"seq {seq}: {msg.subject} {msg.data.decode()}")
                replayed += 1
                if seq >= last:
                    break
            sub.unsubscribe()
            print(f"replayed {replayed} events, up to seq {last}")
        finally:
            if created:
                js.delete_stream(STREAM)


if __name__ == "__main__":
    main()
