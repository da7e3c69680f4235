"""A configuration value in a Key/Value bucket that several threads watch.

    python examples/kv_config_watch.py [URL] [--threads 3]

Needs a server with JetStream (`nats-server -js`). Each worker thread watches the
bucket: it starts from the current value (the watch yields it, then a None that
says "you are up to date"), then applies each change as it happens. The main
thread changes the log level with compare-and-set updates, then says "stop".
"""

from __future__ import annotations

import argparse
import os
import threading
from typing import List

import natsync
from natsync.js.errors import BucketNotFoundError
from natsync.js.kv import KeyValue

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
BUCKET = "example_config"
KEY = "app.log_level"
LEVELS = ["debug", "warning", "error"]

print_lock = threading.Lock()


def say(text: str) -> None:
    with print_lock:
        print(text, flush=True)


def worker(name: str, kv: KeyValue, ready: threading.Barrier,
           seen: List[str]) -> None:
    with kv.watch(KEY) as watcher:
        for entry in watcher:
            if entry is None:  # the initial value has been delivered
                ready.wait(timeout=30)
                continue
            value = (entry.value or b"").decode()
            if value == "stop":
                say(f"{name}: stopping at revision {entry.revision}")
                return
            seen.append(value)
            say(f"{name}: log level is now {value} (revision {entry.revision})")


def main() -> None:
    parser = argparse.ArgumentParser(description="Threads that watch a configuration value.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--threads", type=int, default=3)
    args = parser.parse_args()

    with natsync.connect(args.url, name="example-kv-config") as nc:
        js = nc.jetstream()
        try:
            js.delete_key_value(BUCKET)  # start afresh
        except BucketNotFoundError:
            pass
        kv = js.create_key_value(bucket=BUCKET, history=5, description="example settings")
        kv.put(KEY, b"info")

        ready = threading.Barrier(args.threads + 1)
        seen: List[List[str]] = [[] for _ in range(args.threads)]
        threads = [
            threading.Thread(target=worker, args=(f"worker-{i + 1}", kv, ready, seen[i]))
            for i in range(args.threads)
        ]
        for t in threads:
            t.start()
        ready.wait(timeout=30)  # every worker has the current value

        for level in LEVELS:
            current = kv.get(KEY)
            # compare-and-set: only if nobody changed it since we read it
            kv.update(KEY, level.encode(), last=current.revision)
        kv.put(KEY, b"stop")
        for t in threads:
            t.join(timeout=30)

        expected = ["info", *LEVELS]
        if all(s == expected for s in seen):
            print(f"all {args.threads} workers saw every value in order: {' -> '.join(expected)}")
        else:
            raise SystemExit(f"a worker missed a value: {seen}")
        js.delete_key_value(BUCKET)


if __name__ == "__main__":
    main()
