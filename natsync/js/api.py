"""JetStream API types: nats-py's ``nats.js.api`` dataclasses and enums.

Field names, enum values and defaults are nats-py's, so code ports unchanged.
Durations are seconds as ``float`` in Python and nanoseconds on the wire;
timestamps are UTC ``datetime`` objects in Python and RFC 3339 strings on the
wire. Unlike nats-py, a value read with ``from_response`` keeps the JSON fields
it does not know (newer servers add fields) and ``as_dict`` writes them back, so
``update_stream(info.config)`` never drops settings a newer server has.

This module has no I/O and imports nothing from the rest of natsync; both
JetStream facades (``natsync.js`` and ``natsync.jetstream``) use it.
"""

from __future__ import annotations

import datetime
from dataclasses import MISSING, dataclass, fields, replace
from enum import Enum
from typing import Any, ClassVar, Dict, Iterator, List, Optional, Tuple, Type, TypeVar

__all__ = [
    "DEFAULT_PREFIX", "INBOX_PREFIX", "Header", "StatusCode", "Base", "PubAck", "Placement",
    "ExternalStream", "StreamSource", "StreamSourceInfo", "LostStreamData", "StreamState",
    "RetentionPolicy", "StorageType", "DiscardPolicy", "StoreCompression", "PersistMode",
    "RePublish", "SubjectTransform", "StreamConsumerLimits", "StreamConfig", "PeerInfo",
    "ClusterInfo", "StreamInfo", "StreamsListIterator", "AckPolicy", "DeliverPolicy",
    "ReplayPolicy", "ConsumerConfig", "SequenceInfo", "ConsumerInfo", "ConsumerPause",
    "AccountLimits", "Tier", "APIStats", "AccountInfo", "RawStreamMsg", "KeyValueConfig",
    "StreamPurgeRequest", "ObjectStoreConfig", "ObjectLink", "ObjectMetaOptions", "ObjectMeta",
    "ObjectInfo",
]

_NANOSECOND = 10**9

DEFAULT_PREFIX = "$JS.API"
INBOX_PREFIX = b"_INBOX."


class Header(str, Enum):
    """Header names JetStream reads or writes."""

    CONSUMER_STALLED = "Nats-Consumer-Stalled"
    DESCRIPTION = "Description"
    EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
    EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
    EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence"
    EXPECTED_STREAM = "Nats-Expected-Stream"
    LAST_CONSUMER = "Nats-Last-Consumer"
    LAST_STREAM = "Nats-Last-Stream"
    MSG_ID = "Nats-Msg-Id"
    MSG_TTL = "Nats-TTL"
    ROLLUP = "Nats-Rollup"
    STATUS = "Status"


class StatusCode(str, Enum):
    SERVICE_UNAVAILABLE = "503"
    NO_MESSAGES = "404"
    REQUEST_TIMEOUT = "408"
    CONFLICT = "409"
    CONTROL_MESSAGE = "100"


_B = TypeVar("_B", bound="Base")


def _to_ns(val: Optional[float]) -> Optional[int]:
    return None if val is None else int(round(val * _NANOSECOND))


def _from_ns(val: Any) -> Any:
    return val / _NANOSECOND if isinstance(val, (int, float)) and not isinstance(val, bool) else val


def parse_time(value: Any) -> Any:
    """An RFC 3339 string (nanosecond precision allowed) as an aware UTC datetime.

    Anything that is not a parseable string is returned unchanged."""
    if not isinstance(value, str) or not value:
        return value
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    if "." in s:
        head, rest = s.split(".", 1)
        cut = len(rest)
        for i, ch in enumerate(rest):
            if not ch.isdigit():
                cut = i
                break
        frac, tz = rest[:cut], rest[cut:]
        s = f"{head}.{frac[:6].ljust(6, '0')}{tz}"
    try:
        return datetime.datetime.fromisoformat(s).astimezone(datetime.timezone.utc)
    except ValueError:
        return value


def format_time(value: Any) -> Any:
    """A datetime as an RFC 3339 UTC string (naive means UTC); strings pass through."""
    if not isinstance(value, datetime.datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    value = value.astimezone(datetime.timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def _enum(kind: Type[Enum], value: Any) -> Any:
    try:
        return kind(value)
    except ValueError:
        return value  # a value this client does not know: keep it as the server sent it


@dataclass
class Base:
    """Common JSON conversion. Subclasses declare which fields need converting."""

    #: field -> nested Base type (a list of them when the JSON holds a list)
    _nested: ClassVar[Dict[str, Type[Base]]] = {}
    #: fields that are durations: nanoseconds on the wire, seconds here
    _durations: ClassVar[Tuple[str, ...]] = ()
    #: fields that are RFC 3339 timestamps on the wire, datetimes here
    _times: ClassVar[Tuple[str, ...]] = ()
    #: field -> Enum type
    _enums: ClassVar[Dict[str, Type[Enum]]] = {}

    @classmethod
    def _field_names(cls) -> Tuple[str, ...]:
        names: Optional[Tuple[str, ...]] = cls.__dict__.get("_names_cache")
        if names is None:
            names = tuple(f.name for f in fields(cls))
            cls._names_cache = names  # type: ignore[attr-defined]
        return names

    @classmethod
    def from_response(cls: Type[_B], resp: Dict[str, Any]) -> _B:
        """Build from the server's JSON; unknown fields are kept for ``as_dict``."""
        names = cls._field_names()
        params: Dict[str, Any] = {}
        extra: Dict[str, Any] = {}
        for key, val in resp.items():
            if key not in names:
                extra[key] = val
                continue
            if val is not None:
                if key in cls._nested:
                    sub = cls._nested[key]
                    if isinstance(val, list):
                        val = [sub.from_response(v) if isinstance(v, dict) else v for v in val]
                    elif isinstance(val, dict):
                        val = sub.from_response(val)
                elif key in cls._durations:
                    val = [_from_ns(v) for v in val] if isinstance(val, list) else _from_ns(val)
                elif key in cls._times:
                    val = parse_time(val)
                elif key in cls._enums:
                    val = _enum(cls._enums[key], val)
            params[key] = val
        obj = cls._construct(params)
        if extra:
            obj.__dict__["_extra"] = extra
        return obj

    @classmethod
    def _construct(cls: Type[_B], params: Dict[str, Any]) -> _B:
        for f in fields(cls):  # a required field the server left out: None
            if f.name not in params and f.default is MISSING and f.default_factory is MISSING:
                params[f.name] = None
        return cls(**params)

    def evolve(self: _B, **params: Any) -> _B:
        """A copy with the given fields replaced (unknown JSON fields are kept)."""
        new = replace(self, **params)
        extra = self.__dict__.get("_extra")
        if extra:
            new.__dict__["_extra"] = dict(extra)
        return new

    def as_dict(self) -> Dict[str, object]:
        """The JSON-ready dict the server expects; None fields are left out."""
        result: Dict[str, Any] = dict(self.__dict__.get("_extra") or {})
        for f in fields(self):
            val = getattr(self, f.name)
            if val is None:
                continue
            result[f.name] = self._encode_value(f.name, val)
        return result

    def _encode_value(self, name: str, val: Any) -> Any:
        if isinstance(val, Base):
            return val.as_dict()
        if isinstance(val, list):
            return [self._encode_value(name, v) for v in val]
        if isinstance(val, dict):
            return {k: self._encode_value(name, v) for k, v in val.items()}
        if isinstance(val, Enum):
            return val.value
        if name in self._durations and isinstance(val, (int, float)) and not isinstance(val, bool):
            return _to_ns(val)
        if name in self._times:
            return format_time(val)
        return val


@dataclass
class PubAck(Base):
    """The acknowledgement of a message stored by JetStream."""

    stream: str
    seq: int
    domain: Optional[str] = None
    duplicate: Optional[bool] = None

    @property
    def sequence(self) -> int:
        """``seq`` under nats.py v3's name (``natsync.jetstream``'s PublishAck)."""
        return self.seq


@dataclass
class Placement(Base):
    cluster: Optional[str] = None
    tags: Optional[List[str]] = None


@dataclass
class ExternalStream(Base):
    api: str
    deliver: Optional[str] = None


@dataclass
class SubjectTransform(Base):
    src: str
    dest: str


@dataclass
class StreamSource(Base):
    name: str
    opt_start_seq: Optional[int] = None
    opt_start_time: Optional[datetime.datetime] = None
    filter_subject: Optional[str] = None
    external: Optional[ExternalStream] = None
    subject_transforms: Optional[List[SubjectTransform]] = None

    _nested = {"external": ExternalStream, "subject_transforms": SubjectTransform}
    _times = ("opt_start_time",)


@dataclass
class StreamSourceInfo(Base):
    name: str
    lag: Optional[int] = None
    active: Optional[int] = None
    error: Optional[Dict[str, Any]] = None


@dataclass
class LostStreamData(Base):
    msgs: Optional[List[int]] = None
    bytes: Optional[int] = None


@dataclass
class StreamState(Base):
    messages: int
    bytes: int
    first_seq: int
    last_seq: int
    consumer_count: int
    deleted: Optional[List[int]] = None
    num_deleted: Optional[int] = None
    lost: Optional[LostStreamData] = None
    subjects: Optional[Dict[str, int]] = None

    _nested = {"lost": LostStreamData}


class RetentionPolicy(str, Enum):
    LIMITS = "limits"
    INTEREST = "interest"
    WORK_QUEUE = "workqueue"


class StorageType(str, Enum):
    FILE = "file"
    MEMORY = "memory"


class DiscardPolicy(str, Enum):
    OLD = "old"
    NEW = "new"


class StoreCompression(str, Enum):
    NONE = "none"
    S2 = "s2"


class PersistMode(str, Enum):
    DEFAULT = "default"
    ASYNC = "async"


@dataclass
class RePublish(Base):
    src: Optional[str] = None
    dest: Optional[str] = None
    headers_only: Optional[bool] = None


@dataclass
class StreamConsumerLimits(Base):
    inactive_threshold: Optional[float] = None  # seconds
    max_ack_pending: Optional[int] = None

    _durations = ("inactive_threshold",)


@dataclass
class StreamConfig(Base):
    """The configuration of a stream (durations in seconds)."""

    name: Optional[str] = None
    description: Optional[str] = None
    subjects: Optional[List[str]] = None
    retention: Optional[RetentionPolicy] = None
    max_consumers: Optional[int] = None
    max_msgs: Optional[int] = None
    max_bytes: Optional[int] = None
    discard: Optional[DiscardPolicy] = DiscardPolicy.OLD
    discard_new_per_subject: bool = False
    max_age: Optional[float] = None  # seconds
    max_msgs_per_subject: int = -1
    max_msg_size: Optional[int] = -1
    storage: Optional[StorageType] = None
    num_replicas: Optional[int] = None
    no_ack: bool = False
    template_owner: Optional[str] = None
    duplicate_window: float = 0  # seconds
    placement: Optional[Placement] = None
    mirror: Optional[StreamSource] = None
    sources: Optional[List[StreamSource]] = None
    sealed: bool = False
    deny_delete: bool = False
    deny_purge: bool = False
    allow_rollup_hdrs: bool = False
    first_seq: Optional[int] = None
    republish: Optional[RePublish] = None
    subject_transform: Optional[SubjectTransform] = None
    allow_direct: Optional[bool] = None
    mirror_direct: Optional[bool] = None
    compression: Optional[StoreCompression] = None
    allow_msg_ttl: Optional[bool] = None
    allow_msg_schedules: Optional[bool] = None
    allow_atomic: Optional[bool] = None
    allow_batched: Optional[bool] = None
    persist_mode: Optional[PersistMode] = None
    metadata: Optional[Dict[str, str]] = None
    consumer_limits: Optional[StreamConsumerLimits] = None
    subject_delete_marker_ttl: Optional[float] = None  # seconds

    _nested = {
        "placement": Placement, "mirror": StreamSource, "sources": StreamSource,
        "republish": RePublish, "subject_transform": SubjectTransform,
        "consumer_limits": StreamConsumerLimits,
    }
    _durations = ("max_age", "duplicate_window", "subject_delete_marker_ttl")
    _enums = {
        "retention": RetentionPolicy, "discard": DiscardPolicy, "storage": StorageType,
        "compression": StoreCompression, "persist_mode": PersistMode,
    }

    def as_dict(self) -> Dict[str, object]:
        if self.metadata is not None and not isinstance(self.metadata, dict):
            raise ValueError("nats: StreamConfig.metadata must be a dict of str to str")
        result = super().as_dict()
        if not self.subject_delete_marker_ttl or self.subject_delete_marker_ttl < 0:
            result.pop("subject_delete_marker_ttl", None)
        return result


@dataclass
class PeerInfo(Base):
    name: Optional[str] = None
    current: Optional[bool] = None
    offline: Optional[bool] = None
    active: Optional[int] = None
    lag: Optional[int] = None


@dataclass
class ClusterInfo(Base):
    leader: Optional[str] = None
    name: Optional[str] = None
    replicas: Optional[List[PeerInfo]] = None
    raft_group: Optional[str] = None
    leader_since: Optional[datetime.datetime] = None
    traffic_acc: Optional[str] = None

    _nested = {"replicas": PeerInfo}
    _times = ("leader_since",)


@dataclass
class StreamInfo(Base):
    """What the server reports about a stream."""

    config: StreamConfig
    state: StreamState
    mirror: Optional[StreamSourceInfo] = None
    sources: Optional[List[StreamSourceInfo]] = None
    cluster: Optional[ClusterInfo] = None
    did_create: Optional[bool] = None
    created: Optional[datetime.datetime] = None

    _nested = {
        "config": StreamConfig, "state": StreamState, "mirror": StreamSourceInfo,
        "sources": StreamSourceInfo, "cluster": ClusterInfo,
    }
    _times = ("created",)


class StreamsListIterator:
    """Iterates over a page of a stream list response."""

    def __init__(self, offset: int, total: int, streams: List[Dict[str, Any]]) -> None:
        self.offset = offset
        self.total = total
        self.streams = streams
        self._index = 0

    def __iter__(self) -> Iterator[StreamInfo]:
        return self

    def __next__(self) -> StreamInfo:
        if self._index >= len(self.streams):
            raise StopIteration
        info = StreamInfo.from_response(self.streams[self._index])
        self._index += 1
        return info


class AckPolicy(str, Enum):
    NONE = "none"
    ALL = "all"
    EXPLICIT = "explicit"


class DeliverPolicy(str, Enum):
    ALL = "all"
    LAST = "last"
    NEW = "new"
    BY_START_SEQUENCE = "by_start_sequence"
    BY_START_TIME = "by_start_time"
    LAST_PER_SUBJECT = "last_per_subject"


class ReplayPolicy(str, Enum):
    INSTANT = "instant"
    ORIGINAL = "original"


@dataclass
class ConsumerConfig(Base):
    """The configuration of a consumer (durations in seconds)."""

    name: Optional[str] = None
    durable_name: Optional[str] = None
    description: Optional[str] = None
    deliver_policy: Optional[DeliverPolicy] = DeliverPolicy.ALL
    opt_start_seq: Optional[int] = None
    opt_start_time: Optional[datetime.datetime] = None
    ack_policy: Optional[AckPolicy] = AckPolicy.EXPLICIT
    ack_wait: Optional[float] = None  # seconds
    max_deliver: Optional[int] = None
    backoff: Optional[List[float]] = None  # seconds
    filter_subject: Optional[str] = None
    filter_subjects: Optional[List[str]] = None
    replay_policy: Optional[ReplayPolicy] = ReplayPolicy.INSTANT
    rate_limit_bps: Optional[int] = None
    sample_freq: Optional[str] = None
    max_waiting: Optional[int] = None
    max_ack_pending: Optional[int] = None
    flow_control: Optional[bool] = None
    idle_heartbeat: Optional[float] = None  # seconds
    headers_only: Optional[bool] = None
    deliver_subject: Optional[str] = None
    deliver_group: Optional[str] = None
    inactive_threshold: Optional[float] = None  # seconds
    num_replicas: Optional[int] = None
    mem_storage: Optional[bool] = None
    metadata: Optional[Dict[str, str]] = None
    pause_until: Optional[str] = None

    _durations = ("ack_wait", "backoff", "idle_heartbeat", "inactive_threshold")
    _times = ("opt_start_time",)
    _enums = {"deliver_policy": DeliverPolicy, "ack_policy": AckPolicy, "replay_policy": ReplayPolicy}


@dataclass
class SequenceInfo(Base):
    consumer_seq: int
    stream_seq: int
    last_active: Optional[datetime.datetime] = None

    _times = ("last_active",)


@dataclass
class ConsumerInfo(Base):
    """What the server reports about a consumer."""

    name: str
    stream_name: str
    config: ConsumerConfig
    created: datetime.datetime
    delivered: Optional[SequenceInfo] = None
    ack_floor: Optional[SequenceInfo] = None
    num_ack_pending: Optional[int] = None
    num_redelivered: Optional[int] = None
    num_waiting: Optional[int] = None
    num_pending: Optional[int] = None
    cluster: Optional[ClusterInfo] = None
    push_bound: Optional[bool] = None
    paused: Optional[bool] = None
    pause_remaining: Optional[str] = None

    _nested = {
        "config": ConsumerConfig, "delivered": SequenceInfo, "ack_floor": SequenceInfo,
        "cluster": ClusterInfo,
    }
    _times = ("created",)


@dataclass
class ConsumerPause(Base):
    paused: bool
    pause_until: Optional[str] = None
    pause_remaining: Optional[str] = None


@dataclass
class AccountLimits(Base):
    max_memory: int
    max_storage: int
    max_streams: int
    max_consumers: int
    max_ack_pending: int
    memory_max_stream_bytes: int
    storage_max_stream_bytes: int
    max_bytes_required: bool


@dataclass
class Tier(Base):
    memory: int
    storage: int
    streams: int
    consumers: int
    limits: AccountLimits

    _nested = {"limits": AccountLimits}


@dataclass
class APIStats(Base):
    total: int
    errors: int
    level: Optional[int] = None


@dataclass
class AccountInfo(Base):
    """The JetStream usage and limits of the account."""

    memory: int
    storage: int
    streams: int
    consumers: int
    limits: AccountLimits
    api: APIStats
    domain: Optional[str] = None
    tiers: Optional[Dict[str, Tier]] = None

    _nested = {"limits": AccountLimits, "api": APIStats}

    @classmethod
    def from_response(cls, resp: Dict[str, Any]) -> AccountInfo:
        info = super().from_response(resp)
        if isinstance(info.tiers, dict):
            info.tiers = {k: Tier.from_response(v) if isinstance(v, dict) else v
                          for k, v in info.tiers.items()}
        return info


@dataclass
class RawStreamMsg(Base):
    """A message read from a stream by ``get_msg``: data and headers decoded."""

    subject: Optional[str] = None
    seq: Optional[int] = None
    data: Optional[bytes] = None
    hdrs: Optional[bytes] = None
    headers: Optional[Dict[str, Any]] = None
    stream: Optional[str] = None
    time: Optional[datetime.datetime] = None

    _times = ("time",)

    @property
    def sequence(self) -> Optional[int]:
        return self.seq

    @property
    def header(self) -> Optional[Dict[str, Any]]:
        return self.headers


@dataclass
class KeyValueConfig(Base):
    bucket: str
    description: Optional[str] = None
    max_value_size: Optional[int] = None
    history: int = 1
    ttl: Optional[float] = None  # seconds
    max_bytes: Optional[int] = None
    storage: Optional[StorageType] = None
    replicas: int = 1
    placement: Optional[Placement] = None
    republish: Optional[RePublish] = None
    direct: Optional[bool] = None
    limit_marker_ttl: Optional[float] = None  # seconds; client side only

    _nested = {"placement": Placement, "republish": RePublish}
    _durations = ("ttl",)
    _enums = {"storage": StorageType}

    def as_dict(self) -> Dict[str, object]:
        result = super().as_dict()
        result.pop("limit_marker_ttl", None)
        return result


@dataclass
class StreamPurgeRequest(Base):
    seq: Optional[int] = None
    filter: Optional[str] = None
    keep: Optional[int] = None


@dataclass
class ObjectStoreConfig(Base):
    bucket: Optional[str] = None
    description: Optional[str] = None
    ttl: Optional[float] = None  # seconds
    max_bytes: Optional[int] = None
    storage: Optional[StorageType] = None
    replicas: int = 1
    placement: Optional[Placement] = None
    metadata: Optional[Dict[str, str]] = None  # beyond nats-py: ADR-20 revision 2
    compression: bool = False  # beyond nats-py: ADR-20 revision 3 (s2 on disk)

    _nested = {"placement": Placement}
    _durations = ("ttl",)
    _enums = {"storage": StorageType}


@dataclass
class ObjectLink(Base):
    bucket: str
    name: Optional[str] = None


@dataclass
class ObjectMetaOptions(Base):
    link: Optional[ObjectLink] = None
    max_chunk_size: Optional[int] = None

    _nested = {"link": ObjectLink}


@dataclass
class ObjectMeta(Base):
    name: Optional[str] = None
    description: Optional[str] = None
    headers: Optional[Dict[str, Any]] = None
    options: Optional[ObjectMetaOptions] = None
    metadata: Optional[Dict[str, str]] = None  # beyond nats-py: ADR-20 revision 2

    _nested = {"options": ObjectMetaOptions}


@dataclass
class ObjectInfo(Base):
    name: str
    bucket: str
    nuid: str
    size: Optional[int] = None
    mtime: Optional[str] = None
    chunks: Optional[int] = None
    digest: Optional[str] = None
    deleted: Optional[bool] = False
    description: Optional[str] = None
    headers: Optional[Dict[str, Any]] = None
    options: Optional[ObjectMetaOptions] = None
    metadata: Optional[Dict[str, str]] = None  # beyond nats-py: ADR-20 revision 2

    _nested = {"options": ObjectMetaOptions}

    @property
    def meta(self) -> ObjectMeta:
        return ObjectMeta(name=self.name, description=self.description, headers=self.headers,
                          options=self.options, metadata=self.metadata)

    def is_link(self) -> bool:
        return self.options is not None and self.options.link is not None

