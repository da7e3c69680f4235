"""JetStream interop with nats-py (the asyncio client): streams, messages, headers, acks."""

from __future__ import annotations

import asyncio
from typing import Any, List, Tuple

import pytest

import natsync
from natsync.js import api
from natsync.testing import NatsServer

nats = pytest.importorskip("nats")
nats_api = pytest.importorskip("nats.js.api")

WAIT = 20.0


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, WAIT * 2))


async def py_fetch(url: str, subject: str, durable: str, n: int) -> List[Tuple[Any, ...]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=WAIT)
        psub = await js.pull_subscribe(subject, durable=durable)
        got: List[Tuple[Any, ...]] = []
        while len(got) < n:
            for m in await psub.fetch(n - len(got), timeout=WAIT):
                got.append((m.subject, m.data, dict(m.headers or {}), m.metadata.sequence.stream))
                await m.ack_sync(timeout=WAIT)
        info = await js.consumer_info(psub._stream, durable)
        assert info.num_ack_pending == 0
        return got
    finally:
        await nc.close()


async def py_write(url: str) -> List[int]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=WAIT)
        await js.add_stream(name="FROMPY", subjects=["frompy.>"],
                            storage=nats_api.StorageType.MEMORY, duplicate_window=60)
        seqs = []
        for i in range(5):
            ack = await js.publish(f"frompy.{i}", f"py {i}".encode(),
                                   headers={"Nats-Msg-Id": f"py-{i}", "X-From": "nats-py"})
            seqs.append(ack.seq)
        await js.add_consumer("FROMPY", nats_api.ConsumerConfig(
            durable_name="pyc", ack_policy=nats_api.AckPolicy.EXPLICIT, ack_wait=30))
        return seqs
    finally:
        await nc.close()


def test_natsync_writes_nats_py_reads(js_server: NatsServer, nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="FROMSYNC", subjects=["fromsync.>"], duplicate_window=60.0)
    for i in range(5):
        js.publish(f"fromsync.{i}", f"sync {i}".encode(),
                   headers={"Nats-Msg-Id": f"s-{i}", "X-Tags": ["a", "b"], "X-From": "natsync"})
    assert js.publish("fromsync.0", b"sync 0", headers={"Nats-Msg-Id": "s-0"}).duplicate
    got = run(py_fetch(js_server.url, "fromsync.>", "pyreader", 5))
    assert [(g[0], g[1], g[3]) for g in got] == [
        (f"fromsync.{i}", f"sync {i}".encode(), i + 1) for i in range(5)]
    assert all(g[2].get("X-From") == "natsync" and g[2].get("Nats-Msg-Id") == f"s-{i}"
               for i, g in enumerate(got))
    info = js.consumer_info("FROMSYNC", "pyreader")  # nats-py's acks, seen by natsync
    assert info.ack_floor is not None and info.ack_floor.stream_seq == 5


def test_nats_py_writes_natsync_reads(js_server: NatsServer, nc: natsync.Client) -> None:
    seqs = run(py_write(js_server.url))
    assert seqs == [1, 2, 3, 4, 5]
    js = nc.jetstream()
    info = js.stream_info("FROMPY")
    assert info.config.storage is api.StorageType.MEMORY and info.config.duplicate_window == 60.0
    assert info.state.messages == 5
    psub = js.pull_subscribe_bind("pyc", stream="FROMPY")
    msgs = psub.fetch(5, timeout=WAIT)
    while len(msgs) < 5:
        msgs += psub.fetch(5 - len(msgs), timeout=WAIT)
    assert [m.data for m in msgs] == [f"py {i}".encode() for i in range(5)]
    assert all(m.headers is not None and m.headers["X-From"] == "nats-py" for m in msgs)
    for m in msgs:
        m.ack_sync(timeout=WAIT)
    assert js.consumer_info("FROMPY", "pyc").num_ack_pending == 0
    raw = js.get_msg("FROMPY", 3)
    assert raw.data == b"py 2" and raw.headers is not None and raw.headers["Nats-Msg-Id"] == "py-2"
    # a config written by natsync is read back the same by nats-py, and the other way round
    js.update_stream(info.config.evolve(description="changed by natsync"))

    async def py_info() -> Any:
        pnc = await nats.connect(js_server.url)
        try:
            return await pnc.jetstream().stream_info("FROMPY")
        finally:
            await pnc.close()

    pinfo = run(py_info())
    assert pinfo.config.description == "changed by natsync"
    assert pinfo.config.duplicate_window == 60.0
