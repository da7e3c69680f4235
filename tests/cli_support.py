"""Test helpers: run ``python -m natsync`` from the source tree in a child process, to
completion, in the background (output collected by reader threads) or with its stderr
on a pseudo-terminal."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Optional

import pytest

WAIT = 15.0  # default bound on every wait for output
REPO = Path(__file__).resolve().parents[1]


def cli_env(**extra: str) -> dict[str, str]:
    """This environment without NATS_URL, the repository first on PYTHONPATH (so the
    child runs this source tree even when natsync is not installed), then ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


def run_cli(*args: str, stdin: Optional[bytes] = None, env: Optional[dict[str, str]] = None,
            timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
    """``python -m natsync ARGS`` to completion, its output captured."""
    return subprocess.run([sys.executable, "-m", "natsync", *args], input=stdin,
                          capture_output=True, env=env or cli_env(), timeout=timeout, check=False)


def run_cli_on_tty(*args: str, timeout: float = 60.0) -> tuple[int, bytes, str]:
    """``python -m natsync ARGS`` with its stderr on a pseudo-terminal and its stdout on a
    pipe: (exit status, stdout, all the terminal got). POSIX only."""
    import pty

    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([sys.executable, "-m", "natsync", *args], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=slave, env=cli_env())
        os.close(slave)
        slave = -1
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not select.select([master], [], [], max(0.0, deadline - time.monotonic()))[0]:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise
    finally:
        if slave != -1:
            os.close(slave)
        os.close(master)
    return p.returncode, out, b"".join(chunks).decode(errors="replace")


def _popen_with_ctrl_c(cmd: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Popen, with SIGINT acting in the child as it does from a terminal.

    A background job of a non-interactive shell (`.ci/run &`, nohup) starts with SIGINT
    ignored, and an ignored signal stays ignored across fork and exec: a child Python
    then never raises KeyboardInterrupt, and every Ctrl-C test hangs. A handled signal
    is reset to its default on exec, so spawn while SIGINT has a handler."""
    ignored = (threading.current_thread() is threading.main_thread()
               and signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(cmd, **kwargs)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


class Proc:
    """``python -m natsync ARGS`` in the background, its output collected line by line."""

    def __init__(self, *args: str, env: Optional[dict[str, str]] = None) -> None:
        self.p = _popen_with_ctrl_c([sys.executable, "-m", "natsync", *args],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env or cli_env())
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.cond = threading.Condition()
        self._taken = 0  # the stdout lines line() has returned
        self._stdout_ended = False
        assert self.p.stdout is not None and self.p.stderr is not None
        self.readers = [threading.Thread(target=self._read, args=(s, dest), daemon=True)
                        for s, dest in ((self.p.stdout, self.out), (self.p.stderr, self.err))]
        for t in self.readers:
            t.start()

    def _read(self, stream: IO[bytes], dest: list[bytes]) -> None:
        for line in iter(stream.readline, b""):
            with self.cond:
                dest.append(line)
                self.cond.notify_all()
        if dest is self.out:
            with self.cond:
                self._stdout_ended = True
                self.cond.notify_all()

    @property
    def stdout(self) -> bytes:
        with self.cond:
            return b"".join(self.out)

    @property
    def stderr(self) -> bytes:
        with self.cond:
            return b"".join(self.err)

    def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not any(
                        t.is_alive() for t in self.readers)):
                    break
                self.cond.wait(min(left, 0.2))
        if not predicate():
            pytest.fail(f"{what} did not happen; stdout={self.stdout!r} stderr={self.stderr!r}")

    def line(self) -> Optional[str]:
        """The next line of stdout (without its newline); None once stdout has ended."""
        self.wait_for(lambda: len(self.out) > self._taken or self._stdout_ended,
                      "a line of output")
        with self.cond:
            if len(self.out) == self._taken:
                return None
            self._taken += 1
            return self.out[self._taken - 1].decode().rstrip("\n")

    def wait_ready(self) -> None:
        """Wait for the line the command writes to stderr once its subscription is live."""
        self.wait_for(lambda: b" on \"" in b"".join(self.err), "the subscription")

    def finish(self) -> int:
        rc = self.p.wait(timeout=WAIT)
        for t in self.readers:
            t.join(WAIT)
        return rc

    def interrupt(self) -> int:
        self.p.send_signal(signal.SIGINT)
        return self.finish()

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=WAIT)
        for stream in (self.p.stdout, self.p.stderr):
            if stream is not None:
                stream.close()
