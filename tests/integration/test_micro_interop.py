"""Interop with nats-py's micro: nats-py reads and calls a natsync service, and
natsync's discovery sees and calls a nats-py service, on a real nats-server."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any, Dict

import pytest

import natsync
from natsync import micro
from natsync.testing import NatsServer

nats = pytest.importorskip("nats")
nats_micro = pytest.importorskip("nats.micro")
from nats.micro.service import ServiceInfo as PyInfo  # noqa: E402
from nats.micro.service import ServicePing as PyPing  # noqa: E402
from nats.micro.service import ServiceStats as PyStats  # noqa: E402

WAIT = 20.0


@pytest.fixture(scope="module")
def server() -> Iterator[NatsServer]:
    with NatsServer() as srv:
        yield srv


def test_nats_py_discovers_and_calls_a_natsync_service(server: NatsServer) -> None:
    with natsync.connect(server.url) as nc, micro.add_service(
            nc, name="natsync-svc", version="1.0.0", description="made by natsync",
            metadata={"lang": "python"}) as svc:
        svc.add_group(name="math").add_endpoint(
            name="double", handler=lambda r: r.respond(str(2 * int(r.data)).encode()))

        def fail(req: micro.Request) -> None:
            raise micro.ServiceError("422", "cannot")

        svc.add_endpoint(name="fail", handler=fail, metadata={"kind": "error"})

        async def client() -> Dict[str, Any]:
            pnc = await nats.connect(server.url)
            try:
                out: Dict[str, Any] = {}
                out["double"] = (await pnc.request("math.double", b"21", timeout=WAIT)).data
                err = await pnc.request("fail", b"", timeout=WAIT)
                out["err"] = err.headers
                for verb in ("PING", "INFO", "STATS"):
                    msg = await pnc.request(f"$SRV.{verb}.natsync-svc.{svc.id}", timeout=WAIT)
                    out[verb] = json.loads(msg.data)
                return out
            finally:
                await pnc.close()

        out = asyncio.run(client())
    assert out["double"] == b"42"
    assert out["err"] == {"Nats-Service-Error": "cannot", "Nats-Service-Error-Code": "422"}
    ping = PyPing.from_dict(out["PING"])
    assert (ping.name, ping.id, ping.version, ping.metadata) == (
        "natsync-svc", svc.id, "1.0.0", {"lang": "python"})
    info = PyInfo.from_dict(out["INFO"])
    assert info.description == "made by natsync"
    assert [(e.name, e.subject, e.queue_group, e.metadata) for e in info.endpoints] == [
        ("double", "math.double", "q", {}), ("fail", "fail", "q", {"kind": "error"})]
    stats = PyStats.from_dict(out["STATS"])  # nats-py parses our `started`
    assert [(e.name, e.num_requests, e.num_errors, e.last_error) for e in stats.endpoints] == [
        ("double", 1, 0, ""), ("fail", 1, 1, "422:cannot")]
    assert stats.to_dict() == out["STATS"]  # field for field what nats-py writes


class PyService:
    """A nats-py micro service on an event loop in a thread of its own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.svc: Any = None
        self.nc: Any = None

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    async def start(self) -> None:
        self.nc = await nats.connect(self.url)

        async def upper(req: Any) -> None:
            await req.respond(req.data.upper())

        async def broken(req: Any) -> None:
            raise ValueError("broken")

        self.svc = await nats_micro.add_service(self.nc, name="py-svc", version="3.1.4",
                                                description="made by nats-py",
                                                metadata={"lang": "asyncio"})
        await self.svc.add_endpoint(name="upper", handler=upper, metadata={"m": "1"})
        await self.svc.add_endpoint(name="broken", handler=broken)
        await self.nc.flush()

    async def stop(self) -> None:
        await self.svc.stop()
        await self.nc.close()

    def close(self) -> None:
        try:
            self.run(self.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(WAIT)
            self.loop.close()


def test_natsync_discovers_and_calls_a_nats_py_service(server: NatsServer) -> None:
    py = PyService(server.url)
    try:
        py.run(py.start())
        with natsync.connect(server.url) as nc:
            assert nc.request("upper", b"shout", timeout=WAIT).data == b"SHOUT"
            err = micro.service_error(nc.request("broken", timeout=WAIT))
            assert err is not None and err.code == "500" and "broken" in err.description
            (ping,) = micro.ping(nc, "py-svc")
            assert (ping.name, ping.version, ping.metadata) == ("py-svc", "3.1.4", {"lang": "asyncio"})
            (info,) = micro.info(nc, "py-svc", ping.id)
            assert info.description == "made by nats-py" and info.id == ping.id
            assert [(e.name, e.subject, e.queue_group, e.metadata) for e in info.endpoints] == [
                ("upper", "upper", "q", {"m": "1"}), ("broken", "broken", "q", {})]
            (stats,) = micro.stats(nc)
            assert stats.id == ping.id and stats.started.tzinfo is not None
            assert [(e.name, e.num_requests, e.num_errors) for e in stats.endpoints] == [
                ("upper", 1, 0), ("broken", 1, 1)]
    finally:
        py.close()
