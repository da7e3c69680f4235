"""A threaded worker service: queue group + thread pool + graceful drain on SIGTERM.

    python examples/worker_service.py [URL] [--threads 4] [--job-seconds 0.2] [--max-seconds 60]

Requests to "svc.upper" are answered by a pool of threads (start several
copies of this script: they share the load through the queue group "svc").
On SIGTERM or Ctrl-C the service stops taking new requests, finishes and
answers every job it has accepted, then closes and exits 0. It also stops by
itself after --max-seconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Optional

import natsync

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> int:
    parser = argparse.ArgumentParser(description="A worker service that drains on SIGTERM.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--job-seconds", type=float, default=0.2)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args()

    stop = threading.Event()

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    pool = ThreadPoolExecutor(max_workers=args.threads, thread_name_prefix="job")
    counts = {"accepted": 0, "answered": 0}
    lock = threading.Lock()

    def job(msg: natsync.Msg) -> None:
        time.sleep(args.job_seconds)  # the slow part: I/O, a computation ...
        msg.respond(msg.data.upper())  # publish() is thread-safe: answer from the pool
        with lock:
            counts["answered"] += 1

    def accept(msg: natsync.Msg) -> None:
        # The subscription's callback thread only hands the job over, so it
        # keeps up with incoming requests while the pool does the work.
        pool.submit(job, msg)
        with lock:
            counts["accepted"] += 1
            print(f"accepted job {counts['accepted']}")

    nc = natsync.connect(args.url, name="worker-service")
    sub = nc.subscribe("svc.upper", queue="svc", cb=accept)
    nc.flush(timeout=5)
    print("ready")

    stop.wait(timeout=args.max_seconds)

    print("draining")
    sub.drain()  # no new requests; those already received reach accept()
    pool.shutdown(wait=True)  # every accepted job finishes and responds
    nc.drain()  # the last replies are flushed, then the connection closes
    print(f"drained: accepted {counts['accepted']}, answered {counts['answered']}")
    return 0 if counts["accepted"] == counts["answered"] else 1


if __name__ == "__main__":
    sys.exit(main())
