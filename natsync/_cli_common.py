"""What every part of the ``natsync`` command shares: the CLI error type and the
duration format. ``cli``, ``_bench``, ``_demo`` and the ``_cli_<topic>`` modules
import it from here, so none of them needs to import ``cli`` (no import cycle)."""

from __future__ import annotations

__all__ = ["CliError", "format_duration"]


class CliError(Exception):
    """A failure to report as ``natsync: error: <message>`` with exit status 1."""


def format_duration(seconds: float) -> str:
    """``0.000123`` -> ``"123µs"``, ``0.0123`` -> ``"12.30ms"``, ``1.5`` -> ``"1.50s"``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f}ms"
    return f"{seconds:.2f}s"
