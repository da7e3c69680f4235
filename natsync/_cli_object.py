"""``natsync object``: Object Store buckets and objects from the command line.

Modelled on ``nats object``::

    natsync object add backups --ttl 7d              # create a bucket
    natsync object put backups ./db.dump             # store a file (progress on stderr)
    natsync object ls                                # the buckets
    natsync object ls backups                        # the objects in one
    natsync object info backups db.dump              # an object's info (no NAME: the bucket's)
    natsync object get backups db.dump -O copy.dump  # fetch it (no -O: to stdout)
    natsync object del backups db.dump               # delete an object
    natsync object rm backups                        # delete the bucket and all in it

Puts and gets of at least ``PROGRESS_MIN`` bytes draw a progress bar on stderr
(plain lines every 10% when stderr is not a terminal); ``--no-progress`` turns
it off. Errors are natsync errors, reported by ``natsync.cli.main``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, BinaryIO, Callable, Dict, List, Optional

from . import errors

__all__ = ["register", "run"]

PROGRESS_MIN = 1024 * 1024
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def _duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``12h``, ``7d`` or ``2w`` as seconds."""
    raw = text.strip().lower()
    factor = _DURATION_UNITS.get(raw[-1:], None)
    number = raw[:-1] if factor is not None else raw
    try:
        value = float(number) * (factor or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 15m, 12h or 7d")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _size(text: str) -> int:
    """``1048576``, ``512K``, ``64M`` or ``2G`` (powers of 1024) as bytes."""
    raw = text.strip().upper().rstrip("B")
    mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(raw[-1:], 1)
    try:
        value = int(float(raw[:-1] if mult > 1 else raw) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 131072, 128K or 1M")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1 byte")
    return value


def register(add: Callable[[str, str], argparse.ArgumentParser]) -> None:
    """Add the ``object`` subcommand with ``add(name, help)`` from ``natsync.cli``."""
    p = add("object", "Object Store: add|ls|put|get|info|del|rm")
    subs = p.add_subparsers(dest="object_command", metavar="ACTION")
    subs.required = True

    a = subs.add_parser("add", help="create a bucket", description="create an Object Store bucket")
    a.add_argument("bucket", metavar="BUCKET")
    a.add_argument("--description", default=None)
    a.add_argument("--ttl", type=_duration, default=None, metavar="DURATION",
                   help="remove objects older than this (90s, 15m, 12h, 7d; default: keep)")
    a.add_argument("--max-bytes", type=_size, default=None, metavar="SIZE",
                   help="the most the bucket may hold (default: no limit)")
    a.add_argument("--storage", choices=("file", "memory"), default="file")
    a.add_argument("--replicas", type=int, default=1)

    ls = subs.add_parser("ls", help="list buckets, or the objects in one",
                         description="list the buckets, or with BUCKET the objects in it")
    ls.add_argument("bucket", metavar="BUCKET", nargs="?")
    ls.add_argument("--deleted", action="store_true", help="include deleted objects")

    put = subs.add_parser("put", help="store a file as an object",
                          description="store a file ('-': standard input) as an object")
    put.add_argument("bucket", metavar="BUCKET")
    put.add_argument("file", metavar="FILE")
    put.add_argument("--as", "--object-name", dest="object_name", default=None, metavar="NAME",
                     help="the object's name (default: the file's name)")
    put.add_argument("--description", default=None)
    put.add_argument("--chunk-size", type=_size, default=None, metavar="SIZE",
                     help="chunk size (default: 128K)")
    put.add_argument("--no-progress", action="store_true", help="draw no progress bar")

    get = subs.add_parser("get", help="fetch an object", description="fetch an object")
    get.add_argument("bucket", metavar="BUCKET")
    get.add_argument("object_name", metavar="NAME")
    get.add_argument("-O", "--output", default=None, metavar="FILE",
                     help="write to FILE (default: standard output)")
    get.add_argument("--no-progress", action="store_true", help="draw no progress bar")

    info = subs.add_parser("info", help="show a bucket's or an object's info",
                           description="show the status of BUCKET, or the info of NAME in it")
    info.add_argument("bucket", metavar="BUCKET")
    info.add_argument("object_name", metavar="NAME", nargs="?")

    d = subs.add_parser("del", help="delete an object", description="delete an object")
    d.add_argument("bucket", metavar="BUCKET")
    d.add_argument("object_name", metavar="NAME")

    rm = subs.add_parser("rm", help="delete a bucket and every object in it",
                         description="delete a bucket and every object in it")
    rm.add_argument("bucket", metavar="BUCKET")


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _human(n: Optional[int]) -> str:
    value = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


class _Counting:
    """A file wrapper that counts the bytes going through ``read`` or ``write``."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.n = 0

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.f.read(size)
        self.n += len(data)
        return data

    def write(self, data: bytes) -> int:
        self.f.write(data)
        self.n += len(data)
        return len(data)


def _with_progress(args: argparse.Namespace, total: int, label: str, counter: _Counting,
                   work: Callable[[], Any]) -> Any:
    if args.no_progress or total < PROGRESS_MIN:
        return work()
    from ._progress import Poller, Progress

    with Poller(Progress(total, label=label, unit="bytes"), lambda: counter.n):
        return work()


def _bucket_names(js: Any) -> List[str]:
    return sorted(si.config.name[4:] for si in js.streams_info() if si.config.name.startswith("OBJ_"))


def _cmd_add(js: Any, args: argparse.Namespace) -> int:
    obs = js.create_object_store(
        args.bucket, description=args.description, ttl=args.ttl, max_bytes=args.max_bytes,
        storage=args.storage, replicas=args.replicas,
    )
    _say(f'Created bucket "{obs.bucket}"')
    return 0


def _cmd_ls(js: Any, args: argparse.Namespace) -> int:
    if not args.bucket:
        names = _bucket_names(js)
        if not names:
            _say("No Object Store buckets")
        for name in names:
            _say(name)
        return 0
    from .js.errors import NotFoundError

    obs = js.object_store(args.bucket)
    try:
        infos = obs.list(ignore_deletes=not args.deleted)
    except NotFoundError:
        infos = []
    if not infos:
        _say(f'No objects in bucket "{args.bucket}"')
        return 0
    width = max(len(i.name) for i in infos)
    for i in sorted(infos, key=lambda i: i.name):
        kind = "link" if i.is_link() else ("deleted" if i.deleted else _human(i.size))
        _say(f"{i.name:<{width}}  {kind:>10}  {i.mtime or ''}")
    return 0


def _cmd_put(js: Any, args: argparse.Namespace) -> int:
    from .js.api import ObjectMeta, ObjectMetaOptions

    if args.file == "-" and not args.object_name:
        raise errors.Error("nats: put from standard input needs --as NAME, the name of the object")
    name = args.object_name or os.path.basename(args.file)
    obs = js.object_store(args.bucket)
    meta = ObjectMeta(name=name, description=args.description,
                      options=ObjectMetaOptions(max_chunk_size=args.chunk_size))
    if args.file == "-":
        source: BinaryIO = sys.stdin.buffer
        total = 0
    else:
        try:
            source = open(args.file, "rb")
        except OSError as exc:
            raise errors.Error(f"nats: cannot read {args.file!r}: {exc.strerror}") from None
        total = os.fstat(source.fileno()).st_size
    counter = _Counting(source)
    try:
        info = _with_progress(args, total, f"put {name}", counter,
                              lambda: obs.put(name, counter, meta=meta))
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    _say(f'Stored "{info.name}" in bucket "{args.bucket}": {_human(info.size)} in '
         f"{info.chunks} chunks, {info.digest}")
    return 0


def _cmd_get(js: Any, args: argparse.Namespace) -> int:
    obs = js.object_store(args.bucket)
    with obs.get_stream(args.object_name) as reader:
        to_stdout = args.output in (None, "-")
        try:
            out: BinaryIO = sys.stdout.buffer if to_stdout else open(args.output, "wb")
        except OSError as exc:
            raise errors.Error(f"nats: cannot write {args.output!r}: {exc.strerror}") from None
        counter = _Counting(out)

        def copy() -> None:
            for chunk in reader.chunks():
                counter.write(chunk)

        try:
            _with_progress(args, reader.info.size or 0, f"get {args.object_name}", counter, copy)
        finally:
            if to_stdout:
                out.flush()
            else:
                out.close()
    if not to_stdout:
        _say(f'Wrote "{args.object_name}" ({_human(counter.n)}) to {args.output}')
    return 0


def _cmd_info(js: Any, args: argparse.Namespace) -> int:
    obs = js.object_store(args.bucket)
    if not args.object_name:
        st = obs.status()
        rows: Dict[str, Any] = {
            "Bucket": st.bucket, "Description": st.description or "", "Size": _human(st.size),
            "TTL": f"{st.ttl:g}s" if st.ttl else "unlimited", "Sealed": st.sealed,
            "Replicas": st.replicas, "Storage": getattr(st.storage_type, "value", st.storage_type),
            "Backing store": st.backing_store,
        }
    else:
        i = obs.get_info(args.object_name)
        rows = {"Object": i.name, "Bucket": i.bucket, "Description": i.description or ""}
        if i.is_link():
            assert i.options is not None and i.options.link is not None
            rows["Link to"] = f"{i.options.link.bucket}/{i.options.link.name or ''}"
        else:
            rows.update({"Size": f"{_human(i.size)} ({i.size:,} bytes)", "Chunks": i.chunks,
                         "Digest": i.digest, "Modified": i.mtime, "NUID": i.nuid})
        for key, val in (i.headers or {}).items():
            rows[f"Header {key}"] = ", ".join(val) if isinstance(val, list) else val
    width = max(len(k) for k in rows)
    for key, val in rows.items():
        _say(f"{key:>{width}}: {val}")
    return 0


def _cmd_del(js: Any, args: argparse.Namespace) -> int:
    js.object_store(args.bucket).delete(args.object_name)
    _say(f'Deleted "{args.object_name}" from bucket "{args.bucket}"')
    return 0


def _cmd_rm(js: Any, args: argparse.Namespace) -> int:
    js.object_store(args.bucket)  # a clear error when there is no such bucket
    js.delete_object_store(args.bucket)
    _say(f'Deleted bucket "{args.bucket}"')
    return 0


_ACTIONS: Dict[str, Callable[[Any, argparse.Namespace], int]] = {
    "add": _cmd_add, "ls": _cmd_ls, "put": _cmd_put, "get": _cmd_get,
    "info": _cmd_info, "del": _cmd_del, "rm": _cmd_rm,
}


def run(args: argparse.Namespace, connect: Callable[[argparse.Namespace], Any]) -> int:
    """Run ``natsync object ACTION`` with a connection from ``connect(args)``."""
    nc = connect(args)
    try:
        return _ACTIONS[args.object_command](nc.jetstream(), args)
    finally:
        nc.close()
