"""Asynchronous errors of the JetStream layer: to ``error_cb`` or to the log."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from natsync._client_api import ClientAPI

__all__ = ["report"]

log = logging.getLogger("natsync")


def report(nc: ClientAPI, exc: BaseException) -> None:
    """Hand ``exc`` to the client's ``error_cb`` on its events thread (``report_error``),
    or log it as a warning when the client has no ``error_cb``."""
    opts = nc.options
    if opts is None or opts.error_cb is None:
        log.warning("natsync: %s", exc)
        return
    nc.report_error(exc)
