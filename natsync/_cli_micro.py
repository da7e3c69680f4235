"""``natsync micro ls|info|stats|ping``: discover services as ``nats micro`` shows them.

Hooked into :mod:`natsync.cli` by two lines: :func:`register` adds the
subcommands to the ``micro`` parser, :func:`run` runs one with a connect function.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, List, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from .micro import ServiceInfo, ServiceStats

HELP = "list services and show their info and statistics (ADR-32 discovery)"


def _timeout(text: str) -> float:
    try:
        value = float(text.rstrip("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``ls``, ``info`` and ``stats`` to the ``micro`` subcommand's parser."""
    subs = parser.add_subparsers(dest="micro_command", metavar="ACTION")
    subs.required = True
    for name, aliases, text, id_too in (
            ("ls", ["list"], "list the services that answer (all, or the instances of NAME)", False),
            ("info", ["i"], "show the info and statistics of each instance", True),
            ("stats", [], "show the statistics of every endpoint, with totals", True),
            ("ping", [], "ping the services and show each instance's round trip time", False)):
        p = subs.add_parser(name, aliases=aliases, help=text, description=text)
        p.set_defaults(micro_command=name)
        p.add_argument("name", metavar="NAME", nargs="?", default=None,
                       help="only the services of this name")
        if id_too:
            p.add_argument("id", metavar="ID", nargs="?", default=None,
                           help="only the instance with this id")
        p.add_argument("-j", "--json", action="store_true", help="print JSON, as the services send it")
        p.add_argument("--timeout", type=_timeout, default=1.0, metavar="SECONDS",
                       help="how long to gather answers (default: 1s)")


def run(args: argparse.Namespace, connect: Callable[..., Any]) -> int:
    """Run the chosen action; ``connect(args)`` returns a connected client."""
    from . import errors, micro

    name, sid = args.name, getattr(args, "id", None)
    if sid and not name:
        raise errors.Error("an ID needs the service's NAME before it")
    nc = connect(args)
    try:
        if args.micro_command == "ls":
            infos = sorted(micro.info(nc, name, timeout=args.timeout), key=lambda i: (i.name, i.id))
            if args.json:
                _say(json.dumps([i.to_dict() for i in infos], indent=2))
            elif not infos:
                _say("No results received")
            else:
                _say(_render_ls(infos, name))
        elif args.micro_command == "info":
            infos = sorted(micro.info(nc, name, sid, timeout=args.timeout), key=lambda i: (i.name, i.id))
            stats = {s.id: s for s in micro.stats(nc, name, sid, timeout=args.timeout)}
            if args.json:
                _say(json.dumps([{"info": i.to_dict(),
                                  "stats": stats[i.id].to_dict() if i.id in stats else None}
                                 for i in infos], indent=2))
            elif not infos:
                _say("No results received")
            else:
                _say("\n\n".join(_render_info(i, stats.get(i.id)) for i in infos))
        elif args.micro_command == "ping":
            _ping(nc, name, args.timeout, args.json)
        else:
            all_stats = sorted(micro.stats(nc, name, sid, timeout=args.timeout),
                               key=lambda s: (s.name, s.id))
            if args.json:
                _say(json.dumps([s.to_dict() for s in all_stats], indent=2))
            elif not all_stats:
                _say("No responses received")
            else:
                _say(_render_stats(all_stats, name))
    finally:
        nc.close()
    return 0


def _ping(nc: Any, name: str, timeout: float, as_json: bool) -> None:
    """One line per instance as its answer arrives: ``NAME ID rtt=...``."""
    import time

    from . import errors, micro

    subject = micro.control_subject(micro.ServiceVerb.PING, name)
    start = time.perf_counter()
    n = 0
    try:
        for msg in nc.request_many(subject, timeout=timeout):
            rtt = int((time.perf_counter() - start) * 1e9)
            try:
                p = micro.ServicePing.from_dict(json.loads(msg.data))
            except (ValueError, KeyError, TypeError):
                continue
            n += 1
            if as_json:
                _say(json.dumps({**p.to_dict(), "rtt": rtt}))
            else:
                _say(f"{p.name + ' ' + p.id:<50} rtt={duration(rtt)}")
    except errors.NoRespondersError:
        pass
    if not n and not as_json:
        _say("No results received")


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def duration(ns: int) -> str:
    """Nanoseconds as a short human duration: ``850ns``, ``12µs``, ``1.25ms``, ``2.50s``."""
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.0f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.2f}ms"
    return f"{ns / 1e9:.2f}s"


def table(title: str, headers: Sequence[str], rows: List[List[str]],
          footer: Sequence[str] = ()) -> str:
    """A boxed table with a title, as the nats CLI draws them."""
    every = [list(headers), *rows] + ([list(footer)] if footer else [])
    widths = [max(len(r[i]) for r in every) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "│ " + " │ ".join(c.ljust(w) for c, w in zip(cells, widths)) + " │"

    def rule(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right

    out = [rule("╭", "─", "╮"), "│ " + title.center(sum(widths) + 3 * len(widths) - 3) + " │",
           rule("├", "┬", "┤"), line(headers), rule("├", "┼", "┤")]
    out += [line(r) for r in rows]
    if footer:
        out += [rule("├", "┼", "┤"), line(footer)]
    out.append(rule("╰", "┴", "╯"))
    return "\n".join(out)


def _render_ls(infos: List[ServiceInfo], name: str) -> str:
    rows: List[List[str]] = []
    prev = ("", "", "")
    for i in infos:
        desc = i.description or ""
        # like the nats CLI, a value equal to the row above is left blank
        rows.append([i.name if i.name != prev[0] else "", i.version if i.version != prev[1] else "",
                     i.id, desc if desc != prev[2] else ""])
        prev = (i.name, i.version, desc)
    title = f"{name} Service Instances" if name else "All Services"
    return table(title, ["Name", "Version", "ID", "Description"], rows)


def _fields(pairs: List[tuple[str, str]], indent: int = 0) -> List[str]:
    width = max(len(k) for k, _ in pairs)
    return [" " * indent + f"{k.rjust(width)}: {v}" for k, v in pairs]


def _metadata(md: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(md.items()))


def _render_info(info: ServiceInfo, stats: Any) -> str:
    pairs = [("Service", f"{info.name} ({info.id})"), ("Description", info.description or ""),
             ("Version", info.version)]
    if info.metadata:
        pairs.append(("Metadata", _metadata(info.metadata)))
    out = ["Service Information", "", *_fields(pairs, 2), "", "Endpoints:"]
    for e in info.endpoints:
        ep = [("Name", e.name), ("Subject", e.subject)]
        if e.queue_group:
            ep.append(("Queue Group", e.queue_group))
        if e.metadata:
            ep.append(("Metadata", _metadata(e.metadata)))
        out += ["", *_fields(ep, 4)]
    if stats is not None:
        st: ServiceStats = stats
        started = st.started
        ago = (datetime.now(timezone.utc) - started).total_seconds()
        out += ["", f"Statistics for {len(st.endpoints)} Endpoint(s):"]
        for es in st.endpoints:
            rows = [("Requests", f"{es.num_requests:,} in group \"{es.queue_group}\""),
                    ("Processing Time", f"{duration(es.processing_time)} "
                                        f"(average {duration(es.average_processing_time)})"),
                    ("Started", f"{started.strftime('%Y-%m-%d %H:%M:%S')} UTC "
                                f"({duration(max(int(ago * 1e9), 0))} ago)"),
                    ("Errors", f"{es.num_errors:,}")]
            if es.last_error:
                rows.append(("Last Error", es.last_error))
            out += ["", f"  {es.name or 'default'} Endpoint Statistics:", "", *_fields(rows, 4)]
            if es.data is not None:
                out += ["", "    Endpoint Specific Statistics:", "",
                        *("      " + ln for ln in json.dumps(es.data, indent=2).splitlines())]
    return "\n".join(out)


def _render_stats(all_stats: List[ServiceStats], name: str) -> str:
    rows: List[List[str]] = []
    requests = errors = total = 0
    for s in all_stats:
        for n, e in enumerate(s.endpoints):
            rows.append([s.id if n == 0 else "", e.name, f"{e.num_requests:,}", e.queue_group,
                         f"{e.num_errors:,}", duration(e.processing_time),
                         duration(e.average_processing_time)])
            requests += e.num_requests
            errors += e.num_errors
            total += e.processing_time
    avg = total // requests if requests else 0
    title = f"{name} Service Statistics" if name else "All Service Statistics"
    return table(title, ["ID", "Endpoint", "Requests", "Queue Group", "Errors", "Processing Time",
                         "Average Time"], rows,
                 ["", "", f"{requests:,}", "", f"{errors:,}", duration(total), duration(avg)])
