"""The services API's configuration and its discovery documents (ADR-32).

Configurations validate themselves when they are built (``ValueError`` with
nats-py's texts, as :class:`ConfigError`, which is also a natsync error). The
stats, info and ping dataclasses carry nats-py's names and write exactly the
JSON nats-py writes (``to_dict``), and read what any client writes (``from_dict``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Callable, Dict, List, Optional, Union

from .. import errors

DEFAULT_QUEUE_GROUP = "q"
"""The queue group of every endpoint unless configured otherwise."""

DEFAULT_PREFIX = "$SRV"
"""The root of the discovery (control) subjects."""

INFO_RESPONSE_TYPE = "io.nats.micro.v1.info_response"
PING_RESPONSE_TYPE = "io.nats.micro.v1.ping_response"
STATS_RESPONSE_TYPE = "io.nats.micro.v1.stats_response"

# the semver.org regular expression, as ADR-32 asks
SEMVER_REGEX = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
NAME_REGEX = re.compile(r"^[A-Za-z0-9\-_]+$")
# no whitespace; a '>' only as the last character
SUBJECT_REGEX = re.compile(r"^[^\s>]*>?$")


class ConfigError(errors.Error, ValueError):
    """An invalid service, group or endpoint configuration (also a ``ValueError``,
    as nats-py raises)."""


def _check_name(what: str, name: str, text: str) -> None:
    if not name:
        raise ConfigError(f"Name cannot be empty. Give the {what} a name made of A-Z, a-z, 0-9, - and _.")
    if not isinstance(name, str) or not NAME_REGEX.match(name):
        raise ConfigError(f"{text} Got {name!r}.")


def _check_queue_group(queue_group: Optional[str], text: str) -> None:
    if queue_group and (not isinstance(queue_group, str) or not SUBJECT_REGEX.match(queue_group)
                        or ">" in queue_group):
        raise ConfigError(f"{text} Got {queue_group!r}.")


def _check_metadata(metadata: Optional[Dict[str, str]]) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ConfigError(f"Invalid metadata. It must be a dict of str to str. Got {metadata!r}.")


Handler = Callable[["Any"], None]
"""A request handler: a plain function taking a :class:`natsync.micro.Request`."""


@dataclass
class EndpointConfig:
    """The configuration of an endpoint."""

    name: str
    """An alphanumeric name (A-Z, a-z, 0-9, - and _) describing the endpoint."""

    handler: Handler
    """A plain function taking a :class:`~natsync.micro.Request`."""

    queue_group: Optional[str] = None
    """The queue group; defaults to the group's, then the service's, then ``"q"``."""

    subject: Optional[str] = None
    """The subject; defaults to the name. In a group it is prefixed with the group's name."""

    metadata: Optional[Dict[str, str]] = None
    """Free-form metadata shown by discovery (``{}`` when unset)."""

    max_concurrency: int = 1
    """How many requests of this endpoint run at once, each on a thread of its own
    (beyond nats-py). 1: one at a time, in arrival order."""

    queue_group_disabled: bool = False
    """Subscribe without a queue group, so every instance gets every request
    (ADR-32 revision 5; beyond nats-py)."""

    def __post_init__(self) -> None:
        _check_name("endpoint", self.name,
                    "Invalid name. Name must contain only alphanumeric characters, underscores, "
                    "and hyphens.")
        if not callable(self.handler):
            raise ConfigError(f"Invalid handler. It must be a function taking a Request. Got "
                              f"{self.handler!r}.")
        if self.subject is not None and not isinstance(self.subject, str):
            raise ConfigError(f"Invalid subject. It must be a str. Got {self.subject!r}.")
        if self.subject and not SUBJECT_REGEX.match(self.subject):
            raise ConfigError("Invalid subject. Subject must not contain spaces, and can only have "
                              f"'>' at the end. Got {self.subject!r}.")
        _check_queue_group(self.queue_group,
                           "Invalid queue group. Queue group must not contain spaces.")
        _check_metadata(self.metadata)
        if isinstance(self.max_concurrency, bool) or not isinstance(self.max_concurrency, int) \
                or self.max_concurrency < 1:
            raise ConfigError("Invalid max_concurrency. It must be an int of 1 or more (1 handles "
                              f"requests one at a time, in order). Got {self.max_concurrency!r}.")


@dataclass
class GroupConfig:
    """The configuration of a group: a subject prefix for its endpoints."""

    name: str
    """The prefix: a subject without wildcards (dots allowed)."""

    queue_group: Optional[str] = None
    """The default queue group of the group's endpoints."""

    queue_group_disabled: bool = False
    """The group's endpoints subscribe without a queue group (beyond nats-py)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.match(r"^[^\s>*]*$", self.name):
            raise ConfigError("Invalid group name. It must be a subject prefix without spaces "
                              f"and wildcards. Got {self.name!r}.")
        _check_queue_group(self.queue_group,
                           "Invalid queue group. Queue group must not contain spaces.")


StatsHandler = Callable[["EndpointStats"], Any]
"""Called for each endpoint when stats are gathered; what it returns (JSON-able)
becomes that endpoint's ``data``."""


@dataclass
class ServiceConfig:
    """The configuration of a service."""

    name: str
    """The kind of the service, shared by all its instances: A-Z, a-z, 0-9, - and _."""

    version: str
    """A semantic version (https://semver.org), e.g. ``1.0.0``."""

    description: Optional[str] = None
    """A human-readable description."""

    metadata: Optional[Dict[str, str]] = None
    """Free-form metadata shown by discovery (``{}`` when unset)."""

    queue_group: Optional[str] = None
    """The default queue group of every endpoint (default ``"q"``)."""

    stats_handler: Optional[StatsHandler] = None
    """Adds per-endpoint ``data`` to the stats."""

    queue_group_disabled: bool = False
    """Endpoints subscribe without a queue group unless they set one (beyond nats-py)."""

    def __post_init__(self) -> None:
        _check_name("service", self.name,
                    "Invalid name. It must contain only alphanumeric characters, dashes, and "
                    "underscores.")
        if not self.version:
            raise ConfigError("Version cannot be empty. Give a semantic version such as 1.0.0.")
        if not isinstance(self.version, str) or not SEMVER_REGEX.match(self.version):
            raise ConfigError("Invalid version. It must follow semantic versioning (e.g., 1.0.0, "
                              f"2.1.3-alpha.1). Got {self.version!r}.")
        _check_queue_group(self.queue_group,
                           "Invalid queue group. It must contain only alphanumeric characters, "
                           "dashes, and underscores.")
        _check_metadata(self.metadata)
        if self.stats_handler is not None and not callable(self.stats_handler):
            raise ConfigError(f"Invalid stats_handler. It must be a function taking an EndpointStats. "
                              f"Got {self.stats_handler!r}.")


# ------------------------------------------------------------------ documents


def format_time(t: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``, as nats-py writes ``started``."""
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def parse_time(text: str) -> datetime:
    """Read a ``started`` time as Go (nanoseconds, offsets), JavaScript or Python
    services write it; the result is timezone-aware UTC."""
    m = _TIME.match(text.strip())
    if m is None:
        raise ValueError(f"not an ISO 8601 time: {text!r}")
    base, frac, zone = m.groups()
    t = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
    if frac:
        t = t.replace(microsecond=int((frac + "000000")[:6]))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        t = t - sign * timedelta(hours=hours, minutes=minutes)
    return t.replace(tzinfo=timezone.utc)


@dataclass
class EndpointStats:
    """Statistics of one endpoint."""

    name: str
    subject: str
    queue_group: str
    num_requests: int
    num_errors: int
    processing_time: int
    """Total processing time of the requests, in nanoseconds."""
    average_processing_time: int
    """processing_time / num_requests, in nanoseconds."""
    last_error: Optional[str] = None
    """The last error, as ``"code:description"``."""
    data: Optional[Any] = None
    """What the service's stats handler added, if any."""

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> EndpointStats:
        return cls(
            name=data["name"],
            subject=data["subject"],
            queue_group=data.get("queue_group", ""),
            num_requests=data["num_requests"],
            num_errors=data["num_errors"],
            last_error=data.get("last_error") or None,
            processing_time=data["processing_time"],
            average_processing_time=data["average_processing_time"],
            data=data.get("data"),
        )

    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "subject": self.subject,
            "queue_group": self.queue_group,
            "num_requests": self.num_requests,
            "num_errors": self.num_errors,
            "last_error": self.last_error or "",
            "processing_time": self.processing_time,
            "average_processing_time": self.average_processing_time,
            "data": self.data,
        }


@dataclass
class EndpointInfo:
    """What discovery tells about one endpoint."""

    name: str
    subject: str
    queue_group: str
    metadata: Dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> EndpointInfo:
        return cls(
            name=data["name"],
            subject=data["subject"],
            queue_group=data.get("queue_group", ""),
            metadata=data.get("metadata") or {},
        )

    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "subject": self.subject,
            "queue_group": self.queue_group,
            "metadata": self.metadata,
        }


def _service_fields(data: Dict[str, Any], default_type: str) -> Dict[str, Any]:
    """The fields every discovery answer carries (id, name, version, metadata and type),
    read from its JSON."""
    return {
        "id": data["id"],
        "name": data["name"],
        "version": data["version"],
        "metadata": data.get("metadata") or {},
        "type": data.get("type", default_type),
    }


def _service_dict(doc: Union[ServicePing, ServiceInfo], **between: Any) -> Dict[str, Any]:
    """The JSON of a PING or INFO answer: type, id, name and version, then ``between``,
    then metadata, in nats-py's order."""
    return {"type": doc.type, "id": doc.id, "name": doc.name, "version": doc.version,
            **between, "metadata": doc.metadata}


@dataclass
class ServicePing:
    """The answer to a PING."""

    id: str
    name: str
    version: str
    metadata: Dict[str, str] = field(default_factory=dict)
    type: str = PING_RESPONSE_TYPE

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> ServicePing:
        return cls(**_service_fields(data, PING_RESPONSE_TYPE))

    def to_dict(self) -> Dict[str, Any]:
        return _service_dict(self)


@dataclass
class ServiceStats:
    """The answer to a STATS: every endpoint's statistics."""

    id: str
    name: str
    version: str
    started: datetime
    """When the service started (or was last reset), UTC."""
    endpoints: List[EndpointStats] = field(default_factory=list)
    metadata: Dict[str, str] = field(default_factory=dict)
    type: str = STATS_RESPONSE_TYPE

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> ServiceStats:
        return cls(
            started=parse_time(data["started"]),
            endpoints=[EndpointStats.from_dict(e) for e in data.get("endpoints") or []],
            **_service_fields(data, STATS_RESPONSE_TYPE),
        )

    def to_dict(self) -> Dict[str, Any]:
        return {  # name before id here, as the stats schema (and nats-py) have it
            "type": self.type,
            "name": self.name,
            "id": self.id,
            "version": self.version,
            "started": format_time(self.started),
            "endpoints": [e.to_dict() for e in self.endpoints],
            "metadata": self.metadata,
        }


@dataclass
class ServiceInfo:
    """The answer to an INFO: the service's description and endpoints."""

    name: str
    id: str
    version: str
    description: Optional[str] = None
    endpoints: List[EndpointInfo] = field(default_factory=list)
    metadata: Dict[str, str] = field(default_factory=dict)
    type: str = INFO_RESPONSE_TYPE

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> ServiceInfo:
        return cls(
            description=data.get("description"),
            endpoints=[EndpointInfo.from_dict(e) for e in data.get("endpoints") or []],
            **_service_fields(data, INFO_RESPONSE_TYPE),
        )

    def to_dict(self) -> Dict[str, Any]:
        return _service_dict(self, description=self.description,
                             endpoints=[e.to_dict() for e in self.endpoints])


class ServiceVerb(str, Enum):
    """The discovery verbs."""

    PING = "PING"
    STATS = "STATS"
    INFO = "INFO"


def control_subject(verb: Union[ServiceVerb, str], name: Optional[str] = None,
                    id: Optional[str] = None,  # noqa: A002 - nats-py's name
                    prefix: str = DEFAULT_PREFIX) -> str:
    """``$SRV.VERB``, ``$SRV.VERB.name`` or ``$SRV.VERB.name.id``."""
    v = verb.value if isinstance(verb, ServiceVerb) else verb
    if not name:
        if id:
            raise ConfigError("A service id needs the service's name too: give name= as well.")
        return f"{prefix}.{v}"
    if not id:
        return f"{prefix}.{v}.{name}"
    return f"{prefix}.{v}.{name}.{id}"
