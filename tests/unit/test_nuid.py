from __future__ import annotations

import os
import sys
import threading

import pytest

from natsync import nuid
from natsync.nuid import DIGITS, MAX_SEQ, NUID, TOTAL_LEN, new_inbox, next_nuid

BASE62 = set(DIGITS)


def _decode(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 62 + DIGITS.index(ch)
    return value


def test_digits_are_base62() -> None:
    assert len(DIGITS) == 62
    assert len(set(DIGITS)) == 62


def test_shape() -> None:
    n = NUID()
    for _ in range(1000):
        ident = n.next()
        assert len(ident) == TOTAL_LEN == 22
        assert set(ident) <= BASE62


def test_unique_over_100k() -> None:
    n = NUID()
    ids = [n.next() for _ in range(100_000)]
    assert len(set(ids)) == len(ids)


def test_two_generators_have_different_prefixes() -> None:
    assert NUID().next()[:12] != NUID().next()[:12]


def test_sequence_encoding_and_increment() -> None:
    n = NUID()
    a, b = n.next(), n.next()
    assert a[:12] == b[:12]
    step = _decode(b[12:]) - _decode(a[12:])
    assert nuid.MIN_INC <= step < nuid.MAX_INC


def test_prefix_rerandomised_on_rollover() -> None:
    n = NUID()
    first = n.next()
    # Put the sequence just below the end so the next call rolls over.
    n._seq = MAX_SEQ - 1
    after = n.next()
    assert after[:12] != first[:12]
    assert len(after) == 22
    # A fresh sequence restarts below the maximum and keeps counting.
    assert _decode(after[12:]) < MAX_SEQ
    assert n.next()[:12] == after[:12]


def test_sequence_encoding_extremes() -> None:
    n = NUID()
    n._inc = 1
    n._seq = -1  # next value: 0
    assert n.next()[12:] == "0" * 10
    n._seq = MAX_SEQ - 2  # next value: MAX_SEQ - 1, the largest encodable
    assert n.next()[12:] == "z" * 10


def test_thread_safety_8_threads() -> None:
    n = NUID()
    per_thread = 20_000
    results: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def work(out: list[str]) -> None:
        start.wait(timeout=10)
        for _ in range(per_thread):
            out.append(n.next())

    threads = [threading.Thread(target=work, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    everything = [i for r in results for i in r]
    assert len(everything) == 8 * per_thread
    assert len(set(everything)) == len(everything)


def test_module_helpers() -> None:
    a, b = next_nuid(), next_nuid()
    assert a != b
    assert len(a) == 22
    inbox = new_inbox()
    assert inbox.startswith("_INBOX.")
    assert len(inbox.split(".")[1]) == 22
    assert new_inbox("_MY.PREFIX").startswith("_MY.PREFIX.")
    assert new_inbox() != new_inbox()


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs fork")
def test_fork_child_gets_fresh_state() -> None:
    n = NUID()
    n.next()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(read_fd)
            os.write(write_fd, (n.next() + next_nuid()).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd, "rb") as r:
            data = r.read().decode()
    finally:
        os.waitpid(pid, 0)
    child_local, child_global = data[:22], data[22:]
    parent_local, parent_global = n.next(), next_nuid()
    assert child_local[:12] != parent_local[:12]
    assert child_global[:12] != parent_global[:12]
