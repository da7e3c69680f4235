"""The Object Store under failure and at scale: a put cut by a server crash, a 100 MB round trip
with bounded memory (peak RSS measured in subprocesses)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

import natsync
from natsync import errors
from natsync.js.errors import ObjectNotFoundError, ObjectPutError
from natsync.testing import NatsServer

WAIT = 30.0
ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


def chunk_msgs(js: Any, bucket: str) -> int:
    si = js.stream_info(f"OBJ_{bucket}", subjects_filter=f"$O.{bucket}.C.>")
    return sum((si.state.subjects or {}).values())


class KillingReader:
    """A source that kills the server after ``kill_at`` chunks (and restarts it at once
    with ``restart``) and ends after ``total``; chunk i is i repeated."""

    def __init__(self, server: NatsServer, kill_at: int, total: int, restart: bool = False) -> None:
        self.server, self.kill_at, self.total, self.restart, self.reads = (
            server, kill_at, total, restart, 0)

    def read(self, n: int) -> bytes:
        self.reads += 1
        if self.reads == self.kill_at:
            self.server.kill()
            if self.restart:
                self.server.start()
        return bytes([self.reads % 256]) * n if self.reads <= self.total else b""


@pytest.mark.slow
def test_put_interrupted_by_a_server_crash_leaves_no_incomplete_object(tmp_path: Path) -> None:
    with NatsServer(jetstream=True, store_dir=str(tmp_path / "js")) as server:
        with natsync.connect(server.url, reconnect_time_wait=0.05, max_reconnect_attempts=-1) as nc:
            js = nc.jetstream(timeout=1.0)
            obs = js.create_object_store("FAULT")
            obs.put("complete", b"c" * 1000)

            with pytest.raises(errors.Error) as caught:
                obs.put("victim", KillingReader(server, kill_at=8, total=30))
            err = caught.value
            server.start()  # same port, same store
            nc.flush(timeout=WAIT)  # reconnected: what was buffered has been replayed

            js = nc.jetstream(timeout=WAIT)
            assert [i.name for i in obs.list()] == ["complete"]
            with pytest.raises(ObjectNotFoundError):
                obs.get_info("victim", show_deleted=True)
            assert obs.get("complete").data == b"c" * 1000
            if isinstance(err, ObjectPutError):
                # The error says the chunks could not be purged, and how to do it later.
                assert "could not be purged" in str(err) and err.subject in str(err)
                js.purge_stream("OBJ_FAULT", subject=err.subject)
            assert chunk_msgs(js, "FAULT") == 1  # only "complete"'s chunk is left
            # The bucket works as before.
            obs.put("victim", b"v" * 300_000)
            assert obs.get("victim").data == b"v" * 300_000


@pytest.mark.slow
def test_put_across_a_quick_server_restart_is_complete_or_purged(tmp_path: Path) -> None:
    with NatsServer(jetstream=True, store_dir=str(tmp_path / "js")) as server:
        with natsync.connect(server.url, reconnect_time_wait=0.05, max_reconnect_attempts=-1) as nc:
            js = nc.jetstream(timeout=WAIT)
            obs = js.create_object_store("QUICK")
            try:
                info = obs.put("obj", KillingReader(server, kill_at=8, total=30, restart=True))
            except errors.Error as exc:
                # The chunks in flight were lost with the connection: the put failed,
                # and with the server back its chunks were purged.
                assert not isinstance(exc, ObjectPutError), exc
                nc.flush(timeout=WAIT)
                with pytest.raises(ObjectNotFoundError):
                    obs.get_info("obj")
                assert chunk_msgs(js, "QUICK") == 0
            else:
                # Nothing was in flight at the crash: the put went through, complete.
                expected = b"".join(bytes([i]) * 128 * 1024 for i in range(1, 31))
                assert info.size == len(expected)
                assert obs.get("obj").data == expected


RSS_SCRIPT = r"""
import json, sys, threading
import natsync

def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)

class Peak:
    # The peak RSS from now on: the kernel's high-water mark, reset here (Linux >= 4.0),
    # else the highest of samples taken every 5 ms.
    def __init__(self):
        self.base = status_kib("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.sampler = None
        except OSError:
            self.top, self.stop = self.base, threading.Event()
            self.sampler = threading.Thread(target=self.sample, daemon=True)
            self.sampler.start()

    def sample(self):
        while not self.stop.wait(0.005):
            self.top = max(self.top, status_kib("VmRSS"))

    def growth_mib(self):
        if self.sampler is None:
            return (status_kib("VmHWM") - self.base) / 1024
        self.stop.set()
        self.sampler.join()
        return (max(self.top, status_kib("VmRSS")) - self.base) / 1024

url, action, path = sys.argv[1:4]
with natsync.connect(url) as nc:
    obs = nc.jetstream(timeout=60).object_store("BIG")
    obs.status()
    peak = Peak()
    if action == "put":
        with open(path, "rb") as f:
            info = obs.put("big", f)
        out = {"digest": info.digest, "size": info.size}
    else:
        with open(path, "wb") as f:
            res = obs.get("big", writeinto=f)
        out = {"digest": res.info.digest, "size": res.info.size, "data": len(res.data)}
    out["growth_mib"] = peak.growth_mib()
print(json.dumps(out))
"""


def _measure(url: str, action: str, path: Path) -> Dict[str, Any]:
    path_env = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path_env)
    proc = subprocess.run([sys.executable, "-c", RSS_SCRIPT, url, action, str(path)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    result: Dict[str, Any] = json.loads(proc.stdout)
    return result


def _file_digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(MB), b""):
            h.update(block)
    return h.digest()


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from Linux's /proc")
def test_100mb_round_trip_with_bounded_memory(tmp_path: Path) -> None:
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    with src.open("wb") as f:
        for _ in range(100):
            f.write(os.urandom(MB))
    with NatsServer(jetstream=True, store_dir=str(tmp_path / "js")) as server:
        with natsync.connect(server.url) as nc:
            nc.jetstream().create_object_store("BIG")
        put = _measure(server.url, "put", src)
        get = _measure(server.url, "get", dst)
    print(f"\n100 MiB object: peak RSS growth put {put['growth_mib']:.1f} MiB, "
          f"get {get['growth_mib']:.1f} MiB")
    assert put["size"] == get["size"] == 100 * MB and get["data"] == 0
    assert put["digest"] == get["digest"]
    assert _file_digest(src) == _file_digest(dst)
    assert put["growth_mib"] < 64, put
    assert get["growth_mib"] < 64, get
