"""Back up a directory into an Object Store bucket, and restore it.

    python examples/object_store_backup.py [URL] backup DIR [--bucket backups]
    python examples/object_store_backup.py [URL] restore DIR [--bucket backups]

Each file is streamed in chunks (a file far larger than memory is fine) under its
path relative to DIR; restore streams each object back into DIR, where the size and
SHA-256 digest are checked as it is read. Files that disappeared from DIR since the
last backup are deleted from the bucket. The server needs JetStream
(``nats-server -js``). The URL comes from the first argument, else $NATS_URL, else
nats://127.0.0.1:4222.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import natsync
from natsync.js.api import ObjectMeta
from natsync.js.errors import NotFoundError

DEFAULT_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")


def backup(js: natsync.js.JetStreamContext, root: Path, bucket: str) -> None:
    try:
        obs = js.object_store(bucket)
    except NotFoundError:
        obs = js.create_object_store(bucket, description=f"backups of {root.name}")
    kept = set()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        with path.open("rb") as f:
            info = obs.put(name, f, meta=ObjectMeta(headers={"Mode": oct(path.stat().st_mode & 0o777)}))
        kept.add(name)
        print(f"stored {name} ({info.size} bytes, {info.chunks} chunks)")
    try:
        stored = obs.list(ignore_deletes=True)
    except NotFoundError:
        stored = []
    for info in stored:
        if info.name not in kept:
            obs.delete(info.name)
            print(f"deleted {info.name} (gone from {root})")
    print(f"backed up {len(kept)} files to bucket {bucket}")


def restore(js: natsync.js.JetStreamContext, root: Path, bucket: str) -> None:
    obs = js.object_store(bucket)
    try:
        stored = obs.list(ignore_deletes=True)
    except NotFoundError:
        stored = []
    for info in sorted(stored, key=lambda i: i.name):
        target = (root / info.name).resolve()
        if root.resolve() not in target.parents:
            raise SystemExit(f"refusing to restore {info.name!r} outside {root}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as f:
            obs.get(info.name, writeinto=f)  # streamed; raises if the digest does not match
        mode = (info.headers or {}).get("Mode")
        if mode:
            target.chmod(int(mode[0] if isinstance(mode, list) else mode, 8))
        print(f"restored {info.name} ({info.size} bytes)")
    print(f"restored {len(stored)} files from bucket {bucket}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Back up a directory to an Object Store, or restore it.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("action", choices=("backup", "restore"))
    parser.add_argument("dir", type=Path)
    parser.add_argument("--bucket", default="backups")
    args = parser.parse_args()
    if args.action == "backup" and not args.dir.is_dir():
        sys.exit(f"{args.dir} is not a directory")

    with natsync.connect(args.url, name="example-backup") as nc:
        js = nc.jetstream()
        if args.action == "backup":
            backup(js, args.dir, args.bucket)
        else:
            args.dir.mkdir(parents=True, exist_ok=True)
            restore(js, args.dir, args.bucket)


if __name__ == "__main__":
    main()
