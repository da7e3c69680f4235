"""``python -m natsync``: the ``natsync`` command."""

from __future__ import annotations

from natsync.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
