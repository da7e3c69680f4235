"""A JetStream pull worker: fetch a batch, handle each job, ack it.

    python examples/js_pull_worker.py [URL] [--count 10] [--batch 5]

Creates the work-queue stream JOBS_DEMO (subject jobs.>) and the durable pull
consumer "workers" if they do not exist, then handles --count jobs. A job whose
data starts with "flaky" fails its first delivery: the worker naks it, and the
server delivers it again. Acked jobs are never redelivered, even if the worker
or the server restarts. Run several workers at once to share the jobs. Needs a
server with JetStream (-js).
"""

from __future__ import annotations

import argparse
import os

import natsync
from natsync.js import api
from natsync.js import errors as jserrors

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> None:
    parser = argparse.ArgumentParser(description="JetStream pull worker.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--count", type=int, default=10, help="jobs to handle before exiting")
    parser.add_argument("--batch", type=int, default=5)
    args = parser.parse_args()

    with natsync.connect(args.url, name="example-pull-worker", max_reconnect_attempts=-1) as nc:
        js = nc.jetstream()
        try:
            js.stream_info("JOBS_DEMO")
        except jserrors.NotFoundError:
            js.add_stream(name="JOBS_DEMO", subjects=["jobs.>"],
                          retention=api.RetentionPolicy.WORK_QUEUE)
        psub = js.pull_subscribe("jobs.>", durable="workers", stream="JOBS_DEMO",
                                 config=api.ConsumerConfig(ack_wait=30.0, max_deliver=5))
        print("waiting for jobs")
        done = 0
        while done < args.count:
            try:
                msgs = psub.fetch(min(args.batch, args.count - done), timeout=2.0)
            except natsync.errors.TimeoutError:
                continue  # no job within 2 s: ask again
            for msg in msgs:
                job = msg.data.decode()
                delivery = msg.metadata.num_delivered
                if job.startswith("flaky") and delivery == 1:
                    print(f"{job}: failed on delivery 1, nak")
                    msg.nak()
                    continue
                msg.ack_sync(timeout=5)  # wait until the server has the ack
                done += 1
                print(f"{job}: done (delivery {delivery})")
        print(f"handled {done} jobs")


if __name__ == "__main__":
    main()
