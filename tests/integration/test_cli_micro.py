"""``natsync micro ls|info|stats`` against real services on a real nats-server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Tuple

import pytest

import natsync
from natsync import micro
from natsync.cli import main
from natsync.testing import NatsServer

Services = Tuple[NatsServer, micro.Service, micro.Service, micro.Service]


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    with NatsServer() as srv, natsync.connect(srv.url) as nc:
        a1 = micro.add_service(nc, name="alpha", version="1.0.0", description="the first",
                               metadata={"team": "core"},
                               stats_handler=lambda es: {"extra": es.name})
        a1.add_endpoint(name="ok", handler=lambda r: r.respond(b"fine"))
        a1.add_group(name="v1").add_endpoint(name="bad", handler=lambda r: r.respond_error("400", "no"))
        a2 = micro.add_service(nc, name="alpha", version="1.0.0", description="the first")
        b = micro.add_service(nc, name="beta", version="2.0.0")
        nc.request("ok", timeout=10)
        nc.request("v1.bad", timeout=10)
        nc.request("v1.bad", timeout=10)
        try:
            yield srv, a1, a2, b
        finally:
            for s in (a1, a2, b):
                s.stop()


def cli(capsys: pytest.CaptureFixture[str], srv: NatsServer, *args: str) -> Tuple[int, str, str]:
    code = main(["-s", srv.url, "micro", *args, "--timeout", "0.5"])
    out, err = capsys.readouterr()
    return code, out, err


def test_ls_lists_every_instance(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    srv, a1, a2, b = services
    code, out, _ = cli(capsys, srv, "ls")
    assert code == 0
    lines = out.splitlines()
    assert "All Services" in lines[1]
    assert [c.strip() for c in lines[3].strip("│").split("│")] == ["Name", "Version", "ID", "Description"]
    rows = [[c.strip() for c in ln.strip("│").split("│")] for ln in lines[5:-1]]
    first, second = sorted([a1.id, a2.id])
    assert rows == [["alpha", "1.0.0", first, "the first"], ["", "", second, ""],
                    ["beta", "2.0.0", b.id, ""]]
    code, out, _ = cli(capsys, srv, "ls", "beta", "--json")
    assert code == 0 and [d["id"] for d in json.loads(out)] == [b.id]
    code, out, _ = cli(capsys, srv, "ls", "nosuch")
    assert (code, out) == (0, "No results received\n")


def test_info_shows_endpoints_and_statistics(services: Services,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    srv, a1, _a2, _b = services
    code, out, _ = cli(capsys, srv, "info", "alpha", a1.id)
    assert code == 0
    assert out.startswith("Service Information\n")
    for line in (f"Service: alpha ({a1.id})", "Description: the first", "Version: 1.0.0",
                 "Metadata: team=core", "Subject: v1.bad", "Queue Group: q",
                 "Statistics for 2 Endpoint(s):", "ok Endpoint Statistics:",
                 'Requests: 1 in group "q"', "bad Endpoint Statistics:", 'Requests: 2 in group "q"',
                 "Errors: 2", "Last Error: 400:no", '"extra": "bad"'):
        assert line in out, line
    code, out, _ = cli(capsys, srv, "info", "alpha", a1.id, "--json")
    (doc,) = json.loads(out)
    assert doc["info"] == a1.info().to_dict()
    assert doc["stats"]["endpoints"][1]["num_errors"] == 2


def test_stats_table_with_totals(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    srv, a1, a2, _b = services
    code, out, _ = cli(capsys, srv, "stats", "alpha")
    assert code == 0
    lines = out.splitlines()
    assert "alpha Service Statistics" in lines[1]
    cells = [[c.strip() for c in ln.strip("│").split("│")] for ln in lines if ln.startswith("│")]
    assert cells[1] == ["ID", "Endpoint", "Requests", "Queue Group", "Errors", "Processing Time",
                        "Average Time"]
    body = {(r[0], r[1]): (r[2], r[3], r[4]) for r in cells[2:-1]}
    assert body[(a1.id, "ok")] == ("1", "q", "0")
    assert body[("", "bad")] == ("2", "q", "2")
    assert cells[-1][:5] == ["", "", "3", "", "2"]  # the totals
    code, out, _ = cli(capsys, srv, "stats", "alpha", a2.id, "--json")
    (doc,) = json.loads(out)
    assert doc["id"] == a2.id and doc["endpoints"] == []


def test_ping_lists_each_instance_with_its_round_trip(services: Services,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    srv, a1, a2, b = services
    code, out, _ = cli(capsys, srv, "ping")
    assert code == 0
    got = {tuple(ln.split()[:2]): ln.split()[2] for ln in out.splitlines()}
    assert set(got) == {("alpha", a1.id), ("alpha", a2.id), ("beta", b.id)}
    assert all(rtt.startswith("rtt=") for rtt in got.values())
    code, out, _ = cli(capsys, srv, "ping", "beta", "--json")
    (doc,) = [json.loads(ln) for ln in out.splitlines()]
    assert (doc["type"], doc["name"], doc["id"]) == (micro.PING_RESPONSE_TYPE, "beta", b.id)
    assert isinstance(doc["rtt"], int) and doc["rtt"] > 0
    code, out, _ = cli(capsys, srv, "ping", "nosuch")
    assert (code, out) == (0, "No results received\n")


def test_usage_errors(services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    srv = services[0]
    assert main(["-s", srv.url, "micro"]) == 2  # an action is required
    assert main(["-s", srv.url, "micro", "stats", "--timeout", "0"]) == 2
    capsys.readouterr()
    code, out, err = cli(capsys, srv, "stats", "nosuch")
    assert (code, out) == (0, "No responses received\n")
