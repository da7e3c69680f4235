"""``natsync stream`` and ``natsync consumer``: JetStream from the command line, as the
``nats`` CLI has them, and the JetStream mode of ``natsync bench``.

::

    natsync stream add ORDERS --subjects 'orders.>' --storage file --max-age 7d
    natsync stream ls
    natsync stream info ORDERS
    natsync stream view ORDERS --count 10
    natsync stream purge ORDERS -f [--subject orders.eu] [--keep 100] [--seq 500]
    natsync stream rm ORDERS -f
    natsync consumer add ORDERS billing --filter 'orders.>' --ack explicit
    natsync consumer ls ORDERS
    natsync consumer info ORDERS billing
    natsync consumer next ORDERS billing --count 5      # fetch and ack
    natsync consumer rm ORDERS billing -f
    natsync bench orders.bench --js --msgs 10000 [--async-window 256]

:func:`register` adds the subcommands, :func:`run` runs one, :func:`run_bench` the bench.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from ._cli_common import add_command_with_actions, whole
from ._cli_common import duration as _duration
from .cli import CliError, connect

__all__ = ["register", "run", "run_bench", "add_bench_options"]

STREAM_ACTIONS = ("ls", "info", "add", "rm", "purge", "view")
CONSUMER_ACTIONS = ("ls", "info", "add", "rm", "next")


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()

_whole = whole(0)
_positive = whole(1)


def register(subs: Any, add_connection_options: Callable[..., None]) -> None:
    """Add ``stream`` and ``consumer`` to the ``natsync`` subparsers ``subs``."""
    sact = add_command_with_actions(
        subs, "stream", "manage JetStream streams (ls, info, add, rm, purge, view)",
        "JetStream streams, as `nats stream` has them.", "js_action", add_connection_options)

    p = sact("ls", "list the streams")
    p.add_argument("--names", action="store_true", help="print only the names")
    p = sact("info", "show a stream's configuration and state")
    p.add_argument("stream", metavar="STREAM")
    p = sact("add", "create a stream")
    p.add_argument("stream", metavar="STREAM")
    p.add_argument("--subjects", action="append", required=True, metavar="SUBJECTS",
                   help="subjects the stream stores (comma separated or repeated)")
    p.add_argument("--storage", choices=("file", "memory"), default="file")
    p.add_argument("--retention", choices=("limits", "interest", "workqueue"), default="limits")
    p.add_argument("--discard", choices=("old", "new"), default="old")
    p.add_argument("--max-msgs", type=int, default=None, metavar="N")
    p.add_argument("--max-bytes", type=int, default=None, metavar="BYTES")
    p.add_argument("--max-age", type=_duration, default=None, metavar="DURATION")
    p.add_argument("--max-msg-size", type=int, default=None, metavar="BYTES")
    p.add_argument("--max-msgs-per-subject", type=int, default=None, metavar="N")
    p.add_argument("--dupe-window", type=_duration, default=None, metavar="DURATION")
    p.add_argument("--replicas", type=_positive, default=1)
    p.add_argument("--allow-direct", action="store_true", help="allow direct get")
    p.add_argument("--description", default=None)
    p = sact("rm", "delete a stream and all its messages")
    p.add_argument("stream", metavar="STREAM")
    p.add_argument("-f", "--force", action="store_true", help="really delete (required)")
    p = sact("purge", "delete messages from a stream (all, or by --subject, --seq, --keep)")
    p.add_argument("stream", metavar="STREAM")
    p.add_argument("--subject", default=None, help="only messages on this subject")
    p.add_argument("--seq", type=_positive, default=None, help="only messages before this sequence")
    p.add_argument("--keep", type=_positive, default=None, help="keep the last N messages")
    p.add_argument("-f", "--force", action="store_true", help="really purge (required)")
    p = sact("view", "print a stream's messages")
    p.add_argument("stream", metavar="STREAM")
    p.add_argument("--count", type=_positive, default=None, help="at most this many (default: all)")
    p.add_argument("--since", type=_positive, default=None, metavar="SEQ",
                   help="start at this sequence (default: the first)")
    p.add_argument("--subject", default=None, help="only messages on this subject (a filter)")

    consumer_action = add_command_with_actions(
        subs, "consumer", "manage JetStream consumers (ls, info, add, rm, next)",
        "JetStream consumers, as `nats consumer` has them.", "js_action", add_connection_options)

    def cact(name: str, text: str) -> argparse.ArgumentParser:
        p = consumer_action(name, text)
        p.add_argument("stream", metavar="STREAM")
        return p

    p = cact("ls", "list a stream's consumers")
    p.add_argument("--names", action="store_true", help="print only the names")
    p = cact("info", "show a consumer's configuration and state")
    p.add_argument("consumer", metavar="CONSUMER")
    p = cact("add", "create a durable pull consumer")
    p.add_argument("consumer", metavar="CONSUMER")
    p.add_argument("--filter", action="append", default=None, metavar="SUBJECT",
                   help="only messages on these subjects (comma separated or repeated)")
    p.add_argument("--ack", choices=("explicit", "none", "all"), default="explicit")
    p.add_argument("--deliver", choices=("all", "last", "new", "last_per_subject"), default="all")
    p.add_argument("--ack-wait", type=_duration, default=None, metavar="DURATION")
    p.add_argument("--max-deliver", type=int, default=None, metavar="N")
    p.add_argument("--max-ack-pending", type=int, default=None, metavar="N")
    p.add_argument("--description", default=None)
    p = cact("rm", "delete a consumer")
    p.add_argument("consumer", metavar="CONSUMER")
    p.add_argument("-f", "--force", action="store_true", help="really delete (required)")
    p = cact("next", "fetch messages from a pull consumer and ack them")
    p.add_argument("consumer", metavar="CONSUMER")
    p.add_argument("--count", type=_positive, default=1, help="messages to fetch (default: 1)")
    p.add_argument("--no-ack", action="store_true", help="do not ack (they come back after ack_wait)")
    p.add_argument("--wait", type=_duration, default=5.0, metavar="DURATION",
                   help="how long to wait for messages (default: 5s)")


def add_bench_options(p: argparse.ArgumentParser) -> None:
    """The ``natsync bench`` flags of the JetStream mode."""
    p.add_argument("--js", action="store_true",
                   help="JetStream publish: each message acked by a stream (created if needed)")
    p.add_argument("--async-window", type=_whole, default=0, metavar="N",
                   help="with --js: publish_async with up to N acks outstanding (default: 0, "
                        "one ack at a time)")
    p.add_argument("--stream", default="BENCH", help="with --js: the stream (default: BENCH)")


def run(args: argparse.Namespace) -> int:
    """Run ``natsync stream|consumer ACTION``; returns the exit status."""
    from .js import errors as jse

    nc = connect(args)
    try:
        js = nc.jetstream()
        handler = _HANDLERS[(args.command, args.js_action)]
        try:
            handler(js, args)
        except jse.JetStreamNotEnabledError:
            raise CliError("the server has no JetStream: start nats-server with -js (or enable "
                           "jetstream in its configuration and for the account)")
        except jse.StreamNotFoundError:
            raise CliError(f"no stream {args.stream!r}: create it with natsync stream add "
                           f"{args.stream} --subjects SUBJECTS")
        except jse.ConsumerNotFoundError:
            raise CliError(f"no consumer {getattr(args, 'consumer', '')!r} on stream "
                           f"{args.stream!r}: create it with natsync consumer add {args.stream} NAME")
        except (jse.InvalidStreamNameError, jse.InvalidConsumerNameError,
                jse.InvalidArgumentError) as exc:
            raise CliError(str(exc))
        return 0
    finally:
        nc.close()


# ----------------------------------------------------------------------------- streams


def _split(values: Optional[List[str]]) -> List[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _time(value: Any) -> str:
    if not isinstance(value, datetime.datetime):
        return "-"
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _val(x: Any) -> str:
    return str(getattr(x, "value", x))


def _stream_ls(js: Any, args: argparse.Namespace) -> None:
    infos = js.streams_info()
    if args.names:
        for info in infos:
            _say(info.config.name)
        return
    if not infos:
        _say("no streams")
        return
    _say(f"{'Stream':<20} {'Subjects':<30} {'Messages':>10} {'Bytes':>12} {'Consumers':>9}")
    for info in sorted(infos, key=lambda i: i.config.name or ""):
        subjects = ",".join(info.config.subjects or [])
        _say(f"{info.config.name:<20} {subjects:<30} {info.state.messages:>10,} "
             f"{info.state.bytes:>12,} {info.state.consumer_count:>9}")


def _stream_info(js: Any, args: argparse.Namespace) -> None:
    info = js.stream_info(args.stream)
    cfg, st = info.config, info.state
    _say(f"Stream {cfg.name}" + (f" ({cfg.description})" if cfg.description else ""))
    rows = [
        ("Subjects", ", ".join(cfg.subjects or [])),
        ("Storage", _val(cfg.storage)),
        ("Retention", _val(cfg.retention)),
        ("Replicas", str(cfg.num_replicas)),
        ("Discard", _val(cfg.discard)),
        ("Max messages", str(cfg.max_msgs)),
        ("Max bytes", str(cfg.max_bytes)),
        ("Max age", f"{cfg.max_age:g}s" if cfg.max_age else "forever"),
        ("Dupe window", f"{cfg.duplicate_window:g}s"),
        ("Allow direct", str(bool(cfg.allow_direct))),
        ("Created", _time(info.created)),
        ("Messages", f"{st.messages:,}"),
        ("Bytes", f"{st.bytes:,}"),
        ("First seq", str(st.first_seq)),
        ("Last seq", str(st.last_seq)),
        ("Consumers", str(st.consumer_count)),
    ]
    if info.cluster is not None and info.cluster.name and info.cluster.leader:
        rows.append(("Leader", info.cluster.leader))
    for label, value in rows:
        _say(f"  {label + ':':<14} {value}")


def _stream_add(js: Any, args: argparse.Namespace) -> None:
    from .js import api

    subjects = _split(args.subjects)
    if not subjects:
        raise CliError("give the stream at least one subject with --subjects")
    cfg = api.StreamConfig(
        name=args.stream, subjects=subjects, description=args.description,
        storage=api.StorageType(args.storage), retention=api.RetentionPolicy(args.retention),
        discard=api.DiscardPolicy(args.discard), max_msgs=args.max_msgs, max_bytes=args.max_bytes,
        max_age=args.max_age, num_replicas=args.replicas,
        allow_direct=True if args.allow_direct else None)
    if args.max_msg_size is not None:
        cfg.max_msg_size = args.max_msg_size
    if args.max_msgs_per_subject is not None:
        cfg.max_msgs_per_subject = args.max_msgs_per_subject
    if args.dupe_window is not None:
        cfg.duplicate_window = args.dupe_window
    js.add_stream(cfg)
    _say(f"created stream {args.stream}")
    _stream_info(js, args)


def _stream_rm(js: Any, args: argparse.Namespace) -> None:
    if not args.force:
        raise CliError(f"deleting stream {args.stream!r} removes every message in it: add -f to confirm")
    js.delete_stream(args.stream)
    _say(f"deleted stream {args.stream}")


def _stream_purge(js: Any, args: argparse.Namespace) -> None:
    if not args.force:
        raise CliError(f"purging stream {args.stream!r} deletes messages: add -f to confirm")
    before = js.stream_info(args.stream).state.messages
    js.purge_stream(args.stream, seq=args.seq, subject=args.subject, keep=args.keep)
    after = js.stream_info(args.stream).state.messages
    _say(f"purged {before - after} messages from stream {args.stream} ({after} left)")


def _stream_view(js: Any, args: argparse.Namespace) -> None:
    from .js import errors as jse

    state = js.stream_info(args.stream).state
    seq = max(args.since or state.first_seq, state.first_seq, 1)
    shown = 0
    while seq <= state.last_seq and (args.count is None or shown < args.count):
        try:
            msg = js.get_msg(args.stream, seq, subject=args.subject, next=True) if args.subject \
                else js.get_msg(args.stream, seq)
        except jse.NotFoundError:
            if args.subject:
                break
            seq += 1
            continue
        _say(f"[{msg.seq}] {_time(msg.time)} {msg.subject}")
        for key, value in (msg.headers or {}).items():
            for v in value if isinstance(value, list) else [value]:
                _say(f"  {key}: {v}")
        _say((msg.data or b"").decode("utf-8", "replace"))
        shown += 1
        seq = (msg.seq or seq) + 1
    if not shown:
        _say(f"no messages in stream {args.stream}")


# --------------------------------------------------------------------------- consumers


def _consumer_ls(js: Any, args: argparse.Namespace) -> None:
    infos = js.consumers_info(args.stream)
    if args.names:
        for info in infos:
            _say(info.name)
        return
    if not infos:
        _say(f"no consumers on stream {args.stream}")
        return
    _say(f"{'Consumer':<20} {'Kind':<5} {'Ack':<9} {'Pending':>9} {'Ack pending':>11} {'Redelivered':>11}")
    for info in sorted(infos, key=lambda i: i.name):
        kind = "push" if info.config.deliver_subject else "pull"
        _say(f"{info.name:<20} {kind:<5} {_val(info.config.ack_policy):<9} {info.num_pending or 0:>9} "
             f"{info.num_ack_pending or 0:>11} {info.num_redelivered or 0:>11}")


def _consumer_info(js: Any, args: argparse.Namespace) -> None:
    info = js.consumer_info(args.stream, args.consumer)
    cfg = info.config
    _say(f"Consumer {info.name} on stream {info.stream_name}")
    rows = [
        ("Kind", "push" if cfg.deliver_subject else "pull"),
        ("Durable", str(bool(cfg.durable_name))),
        ("Filter", ", ".join(cfg.filter_subjects or ([cfg.filter_subject] if cfg.filter_subject else []))
         or ">"),
        ("Deliver", _val(cfg.deliver_policy)),
        ("Ack policy", _val(cfg.ack_policy)),
        ("Ack wait", f"{cfg.ack_wait:g}s" if cfg.ack_wait else "-"),
        ("Max deliver", str(cfg.max_deliver)),
        ("Max ack pending", str(cfg.max_ack_pending)),
        ("Created", _time(info.created)),
        ("Delivered", f"consumer seq {info.delivered.consumer_seq}, stream seq "
                      f"{info.delivered.stream_seq}" if info.delivered else "-"),
        ("Ack floor", f"consumer seq {info.ack_floor.consumer_seq}, stream seq "
                      f"{info.ack_floor.stream_seq}" if info.ack_floor else "-"),
        ("Pending", str(info.num_pending or 0)),
        ("Ack pending", str(info.num_ack_pending or 0)),
        ("Redelivered", str(info.num_redelivered or 0)),
        ("Waiting pulls", str(info.num_waiting or 0)),
    ]
    for label, value in rows:
        _say(f"  {label + ':':<16} {value}")


def _consumer_add(js: Any, args: argparse.Namespace) -> None:
    from .js import api

    filters = _split(args.filter)
    cfg = api.ConsumerConfig(
        durable_name=args.consumer, description=args.description,
        ack_policy=api.AckPolicy(args.ack), deliver_policy=api.DeliverPolicy(args.deliver),
        ack_wait=args.ack_wait, max_deliver=args.max_deliver, max_ack_pending=args.max_ack_pending)
    if len(filters) == 1:
        cfg.filter_subject = filters[0]
    elif filters:
        cfg.filter_subjects = filters
    js.add_consumer(args.stream, cfg)
    _say(f"created consumer {args.consumer} on stream {args.stream}")
    _consumer_info(js, args)


def _consumer_rm(js: Any, args: argparse.Namespace) -> None:
    if not args.force:
        raise CliError(f"deleting consumer {args.consumer!r} loses its position and acks: "
                       "add -f to confirm")
    js.delete_consumer(args.stream, args.consumer)
    _say(f"deleted consumer {args.consumer} from stream {args.stream}")


def _consumer_next(js: Any, args: argparse.Namespace) -> None:
    from . import errors

    info = js.consumer_info(args.stream, args.consumer)
    if info.config.deliver_subject:
        raise CliError(f"consumer {args.consumer!r} is a push consumer; next works on pull consumers")
    psub = js.pull_subscribe_bind(args.consumer, stream=args.stream)
    got = 0
    deadline = time.monotonic() + args.wait
    try:
        while got < args.count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msgs = psub.fetch(args.count - got, timeout=max(left, 0.05))
            except errors.TimeoutError:
                break
            for msg in msgs:
                md = msg.metadata
                _say(f"[{md.sequence.stream}] {msg.subject} (delivery {md.num_delivered}, "
                     f"{md.num_pending} pending)")
                _say(msg.data.decode("utf-8", "replace"))
                if not args.no_ack and info.config.ack_policy not in ("none",):
                    msg.ack_sync(timeout=5)
                got += 1
    finally:
        psub.unsubscribe()
    if not got:
        raise CliError(f"no message from consumer {args.consumer!r} within {args.wait:g}s")
    if not args.no_ack:
        _say(f"acked {got} message{'s' if got != 1 else ''}")


_HANDLERS: Dict[Any, Callable[[Any, argparse.Namespace], None]] = {
    ("stream", "ls"): _stream_ls,
    ("stream", "info"): _stream_info,
    ("stream", "add"): _stream_add,
    ("stream", "rm"): _stream_rm,
    ("stream", "purge"): _stream_purge,
    ("stream", "view"): _stream_view,
    ("consumer", "ls"): _consumer_ls,
    ("consumer", "info"): _consumer_info,
    ("consumer", "add"): _consumer_add,
    ("consumer", "rm"): _consumer_rm,
    ("consumer", "next"): _consumer_next,
}


# ------------------------------------------------------------------------------ bench


def run_bench(args: argparse.Namespace) -> int:
    """``natsync bench SUBJECT --js``: JetStream publish, sync or with an async window."""
    from .js import errors as jse

    if args.sub or args.request:
        raise CliError("--js measures JetStream publish: drop --sub and --request")
    nc = connect(args, name="natsync bench --js")
    try:
        js = nc.jetstream(timeout=args.timeout,
                          publish_async_max_pending=max(args.async_window, 1))
        try:
            info = js.stream_info(args.stream)
            created = False
            if not any(_covers(s, args.subject) for s in info.config.subjects or []):
                raise CliError(f"stream {args.stream!r} does not hold subject {args.subject!r}")
        except jse.StreamNotFoundError:
            js.add_stream(name=args.stream, subjects=[args.subject])
            created = True
        payload = b"x" * args.size
        n = args.msgs
        t0 = time.perf_counter()
        if args.async_window:
            futures = [js.publish_async(args.subject, payload) for _ in range(n)]
            js.publish_async_completed(timeout=args.timeout + n / 1000)
            failed = sum(1 for f in futures if f.exception() is not None)
        else:
            failed = 0
            for _ in range(n):
                js.publish(args.subject, payload)
        elapsed = time.perf_counter() - t0
        mode = f"async, window {args.async_window}" if args.async_window else "sync, one ack at a time"
        rate = n / elapsed if elapsed > 0 else float("inf")
        _say(f"JetStream publish ({mode}): {n:,} msgs of {args.size} B in {elapsed:.2f}s, "
             f"{rate:,.0f} msgs/s, {failed} failed")
        if created:
            js.delete_stream(args.stream)
        return 0 if not failed else 1
    finally:
        nc.close()


def _covers(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)
