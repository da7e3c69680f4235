"""What every part of the ``natsync`` command shares: the CLI error type, the
duration format, the argparse types for durations and whole numbers, the
parser of a command made of actions, and writing to stdout. ``cli``,
``_bench``, ``_demo`` and the ``_cli_<topic>`` modules import it from here, so
none of them needs to import ``cli`` for it (no import cycle)."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, Callable

__all__ = [
    "CliError", "add_command_with_actions", "duration", "format_duration", "say", "whole",
    "write_stdout",
]

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


def add_command_with_actions(
    subs: Any, name: str, help_text: str, description: str, dest: str,
    add_connection_options: Callable[..., None],
) -> Callable[[str, str], argparse.ArgumentParser]:
    """Add ``natsync NAME ACTION`` to the subparsers ``subs``, the ACTION (stored as
    ``dest``) required: ``natsync NAME`` alone is a usage error (exit status 2). Returns
    ``action(name, text)``, which adds one action with ``text`` as its help and
    description; the command and each action take the connection options."""
    command = subs.add_parser(name, help=help_text, description=description)
    add_connection_options(command, top=False)
    actions = command.add_subparsers(dest=dest, metavar="ACTION")
    actions.required = True

    def action(action_name: str, text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = actions.add_parser(action_name, help=text, description=text)
        add_connection_options(p, top=False)
        return p

    return action


def write_stdout(data: bytes) -> None:
    """Write bytes to stdout unchanged (binary payloads stay intact) and flush."""
    out = sys.stdout
    out.flush()
    buf = getattr(out, "buffer", None)
    if buf is not None:
        buf.write(data)
        buf.flush()
    else:  # a text-only stream (some test runners): decode for it
        out.write(data.decode("utf-8", "replace"))
        out.flush()


def say(text: str) -> None:
    """One line of text to stdout."""
    write_stdout(text.encode("utf-8", "replace") + b"\n")
