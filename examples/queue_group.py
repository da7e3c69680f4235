"""Several workers in one queue group share the work: each task goes to exactly one.

    python examples/queue_group.py [URL] [--workers 3] [--tasks 30]

Every worker has its own connection, as separate processes would. Subscribers
with the same queue name form a group; the server hands each message to one
member only.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
from typing import Callable, Counter, List

import natsync

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def main() -> int:
    parser = argparse.ArgumentParser(description="Workers sharing tasks in a queue group.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=30)
    args = parser.parse_args()

    lock = threading.Lock()  # callbacks of different workers run on different threads
    handled: Counter[str] = collections.Counter()
    seen: Counter[bytes] = collections.Counter()
    all_done = threading.Event()

    def make_worker(name: str) -> Callable[[natsync.Msg], None]:
        def work(msg: natsync.Msg) -> None:
            with lock:
                handled[name] += 1
                seen[msg.data] += 1
                if sum(handled.values()) == args.tasks:
                    all_done.set()

        return work

    workers: List[natsync.Client] = []
    try:
        for i in range(1, args.workers + 1):
            nc = natsync.connect(args.url, name=f"worker-{i}")
            workers.append(nc)
            nc.subscribe("tasks", queue="workers", cb=make_worker(f"worker-{i}"))
            nc.flush(timeout=5)  # the server has this worker in the group now

        with natsync.connect(args.url, name="producer") as producer:
            for n in range(args.tasks):
                producer.publish("tasks", f"task {n}".encode())
            producer.flush(timeout=5)

        if not all_done.wait(timeout=10):
            print(f"only {sum(handled.values())} of {args.tasks} tasks handled", file=sys.stderr)
            return 1
    finally:
        for nc in workers:
            nc.drain()

    for name in sorted(handled):
        print(f"{name} handled {handled[name]}")
    duplicates = [task for task, times in seen.items() if times > 1]
    if len(seen) != args.tasks or duplicates:
        print(f"some tasks were handled twice: {duplicates}", file=sys.stderr)
        return 1
    print(f"all {args.tasks} tasks handled exactly once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
