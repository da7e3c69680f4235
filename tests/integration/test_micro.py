"""Services (natsync.micro, ADR-32) against a real nats-server: worker pools under
load, error counting, stop under load, discovery at three levels, request_many."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import pytest

import natsync
from natsync import errors, micro
from natsync.testing import NatsServer
from tests.conn_events import Events

WAIT = 20.0  # bound on every wait in this file (a shared, noisy machine)


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer() as srv:
        yield srv


@pytest.fixture
def connect(server: NatsServer) -> Iterator[Callable[..., natsync.Client]]:
    clients: List[natsync.Client] = []

    def make(**kw: Any) -> natsync.Client:
        nc = natsync.connect(server.url, **kw)
        clients.append(nc)
        return nc

    yield make
    for nc in clients:
        nc.close()


@pytest.fixture
def nc(connect: Callable[..., natsync.Client]) -> natsync.Client:
    return connect()


def echo(req: micro.Request) -> None:
    req.respond(req.data)


def start_threads(n: int, body: Callable[[int], None]
                  ) -> Tuple[List[threading.Thread], List[BaseException]]:
    """Run ``body(i)`` on ``n`` threads; what they raise is collected for the test."""
    failures: List[BaseException] = []

    def run(i: int) -> None:
        try:
            body(i)
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    return threads, failures


# ------------------------------------------------------------------ load and workers


@pytest.mark.slow
def test_eight_threads_2000_requests_each_to_a_four_worker_endpoint(
        connect: Callable[..., natsync.Client]) -> None:
    snc = connect()
    seen: Set[bytes] = set()
    seen_lock = threading.Lock()

    def handler(req: micro.Request) -> None:
        with seen_lock:
            assert req.data not in seen, "a request was delivered twice"
            seen.add(req.data)
        req.respond(b"re:" + req.data)

    svc = micro.add_service(snc, name="load", version="1.0.0")
    svc.add_endpoint(name="work", handler=handler, max_concurrency=4)
    requesters = [connect(), connect()]
    replies: List[int] = [0] * 8

    def run(i: int) -> None:
        rnc = requesters[i % 2]
        for j in range(2000):
            payload = f"{i}-{j}".encode()
            msg = rnc.request("work", payload, timeout=WAIT)
            assert msg.data == b"re:" + payload  # its own reply, not another's
            replies[i] += 1

    threads, failures = start_threads(8, run)
    for t in threads:
        t.join(300)
    assert not failures, failures[:3]
    assert replies == [2000] * 8
    assert len(seen) == 16_000
    ep = svc.stats().endpoints[0]
    assert (ep.num_requests, ep.num_errors) == (16_000, 0)
    assert ep.processing_time > 0 and ep.average_processing_time == ep.processing_time // 16_000
    svc.stop()


def test_workers_run_at_once_and_one_worker_keeps_order(nc: natsync.Client,
                                                        connect: Callable[..., natsync.Client]) -> None:
    barrier = threading.Barrier(3, timeout=WAIT)
    order: List[bytes] = []

    def together(req: micro.Request) -> None:
        barrier.wait()  # passes only when three handlers run at the same time
        req.respond(b"ok")

    def in_order(req: micro.Request) -> None:
        order.append(req.data)
        req.respond(req.data)

    with micro.add_service(nc, name="pool", version="1.0.0") as svc:
        svc.add_endpoint(name="together", handler=together, max_concurrency=3)
        svc.add_endpoint(name="ordered", handler=in_order)
        rnc = connect()
        out: List[bytes] = []
        ts = [threading.Thread(target=lambda: out.append(rnc.request("together", timeout=WAIT).data))
              for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(WAIT + 5)
        assert out == [b"ok"] * 3
        inbox = rnc.new_inbox()
        sub = rnc.subscribe(inbox)
        sent = [str(i).encode() for i in range(200)]
        for p in sent:
            rnc.publish("ordered", p, reply=inbox)
        got = [sub.next_msg(timeout=WAIT).data for _ in sent]
        assert got == sent and order == sent


def test_a_slow_endpoint_does_not_hold_up_another(nc: natsync.Client,
                                                  connect: Callable[..., natsync.Client]) -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow(req: micro.Request) -> None:
        entered.set()
        release.wait(WAIT)
        req.respond(b"slow")

    with micro.add_service(nc, name="mixed", version="1.0.0") as svc:
        svc.add_endpoint(name="slow", handler=slow)
        svc.add_endpoint(name="fast", handler=echo)
        rnc = connect()
        inbox = rnc.new_inbox()
        sub = rnc.subscribe(inbox)
        rnc.publish("slow", b"", reply=inbox)
        assert entered.wait(WAIT)
        assert rnc.request("fast", b"quick", timeout=WAIT).data == b"quick"
        assert micro.ping(rnc, "mixed", timeout=2.0)  # discovery answers too
        release.set()
        assert sub.next_msg(timeout=WAIT).data == b"slow"


# ------------------------------------------------------------------ errors


def test_errors_are_answered_counted_and_reported(connect: Callable[..., natsync.Client]) -> None:
    events = Events()
    snc = connect(error_cb=events.error_cb)

    def handler(req: micro.Request) -> None:
        kind = req.data
        if kind == b"service":
            raise micro.ServiceError("400", "bad input")
        if kind == b"other":
            raise KeyError("missing")
        if kind == b"respond_error":
            req.respond_error("503", "busy", data=b"later", headers={"X-Retry": "1"})
            return
        req.respond(b"fine")

    svc = micro.add_service(snc, name="errs", version="0.1.0")
    svc.add_endpoint(name="e", handler=handler)
    rnc = connect()
    kinds = [b"service"] * 3 + [b"other"] * 2 + [b"respond_error"] * 4 + [b"ok"] * 5
    replies = [rnc.request("e", k, timeout=WAIT) for k in kinds]
    for k, msg in zip(kinds, replies):
        err = micro.service_error(msg)
        if k == b"service":
            assert err == micro.ServiceError("400", "bad input") and msg.data == b""
        elif k == b"other":
            assert err is not None and err.code == "500" and err.description == "KeyError('missing')"
        elif k == b"respond_error":
            assert msg.headers == {micro.ERROR_HEADER: "busy", micro.ERROR_CODE_HEADER: "503",
                                   "X-Retry": "1"}
            assert msg.data == b"later"
        else:
            assert err is None and msg.data == b"fine" and msg.headers is None
    ep = svc.stats().endpoints[0]
    assert (ep.num_requests, ep.num_errors) == (14, 9)
    assert ep.last_error == "503:busy"  # the last error, though later requests succeeded
    # the five that raised reached error_cb; the service went on
    events.wait_for(lambda: len(events.errors) == 5, "five errors reported")
    assert [type(e) for e in events.errors] == [micro.ServiceError] * 3 + [KeyError] * 2
    assert rnc.request("e", b"ok", timeout=WAIT).data == b"fine"
    svc.stop()


def test_replies_to_a_burst_keep_their_data_headers_and_errors(
        connect: Callable[..., natsync.Client]) -> None:
    """While more requests wait for the worker, replies are queued rather than written
    one by one: each still carries its own data, headers and error headers."""
    snc = connect()
    gate = threading.Event()

    def handler(req: micro.Request) -> None:
        gate.wait(WAIT)  # the first request holds the worker while the others queue up
        i = int(req.data)
        if i % 3 == 0:
            req.respond_error("400", f"bad {i}", data=b"e%d" % i, headers={"X-I": str(i)})
        elif i % 3 == 1:
            req.respond(b"ok%d" % i, headers={"X-I": str(i)})
        else:
            req.respond(b"ok%d" % i)

    svc = micro.add_service(snc, name="burst", version="1.0.0")
    svc.add_endpoint(name="b", handler=handler)
    rnc = connect()
    n = 30
    replies: Dict[int, natsync.Msg] = {}

    def ask(i: int) -> None:
        replies[i] = rnc.request("b", b"%d" % i, timeout=WAIT)

    ts = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    sub = svc._endpoints[0]._sub
    assert sub is not None
    deadline = time.monotonic() + WAIT
    while sub.pending_msgs < n - 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sub.pending_msgs == n - 1  # one with the worker, the rest queued
    gate.set()
    for t in ts:
        t.join(WAIT)
    assert sorted(replies) == list(range(n))
    for i, msg in replies.items():
        err = micro.service_error(msg)
        if i % 3 == 0:
            assert err == micro.ServiceError("400", f"bad {i}") and msg.data == b"e%d" % i
            assert msg.headers is not None and msg.headers["X-I"] == str(i)
        elif i % 3 == 1:
            assert err is None and msg.data == b"ok%d" % i and msg.headers == {"X-I": str(i)}
        else:
            assert err is None and msg.data == b"ok%d" % i and msg.headers is None
    ep = svc.stats().endpoints[0]
    assert (ep.num_requests, ep.num_errors) == (n, n // 3)
    svc.stop()


def test_last_error_and_error_cb(connect: Callable[..., natsync.Client]) -> None:
    events = Events()
    snc = connect(error_cb=events.error_cb)

    def handler(req: micro.Request) -> None:
        if req.data == b"raise":
            raise micro.ServiceError("409", "conflict")
        if req.data == b"boom":
            raise RuntimeError("boom")
        req.respond_error("418", "teapot")

    with micro.add_service(snc, name="last", version="1.0.0") as svc:
        svc.add_endpoint(name="e", handler=handler)
        rnc = connect()
        rnc.request("e", b"raise", timeout=WAIT)
        assert svc.stats().endpoints[0].last_error == "409:conflict"
        rnc.request("e", b"teapot", timeout=WAIT)
        assert svc.stats().endpoints[0].last_error == "418:teapot"
        rnc.request("e", b"boom", timeout=WAIT)
        ep = svc.stats().endpoints[0]
        assert ep.last_error == "500:RuntimeError('boom')" and ep.num_errors == 3
        events.wait_for(lambda: len(events.errors) == 2, "two errors reported")
        # raised errors reach error_cb as raised; respond_error is an answer, not a failure
        reported = events.errors
        assert isinstance(reported[0], micro.ServiceError) and repr(reported[0]) == "409:conflict"
        assert isinstance(reported[1], RuntimeError)
        # the service goes on
        assert rnc.request("e", b"teapot", timeout=WAIT).headers[micro.ERROR_CODE_HEADER] == "418"


# ------------------------------------------------------------------ stop


def test_stop_under_load_answers_every_accepted_request_and_none_after(
        connect: Callable[..., natsync.Client]) -> None:
    snc = connect()
    svc = micro.add_service(snc, name="stopper", version="1.0.0")
    svc.add_endpoint(name="w", handler=echo, max_concurrency=2)
    rnc = connect()
    answered = [0] * 4
    progress = threading.Condition()
    unanswered: List[BaseException] = []
    going = threading.Event()
    going.set()
    started = threading.Barrier(5, timeout=WAIT)

    def run(i: int) -> None:
        started.wait()
        while going.is_set():
            try:
                assert rnc.request("w", b"x", timeout=WAIT).data == b"x"
            except errors.NoRespondersError as exc:
                unanswered.append(exc)
                return
            with progress:
                answered[i] += 1
                progress.notify_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    started.wait()
    with progress:  # under load
        assert progress.wait_for(lambda: sum(answered) >= 200, WAIT)
    svc.stop()
    assert svc.stopped and svc.stopped.is_set()
    going.clear()
    for t in threads:
        t.join(WAIT)
    # no request was taken and left unanswered, none taken after stop
    assert svc.stats().endpoints[0].num_requests == sum(answered)
    with pytest.raises(errors.NoRespondersError):
        rnc.request("w", b"late", timeout=WAIT)
    assert micro.ping(rnc, "stopper", timeout=0.5) == []


def test_stop_waits_for_in_flight_within_its_timeout(nc: natsync.Client,
                                                    connect: Callable[..., natsync.Client]) -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow(req: micro.Request) -> None:
        entered.set()
        release.wait(WAIT)
        req.respond(b"done")

    svc = micro.add_service(nc, name="slowstop", version="1.0.0")
    svc.add_endpoint(name="s", handler=slow)
    rnc = connect()
    inbox = rnc.new_inbox()
    sub = rnc.subscribe(inbox)
    for _ in range(3):
        rnc.publish("s", b"", reply=inbox)
    rnc.flush()
    assert entered.wait(WAIT)
    svc.stop(timeout=0.3)  # gives up on the handler: the two queued requests are dropped
    assert svc.stopped
    release.set()
    assert sub.next_msg(timeout=WAIT).data == b"done"  # the in-flight one still answers
    with pytest.raises(errors.TimeoutError):
        sub.next_msg(timeout=0.5)
    assert svc.stats().endpoints[0].num_requests == 1


def test_stop_from_a_handler_and_with_block(nc: natsync.Client) -> None:
    holder: Dict[str, micro.Service] = {}

    def quit_handler(req: micro.Request) -> None:
        req.respond(b"bye")
        holder["svc"].stop()

    with micro.add_service(nc, name="quitter", version="1.0.0") as svc:
        holder["svc"] = svc
        svc.add_endpoint(name="quit", handler=quit_handler)
        assert nc.request("quit", timeout=WAIT).data == b"bye"
        assert svc.stopped.wait(WAIT)
    assert svc.stopped
    with micro.add_service(nc, name="ctx", version="1.0.0") as svc2:
        svc2.add_endpoint(name="e", handler=echo)
        assert not svc2.stopped
    assert svc2.stopped
    with pytest.raises(errors.NoRespondersError):
        nc.request("e", timeout=WAIT)
    with pytest.raises(errors.Error, match="stopped"):
        svc2.add_endpoint(name="again", handler=echo)


# ------------------------------------------------------------------ discovery

PING_KEYS = {"type", "name", "id", "version", "metadata"}
INFO_KEYS = PING_KEYS | {"description", "endpoints"}
STATS_KEYS = PING_KEYS | {"started", "endpoints"}
EP_INFO_KEYS = {"name", "subject", "queue_group", "metadata"}
EP_STATS_KEYS = {"name", "subject", "queue_group", "num_requests", "num_errors", "last_error",
                 "processing_time", "average_processing_time", "data"}


def raw(nc: natsync.Client, subject: str, expect: Optional[int] = None) -> List[Dict[str, Any]]:
    """Every answer within a second, or the ``expect`` answers (waiting up to WAIT)."""
    timeout = 1.0 if expect is None else WAIT
    return [json.loads(m.data) for m in nc.request_many(subject, timeout=timeout, max_msgs=expect)]


def test_discovery_at_three_levels_field_by_field(nc: natsync.Client,
                                                  connect: Callable[..., natsync.Client]) -> None:
    a1 = micro.add_service(nc, name="alpha", version="1.2.3", description="first",
                           metadata={"region": "eu"})
    a1.add_endpoint(name="one", handler=echo, metadata={"k": "v"})
    a1.add_group(name="g", queue_group="gq").add_endpoint(name="two", subject="sub.two", handler=echo)
    a2 = micro.add_service(connect(), name="alpha", version="1.2.3")
    b = micro.add_service(connect(), name="beta", version="2.0.0-rc.1+build.5")
    c = connect()
    try:
        c.request("one", b"hi", timeout=WAIT)
        for verb, keys, type_ in (("PING", PING_KEYS, micro.PING_RESPONSE_TYPE),
                                  ("INFO", INFO_KEYS, micro.INFO_RESPONSE_TYPE),
                                  ("STATS", STATS_KEYS, micro.STATS_RESPONSE_TYPE)):
            everyone = raw(c, f"$SRV.{verb}")
            ids = {d["id"] for d in everyone}
            assert {a1.id, a2.id, b.id} <= ids
            alphas = raw(c, f"$SRV.{verb}.alpha", 2)
            assert sorted(d["id"] for d in alphas) == sorted([a1.id, a2.id])
            (one,) = raw(c, f"$SRV.{verb}.alpha.{a1.id}", 1)
            for d in everyone + alphas + [one]:
                assert set(d) == keys and d["type"] == type_
                assert isinstance(d["metadata"], dict)
            assert (one["name"], one["id"], one["version"], one["metadata"]) == (
                "alpha", a1.id, "1.2.3", {"region": "eu"})
            (bdoc,) = raw(c, f"$SRV.{verb}.beta", 1)
            assert bdoc["version"] == "2.0.0-rc.1+build.5" and bdoc["metadata"] == {}
        (info,) = raw(c, f"$SRV.INFO.alpha.{a1.id}", 1)
        assert info["description"] == "first"
        assert info["endpoints"] == [
            {"name": "one", "subject": "one", "queue_group": "q", "metadata": {"k": "v"}},
            {"name": "two", "subject": "g.sub.two", "queue_group": "gq", "metadata": {}},
        ]
        (binfo,) = raw(c, "$SRV.INFO.beta", 1)
        assert binfo["description"] is None and binfo["endpoints"] == []
        (st,) = raw(c, f"$SRV.STATS.alpha.{a1.id}", 1)
        assert st["started"].endswith("Z") and "T" in st["started"]
        e1, e2 = st["endpoints"]
        for e in (e1, e2):
            assert set(e) == EP_STATS_KEYS
        assert (e1["name"], e1["subject"], e1["queue_group"], e1["num_requests"], e1["num_errors"],
                e1["last_error"], e1["data"]) == ("one", "one", "q", 1, 0, "", None)
        assert e1["average_processing_time"] == e1["processing_time"]  # one request
        assert e2["num_requests"] == 0 and e2["average_processing_time"] == 0
        # the typed helpers see the same
        assert {p.id for p in micro.ping(c, "alpha", max_msgs=2, timeout=WAIT)} == {a1.id, a2.id}
        (i1,) = micro.info(c, "alpha", a1.id)
        assert i1 == a1.info()
        (s1,) = micro.stats(c, "alpha", a1.id)
        assert s1.endpoints == a1.stats().endpoints
        assert micro.ping(c, "nosuch", timeout=0.3) == []
    finally:
        for s in (a1, a2, b):
            s.stop()


def test_reset_zeroes_everything_and_stats_handler_adds_data(nc: natsync.Client) -> None:
    def stats_handler(es: micro.EndpointStats) -> Any:
        return {"seen": es.num_requests, "endpoint": es.name}

    with micro.add_service(nc, name="resettable", version="1.0.0",
                           stats_handler=stats_handler) as svc:
        svc.add_endpoint(name="e", handler=lambda r: r.respond_error("400", "nope"))
        for _ in range(3):
            nc.request("e", timeout=WAIT)
        before = svc.stats()
        ep = before.endpoints[0]
        assert (ep.num_requests, ep.num_errors, ep.last_error) == (3, 3, "400:nope")
        assert ep.data == {"seen": 3, "endpoint": "e"}
        (remote,) = micro.stats(nc, "resettable")
        assert remote.endpoints[0].data == {"seen": 3, "endpoint": "e"}
        svc.reset()
        after = svc.stats()
        ep = after.endpoints[0]
        assert (ep.num_requests, ep.num_errors, ep.last_error, ep.processing_time,
                ep.average_processing_time) == (0, 0, None, 0, 0)
        assert after.started >= before.started


def test_reset_under_load_counts_exactly_what_follows(
        connect: Callable[..., natsync.Client]) -> None:
    """Four workers count without a lock; reset() moves the baseline, so a reset while
    they run loses no later request and counts none twice."""
    snc, rnc = connect(), connect()
    with micro.add_service(snc, name="tally", version="1.0.0") as svc:
        svc.add_endpoint(name="e", handler=echo, max_concurrency=4)
        stop = threading.Event()
        answered = [0, 0, 0, 0]  # per requester thread

        def load(i: int) -> None:
            while not stop.is_set():
                rnc.request("e", b"x", timeout=WAIT)
                answered[i] += 1

        threads, failures = start_threads(4, load)
        for _ in range(5):
            time.sleep(0.05)
            before = sum(answered)
            svc.reset()
            ep = svc.stats().endpoints[0]
            # counted after the reset: answered since, or one of the 4 still in flight
            assert 0 <= ep.num_requests <= sum(answered) - before + 4
            assert ep.processing_time >= 0
        stop.set()
        for t in threads:
            t.join(WAIT)
        assert not failures, failures[:3]
        svc.reset()
        for i in range(40):
            assert rnc.request("e", b"%d" % i, timeout=WAIT).data == b"%d" % i
        ep = svc.stats().endpoints[0]
        assert (ep.num_requests, ep.num_errors) == (40, 0)
        assert ep.average_processing_time == ep.processing_time // 40 > 0


def test_queue_groups_and_turning_them_off(connect: Callable[..., natsync.Client]) -> None:
    c = connect()
    shared = [micro.add_service(connect(), name="qsvc", version="1.0.0") for _ in range(2)]
    everyone = [micro.add_service(connect(), name="bsvc", version="1.0.0", queue_group_disabled=True)
                for _ in range(2)]
    try:
        for s in shared:
            s.add_endpoint(name="shared", handler=echo)
        for s in everyone:
            s.add_endpoint(name="bcast", handler=echo, max_concurrency=2)
        # a queue group: one instance answers; none: every instance answers
        assert len(list(c.request_many("shared", b"1", timeout=1.0))) == 1
        assert len(list(c.request_many("bcast", b"1", timeout=WAIT, max_msgs=2))) == 2
        assert everyone[0].info().endpoints[0].queue_group == ""
        # an endpoint can switch it off under a service that has one, and back on in a group
        s = shared[0]
        s.add_endpoint(name="solo", handler=echo, queue_group_disabled=True)
        g = s.add_group(name="grp", queue_group_disabled=True)
        g.add_endpoint(name="in_grp", handler=echo)
        g.add_endpoint(name="own", handler=echo, queue_group="mine")
        qs = {e.name: e.queue_group for e in s.info().endpoints}
        assert qs == {"shared": "q", "solo": "", "in_grp": "", "own": "mine"}
    finally:
        for s in shared + everyone:
            s.stop()


def test_bad_input_raises_at_once(nc: natsync.Client) -> None:
    with pytest.raises(ValueError, match="Invalid name"):
        micro.add_service(nc, name="bad name", version="1.0.0")
    with pytest.raises(micro.ConfigError, match="Invalid version"):
        micro.add_service(nc, name="ok", version="1.0")
    with pytest.raises(errors.Error, match="Version cannot be empty"):
        micro.ServiceConfig(name="ok", version="")
    with pytest.raises(ValueError, match="Invalid subject"):
        micro.EndpointConfig(name="e", handler=echo, subject="a b")
    with pytest.raises(ValueError, match="Invalid subject"):
        micro.EndpointConfig(name="e", handler=echo, subject="a\tb")
    with pytest.raises(ValueError, match="max_concurrency"):
        micro.EndpointConfig(name="e", handler=echo, max_concurrency=0)
    with pytest.raises(ValueError, match="add_service"):
        micro.add_service(nc, name="x", version="1.0.0", bogus=1)
    with micro.add_service(nc, name="dups", version="1.0.0") as svc:
        svc.add_endpoint(name="e", handler=echo)
        with pytest.raises(ValueError, match="Duplicate endpoint name 'e'"):
            svc.add_group(name="g").add_endpoint(name="e", handler=echo)
        assert [e.name for e in svc.info().endpoints] == ["e"]


# ------------------------------------------------------------------ request_many


def test_request_many_ends_by_count_stall_or_time(nc: natsync.Client,
                                                  connect: Callable[..., natsync.Client]) -> None:
    responders = [connect() for _ in range(3)]
    for i, r in enumerate(responders):
        r.subscribe("many", cb=lambda m, i=i: m.respond(str(i).encode(), headers={}))
        r.flush()
    got = sorted(m.data for m in nc.request_many("many", b"?", timeout=WAIT, max_msgs=3))
    assert got == [b"0", b"1", b"2"]
    assert len(list(nc.request_many("many", timeout=WAIT, max_msgs=2))) == 2
    # stall: once replies stop coming, it ends long before the timeout
    # (a timeout past pytest's own bound: only the stall can end this one in time)
    assert len(list(nc.request_many("many", timeout=600.0, stall=0.5))) == 3
    assert len(list(nc.request_many("many", timeout=0.5))) == 3
    with pytest.raises(errors.NoRespondersError):
        list(nc.request_many("nobody.here", timeout=WAIT))
    with pytest.raises(errors.BadTimeoutError):
        nc.request_many("many", timeout=0)
    with pytest.raises(errors.Error, match="max_msgs"):
        nc.request_many("many", max_msgs=0)
    # headers go out with the request
    hs = nc.subscribe("hdr", cb=lambda m: m.respond(m.headers["X"].encode(), headers={}))
    nc.flush()
    (m,) = nc.request_many("hdr", headers={"X": "y"}, timeout=WAIT, max_msgs=1)
    assert m.data == b"y"
    hs.unsubscribe()


# ------------------------------------------------------------------ connection life


def test_a_service_survives_a_server_restart(nats_server: NatsServer) -> None:
    reconnected = threading.Event()
    opts = dict(reconnect_time_wait=0.1, max_reconnect_attempts=-1)
    with natsync.connect(nats_server.url, reconnected_cb=reconnected.set, **opts) as snc, \
            natsync.connect(nats_server.url, **opts) as rnc, \
            micro.add_service(snc, name="phoenix", version="1.0.0") as svc:
        svc.add_endpoint(name="rise", handler=echo, max_concurrency=2)
        assert rnc.request("rise", b"1", timeout=WAIT).data == b"1"
        nats_server.restart()
        assert reconnected.wait(WAIT)
        snc.flush(timeout=WAIT)  # the service's subscriptions are back on the server
        deadline = time.monotonic() + WAIT
        while True:  # the requester reconnects on its own schedule
            try:
                assert rnc.request("rise", b"2", timeout=2.0).data == b"2"
                break
            except (errors.TimeoutError, errors.NoRespondersError):
                assert time.monotonic() < deadline, "the service did not answer after the restart"
        (ping,) = micro.ping(rnc, "phoenix", max_msgs=1, timeout=WAIT)
        assert ping.id == svc.id
        assert svc.stats().endpoints[0].num_requests >= 2  # a timed-out try may have arrived too


def test_closing_the_client_ends_the_workers(server: NatsServer) -> None:
    nc = natsync.connect(server.url)
    svc = micro.add_service(nc, name="orphan", version="1.0.0")
    svc.add_endpoint(name="o", handler=echo, max_concurrency=3)
    nc.close()  # without stopping the service: its worker threads end with the connection
    svc.stop(timeout=2.0)  # and stopping it afterwards is harmless
    assert svc.stopped
    # (the no_thread_leak fixture fails the test if a natsync-micro thread is left)


def test_nine_discovery_subscriptions_without_queue_and_endpoints_in_theirs(
        server: NatsServer, connect: Callable[..., natsync.Client]) -> None:
    snc = connect(name="micro-subs")
    got: List[bytes] = []
    handled = threading.Event()

    def no_reply(req: micro.Request) -> None:
        got.append(req.data)
        handled.set()

    with micro.add_service(snc, name="subs", version="1.0.0") as svc:
        svc.add_endpoint(name="a", handler=echo, max_concurrency=3)
        svc.add_endpoint(name="b", handler=echo, queue_group_disabled=True)
        svc.add_endpoint(name="nowhere", subject="nowhere", handler=no_reply)
        (conn,) = [c for c in server.connz(subs="detail")["connections"]
                   if c.get("name") == "micro-subs"]
        subs = {(s["subject"], s.get("qgroup", "")) for s in conn["subscriptions_list_detail"]}
        expected = {(f"$SRV.{verb}{tail}", "") for verb in ("PING", "INFO", "STATS")
                    for tail in ("", ".subs", f".subs.{svc.id}")}
        assert len(expected) == 9
        assert subs == expected | {("a", "q"), ("b", ""), ("nowhere", "q")}
        # a request published without a reply subject is handled, and nothing is sent back
        snc.publish("nowhere", b"fire and forget")
        assert handled.wait(WAIT)
        (st,) = micro.stats(snc, "subs", svc.id, timeout=WAIT)
        (ep,) = [e for e in st.endpoints if e.name == "nowhere"]
        assert (ep.num_requests, ep.num_errors) == (1, 0) and got == [b"fire and forget"]
