"""JetStreamManager: stream, consumer, message and account management (nats-py's names).

Every method is a blocking call through :class:`~natsync.js.api_request.JSApi`;
names are validated before anything is sent.
"""

from __future__ import annotations

import base64
import datetime
import json
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Union

from natsync.protocol.headers import parse_headers

from . import api
from .api_request import JSApi
from .errors import InvalidArgumentError, MsgNotFoundError, NotFoundError, api_error
from .names import validate_consumer_name, validate_stream_name

if TYPE_CHECKING:  # pragma: no cover
    from natsync._client_api import ClientAPI
    from natsync.msg import Msg

__all__ = ["JetStreamManager"]

class JetStreamManager:
    """Management API for JetStream: streams, consumers, messages, account info."""

    def __init__(self, conn: ClientAPI, prefix: str = api.DEFAULT_PREFIX,
                 timeout: float = 5.0, domain: Optional[str] = None) -> None:
        self._nc = conn
        self._api = JSApi(conn, prefix, domain, timeout)
        self._prefix = self._api.prefix
        self._timeout = self._api.timeout

    @property
    def client(self) -> ClientAPI:
        """The client this context sends its requests through."""
        return self._nc

    @property
    def timeout(self) -> float:
        """The default timeout of this context's requests, in seconds."""
        return self._timeout

    @property
    def api_prefix(self) -> str:
        """The JetStream API subject prefix in use (``$JS.API``, ``$JS.<domain>.API``, ...)."""
        return self._prefix

    def not_enabled_error(self, subject: str) -> Exception:
        """The error for a JetStream request nobody answered."""
        return self._api.not_enabled(subject)

    # ------------------------------------------------------------- account
    def account_info(self) -> api.AccountInfo:
        """The account's JetStream usage and limits."""
        return api.AccountInfo.from_response(self._api.request("INFO"))

    # ------------------------------------------------------------- streams
    def find_stream_name_by_subject(self, subject: str) -> str:
        """The name of the stream that holds ``subject`` (NotFoundError if none)."""
        if not isinstance(subject, str) or not subject or any(c.isspace() for c in subject):
            raise InvalidArgumentError(f"a subject is required to find its stream, got {subject!r}")
        resp = self._api.request("STREAM.NAMES", {"subject": subject})
        names = resp.get("streams") or []
        if not names:
            raise NotFoundError(code=404, description=f"no stream matches subject {subject!r}")
        return str(names[0])

    def stream_info(self, name: str, subjects_filter: Optional[str] = None) -> api.StreamInfo:
        """A stream's configuration and state; ``subjects_filter`` fills ``state.subjects``."""
        validate_stream_name(name)
        req = {"subjects_filter": subjects_filter} if subjects_filter else None
        resp = self._api.request(f"STREAM.INFO.{name}", req)
        if subjects_filter:  # the server pages subjects; gather every page
            subjects = dict((resp.get("state") or {}).get("subjects") or {})
            total = resp.get("total", 0)
            while resp.get("limit") and len(subjects) < total:
                resp2 = self._api.request(f"STREAM.INFO.{name}", {
                    "subjects_filter": subjects_filter, "offset": len(subjects)})
                page = (resp2.get("state") or {}).get("subjects") or {}
                if not page:
                    break
                subjects.update(page)
            resp.setdefault("state", {})["subjects"] = subjects
        return api.StreamInfo.from_response(resp)

    def _stream_config(self, config: Optional[api.StreamConfig], params: Dict[str, Any]
                       ) -> api.StreamConfig:
        if config is None:
            config = api.StreamConfig()
        elif not isinstance(config, api.StreamConfig):
            raise InvalidArgumentError(f"config must be a StreamConfig, got {type(config).__name__}")
        config = config.evolve(**params) if params else config
        validate_stream_name(config.name)
        return config

    def add_stream(self, config: Optional[api.StreamConfig] = None, **params: Any) -> api.StreamInfo:
        """Create a stream (``name=``, ``subjects=``, ... or a StreamConfig)."""
        config = self._stream_config(config, params)
        resp = self._api.request(f"STREAM.CREATE.{config.name}", config.as_dict())
        return api.StreamInfo.from_response(resp)

    def update_stream(self, config: Optional[api.StreamConfig] = None, **params: Any) -> api.StreamInfo:
        """Update a stream's configuration."""
        config = self._stream_config(config, params)
        resp = self._api.request(f"STREAM.UPDATE.{config.name}", config.as_dict())
        return api.StreamInfo.from_response(resp)

    def delete_stream(self, name: str) -> bool:
        validate_stream_name(name)
        return bool(self._api.request(f"STREAM.DELETE.{name}").get("success"))

    def purge_stream(self, name: str, seq: Optional[int] = None, subject: Optional[str] = None,
                     keep: Optional[int] = None) -> bool:
        """Purge a stream: all of it, up to ``seq`` (exclusive), one ``subject``, or all
        but the last ``keep`` messages."""
        validate_stream_name(name)
        if seq is not None and keep is not None:
            raise InvalidArgumentError("purge_stream: give seq or keep, not both")
        req: Dict[str, Any] = {}
        if seq:
            req["seq"] = seq
        if subject:
            req["filter"] = subject
        if keep:
            req["keep"] = keep
        return bool(self._api.request(f"STREAM.PURGE.{name}", req or None).get("success"))

    def streams_info(self, offset: int = 0) -> List[api.StreamInfo]:
        """Info of every stream from ``offset`` on (all pages)."""
        return list(self._paged("STREAM.LIST", "streams", offset, api.StreamInfo))

    def streams_info_iterator(self, offset: int = 0) -> api.StreamsListIterator:
        """One page of stream infos as nats-py's iterator."""
        resp = self._api.request("STREAM.LIST", {"offset": offset})
        return api.StreamsListIterator(resp.get("offset", 0), resp.get("total", 0),
                                       resp.get("streams") or [])

    def stream_names(self, subject: Optional[str] = None) -> List[str]:
        """The names of every stream (that holds ``subject``, if given)."""
        names: List[str] = []
        while True:
            req: Dict[str, Any] = {"offset": len(names)}
            if subject:
                req["subject"] = subject
            resp = self._api.request("STREAM.NAMES", req)
            page = resp.get("streams") or []
            names.extend(page)
            if not page or len(names) >= resp.get("total", 0):
                return names

    def _paged(self, suffix: str, key: str, offset: int, kind: Any) -> Iterator[Any]:
        seen = offset
        while True:
            resp = self._api.request(suffix, {"offset": seen})
            page = resp.get(key) or []
            for item in page:
                yield kind.from_response(item)
            seen += len(page)
            if not page or seen >= resp.get("total", 0):
                return

    # ----------------------------------------------------------- consumers
    def consumer_info(self, stream: str, consumer: str, timeout: Optional[float] = None
                      ) -> api.ConsumerInfo:
        resp = self._api.request(_consumer_api("INFO", stream, consumer), None, timeout)
        return api.ConsumerInfo.from_response(resp)

    def consumers_info(self, stream: str, offset: Optional[int] = None) -> List[api.ConsumerInfo]:
        """Info of every consumer of ``stream`` (all pages)."""
        validate_stream_name(stream)
        return list(self._paged(f"CONSUMER.LIST.{stream}", "consumers", offset or 0,
                                api.ConsumerInfo))

    def add_consumer(self, stream: str, config: Optional[api.ConsumerConfig] = None,
                     timeout: Optional[float] = None, **params: Any) -> api.ConsumerInfo:
        """Create (or update) a consumer; durable with ``durable_name``/``name``."""
        validate_stream_name(stream)
        if config is None:
            config = api.ConsumerConfig()
        elif not isinstance(config, api.ConsumerConfig):
            raise InvalidArgumentError(
                f"config must be a ConsumerConfig, got {type(config).__name__}")
        if params:
            config = config.evolve(**params)
        if config.name:
            validate_consumer_name(config.name)
        if config.durable_name:
            validate_consumer_name(config.durable_name)
        if config.name and config.durable_name and config.name != config.durable_name:
            raise InvalidArgumentError(
                f"consumer name {config.name!r} and durable_name {config.durable_name!r} differ; "
                "give one, or the same value for both")
        name = config.name or config.durable_name
        version = self._nc.connected_server_version
        if name and (version.major, version.minor) >= (2, 9):
            subject = f"CONSUMER.CREATE.{stream}.{name}"
            if config.filter_subject and config.filter_subject != ">" and not config.filter_subjects:
                subject += f".{config.filter_subject}"
        elif config.durable_name:
            subject = f"CONSUMER.DURABLE.CREATE.{stream}.{config.durable_name}"
        else:
            subject = f"CONSUMER.CREATE.{stream}"
        req = {"stream_name": stream, "config": config.as_dict()}
        resp = self._api.request(subject, req, timeout)
        return api.ConsumerInfo.from_response(resp)

    def delete_consumer(self, stream: str, consumer: str) -> bool:
        return bool(self._api.request(_consumer_api("DELETE", stream, consumer)).get("success"))

    def pause_consumer(self, stream: str, consumer: str,
                       pause_until: Union[str, datetime.datetime],
                       timeout: Optional[float] = None) -> api.ConsumerPause:
        """Pause delivery until ``pause_until`` (a datetime or RFC 3339 string); server 2.11+."""
        subject = _consumer_api("PAUSE", stream, consumer)
        until = api.format_time(pause_until)
        resp = self._api.request(subject, {"pause_until": until}, timeout)
        return api.ConsumerPause.from_response(resp)

    def resume_consumer(self, stream: str, consumer: str, timeout: Optional[float] = None
                        ) -> api.ConsumerPause:
        """Resume a paused consumer now."""
        resp = self._api.request(_consumer_api("PAUSE", stream, consumer), None, timeout)
        return api.ConsumerPause.from_response(resp)

    # ------------------------------------------------------------ messages
    def get_msg(self, stream_name: str, seq: Optional[int] = None, subject: Optional[str] = None,
                direct: Optional[bool] = False, next: Optional[bool] = False,  # noqa: A002
                ) -> api.RawStreamMsg:
        """A message by sequence, the last one for ``subject``, or with ``next=True`` the
        first one at or after ``seq`` for ``subject``. ``direct=True`` uses the direct get
        API (the stream needs ``allow_direct``), served by any replica."""
        validate_stream_name(stream_name)
        if seq is None and not subject:
            raise InvalidArgumentError("get_msg needs seq= or subject=")
        req: Dict[str, Any] = {}
        if next:
            req["seq"] = seq or 0
            if subject:
                req["next_by_subj"] = subject
        elif subject:
            req["last_by_subj"] = subject
        else:
            req["seq"] = seq
        if direct:
            if subject and not next:
                msg = self._api.raw(f"DIRECT.GET.{stream_name}.{subject}")
            else:
                msg = self._api.raw(f"DIRECT.GET.{stream_name}", json.dumps(req).encode())
            return self._direct_msg(msg, stream_name)
        resp = self._api.request(f"STREAM.MSG.GET.{stream_name}", req)
        return _stored_msg(resp.get("message") or {}, stream_name)

    def _direct_msg(self, msg: Msg, stream: str) -> api.RawStreamMsg:
        status = msg.status
        if status is not None and not msg.data:
            desc = (msg.headers or {}).get("Description", "")
            desc = desc if isinstance(desc, str) else ""
            if status == 404:
                raise MsgNotFoundError(code=404, err_code=10037,
                                       description=desc or "no message found")
            raise api_error({"code": status, "description": desc})
        headers = msg.headers or {}
        seq = headers.get("Nats-Sequence")
        when = headers.get("Nats-Time-Stamp")
        return api.RawStreamMsg(
            subject=_one(headers.get("Nats-Subject")),
            seq=int(_one(seq) or 0) if seq else None,
            data=msg.data or None,
            headers=headers,
            stream=_one(headers.get("Nats-Stream")) or stream,
            time=api.parse_time(_one(when)) if when else None,
        )

    def get_last_msg(self, stream_name: str, subject: str, direct: Optional[bool] = False
                     ) -> api.RawStreamMsg:
        """The last message stored for ``subject``."""
        return self.get_msg(stream_name, subject=subject, direct=direct)

    def delete_msg(self, stream_name: str, seq: int) -> bool:
        """Delete one message by sequence."""
        validate_stream_name(stream_name)
        return bool(self._api.request(f"STREAM.MSG.DELETE.{stream_name}", {"seq": seq})
                    .get("success"))


def _consumer_api(verb: str, stream: str, consumer: str) -> str:
    """The API subject ``CONSUMER.<verb>.<stream>.<consumer>``, both names checked first."""
    validate_stream_name(stream)
    validate_consumer_name(consumer)
    return f"CONSUMER.{verb}.{stream}.{consumer}"


def _one(val: Any) -> Any:
    return val[-1] if isinstance(val, list) else val


def _stored_msg(m: Dict[str, Any], stream: str) -> api.RawStreamMsg:
    raw_hdrs = m.get("hdrs")
    hdr_bytes = base64.b64decode(raw_hdrs) if raw_hdrs else None
    headers = parse_headers(hdr_bytes)[0] if hdr_bytes else None
    data = base64.b64decode(m["data"]) if m.get("data") else None
    return api.RawStreamMsg(
        subject=m.get("subject"), seq=m.get("seq"), data=data, hdrs=hdr_bytes,
        headers=headers, stream=stream, time=api.parse_time(m.get("time")))

