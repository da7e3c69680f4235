"""The client side of discovery: ping, info and stats of running services.

Each sends one request to ``$SRV.<VERB>[.<name>[.<id>]]`` and gathers every
answer until ``timeout`` (or ``max_msgs`` answers, or a pause of ``stall``
after the first). No service answering is an empty list, not an error.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Optional, TypeVar

from .. import errors
from .._client_api import ClientAPI
from .api import (
    DEFAULT_PREFIX,
    INFO_RESPONSE_TYPE,
    PING_RESPONSE_TYPE,
    STATS_RESPONSE_TYPE,
    ServiceInfo,
    ServicePing,
    ServiceStats,
    ServiceVerb,
    control_subject,
)

DEFAULT_DISCOVERY_TIMEOUT = 1.0

T = TypeVar("T")


def _gather(nc: ClientAPI, verb: ServiceVerb, kind: str, parse: Callable[[Dict[str, Any]], T],
            name: Optional[str], id: Optional[str],  # noqa: A002
            timeout: float, max_msgs: Optional[int], stall: Optional[float],
            prefix: str) -> List[T]:
    subject = control_subject(verb, name=name, id=id, prefix=prefix)
    if max_msgs is None and id:
        max_msgs = 1  # one instance answers to its id
    out: List[T] = []
    try:
        for msg in nc.request_many(subject, timeout=timeout, max_msgs=max_msgs, stall=stall):
            try:
                doc = json.loads(msg.data)
                if not isinstance(doc, dict) or doc.get("type", kind) != kind:
                    continue
                out.append(parse(doc))
            except (ValueError, KeyError, TypeError):
                continue  # not a discovery answer: skip it, as the nats CLI does
    except errors.NoRespondersError:
        return []
    return out


def ping(nc: ClientAPI, name: Optional[str] = None, id: Optional[str] = None,  # noqa: A002
         timeout: float = DEFAULT_DISCOVERY_TIMEOUT, max_msgs: Optional[int] = None,
         stall: Optional[float] = None, prefix: str = DEFAULT_PREFIX) -> List[ServicePing]:
    """Ping every service, those named ``name``, or the instance ``name``/``id``."""
    return _gather(nc, ServiceVerb.PING, PING_RESPONSE_TYPE, ServicePing.from_dict,
                   name, id, timeout, max_msgs, stall, prefix)


def info(nc: ClientAPI, name: Optional[str] = None, id: Optional[str] = None,  # noqa: A002
         timeout: float = DEFAULT_DISCOVERY_TIMEOUT, max_msgs: Optional[int] = None,
         stall: Optional[float] = None, prefix: str = DEFAULT_PREFIX) -> List[ServiceInfo]:
    """The info of every service, of those named ``name``, or of the instance ``name``/``id``."""
    return _gather(nc, ServiceVerb.INFO, INFO_RESPONSE_TYPE, ServiceInfo.from_dict,
                   name, id, timeout, max_msgs, stall, prefix)


def stats(nc: ClientAPI, name: Optional[str] = None, id: Optional[str] = None,  # noqa: A002
          timeout: float = DEFAULT_DISCOVERY_TIMEOUT, max_msgs: Optional[int] = None,
          stall: Optional[float] = None, prefix: str = DEFAULT_PREFIX) -> List[ServiceStats]:
    """The stats of every service, of those named ``name``, or of the instance ``name``/``id``."""
    return _gather(nc, ServiceVerb.STATS, STATS_RESPONSE_TYPE, ServiceStats.from_dict,
                   name, id, timeout, max_msgs, stall, prefix)
