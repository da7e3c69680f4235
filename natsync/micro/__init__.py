"""Services: the NATS micro framework (ADR-32), synchronous.

nats-py's ``nats.micro`` names without ``await``::

    from natsync import micro

    def echo(req: micro.Request) -> None:
        req.respond(req.data)

    with micro.add_service(nc, name="echo", version="1.0.0") as svc:
        svc.add_endpoint(name="echo", handler=echo)
        ...

Handlers are plain functions; each endpoint runs them on threads of its own
(``max_concurrency``, default 1: one at a time, in order). ``ping``, ``info`` and
``stats`` discover running services, natsync's or any other client's.
"""

from __future__ import annotations

from .api import (
    DEFAULT_PREFIX,
    DEFAULT_QUEUE_GROUP,
    INFO_RESPONSE_TYPE,
    PING_RESPONSE_TYPE,
    STATS_RESPONSE_TYPE,
    ConfigError,
    EndpointConfig,
    EndpointInfo,
    EndpointStats,
    GroupConfig,
    Handler,
    ServiceConfig,
    ServiceInfo,
    ServicePing,
    ServiceStats,
    ServiceVerb,
    StatsHandler,
    control_subject,
)
from .discovery import info, ping, stats
from .request import ERROR_CODE_HEADER, ERROR_HEADER, Request, ServiceError, service_error
from .service import Endpoint, Group, Service, add_service

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_QUEUE_GROUP",
    "ERROR_CODE_HEADER",
    "ERROR_HEADER",
    "INFO_RESPONSE_TYPE",
    "PING_RESPONSE_TYPE",
    "STATS_RESPONSE_TYPE",
    "ConfigError",
    "Endpoint",
    "EndpointConfig",
    "EndpointInfo",
    "EndpointStats",
    "Group",
    "GroupConfig",
    "Handler",
    "Request",
    "Service",
    "ServiceConfig",
    "ServiceError",
    "ServiceInfo",
    "ServicePing",
    "ServiceStats",
    "ServiceVerb",
    "StatsHandler",
    "add_service",
    "control_subject",
    "info",
    "ping",
    "service_error",
    "stats",
]
