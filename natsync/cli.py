"""The ``natsync`` command: pub, sub, req, reply, bench and demo.

Modelled on the ``nats`` CLI::

    natsync demo                                  # publish through a server crash
    natsync sub 'orders.>'                        # print what arrives
    natsync pub orders.new 'order {{Count}}' --count 5
    natsync reply help.please 'OK, I CAN HELP!!!'
    natsync req help.please 'I need help!'
    natsync bench bench.subject --pub 2 --sub 2 --msgs 100000

Exit status: 0 success, 1 an error (no traceback; the message says what to
do), 2 a usage error, 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import re
import ssl
import sys
import time
from datetime import datetime, timezone
from random import randint
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from . import _cli_micro, errors
from ._cli_common import CliError, format_duration, whole
from ._cli_common import duration as _seconds
from ._cli_common import say as _say
from ._cli_common import write_stdout as _write
from ._version import __version__
from .nuid import next_nuid

__all__ = ["CliError", "Template", "format_msg", "main", "parse_headers"]

DEFAULT_URL = "nats://127.0.0.1:4222"
ENV_URL = "NATS_URL"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

HeaderValues = Dict[str, Union[str, List[str]]]


# --------------------------------------------------------------------------- templates

_PLACEHOLDER = re.compile(r"\{\{\s*\.?([A-Za-z]+)((?:\s+-?\d+)*)\s*\}\}")

#: Placeholders every template knows, with a short description for --help.
TEMPLATE_HELP = (
    "{{Count}} (message number from 1), {{ID}} (a unique id), {{Random MIN MAX}}, "
    "{{TimeStamp}} (RFC 3339), {{Time}} (HH:MM:SS), {{Unix}}, {{UnixNano}}; "
    "a leading dot ({{.Count}}) is accepted as in the nats CLI"
)

_Context = Dict[str, Any]
_Part = Union[str, Callable[[_Context], str]]


def _random_part(args: List[int]) -> Callable[[_Context], str]:
    if len(args) > 2:
        raise ValueError("{{Random MIN MAX}} takes at most two numbers")
    if len(args) == 2:
        low, high = args
    else:
        low, high = 0, (args[0] if args else 2**31 - 1)
    if high < low:
        raise ValueError(f"{{{{Random {low} {high}}}}}: MIN must not be larger than MAX")
    return lambda ctx: str(randint(low, high))


def _timestamp(ctx: _Context) -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


_SIMPLE: Dict[str, Callable[[_Context], str]] = {
    "Count": lambda ctx: str(ctx["count"]),
    "ID": lambda ctx: next_nuid(),
    "TimeStamp": _timestamp,
    "Time": lambda ctx: time.strftime("%H:%M:%S"),
    "Unix": lambda ctx: str(int(time.time())),
    "UnixNano": lambda ctx: str(time.time_ns()),
}


class Template:
    """A payload or header value with ``{{Count}}``-style placeholders.

    Parsed once; :meth:`render` fills it per message. ``request=True`` also allows
    ``{{Request}}`` (the request's payload, for ``natsync reply``). An unknown
    placeholder is a ``ValueError`` naming the known ones. ``literal=True`` takes
    the text as it is (a payload read from stdin may be anything).
    """

    def __init__(self, text: str, *, request: bool = False, literal: bool = False) -> None:
        self.text = text
        parts: List[_Part] = []
        pos = 0
        for m in () if literal else _PLACEHOLDER.finditer(text):
            if m.start() > pos:
                parts.append(text[pos : m.start()])
            name, raw_args = m.group(1), m.group(2).split()
            args = [int(a) for a in raw_args]
            if name == "Random":
                parts.append(_random_part(args))
            elif args:
                raise ValueError(f"{m.group(0)}: {name} takes no arguments")
            elif name in _SIMPLE:
                parts.append(_SIMPLE[name])
            elif name == "Request" and request:
                parts.append(lambda ctx: str(ctx["request"]))
            else:
                known = TEMPLATE_HELP + ("; {{Request}} (the request's payload)" if request else "")
                raise ValueError(f"unknown placeholder {m.group(0)}: the known ones are {known}")
            pos = m.end()
        if pos < len(text):
            parts.append(text[pos:])
        self._parts = parts
        self.is_static = all(isinstance(p, str) for p in parts)
        self._ctx: _Context = {}

    def render(self, count: int = 1, request: bytes = b"") -> str:
        """The text for message number ``count`` (1-based)."""
        if self.is_static:
            return self.text
        ctx = self._ctx
        ctx["count"] = count
        ctx["request"] = request.decode("utf-8", "replace")
        return "".join(p if isinstance(p, str) else p(ctx) for p in self._parts)

    def render_bytes(self, count: int = 1, request: bytes = b"") -> bytes:
        """:meth:`render` encoded as UTF-8 (bytes read from stdin round-trip unchanged)."""
        return self.render(count, request).encode("utf-8", "surrogateescape")


def parse_headers(values: Sequence[str]) -> Dict[str, List[str]]:
    """``["k:v", "k: w", "x:y"]`` -> ``{"k": ["v", "w"], "x": ["y"]}``.

    The key and value are stripped of surrounding blanks; a key repeats to give
    several values. Raises ``ValueError`` for a missing ``:`` or an empty key.
    """
    headers: Dict[str, List[str]] = {}
    for item in values:
        key, sep, value = item.partition(":")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"header {item!r} is not KEY:VALUE")
        headers.setdefault(key, []).append(value.strip())
    return headers


class HeaderTemplate:
    """Header values that may hold placeholders, rendered per message."""

    def __init__(self, values: Sequence[str], *, request: bool = False) -> None:
        self._items = [
            (key, [Template(v, request=request) for v in vals])
            for key, vals in parse_headers(values).items()
        ]
        self._static: Optional[HeaderValues] = None
        if all(t.is_static for _k, ts in self._items for t in ts):
            self._static = self._build(1, b"") if self._items else None
        self.empty = not self._items

    def _build(self, count: int, request: bytes) -> HeaderValues:
        out: HeaderValues = {}
        for key, templates in self._items:
            vals = [t.render(count, request) for t in templates]
            out[key] = vals[0] if len(vals) == 1 else vals
        return out

    def render(self, count: int = 1, request: bytes = b"") -> Optional[HeaderValues]:
        """The headers for message ``count``, or None when there are none."""
        if self.empty:
            return None
        if self._static is not None:
            return self._static
        return self._build(count, request)


# --------------------------------------------------------------------------- output


def _note(text: str) -> None:
    """One status line to stderr (kept out of the data on stdout)."""
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def format_headers(headers: Optional[Dict[str, Any]]) -> bytes:
    """``Key: value`` lines, one per value of a multi-valued header."""
    if not headers:
        return b""
    lines = []
    for key, value in headers.items():
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"{key}: {v}\n")
    return "".join(lines).encode("utf-8", "replace")


def _size(n: int) -> str:
    return f"{n:,} byte{'' if n == 1 else 's'}"


def format_msg(msg: Any, index: int, *, raw: bool = False) -> bytes:
    """How ``sub`` and ``reply`` print a message.

    Raw: the payload and a newline. Otherwise a title line with the number,
    subject, reply subject and size, the headers, a blank line and the payload.
    """
    data: bytes = msg.data
    if raw:
        return data + b"\n"
    reply = f' with reply "{msg.reply}"' if msg.reply else ""
    title = f'[#{index}] Received on "{msg.subject}"{reply} ({_size(len(data))})\n'.encode()
    headers = format_headers(msg.headers)
    body = data if data.endswith(b"\n") or not data else data + b"\n"
    return title + headers + (b"\n" if headers else b"") + body + b"\n"


# --------------------------------------------------------------------------- arguments


_positive_int = whole(1)
_count = whole(0)  # 0 means "no limit" or "none"


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


def _add_connection_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The connection flags. On subcommands they default to SUPPRESS, so a flag
    given before the subcommand (``natsync -s URL pub ...``) is not overwritten."""

    def d(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    g = parser.add_argument_group("connection")
    g.add_argument("-s", "--server", metavar="URL", default=d(None),
                   help=f"server URL(s), comma separated (default: ${ENV_URL} or {DEFAULT_URL})")
    g.add_argument("--creds", metavar="FILE", default=d(None), help="user credentials (.creds) file")
    g.add_argument("--nkey", metavar="FILE", default=d(None), help="NKey seed file")
    g.add_argument("--user", default=d(None), help="user name")
    g.add_argument("--password", default=d(None), help="password")
    g.add_argument("--token", default=d(None), help="authentication token")
    g.add_argument("--tlscert", metavar="FILE", default=d(None), help="TLS client certificate")
    g.add_argument("--tlskey", metavar="FILE", default=d(None), help="TLS client key")
    g.add_argument("--tlsca", metavar="FILE", default=d(None),
                   help="CA certificate(s) to verify the server with")
    g.add_argument("--name", default=d(None), help="connection name shown by the server")
    g.add_argument("--connect-timeout", metavar="SECONDS", type=_positive_seconds,
                   default=d(2.0), help="connect timeout per server (default: 2s)")


def _add_payload(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA", nargs="?", default="",
                        help="the payload (default: empty)")
    parser.add_argument("--stdin", action="store_true",
                        help="send standard input as the payload, as it is (no templates)")


def _add_headers(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("-H", "--header", action="append", default=[], metavar="KEY:VALUE",
                        help=help_text)


def _add_template_help(parser: argparse.ArgumentParser, request: bool = False) -> None:
    extra = ", {{Request}} (the request's payload)" if request else ""
    parser.epilog = f"Templates in DATA and header values: {TEMPLATE_HELP}{extra}."


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``natsync`` command."""
    parser = argparse.ArgumentParser(
        prog="natsync",
        description="natsync: a synchronous NATS client. Start with `natsync demo`.",
    )
    parser.add_argument("--version", action="version", version=f"natsync {__version__}")
    _add_connection_options(parser, top=True)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = subs.add_parser(name, help=help_text, description=help_text)
        if name != "demo":
            _add_connection_options(p, top=False)
        return p

    p = add("pub", "publish a message, or many")
    p.add_argument("subject", metavar="SUBJECT")
    _add_payload(p)
    p.add_argument("--count", type=_positive_int, default=1, help="publish this many messages")
    p.add_argument("--sleep", type=_seconds, default=0.0, metavar="SECONDS",
                   help="wait this long between messages")
    _add_headers(p, "add a header (repeat for more, or for several values of one key)")
    p.add_argument("--reply", default="", metavar="SUBJECT", help="reply subject to send")
    p.add_argument("--timeout", type=_positive_seconds, default=5.0, metavar="SECONDS",
                   help="how long to wait for the server to confirm (default: 5s)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    _add_template_help(p)

    p = add("sub", "subscribe and print the messages that arrive")
    p.add_argument("subject", metavar="SUBJECT")
    p.add_argument("--queue", default="", metavar="GROUP", help="join this queue group")
    p.add_argument("--count", type=_count, default=0, help="exit after this many messages")
    p.add_argument("--raw", action="store_true", help="print only the payloads, one per line")

    p = add("req", "send a request and print the reply")
    p.add_argument("subject", metavar="SUBJECT")
    _add_payload(p)
    p.add_argument("--timeout", type=_positive_seconds, default=2.0, metavar="SECONDS",
                   help="how long to wait for the reply (default: 2s)")
    p.add_argument("--count", type=_positive_int, default=1, help="send this many requests")
    _add_headers(p, "add a header (repeatable)")
    p.add_argument("--raw", action="store_true", help="print only the reply's payload")
    _add_template_help(p)

    p = add("reply", "answer the requests sent to a subject")
    p.add_argument("subject", metavar="SUBJECT")
    p.add_argument("response", metavar="RESPONSE", nargs="?", default="{{Request}}",
                   help="the reply payload (default: {{Request}}, an echo)")
    p.add_argument("--queue", default="", metavar="GROUP", help="join this queue group")
    p.add_argument("--count", type=_count, default=0, help="exit after this many requests")
    _add_headers(p, "add a header to each reply (repeatable)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the requests")
    _add_template_help(p, request=True)

    p = add("bench", "measure publish, subscribe or request/reply throughput and latency")
    p.add_argument("subject", metavar="SUBJECT")
    p.add_argument("--pub", type=_count, default=1, metavar="N",
                   help="publishers, or requesters with --request (default: 1)")
    p.add_argument("--sub", type=_count, default=0, metavar="N",
                   help="subscribers, or responders with --request (default: 0; 1 with --request)")
    p.add_argument("--msgs", type=_positive_int, default=100_000,
                   help="messages to publish, shared by the publishers (default: 100,000)")
    p.add_argument("--size", type=_count, default=128, help="payload bytes (default: 128)")
    p.add_argument("--request", action="store_true",
                   help="request/reply mode: measure latency (p50 ... p99.9, max)")
    p.add_argument("--timeout", type=_positive_seconds, default=10.0, metavar="SECONDS",
                   help="give up after this long without progress, or on one reply (default: 10s)")
    p.add_argument("--csv", metavar="FILE", help="write per-client results as CSV ('-': stdout)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON ('-': stdout)")
    p.add_argument("--no-progress", action="store_true", help="draw no progress on stderr")
    from . import _cli_js

    _cli_js.add_bench_options(p)

    _cli_micro.register(add("micro", _cli_micro.HELP))

    p = add("demo", "start a nats-server, crash it mid-stream, and watch nothing get lost")
    p.add_argument("--count", type=_positive_int, default=300,
                   help="messages to publish (default: 300)")
    p.add_argument("--interval", type=_seconds, default=0.01, metavar="SECONDS",
                   help="pause between publishes (default: 10ms)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary")

    from . import _cli_kv

    _cli_kv.register(subs, _add_connection_options)
    _cli_js.register(subs, _add_connection_options)
    from . import _cli_object

    _cli_object.register(add)
    return parser


# --------------------------------------------------------------------------- connecting


def server_url(args: argparse.Namespace) -> str:
    """The servers to use: ``--server``, else ``$NATS_URL``, else the local default."""
    return str(getattr(args, "server", None) or os.environ.get(ENV_URL) or DEFAULT_URL)


def tls_context(args: argparse.Namespace) -> Optional[ssl.SSLContext]:
    """An SSLContext from ``--tlsca/--tlscert/--tlskey``, or None when none is given."""
    ca, cert, key = args.tlsca, args.tlscert, args.tlskey
    if not (ca or cert or key):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def check_connection_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Usage errors in the connection flags, caught before anything connects."""
    if bool(args.tlscert) != bool(args.tlskey):
        parser.error("--tlscert and --tlskey go together: give both")
    if args.password is not None and args.user is None:
        parser.error("--password needs --user")
    if args.creds and args.nkey:
        parser.error("--creds already holds the key: drop --nkey")


def connect_options(args: argparse.Namespace, **extra: Any) -> Dict[str, Any]:
    """The keyword arguments of ``natsync.connect`` the flags ask for."""
    opts: Dict[str, Any] = {
        "name": args.name or f"natsync {args.command}",
        "connect_timeout": args.connect_timeout,
        "error_cb": lambda exc: _note(f"natsync: {exc}"),
    }
    for flag, option in (("user", "user"), ("password", "password"), ("token", "token"),
                         ("creds", "user_credentials"), ("nkey", "nkeys_seed")):
        value = getattr(args, flag)
        if value is not None:
            opts[option] = value
    try:
        tls = tls_context(args)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot load the TLS files: {exc}")
    if tls is not None:
        opts["tls"] = tls
    opts.update(extra)
    return opts


def connect(args: argparse.Namespace, *, long_running: bool = False, **extra: Any) -> Any:
    """Connect as the flags say. ``long_running`` commands (sub, reply) reconnect
    forever and tell stderr when the connection drops and comes back."""
    import natsync

    if long_running:
        extra.setdefault("max_reconnect_attempts", -1)
        extra.setdefault("disconnected_cb", lambda: _note("natsync: disconnected, reconnecting"))
        extra.setdefault("reconnected_cb", lambda: _note("natsync: reconnected"))
    url = server_url(args)
    try:
        return natsync.connect(url, **connect_options(args, **extra))
    except (ValueError, TypeError) as exc:
        raise CliError(str(exc))
    except errors.Error as exc:
        raise CliError(f"cannot connect to {_redact(url)}: {exc}")
    except OSError as exc:  # e.g. an unreadable creds or seed file
        raise CliError(f"cannot connect to {_redact(url)}: {exc}")


def _redact(url: str) -> str:
    """``url`` without passwords or tokens."""
    return re.sub(r"//[^@/]*@", "//***@", url)


def _payload_template(args: argparse.Namespace) -> Template:
    """DATA as a template, or with ``--stdin`` the bytes of stdin, sent as they are."""
    if not args.stdin:
        return Template(str(args.data))
    if args.data:
        raise CliError("give DATA or --stdin, not both")
    return Template(sys.stdin.buffer.read().decode("utf-8", "surrogateescape"), literal=True)


# --------------------------------------------------------------------------- commands


def cmd_pub(args: argparse.Namespace) -> int:
    body = _payload_template(args)
    headers = HeaderTemplate(args.header)
    count: int = args.count
    each = not args.quiet and (count == 1 or args.sleep > 0)  # else one summary line
    totals = {"sent": 0, "bytes": 0}
    nc = connect(args)

    def publish_all() -> None:
        for i in range(1, count + 1):
            data = body.render_bytes(i)
            nc.publish(args.subject, data, reply=args.reply, headers=headers.render(i))
            totals["sent"] = i
            totals["bytes"] += len(data)
            if each:
                _say(f'Published {_size(len(data))} to "{args.subject}"')
            if args.sleep and i < count:
                nc.flush(timeout=args.timeout)
                time.sleep(args.sleep)
        nc.flush(timeout=args.timeout)

    try:
        from ._progress import Poller, Progress

        progress = Progress(count, label="pub")
        if progress.tty and count > 1 and not each and not args.quiet:
            with Poller(progress, lambda: totals["sent"]):
                publish_all()
        else:
            publish_all()
        if not each and not args.quiet:
            _say(f'Published {count:,} messages ({_size(totals["bytes"])}) to "{args.subject}"')
        return EXIT_OK
    finally:
        nc.close()


def _listen(args: argparse.Namespace, what: str, handle: Callable[[Any, int], None]) -> int:
    """Subscribe and call ``handle(msg, n)`` for each message until ``--count``."""
    nc = connect(args, long_running=True)
    try:
        sub = nc.subscribe(args.subject, queue=args.queue)
        if args.count:
            sub.unsubscribe(limit=args.count)
        nc.flush(timeout=args.connect_timeout + 5)
        group = f' in queue group "{args.queue}"' if args.queue else ""
        until = f", exiting after {args.count:,}" if args.count else ""
        _note(f'{what} on "{args.subject}"{group}{until}')
        n = 0
        try:
            while not args.count or n < args.count:
                try:
                    msg = sub.next_msg(timeout=1.0)
                except errors.TimeoutError:
                    continue
                n += 1
                handle(msg, n)
        except KeyboardInterrupt:
            _drain_quietly(nc)
            raise
        nc.flush(timeout=5.0)
        return EXIT_OK
    finally:
        nc.close()


def _drain_quietly(nc: Any) -> None:
    """Deliver what is pending before exiting; nothing to wait for while disconnected."""
    if not nc.is_connected:
        return
    try:
        nc.drain(timeout=2.0)
    except (errors.Error, KeyboardInterrupt):
        pass


def cmd_sub(args: argparse.Namespace) -> int:
    return _listen(args, "Subscribing", lambda msg, n: _write(format_msg(msg, n, raw=args.raw)))


def cmd_reply(args: argparse.Namespace) -> int:
    body = Template(args.response, request=True)
    headers = HeaderTemplate(args.header, request=True)

    def handle(msg: Any, n: int) -> None:
        if not args.quiet:
            _write(format_msg(msg, n))
        if not msg.reply:
            _note(f'natsync: message #{n} on "{msg.subject}" has no reply subject; not answered')
            return
        msg.respond(body.render_bytes(n, msg.data), headers=headers.render(n, msg.data))

    return _listen(args, "Listening", handle)


def cmd_req(args: argparse.Namespace) -> int:
    body = _payload_template(args)
    headers = HeaderTemplate(args.header)
    nc = connect(args)
    try:
        for i in range(1, args.count + 1):
            t0 = time.perf_counter()
            try:
                msg = nc.request(args.subject, body.render_bytes(i), timeout=args.timeout,
                                 headers=headers.render(i))
            except errors.NoRespondersError:
                raise CliError(
                    f'no responders on "{args.subject}": nothing is subscribed to it; start one, '
                    f"e.g. natsync reply {args.subject} 'hello'"
                )
            except errors.TimeoutError:
                raise CliError(f'no reply on "{args.subject}" within {args.timeout:g}s')
            rtt = time.perf_counter() - t0
            if args.raw:
                _write(msg.data + b"\n")
                continue
            hdrs = format_headers(msg.headers)
            _write(
                f"Received reply #{i} with rtt {format_duration(rtt)} "
                f"({_size(len(msg.data))})\n".encode()
                + hdrs + (b"\n" if hdrs else b"")
                + msg.data + (b"" if msg.data.endswith(b"\n") else b"\n")
            )
        return EXIT_OK
    finally:
        nc.close()


def cmd_bench(args: argparse.Namespace) -> int:
    if getattr(args, "js", False):
        from ._cli_js import run_bench as run_js_bench

        return run_js_bench(args)
    from ._bench import run_bench

    return run_bench(args, lambda name, **kw: connect(args, name=name, **kw))


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(count=args.count, interval=args.interval, quiet=args.quiet)


def cmd_kv(args: argparse.Namespace) -> int:
    from ._cli_kv import run

    return run(args)


def cmd_js(args: argparse.Namespace) -> int:
    from ._cli_js import run

    return run(args)


def cmd_object(args: argparse.Namespace) -> int:
    from ._cli_object import run

    return run(args, connect)


COMMANDS: Dict[str, Callable[[argparse.Namespace], int]] = {
    "pub": cmd_pub,
    "sub": cmd_sub,
    "req": cmd_req,
    "reply": cmd_reply,
    "bench": cmd_bench,
    "demo": cmd_demo,
    "kv": cmd_kv,
    "stream": cmd_js,
    "consumer": cmd_js,
    "micro": lambda args: _cli_micro.run(args, connect),
    "object": cmd_object,
}


def _check_templates(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Usage errors in templates and headers, before connecting."""
    request = args.command == "reply"
    try:
        for text in (getattr(args, "data", None), getattr(args, "response", None)):
            if text:
                Template(text, request=request)
        HeaderTemplate(getattr(args, "header", []), request=request)
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: Optional[List[str]] = None) -> int:
    """Run the ``natsync`` command with ``argv`` (default: ``sys.argv[1:]``); return the
    exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if args.command != "demo":
            check_connection_args(args, parser)
        _check_templates(args, parser)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        if exc.code is None:
            return EXIT_OK
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        _note("")
        return EXIT_INTERRUPTED
    except (CliError, errors.Error) as exc:
        _note(f"natsync: error: {exc}")
        return EXIT_ERROR
    except BrokenPipeError:
        # the reader of stdout went away (`natsync sub x | head`): stop quietly
        try:
            sys.stdout = open(os.devnull, "w")  # no flush error at exit
        except OSError:
            pass
        return EXIT_OK
