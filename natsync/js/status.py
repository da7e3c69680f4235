"""Classification of JetStream status messages (ADR-9, ADR-13, ADR-37).

A message a consumer receives with a ``NATS/1.0 <code> <description>`` header
and no payload is a status from the server, not a stream message. Both
JetStream facades (pull fetch, push and ordered consumers, continuous consume)
decide what to do with one through :func:`classify`:

======  ==============================================  =====================
code    description                                     kind
======  ==============================================  =====================
100     Idle Heartbeat                                  HEARTBEAT
100     FlowControl Request (has a reply subject)       FLOW_CONTROL
404     No Messages                                     NO_MESSAGES (request done)
408     Request Timeout                                 REQUEST_TIMEOUT (request done)
409     Message Size Exceeds MaxBytes                   REQUEST_DONE (not an error)
409     Leadership Change                               REQUEST_DONE (pull again)
409     Exceeded MaxWaiting / MaxRequestBatch /         WARNING (that request ends,
        MaxRequestExpires / MaxRequestMaxBytes          the consumer goes on)
409     Consumer Deleted                                TERMINAL
409     Consumer is push based                          TERMINAL
409     Server Shutdown                                 REQUEST_DONE (pull again later)
409     anything else                                   WARNING
400     Bad Request                                     TERMINAL
503     No Responders                                   NO_RESPONDERS
other                                                   TERMINAL
======  ==============================================  =====================
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional, Tuple

__all__ = [
    "StatusKind", "classify", "status_of", "HEARTBEAT_DESC", "FLOW_CONTROL_DESC",
    "CONSUMER_DELETED", "CONSUMER_IS_PUSH_BASED",
]

HEARTBEAT_DESC = "Idle Heartbeat"
FLOW_CONTROL_DESC = "FlowControl Request"
CONSUMER_DELETED = "Consumer Deleted"
CONSUMER_IS_PUSH_BASED = "Consumer is push based"


class StatusKind(Enum):
    MESSAGE = "message"              # not a status: a stream message
    HEARTBEAT = "heartbeat"
    FLOW_CONTROL = "flow_control"
    NO_MESSAGES = "no_messages"      # 404: the pull request ended with nothing (more)
    REQUEST_TIMEOUT = "request_timeout"  # 408: the pull request expired
    REQUEST_DONE = "request_done"    # 409 that ends the request without an error
    WARNING = "warning"              # 409 that ends the request; report it, carry on
    TERMINAL = "terminal"            # the consumer cannot go on
    NO_RESPONDERS = "no_responders"  # 503


_TERMINAL_409 = ("consumer deleted", "consumer is push based")
_DONE_409 = ("message size exceeds maxbytes", "leadership change", "server shutdown")


def status_of(msg: Any) -> Tuple[Optional[int], str]:
    """``(code, description)`` of a status message, ``(None, "")`` for a normal message."""
    code: Optional[int] = msg.status
    if code is None:
        return None, ""
    headers = msg.headers or {}
    desc = headers.get("Description", "")
    return code, desc if isinstance(desc, str) else ""


def classify(code: Optional[int], description: str = "", reply: str = "") -> StatusKind:
    """What a status means for a consumer (see the module table)."""
    if code is None:
        return StatusKind.MESSAGE
    if code == 100:
        if reply or "flow" in description.lower():
            return StatusKind.FLOW_CONTROL
        return StatusKind.HEARTBEAT
    if code == 404:
        return StatusKind.NO_MESSAGES
    if code == 408:
        return StatusKind.REQUEST_TIMEOUT
    if code == 409:
        low = description.lower()
        if low.startswith(_TERMINAL_409):
            return StatusKind.TERMINAL
        if low.startswith(_DONE_409):
            return StatusKind.REQUEST_DONE
        return StatusKind.WARNING
    if code == 503:
        return StatusKind.NO_RESPONDERS
    return StatusKind.TERMINAL
