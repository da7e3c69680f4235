"""``natsync bench``: throughput of publishers and subscribers, or request/reply latency.

Every client has a connection of its own and runs on a thread of its own, as in
``nats bench``. Publishers share ``--msgs`` between them and each ends with a
flush, so its time covers the messages reaching the server; every subscriber
expects all ``--msgs`` and is timed from its first message to its last. In
request mode ``--pub`` requesters send ``--msgs`` requests between them, one at
a time each, to ``--sub`` responders (at least one, in a queue group), and every
round trip is timed.

The statistics helpers (:func:`percentile`, :func:`latency_summary`,
:func:`group_stats`, the ``format_*`` functions) are pure, for the unit tests.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO

from ._cli_common import CliError, format_duration
from ._progress import Poller, Progress
from ._version import __version__

__all__ = [
    "ClientResult",
    "format_group",
    "format_latency",
    "group_stats",
    "latency_summary",
    "percentile",
    "run_bench",
    "split_evenly",
]

MB = 1024 * 1024
#: Publishers report progress after each chunk of this many messages.
PUB_CHUNK = 1000
#: Percentiles reported in request mode.
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
#: Queue group of the responders in request mode.
RESPONDER_QUEUE = "natsync-bench"

Connect = Callable[..., Any]


@dataclass
class ClientResult:
    """What one benchmark client did: ``kind`` is "pub", "sub" or "req"."""

    kind: str
    index: int
    msgs: int = 0
    size: int = 0
    start: float = 0.0
    end: float = 0.0
    expected: int = 0
    latencies: List[float] = field(default_factory=list)
    error: str = ""

    @property
    def duration(self) -> float:
        return max(self.end - self.start, 0.0)

    @property
    def msgs_per_sec(self) -> float:
        d = self.duration
        return self.msgs / d if d > 0 else 0.0

    @property
    def bytes_per_sec(self) -> float:
        return self.msgs_per_sec * self.size


# --------------------------------------------------------------------------- statistics


def split_evenly(total: int, parts: int) -> List[int]:
    """``total`` shared by ``parts`` clients; the first ones take the remainder."""
    if parts <= 0:
        return []
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """The nearest-rank ``pct`` percentile of ascending ``sorted_values``.

    The smallest value with at least ``pct`` percent of the values at or below it;
    ``pct=100`` is the maximum. Raises ``ValueError`` for no values or a ``pct``
    outside 0..100.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile {pct} is not within 0..100")
    n = len(sorted_values)
    rank = math.ceil(pct / 100 * n - 1e-9)
    return sorted_values[min(max(rank - 1, 0), n - 1)]


def _pct_key(pct: float) -> str:
    return f"p{pct:g}"


def latency_summary(latencies: Sequence[float]) -> Dict[str, float]:
    """min, avg, stddev, p50, p90, p99, p99.9 and max of ``latencies`` (any order)."""
    values = sorted(latencies)
    if not values:
        return {}
    out = {"min": values[0], "avg": statistics.fmean(values),
           "stddev": statistics.pstdev(values) if len(values) > 1 else 0.0}
    for pct in PERCENTILES:
        out[_pct_key(pct)] = percentile(values, pct)
    out["max"] = values[-1]
    return out


def group_stats(clients: Sequence[ClientResult]) -> Dict[str, Any]:
    """Aggregate ``clients``: messages over the span from the first start to the last
    end, and min/avg/max/stddev of the per-client rates."""
    active = [c for c in clients if c.msgs > 0]
    msgs = sum(c.msgs for c in clients)
    byts = sum(c.msgs * c.size for c in clients)
    duration = (max(c.end for c in active) - min(c.start for c in active)) if active else 0.0
    rates = [c.msgs_per_sec for c in clients]
    return {
        "clients": len(clients),
        "msgs": msgs,
        "bytes": byts,
        "duration_s": duration,
        "msgs_per_sec": msgs / duration if duration > 0 else 0.0,
        "bytes_per_sec": byts / duration if duration > 0 else 0.0,
        "min_msgs_per_sec": min(rates) if rates else 0.0,
        "avg_msgs_per_sec": statistics.fmean(rates) if rates else 0.0,
        "max_msgs_per_sec": max(rates) if rates else 0.0,
        "stddev_msgs_per_sec": statistics.pstdev(rates) if len(rates) > 1 else 0.0,
        "per_client": [
            {
                "client": c.index,
                "msgs": c.msgs,
                "expected": c.expected,
                "bytes": c.msgs * c.size,
                "duration_s": c.duration,
                "msgs_per_sec": c.msgs_per_sec,
                "bytes_per_sec": c.bytes_per_sec,
                **({"error": c.error} if c.error else {}),
            }
            for c in clients
        ],
    }


def format_rate(title: str, msgs_per_sec: float, bytes_per_sec: float) -> str:
    """``"Pub stats: 1,234,567 msgs/sec ~ 150.70 MB/sec"``."""
    return f"{title}: {msgs_per_sec:,.0f} msgs/sec ~ {bytes_per_sec / MB:,.2f} MB/sec"


def format_group(title: str, stats: Dict[str, Any], indent: str = " ") -> List[str]:
    """The aggregate line, and with several clients one line each plus min/avg/max/stddev."""
    lines = [indent + format_rate(title, stats["msgs_per_sec"], stats["bytes_per_sec"])]
    if stats["clients"] > 1:
        for c in stats["per_client"]:
            lines.append(
                f"{indent} [{c['client']}] {c['msgs_per_sec']:,.0f} msgs/sec ~ "
                f"{c['bytes_per_sec'] / MB:,.2f} MB/sec ({c['msgs']:,} msgs)"
            )
        lines.append(
            f"{indent} min {stats['min_msgs_per_sec']:,.0f} | avg {stats['avg_msgs_per_sec']:,.0f}"
            f" | max {stats['max_msgs_per_sec']:,.0f} | stddev {stats['stddev_msgs_per_sec']:,.0f}"
            " msgs/sec"
        )
    return lines


def format_latency(summary: Dict[str, float], count: int, indent: str = " ") -> List[str]:
    """The percentile line and the min/avg/stddev line of a latency summary (seconds)."""
    if not summary:
        return [f"{indent}Latency: no replies"]
    pcts = " | ".join(
        f"{_pct_key(p)} {format_duration(summary[_pct_key(p)])}" for p in PERCENTILES
    )
    return [
        f"{indent}Latency ({count:,} requests): {pcts} | max {format_duration(summary['max'])}",
        f"{indent} min {format_duration(summary['min'])} | avg {format_duration(summary['avg'])}"
        f" | stddev {format_duration(summary['stddev'])}",
    ]


# --------------------------------------------------------------------------- clients


class _SubCounter:
    """Counts one subscriber's messages on its callback thread."""

    __slots__ = ("count", "expected", "first", "last", "done")

    def __init__(self, expected: int) -> None:
        self.count = 0
        self.expected = expected
        self.first = 0.0
        self.last = 0.0
        self.done = threading.Event()

    def on_msg(self, msg: Any) -> None:
        n = self.count + 1
        self.count = n
        if n == 1:
            self.first = time.perf_counter()
        if n >= self.expected and not self.done.is_set():
            self.last = time.perf_counter()
            self.done.set()


def _run_thread(target: Callable[[], None], name: str) -> threading.Thread:
    t = threading.Thread(target=target, name=name, daemon=True)
    t.start()
    return t


def _join_all(threads: Sequence[threading.Thread]) -> None:
    """Join with short waits, so Ctrl-C reaches the main thread."""
    for t in threads:
        while t.is_alive():
            t.join(0.2)


def _publisher(nc: Any, subject: str, payload: bytes, res: ClientResult, sent: List[int],
               barrier: threading.Barrier, flush_timeout: float) -> Callable[[], None]:
    def run() -> None:
        try:
            barrier.wait()
            pub = nc.publish
            n = res.expected
            done = 0
            res.start = time.perf_counter()
            while done < n:
                k = min(PUB_CHUNK, n - done)
                for _ in range(k):
                    pub(subject, payload)
                done += k
                sent[res.index - 1] = done
            nc.flush(timeout=flush_timeout)
            res.end = time.perf_counter()
            res.msgs = done
        except Exception as exc:  # reported in the results
            res.end = time.perf_counter()
            res.msgs = sent[res.index - 1]
            res.error = str(exc) or type(exc).__name__

    return run


def _requester(nc: Any, subject: str, payload: bytes, res: ClientResult, sent: List[int],
               barrier: threading.Barrier, timeout: float) -> Callable[[], None]:
    def run() -> None:
        lat = res.latencies
        try:
            barrier.wait()
            request = nc.request
            clock = time.perf_counter
            res.start = clock()
            for k in range(res.expected):
                t0 = clock()
                request(subject, payload, timeout=timeout)
                lat.append(clock() - t0)
                sent[res.index - 1] = k + 1
            res.end = clock()
        except Exception as exc:  # reported in the results
            res.end = time.perf_counter()
            res.error = str(exc) or type(exc).__name__
        res.msgs = len(lat)

    return run


# --------------------------------------------------------------------------- runs


@dataclass
class _Run:
    args: argparse.Namespace
    connect: Connect
    conns: List[Any] = field(default_factory=list)

    def client(self, name: str) -> Any:
        nc = self.connect(name)
        self.conns.append(nc)
        return nc

    def close(self) -> None:
        for nc in reversed(self.conns):
            try:
                nc.close()
            except Exception:  # closing is best effort here
                pass

    def progress(self, total: int, unit: str) -> Optional[Progress]:
        if self.args.no_progress or total <= 0:
            return None
        return Progress(total, label="bench", unit=unit)


def _with_progress(progress: Optional[Progress], read: Callable[[], int],
                   body: Callable[[], None]) -> None:
    if progress is None:
        body()
        return
    with Poller(progress, read):
        body()


def _wait_subs(counters: List[_SubCounter], results: List[ClientResult], stall: float,
               wait_first: bool) -> None:
    """Wait until every subscriber has all its messages, or none arrives for ``stall`` s."""
    last_total = -1
    last_change = time.monotonic()
    seen = [0] * len(counters)
    while True:
        pending = [c for c in counters if not c.done.is_set()]
        if not pending:
            break
        pending[0].done.wait(0.2)
        now = time.monotonic()
        for i, c in enumerate(counters):
            if c.count != seen[i]:
                seen[i] = c.count
                results[i].end = time.perf_counter()
        total = sum(seen)
        if total != last_total:
            last_total, last_change = total, now
        elif (total > 0 or not wait_first) and now - last_change > stall:
            break
    for c, r in zip(counters, results):
        r.msgs = c.count
        r.start = c.first
        if c.done.is_set():
            r.end = c.last
        elif c.count == 0:
            r.end = r.start = 0.0


def _pubsub(run: _Run, out: TextIO) -> Dict[str, Any]:
    args = run.args
    pubs, subs, size = args.pub, args.sub, args.size
    if pubs == 0 and subs == 0:
        raise CliError("nothing to measure: give --pub N and/or --sub N (N > 0)")
    shares = split_evenly(args.msgs, pubs)
    payload = b"n" * size
    print(f"Starting pub/sub benchmark [subject={args.subject}, msgs={args.msgs:,}, "
          f"size={size:,} B, pubs={pubs}, subs={subs}]", file=out, flush=True)

    counters = [_SubCounter(args.msgs) for _ in range(subs)]
    sub_results = [ClientResult("sub", i + 1, size=size, expected=args.msgs) for i in range(subs)]
    for i, c in enumerate(counters):
        nc = run.client(f"natsync bench sub #{i + 1}")
        nc.subscribe(args.subject, cb=c.on_msg, pending_msgs_limit=-1, pending_bytes_limit=-1)
    for nc in run.conns:
        nc.flush(timeout=args.timeout)
    pub_results = [ClientResult("pub", i + 1, size=size, expected=n) for i, n in enumerate(shares)]
    pub_conns = [run.client(f"natsync bench pub #{i + 1}") for i in range(pubs)]
    sent = [0] * pubs
    if pubs == 0:
        print(f'Waiting for {args.msgs:,} messages on "{args.subject}" (Ctrl-C to stop)',
              file=sys.stderr, flush=True)

    def body() -> None:
        barrier = threading.Barrier(max(pubs, 1))
        threads = [
            _run_thread(_publisher(nc, args.subject, payload, res, sent, barrier,
                                   max(args.timeout, 30.0)), f"natsync-cli-pub-{res.index}")
            for nc, res in zip(pub_conns, pub_results)
        ]
        _join_all(threads)
        _wait_subs(counters, sub_results, args.timeout, wait_first=pubs == 0)

    total = sum(shares) + subs * args.msgs
    progress = run.progress(total, "msgs")
    _with_progress(progress, lambda: sum(sent) + sum(c.count for c in counters), body)

    report: Dict[str, Any] = {"mode": "pubsub"}
    lines: List[str] = []
    if pubs and subs:
        both = group_stats(pub_results + sub_results)
        report["pubsub"] = {k: v for k, v in both.items() if k != "per_client"}
        lines.append(format_rate("NATS Pub/Sub stats", both["msgs_per_sec"], both["bytes_per_sec"]))
    if pubs:
        report["pub"] = group_stats(pub_results)
        lines += format_group("Pub stats", report["pub"])
    if subs:
        report["sub"] = group_stats(sub_results)
        lines += format_group("Sub stats", report["sub"])
    report["results"] = pub_results + sub_results
    report["lines"] = lines
    return report


def _request(run: _Run, out: TextIO) -> Dict[str, Any]:
    args = run.args
    requesters, responders, size = max(args.pub, 1), max(args.sub, 1), args.size
    shares = split_evenly(args.msgs, requesters)
    payload = b"r" * size
    print(f"Starting request/reply benchmark [subject={args.subject}, requests={args.msgs:,}, "
          f"size={size:,} B, requesters={requesters}, responders={responders}]",
          file=out, flush=True)

    def respond(msg: Any) -> None:
        msg.respond(msg.data)

    for i in range(responders):
        nc = run.client(f"natsync bench responder #{i + 1}")
        nc.subscribe(args.subject, queue=RESPONDER_QUEUE, cb=respond,
                     pending_msgs_limit=-1, pending_bytes_limit=-1)
        nc.flush(timeout=args.timeout)
    results = [ClientResult("req", i + 1, size=size, expected=n) for i, n in enumerate(shares)]
    conns = [run.client(f"natsync bench requester #{i + 1}") for i in range(requesters)]
    sent = [0] * requesters

    def body() -> None:
        barrier = threading.Barrier(requesters)
        _join_all([
            _run_thread(_requester(nc, args.subject, payload, res, sent, barrier, args.timeout),
                        f"natsync-cli-req-{res.index}")
            for nc, res in zip(conns, results)
        ])

    _with_progress(run.progress(sum(shares), "requests"), lambda: sum(sent), body)
    stats = group_stats(results)
    latencies = [x for r in results for x in r.latencies]
    summary = latency_summary(latencies)
    lines = format_group("Request/reply stats", stats) + format_latency(summary, len(latencies))
    return {
        "mode": "request",
        "request": stats,
        "latency_us": {k: v * 1e6 for k, v in summary.items()},
        "results": results,
        "lines": lines,
    }


# --------------------------------------------------------------------------- output


CSV_FIELDS = ["run_id", "mode", "kind", "client", "msgs", "expected", "bytes", "duration_s",
              "msgs_per_sec", "bytes_per_sec", "p50_us", "p90_us", "p99_us", "p99.9_us", "max_us",
              "error"]


def csv_rows(mode: str, results: Sequence[ClientResult], run_id: str) -> List[Dict[str, Any]]:
    """One CSV row per client; the latency columns are filled for requesters."""
    rows = []
    for r in results:
        row: Dict[str, Any] = {
            "run_id": run_id, "mode": mode, "kind": r.kind, "client": r.index, "msgs": r.msgs,
            "expected": r.expected, "bytes": r.msgs * r.size, "duration_s": f"{r.duration:.6f}",
            "msgs_per_sec": f"{r.msgs_per_sec:.1f}", "bytes_per_sec": f"{r.bytes_per_sec:.1f}",
            "error": r.error,
        }
        if r.latencies:
            summary = latency_summary(r.latencies)
            for key in ("p50", "p90", "p99", "p99.9", "max"):
                row[f"{key}_us"] = f"{summary[key] * 1e6:.1f}"
        rows.append(row)
    return rows


def _open_out(path: str) -> TextIO:
    if path == "-":
        return sys.stdout
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc}")


def _write_file(path: str, text: str) -> None:
    fh = _open_out(path)
    try:
        fh.write(text)
    finally:
        if fh is not sys.stdout:
            fh.close()
        else:
            fh.flush()


def run_bench(args: argparse.Namespace, connect: Connect) -> int:
    """Run the benchmark the flags describe; print the report; write --csv/--json."""
    to_stdout = "-" in (args.csv, args.json)
    out = sys.stderr if to_stdout else sys.stdout
    run = _Run(args, connect)
    try:
        report = _request(run, out) if args.request else _pubsub(run, out)
    finally:
        run.close()
    results: List[ClientResult] = report.pop("results")
    lines: List[str] = report.pop("lines")
    print("", file=out)
    for line in lines:
        print(line, file=out)
    problems = [
        f"{r.kind} #{r.index}: {r.error}" if r.error else
        f"{r.kind} #{r.index} got {r.msgs:,} of {r.expected:,} messages "
        f"(none for {args.timeout:g}s)"
        for r in results if r.error or r.msgs < r.expected
    ]
    for p in problems:
        print(f"natsync: error: {p}", file=sys.stderr)
    out.flush()

    report.update({
        "natsync_version": __version__, "subject": args.subject, "msgs": args.msgs,
        "size": args.size, "pubs": args.pub, "subs": args.sub, "complete": not problems,
    })
    if args.json:
        _write_file(args.json, json.dumps(report, indent=2) + "\n")
    if args.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_rows(report["mode"], results, time.strftime("%Y%m%dT%H%M%S")))
        _write_file(args.csv, buf.getvalue())
    return 1 if problems else 0
