"""Interop with nats-py (the asyncio client): an object written by one reads the same in the other."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

import natsync
from natsync.js.api import ObjectMeta
from natsync.testing import NatsServer

WAIT = 30.0

nats = pytest.importorskip("nats")


def test_interop_with_nats_py_both_ways(tmp_path: Path) -> None:
    data = os.urandom(400_000)
    with NatsServer(jetstream=True, store_dir=str(tmp_path / "js")) as server:
        with natsync.connect(server.url) as nc:
            obs = nc.jetstream(timeout=WAIT).create_object_store("INTEROP")
            mine = obs.put("from-natsync", data, meta=ObjectMeta(
                description="written by natsync", headers={"Content-Type": "application/x"}))

        async def nats_py_side() -> Any:
            pnc = await nats.connect(server.url)
            try:
                pobs = await pnc.jetstream().object_store("INTEROP")
                got = await pobs.get("from-natsync")
                theirs = await pobs.put("from-nats-py", data[::-1], meta=nats.js.api.ObjectMeta(
                    name="from-nats-py", description="written by nats-py",
                    headers={"X-Origin": ["nats-py"]}))
                return got, theirs
            finally:
                await pnc.close()

        got, theirs = asyncio.run(nats_py_side())
        assert got.data == data
        assert got.info.digest == mine.digest and got.info.size == len(data)
        assert got.info.description == "written by natsync"
        assert got.info.headers == {"Content-Type": ["application/x"]}
        assert got.info.nuid == mine.nuid

        with natsync.connect(server.url) as nc:
            obs = nc.jetstream(timeout=WAIT).object_store("INTEROP")
            res = obs.get("from-nats-py")
            assert res.data == data[::-1]
            assert res.info.digest == theirs.digest and res.info.nuid == theirs.nuid
            assert res.info.description == "written by nats-py"
            assert res.info.headers == {"X-Origin": ["nats-py"]}
            assert sorted(i.name for i in obs.list()) == ["from-nats-py", "from-natsync"]
