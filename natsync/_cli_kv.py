"""``natsync kv``: Key/Value buckets from the command line, as the ``nats`` CLI has them.

::

    natsync kv add config --history 5 --ttl 1h
    natsync kv put config db.url postgres://db:5432
    natsync kv get config db.url
    natsync kv history config db.url
    natsync kv watch config 'db.>'
    natsync kv del config db.url        # a delete marker for one key
    natsync kv ls
    natsync kv rm config -f             # the whole bucket (rm and del are the same command)

:func:`register` adds the subcommands to the ``natsync`` parser; :func:`run` runs one.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from typing import Any, Callable, Dict, Optional

from . import errors
from ._cli_common import add_command_with_actions, whole
from ._cli_common import duration as _duration
from ._cli_common import say as _say
from ._cli_common import write_stdout as _out
from .cli import CliError, connect

__all__ = ["register", "run"]

ACTIONS = ("add", "ls", "put", "get", "del", "rm", "history", "watch")



_whole = whole(1)


def register(subs: Any, add_connection_options: Callable[..., None]) -> None:
    """Add ``kv`` and its actions to the ``natsync`` subparsers ``subs``."""
    act = add_command_with_actions(
        subs, "kv", "use Key/Value buckets (add, ls, put, get, del, history, watch, rm)",
        "Key/Value buckets on JetStream, as `nats kv` has them.", "kv_action", add_connection_options)

    p = act("add", "create a bucket (or show the one that exists with that configuration)")
    p.add_argument("bucket", metavar="BUCKET")
    p.add_argument("--history", type=_whole, default=1, help="revisions kept per key, 1 to 64 (default: 1)")
    p.add_argument("--ttl", type=_duration, default=None, metavar="DURATION",
                   help="how long a value lives (e.g. 30s, 1h, 7d; default: forever)")
    p.add_argument("--max-value-size", type=_whole, default=None, metavar="BYTES",
                   help="largest value accepted")
    p.add_argument("--max-bucket-size", type=_whole, default=None, metavar="BYTES",
                   help="largest size of the whole bucket")
    p.add_argument("--replicas", type=_whole, default=1, help="copies in a cluster (default: 1)")
    p.add_argument("--storage", choices=("file", "memory"), default="file", help="default: file")
    p.add_argument("--description", default=None, help="a description of the bucket")

    p = act("ls", "list the buckets")
    p.add_argument("--names", action="store_true", help="print only the bucket names")

    p = act("put", "store a value (read from stdin when VALUE is not given)")
    p.add_argument("bucket", metavar="BUCKET")
    p.add_argument("key", metavar="KEY")
    p.add_argument("value", metavar="VALUE", nargs="?", default=None)

    p = act("get", "print a key's value")
    p.add_argument("bucket", metavar="BUCKET")
    p.add_argument("key", metavar="KEY")
    p.add_argument("--revision", type=_whole, default=None, help="that revision instead of the latest")
    p.add_argument("--raw", action="store_true", help="print only the value")

    for name in ("del", "rm"):
        p = act(name, "delete a key (a delete marker), or with no KEY the whole bucket")
        p.add_argument("bucket", metavar="BUCKET")
        p.add_argument("key", metavar="KEY", nargs="?", default=None)
        p.add_argument("-f", "--force", action="store_true",
                       help="really delete the whole bucket (required without KEY)")

    p = act("history", "print every stored revision of a key")
    p.add_argument("bucket", metavar="BUCKET")
    p.add_argument("key", metavar="KEY")

    p = act("watch", "print the current values, then every change as it happens")
    p.add_argument("bucket", metavar="BUCKET")
    p.add_argument("key", metavar="KEY", nargs="?", default=">", help="a key or pattern (default: '>')")
    p.add_argument("--count", type=_whole, default=None,
                   help="exit after this many entries (default: run until Ctrl-C)")
    p.add_argument("--updates-only", action="store_true", help="only changes from now on")


def run(args: argparse.Namespace) -> int:
    """Run ``natsync kv ACTION``; returns the exit status."""
    action = getattr(args, "kv_action", None)
    if action is None:
        raise CliError(f"natsync kv needs an action: one of {', '.join(ACTIONS)} (see natsync kv --help)")
    from .js import errors as js_errors

    nc = connect(args, long_running=action == "watch")
    try:
        js = nc.jetstream()
        handler = _HANDLERS["del" if action == "rm" else action]
        try:
            handler(js, args)
        except js_errors.BucketNotFoundError:
            raise CliError(f"no bucket {args.bucket!r}: create it with natsync kv add {args.bucket}")
        return 0
    finally:
        nc.close()


# --------------------------------------------------------------------------- actions


def _time(value: Optional[datetime.datetime]) -> str:
    if value is None:
        return "-"
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _ttl(seconds: Optional[float]) -> str:
    return "forever" if not seconds else f"{seconds:g}s"


def _print_status(status: Any) -> None:
    cfg = status.stream_info.config
    _say(f"Key-Value bucket {status.bucket}")
    rows = [
        ("Description", cfg.description or ""),
        ("History", str(status.history)),
        ("TTL", _ttl(status.ttl)),
        ("Values", f"{status.values:,}"),
        ("Size", _human_size(status.bytes)),
        ("Max value size", "unlimited" if not cfg.max_msg_size or cfg.max_msg_size < 0
         else f"{cfg.max_msg_size:,} bytes"),
        ("Storage", getattr(cfg.storage, "value", cfg.storage) or "file"),
        ("Replicas", str(cfg.num_replicas or 1)),
        ("Stream", cfg.name or ""),
    ]
    for label, value in rows:
        _say(f"  {label + ':':<16} {value}")


def _add(js: Any, args: argparse.Namespace) -> None:
    from .js import api

    kv = js.create_key_value(
        bucket=args.bucket,
        history=args.history,
        ttl=args.ttl or None,
        max_value_size=args.max_value_size,
        max_bytes=args.max_bucket_size,
        replicas=args.replicas,
        storage=api.StorageType(args.storage),
        description=args.description,
    )
    _print_status(kv.status())


def _ls(js: Any, args: argparse.Namespace) -> None:
    from .js.kv import KeyValue

    buckets = []
    for info in js.streams_info():
        name = info.config.name or ""
        if name.startswith("KV_"):
            buckets.append(KeyValue.BucketStatus(stream_info=info, bucket=name[3:]))
    buckets.sort(key=lambda s: s.bucket)
    if args.names:
        for status in buckets:
            _say(status.bucket)
        return
    if not buckets:
        _say("No Key-Value buckets found")
        return
    rows = [("Bucket", "Values", "Size", "History", "TTL", "Description")]
    for s in buckets:
        rows.append((s.bucket, f"{s.values:,}", _human_size(s.bytes), str(s.history), _ttl(s.ttl),
                     s.stream_info.config.description or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        _say("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _put(js: Any, args: argparse.Namespace) -> None:
    value = sys.stdin.buffer.read() if args.value is None else args.value.encode()
    kv = js.key_value(args.bucket)
    kv.put(args.key, value)
    _out(value + (b"" if value.endswith(b"\n") else b"\n"))


def _get(js: Any, args: argparse.Namespace) -> None:
    from .js import errors as js_errors

    kv = js.key_value(args.bucket)
    try:
        entry = kv.get(args.key, revision=args.revision)
    except js_errors.KeyNotFoundError as exc:
        what = f"was {'deleted' if exc.op == 'DEL' else 'purged'}" if exc.op else "is not set"
        at = f" at revision {args.revision}" if args.revision else ""
        raise CliError(f"key {args.key!r} {what} in bucket {args.bucket!r}{at}")
    value: bytes = entry.value or b""
    if args.raw:
        _out(value + b"\n")
        return
    _say(f"{args.bucket} > {entry.key} revision: {entry.revision} created @ {_time(entry.created)}")
    _say("")
    _out(value + b"\n")


def _del(js: Any, args: argparse.Namespace) -> None:
    if args.key is None:
        if not args.force:
            raise CliError(f"this deletes the whole bucket {args.bucket!r} and every value in it: "
                           f"add -f to do it, or give a KEY to delete one key")
        js.delete_key_value(args.bucket)
        _say(f"Deleted bucket {args.bucket}")
        return
    kv = js.key_value(args.bucket)
    kv.delete(args.key)
    _say(f"Deleted key {args.key} in bucket {args.bucket}")


def _op_name(op: Optional[str]) -> str:
    return op or "PUT"


def _history(js: Any, args: argparse.Namespace) -> None:
    from .js import errors as js_errors

    kv = js.key_value(args.bucket)
    try:
        entries = kv.history(args.key)
    except js_errors.NoKeysError:
        raise CliError(f"key {args.key!r} has no history in bucket {args.bucket!r}")
    rows = [("Key", "Revision", "Op", "Created", "Length", "Value")]
    for e in entries:
        value = (e.value or b"").decode("utf-8", "replace")
        if len(value) > 40:
            value = value[:37] + "..."
        rows.append((e.key, str(e.revision), _op_name(e.operation), _time(e.created),
                     str(len(e.value or b"")), value))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    _say(f"History for {args.bucket} > {args.key}")
    for row in rows:
        _say("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _watch(js: Any, args: argparse.Namespace) -> None:
    kv = js.key_value(args.bucket)
    seen = 0
    with kv.watch(args.key, updates_only=args.updates_only) as watcher:
        sys.stderr.write(f"Watching {args.bucket} > {args.key}\n")
        sys.stderr.flush()
        for entry in watcher:
            if entry is None:
                continue
            line = f"[{_time(entry.created)}] {_op_name(entry.operation)} {args.bucket} > {entry.key}"
            if entry.operation is None:
                _out(line.encode("utf-8", "replace") + b": " + (entry.value or b"") + b"\n")
            else:
                _say(line)
            seen += 1
            if args.count and seen >= args.count:
                return
    if args.count and seen < args.count:
        raise errors.ConnectionClosedError("nats: the watch ended before --count entries arrived")


_HANDLERS: Dict[str, Callable[[Any, argparse.Namespace], None]] = {
    "add": _add,
    "ls": _ls,
    "put": _put,
    "get": _get,
    "del": _del,
    "history": _history,
    "watch": _watch,
}
