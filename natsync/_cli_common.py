"""What every part of the ``natsync`` command shares: the CLI error type, the
duration format and the argparse types for durations and whole numbers. ``cli``,
``_bench``, ``_demo`` and the ``_cli_<topic>`` modules import it from here, so
none of them needs to import ``cli`` for it (no import cycle)."""

from __future__ import annotations

import argparse
import re
from typing import Callable

__all__ = ["CliError", "duration", "format_duration", "whole"]

_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h|d|y)?\s*")
_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "y": 365 * 86400.0}


class CliError(Exception):
    """A failure to report as ``natsync: error: <message>`` with exit status 1."""


def format_duration(seconds: float) -> str:
    """``0.000123`` -> ``"123µs"``, ``0.0123`` -> ``"12.30ms"``, ``1.5`` -> ``"1.50s"``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f}ms"
    return f"{seconds:.2f}s"


def duration(text: str) -> float:
    """An argparse type: seconds, bare or with a unit (``2``, ``500ms``, ``10m``, ``1h``, ``7d``, ``1y``)."""
    m = _DURATION.fullmatch(text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration (e.g. 2, 0.5, 500ms, 1m, 1h, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def whole(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number (``100_000`` and ``100,000`` too) >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be {minimum} or more")
        return value

    return parse
