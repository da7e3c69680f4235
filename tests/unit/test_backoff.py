from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from natsync.backoff import Backoff


def test_defaults() -> None:
    b = Backoff()
    assert (b.time_wait, b.jitter, b.jitter_tls, b.delay_cb) == (2.0, 0.1, 1.0, None)


@pytest.mark.parametrize(
    ("rnd", "tls", "expected"),
    [
        (0.0, False, 2.0),
        (0.0, True, 2.0),
        (0.5, False, 2.05),
        (0.5, True, 2.5),
        (0.999, True, 2.999),
    ],
)
def test_wait_plus_jitter(rnd: float, tls: bool, expected: float) -> None:
    b = Backoff(random=lambda: rnd)
    assert b.delay(1, tls) == pytest.approx(expected)


def test_random_drawn_per_call() -> None:
    values = iter([0.1, 0.9, 0.4])
    b = Backoff(time_wait=1.0, jitter=1.0, random=lambda: next(values))
    assert [b.delay(i, False) for i in range(3)] == pytest.approx([1.1, 1.9, 1.4])


def test_bounds_with_real_random() -> None:
    b = Backoff(time_wait=0.5, jitter=0.25, jitter_tls=2.0)
    for _ in range(1000):
        assert 0.5 <= b.delay(1, False) < 0.75
        assert 0.5 <= b.delay(1, True) < 2.5


def test_zero_jitter_is_exact() -> None:
    b = Backoff(time_wait=3.0, jitter=0.0, jitter_tls=0.0)
    assert b.delay(7, False) == 3.0
    assert b.delay(7, True) == 3.0


def test_delay_cb_replaces_formula_and_gets_attempt() -> None:
    seen: list[int] = []

    def cb(attempt: int) -> float:
        seen.append(attempt)
        return attempt * 0.5

    b = Backoff(delay_cb=cb, random=lambda: 0.9)
    assert b.delay(1, False) == 0.5
    assert b.delay(4, True) == 2.0
    assert seen == [1, 4]


def test_delay_cb_clamped_and_coerced() -> None:
    assert Backoff(delay_cb=lambda a: -5).delay(1, False) == 0.0
    assert Backoff(delay_cb=lambda a: math.nan).delay(1, False) == 0.0
    value = Backoff(delay_cb=lambda a: 3).delay(1, False)
    assert value == 3.0
    assert isinstance(value, float)


def test_frozen() -> None:
    b = Backoff()
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.time_wait = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("name", ["time_wait", "jitter", "jitter_tls"])
@pytest.mark.parametrize("bad", [-0.001, -1, math.inf, math.nan])
def test_rejects_negative_or_non_finite(name: str, bad: float) -> None:
    kwargs: dict[str, Any] = {name: bad}
    with pytest.raises(ValueError, match=name):
        Backoff(**kwargs)


@pytest.mark.parametrize("name", ["time_wait", "jitter", "jitter_tls"])
def test_rejects_non_numbers(name: str) -> None:
    for bad in ("1", True):
        kwargs: dict[str, Any] = {name: bad}
        with pytest.raises(TypeError, match=name):
            Backoff(**kwargs)


def test_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="delay_cb"):
        Backoff(delay_cb=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="random"):
        Backoff(random=0.5)  # type: ignore[arg-type]


def test_zero_values_allowed() -> None:
    b = Backoff(time_wait=0, jitter=0, jitter_tls=0)
    assert b.delay(1, True) == 0.0
