"""``natsync stream ...``, ``natsync consumer ...`` and ``natsync bench --js`` on a real server."""

from __future__ import annotations

from typing import Any

import pytest

import natsync
from natsync.cli import main
from natsync.js import api
from natsync.js import errors as jse
from natsync.testing import NatsServer


def cli(js_server: NatsServer, capsys: Any, *args: str) -> tuple[int, str, str]:
    code = main(["-s", js_server.url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_stream_add_ls_info_rm(js_server: NatsServer, nc: natsync.Client, capsys: Any) -> None:
    code, out, err = cli(js_server, capsys, "stream", "add", "ORD", "--subjects", "ord.a,ord.b",
                         "--subjects", "ord.c", "--storage", "memory", "--max-age", "1h",
                         "--retention", "workqueue", "--dupe-window", "30s", "--allow-direct")
    assert code == 0, err
    assert "created stream ORD" in out and "Max age:       3600s" in out
    cfg = nc.jsm().stream_info("ORD").config
    assert cfg.subjects == ["ord.a", "ord.b", "ord.c"] and cfg.storage is api.StorageType.MEMORY
    assert cfg.retention is api.RetentionPolicy.WORK_QUEUE and cfg.duplicate_window == 30.0
    assert cfg.allow_direct is True
    nc.jetstream().publish("ord.a", b"x")
    code, out, _ = cli(js_server, capsys, "stream", "ls")
    assert code == 0 and any(line.split()[:1] == ["ORD"] and line.split()[2] == "1"
                             for line in out.splitlines())
    code, out, _ = cli(js_server, capsys, "stream", "ls", "--names")
    assert out.splitlines() == ["ORD"]
    code, out, _ = cli(js_server, capsys, "stream", "info", "ORD")
    assert code == 0 and "Messages:      1" in out and "Subjects:      ord.a, ord.b, ord.c" in out
    code, _, err = cli(js_server, capsys, "stream", "rm", "ORD")
    assert code == 1 and "-f" in err
    code, out, _ = cli(js_server, capsys, "stream", "rm", "ORD", "-f")
    assert code == 0 and "deleted stream ORD" in out
    assert nc.jsm().streams_info() == []


def test_stream_errors_are_clear(js_server: NatsServer, nc: natsync.Client, capsys: Any) -> None:
    code, _, err = cli(js_server, capsys, "stream", "info", "NOPE")
    assert code == 1 and "no stream 'NOPE'" in err and "natsync stream add NOPE" in err
    code, _, err = cli(js_server, capsys, "stream", "add", "bad.name", "--subjects", "x")
    assert code == 1 and "invalid stream name" in err
    code, _, err = cli(js_server, capsys, "stream")
    assert code == 2
    code, _, err = cli(js_server, capsys, "consumer", "info", "NOPE", "c")
    assert code == 1 and "no stream 'NOPE'" in err


def test_no_jetstream_says_how_to_enable_it(nats_server: NatsServer, capsys: Any) -> None:
    code, _, err = cli(nats_server, capsys, "stream", "ls")
    assert code == 1 and "-js" in err


def test_stream_view_and_purge(js_server: NatsServer, nc: natsync.Client, capsys: Any) -> None:
    js = nc.jetstream()
    js.add_stream(name="V", subjects=["v.*"])
    for i in range(5):
        js.publish(f"v.{i % 2}", f"msg {i}".encode(), headers={"K": str(i)})
    code, out, _ = cli(js_server, capsys, "stream", "view", "V", "--count", "2")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith("[1] ") and lines[0].endswith(" v.0")
    assert lines[1:3] == ["  K: 0", "msg 0"] and lines[3].startswith("[2] ")
    assert len([ln for ln in lines if ln.startswith("[")]) == 2
    code, out, _ = cli(js_server, capsys, "stream", "view", "V", "--subject", "v.1", "--since", "3")
    assert [ln for ln in out.splitlines() if not ln.startswith(("[", "  "))] == ["msg 3"]
    code, _, err = cli(js_server, capsys, "stream", "purge", "V")
    assert code == 1 and "-f" in err
    code, out, _ = cli(js_server, capsys, "stream", "purge", "V", "-f", "--subject", "v.0")
    assert code == 0 and "purged 3 messages from stream V (2 left)" in out
    code, out, _ = cli(js_server, capsys, "stream", "purge", "V", "-f")
    assert "purged 2 messages" in out and js.stream_info("V").state.messages == 0


def test_consumer_add_ls_info_next_rm(js_server: NatsServer, nc: natsync.Client, capsys: Any) -> None:
    js = nc.jetstream()
    js.add_stream(name="C", subjects=["c.>"])
    for i in range(3):
        js.publish("c.x", f"job {i}".encode())
    code, out, err = cli(js_server, capsys, "consumer", "add", "C", "work", "--filter", "c.>",
                         "--ack-wait", "30s", "--max-deliver", "5")
    assert code == 0, err
    assert "created consumer work on stream C" in out and "Pending:         3" in out
    code, out, _ = cli(js_server, capsys, "consumer", "ls", "C", "--names")
    assert out.splitlines() == ["work"]
    code, out, _ = cli(js_server, capsys, "consumer", "next", "C", "work", "--count", "2")
    assert code == 0
    assert out.splitlines() == ["[1] c.x (delivery 1, 2 pending)", "job 0",
                                "[2] c.x (delivery 1, 1 pending)", "job 1", "acked 2 messages"]
    info = js.consumer_info("C", "work")
    assert info.ack_floor is not None and info.ack_floor.stream_seq == 2
    assert info.num_waiting == 0  # next leaves no pull request behind
    code, out, _ = cli(js_server, capsys, "consumer", "info", "C", "work")
    assert "  Ack floor:       consumer seq 2, stream seq 2" in out
    code, out, _ = cli(js_server, capsys, "consumer", "next", "C", "work", "--count", "5", "--wait", "1s")
    assert code == 0 and "acked 1 message" in out
    code, _, err = cli(js_server, capsys, "consumer", "next", "C", "work", "--wait", "300ms")
    assert code == 1 and "no message" in err
    code, _, err = cli(js_server, capsys, "consumer", "info", "C", "nobody")
    assert code == 1 and "no consumer 'nobody'" in err
    code, _, err = cli(js_server, capsys, "consumer", "rm", "C", "work")
    assert code == 1 and "-f" in err
    code, out, _ = cli(js_server, capsys, "consumer", "rm", "C", "work", "-f")
    assert code == 0
    with pytest.raises(jse.ConsumerNotFoundError):
        js.consumer_info("C", "work")


@pytest.mark.parametrize("window", ["0", "64"])
def test_bench_js(js_server: NatsServer, nc: natsync.Client, capsys: Any, window: str) -> None:
    code, out, err = cli(js_server, capsys, "bench", "bj.x", "--js", "--msgs", "300", "--size", "16",
                         "--async-window", window, "--stream", "BJ")
    assert code == 0, err
    mode = "sync, one ack at a time" if window == "0" else f"async, window {window}"
    assert f"JetStream publish ({mode}): 300 msgs of 16 B" in out and "0 failed" in out
    assert nc.jsm().streams_info() == []  # the bench removed the stream it created
