"""Key/Value store on JetStream: nats-py's ``nats.js.kv`` without ``await``.

A bucket is the stream ``KV_<bucket>`` on the subjects ``$KV.<bucket>.>``; a key is
the last message on ``$KV.<bucket>.<key>`` and its revision is that message's stream
sequence (ADR-8). A delete writes a marker with ``KV-Operation: DEL``, a purge one
with ``KV-Operation: PURGE`` and ``Nats-Rollup: sub``; markers the server writes when
a TTL or limit removes a key carry ``Nats-Marker-Reason`` instead (ADR-48). So any
other client (nats.go, nats-py, the ``nats`` CLI) reads and writes the same bucket.

::

    kv = nc.jetstream().create_key_value(bucket="config", history=5)
    rev = kv.put("db.url", b"postgres://...")
    entry = kv.get("db.url")            # direct get (ADR-31)
    kv.update("db.url", b"...", last=entry.revision)   # compare-and-set
    with kv.watch("db.*") as watcher:
        for entry in watcher:            # initial values, None, then live updates
            ...

Built only on the JetStream context's public methods (``publish``, ``get_msg``,
``subscribe``, ``stream_info``, ``purge_stream``, ...). The watcher is in
:mod:`natsync.js._kv_watch`, entries and markers in :mod:`natsync.js._kv_entry`, names,
validation and the bucket's stream configuration in :mod:`natsync.js._kv_rules`.
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Union

from natsync import errors as core_errors

from . import api
from . import errors as js_errors
from ._kv_entry import (
    KV_DEL,
    KV_MARKER_REASON,
    KV_OP,
    KV_PURGE,
    MSG_ROLLUP_SUBJECT,
    UNKNOWN_MARKER,
    Entry,
    operation,
)
from ._kv_rules import (
    DEFAULT_PURGE_DELETES_OLDER_THAN,
    KV_MAX_HISTORY,
    KV_PRE_TEMPLATE,
    KV_STREAM_TEMPLATE,
    VALID_BUCKET_RE,
    VALID_KEY_RE,
    BucketStatus,
    is_valid_bucket,
    is_valid_key,
    stream_config,
    validate_bucket,
    validate_filter,
    validate_key,
)
from ._kv_watch import KeyWatcher, StopIterSentinel

if TYPE_CHECKING:
    from ._parent import JetStreamParent

__all__ = [
    "KV_DEL",
    "KV_MARKER_REASON",
    "KV_MAX_HISTORY",
    "KV_OP",
    "KV_PRE_TEMPLATE",
    "KV_PURGE",
    "KV_STREAM_TEMPLATE",
    "MSG_ROLLUP_SUBJECT",
    "VALID_BUCKET_RE",
    "VALID_KEY_RE",
    "BucketStatus",
    "Entry",
    "KeyValue",
    "KeyWatcher",
    "StopIterSentinel",
    "create_key_value",
    "delete_key_value",
    "is_valid_bucket",
    "is_valid_key",
    "key_value",
    "stream_config",
    "validate_bucket",
    "validate_key",
]

def _open(js: JetStreamParent, bucket: str, info: api.StreamInfo) -> KeyValue:
    cfg = info.config
    return KeyValue(
        name=bucket,
        stream=KV_STREAM_TEMPLATE.format(bucket=bucket),
        pre=KV_PRE_TEMPLATE.format(bucket=bucket),
        js=js,
        direct=bool(cfg.allow_direct),
        max_value_size=cfg.max_msg_size,
        allow_msg_ttl=bool(cfg.allow_msg_ttl),
    )


def create_key_value(js: JetStreamParent, config: Optional[api.KeyValueConfig] = None,
                     **params: Any) -> KeyValue:
    """``js.create_key_value(...)``: create the bucket (or open it when it exists as asked)."""
    if config is None:
        if "bucket" not in params:
            raise js_errors.InvalidBucketNameError(
                "create_key_value needs a bucket: create_key_value(bucket='name', ...) "
                "or create_key_value(KeyValueConfig(bucket='name', ...))")
        config = api.KeyValueConfig(bucket=params.pop("bucket"))
    if params:
        config = config.evolve(**params)
    scfg = stream_config(config)
    if config.limit_marker_ttl:
        level = _api_level(js)
        if level < 1:
            raise js_errors.KeyValueLimitMarkerTTLNotSupportedError(
                "limit_marker_ttl needs nats-server 2.11 or newer (JetStream API level 1)")
    try:
        info = js.add_stream(scfg)
    except js_errors.StreamNameAlreadyInUseError as err:
        raise js_errors.StreamNameAlreadyInUseError(
            code=err.code, err_code=err.err_code, stream=scfg.name,
            description=(f"{err.description}: bucket {config.bucket!r} exists with another "
                         f"configuration (made with other options, or by a client that does not "
                         f"enable direct get): open it with key_value({config.bucket!r}), or "
                         "delete it first")) from None
    return _open(js, config.bucket, info)


def _api_level(js: JetStreamParent) -> int:
    info = js.account_info()
    level = getattr(getattr(info, "api", None), "level", None)
    return int(level or 0)


def key_value(js: JetStreamParent, bucket: str) -> KeyValue:
    """``js.key_value(bucket)``: open an existing bucket."""
    validate_bucket(bucket)
    stream = KV_STREAM_TEMPLATE.format(bucket=bucket)
    try:
        info = js.stream_info(stream)
    except js_errors.NotFoundError:
        raise js_errors.BucketNotFoundError(
            code=404,
            description=f"bucket {bucket!r} not found: create it with create_key_value(bucket={bucket!r})")
    if info.config.max_msgs_per_subject < 1:
        raise js_errors.BadBucketError(
            description=f"stream {stream!r} is not a Key/Value bucket (it has no per-subject history)")
    return _open(js, bucket, info)


def delete_key_value(js: JetStreamParent, bucket: str) -> bool:
    """``js.delete_key_value(bucket)``: delete the bucket and everything in it."""
    validate_bucket(bucket)
    try:
        return bool(js.delete_stream(KV_STREAM_TEMPLATE.format(bucket=bucket)))
    except js_errors.NotFoundError:
        raise js_errors.BucketNotFoundError(code=404, description=f"bucket {bucket!r} not found")


# --------------------------------------------------------------------------- the store


# The class attributes below shadow these names inside KeyValue.
_Entry = Entry
_Watcher = KeyWatcher
_Status = BucketStatus


class KeyValue:
    """A Key/Value bucket: nats-py's ``KeyValue`` without ``await``.

    Made by ``js.create_key_value`` or ``js.key_value``; safe to use from any number of
    threads at once.
    """

    Entry = Entry
    BucketStatus = BucketStatus
    KeyWatcher = KeyWatcher

    def __init__(
        self,
        name: str,
        stream: str,
        pre: str,
        js: JetStreamParent,
        direct: bool,
        *,
        max_value_size: Optional[int] = None,
        allow_msg_ttl: bool = True,
    ) -> None:
        self._name = name
        self._stream = stream
        self._pre = pre
        self._js = js
        self._direct = direct
        self._max_value_size = max_value_size if max_value_size and max_value_size > 0 else None
        self._allow_msg_ttl = allow_msg_ttl

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self._name

    def __repr__(self) -> str:
        return f"<KeyValue bucket={self._name!r}>"

    # ------------------------------------------------------------------ reads

    def get(self, key: str, revision: Optional[int] = None, validate_keys: bool = True) -> _Entry:
        """The latest entry of ``key``, or the one at ``revision``.

        Raises :class:`KeyNotFoundError` when there is none; for a deleted or purged key
        its ``entry`` and ``op`` say which marker was found.
        """
        if validate_keys:
            validate_key(key)
        try:
            return self._get(key, revision)
        except js_errors.KeyDeletedError as err:
            raise js_errors.KeyNotFoundError(
                err.entry, err.op,
                f"{key!r} in bucket {self._name!r} was {_past(err.op)} at revision {err.entry.revision}")

    def _get(self, key: str, revision: Optional[int] = None) -> _Entry:
        subject = self._pre + key
        try:
            if revision:
                msg = self._js.get_msg(self._stream, seq=revision, direct=self._direct)
            else:
                msg = self._js.get_msg(self._stream, subject=subject, direct=self._direct)
        except js_errors.NotFoundError:
            where = f" at revision {revision}" if revision else ""
            raise js_errors.KeyNotFoundError(message=f"{key!r} in bucket {self._name!r}{where}")
        except js_errors.ServiceUnavailableError:
            # nobody answered the direct get: the bucket may have been deleted
            self._raise_if_gone()
            raise
        if msg.subject != subject:
            raise js_errors.KeyNotFoundError(
                message=f"{key!r} in bucket {self._name!r}: revision {revision} is another key")
        entry = _Entry(
            bucket=self._name,
            key=key,
            value=msg.data if msg.data is not None else b"",
            revision=msg.seq,
            delta=None,
            created=msg.time,
            operation=None,
        )
        op = operation(msg.headers)
        if op is not None:
            entry.operation = op if op != UNKNOWN_MARKER else None
            raise js_errors.KeyDeletedError(entry, entry.operation)
        return entry

    # ------------------------------------------------------------------ writes

    def _check_value(self, key: str, value: Any) -> None:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise js_errors.InvalidArgumentError(
                f"the value for key {key!r} must be bytes-like (bytes, bytearray, memoryview), "
                f"not {type(value).__name__}; encode text first, e.g. value.encode()")
        limit = self._max_value_size
        if limit is not None and len(value) > limit:
            raise core_errors.MaxPayloadError(
                f"nats: value of {len(value)} bytes for key {key!r} is over bucket "
                f"{self._name!r}'s max_value_size of {limit} bytes: store a smaller value, or "
                "create the bucket with a larger max_value_size"
            )

    def put(self, key: str, value: bytes, validate_keys: bool = True) -> int:
        """Store ``value`` as the new revision of ``key``; return the revision."""
        if validate_keys:
            validate_key(key)
        self._check_value(key, value)
        return int(self._publish(key, value, None).seq)

    def create(self, key: str, value: bytes, validate_keys: bool = True,
               msg_ttl: Optional[float] = None) -> int:
        """Store ``value`` only if ``key`` has no value (never set, deleted or purged).

        Raises :class:`KeyWrongLastSequenceError` when the key has a value. ``msg_ttl``
        (seconds) makes this revision expire on its own (needs nats-server 2.11+).
        """
        if validate_keys:
            validate_key(key)
        self._check_value(key, value)
        if msg_ttl is not None:
            self._check_msg_ttl(msg_ttl)
        try:
            return self._update(key, value, last=0, msg_ttl=msg_ttl)
        except js_errors.KeyWrongLastSequenceError as err:
            # The key's last message may be a delete or purge marker: then create over it.
            try:
                self._get(key)
            except js_errors.KeyDeletedError as deleted:
                return self._update(key, value, last=deleted.entry.revision, msg_ttl=msg_ttl)
            except js_errors.KeyNotFoundError:
                pass
            raise err

    def _check_msg_ttl(self, msg_ttl: Any) -> None:
        if isinstance(msg_ttl, bool) or not isinstance(msg_ttl, (int, float)) or msg_ttl < 1:
            raise js_errors.InvalidArgumentError(f"msg_ttl must be at least 1 second, got {msg_ttl!r}")
        if not self._allow_msg_ttl:
            raise js_errors.KeyValueLimitMarkerTTLNotSupportedError(
                f"bucket {self._name!r} does not allow per-message TTLs: it was made without "
                "allow_msg_ttl (by an older client or server); recreate it on nats-server 2.11+")

    def update(self, key: str, value: bytes, last: Optional[int] = None,
               validate_keys: bool = True) -> int:
        """Compare-and-set: store ``value`` only if ``key``'s latest revision is ``last``.

        Raises :class:`KeyWrongLastSequenceError` when another revision came first.
        """
        if validate_keys:
            validate_key(key)
        self._check_value(key, value)
        return self._update(key, value, last=last)

    def _update(self, key: str, value: bytes, last: Optional[int] = None,
                msg_ttl: Optional[float] = None) -> int:
        headers = {api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value: str(last or 0)}
        return int(self._publish(key, value, headers, msg_ttl).seq)

    def _publish(self, key: str, value: bytes, headers: Optional[Dict[str, str]],
                 msg_ttl: Optional[float] = None) -> api.PubAck:
        try:
            if msg_ttl is None:
                return self._js.publish(self._pre + key, value, headers=headers)
            return self._js.publish(self._pre + key, value, headers=headers, msg_ttl=msg_ttl)
        except js_errors.APIError as err:
            # 10071: JSStreamWrongLastSequenceErrF, 10164: JSStreamWrongLastSequenceConstantErr
            if err.err_code in (10071, 10164):
                raise js_errors.KeyWrongLastSequenceError(description=err.description)
            raise
        except js_errors.NoStreamResponseError as err:
            raise js_errors.NoStreamResponseError(
                f"bucket {self._name!r} did not take the write to key {key!r}: it was deleted "
                f"(create it again with create_key_value(bucket={self._name!r})), or its stream is "
                f"electing a leader ({err.description})") from None

    def _raise_if_gone(self) -> None:
        """Raise BucketNotFoundError when the bucket's stream no longer exists."""
        try:
            self._js.stream_info(self._stream)
        except js_errors.NotFoundError:
            raise self._gone() from None

    def _gone(self) -> js_errors.BucketNotFoundError:
        return js_errors.BucketNotFoundError(
            code=404, description=f"bucket {self._name!r} not found: it was deleted; create it "
            f"again with create_key_value(bucket={self._name!r})")

    def delete(self, key: str, last: Optional[int] = None, validate_keys: bool = True,
               msg_ttl: Optional[float] = None) -> bool:
        """Write a delete marker for ``key`` (its history stays); with ``last``, only if
        the latest revision is ``last``."""
        if msg_ttl is not None:
            warnings.warn("msg_ttl on delete() is ignored, as in nats-py: use create() or purge() "
                          "for a TTL", DeprecationWarning, stacklevel=2)
        if validate_keys:
            validate_key(key)
        headers = {KV_OP: KV_DEL}
        if last and last > 0:
            headers[api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value] = str(last)
        self._publish(key, b"", headers)
        return True

    def purge(self, key: str, msg_ttl: Optional[float] = None) -> bool:
        """Remove every revision of ``key``, leaving one purge marker (that expires after
        ``msg_ttl`` seconds when given)."""
        validate_key(key)
        if msg_ttl is not None:
            self._check_msg_ttl(msg_ttl)
        headers = {KV_OP: KV_PURGE, api.Header.ROLLUP.value: MSG_ROLLUP_SUBJECT}
        self._publish(key, b"", headers, msg_ttl)
        return True

    def purge_deletes(self, olderthan: int = DEFAULT_PURGE_DELETES_OLDER_THAN) -> bool:
        """Remove the delete and purge markers (and the history behind them).

        Markers younger than ``olderthan`` seconds are kept, without what is behind them;
        ``olderthan <= 0`` removes all of them.
        """
        markers: List[_Entry] = []
        with self.watchall(meta_only=True) as watcher:  # markers carry no value
            for entry in watcher.initial():
                if entry.operation in (KV_DEL, KV_PURGE):
                    markers.append(entry)
        now = datetime.datetime.now(datetime.timezone.utc)
        for entry in markers:
            keep = 0
            if olderthan > 0 and entry.created is not None:
                if (now - entry.created).total_seconds() < olderthan:
                    keep = 1
            self._js.purge_stream(self._stream, subject=self._pre + entry.key, keep=keep)
        return True

    def status(self) -> _Status:
        """The bucket's status and configuration."""
        try:
            return _Status(stream_info=self._js.stream_info(self._stream), bucket=self._name)
        except js_errors.StreamNotFoundError:
            raise self._gone() from None

    # ------------------------------------------------------------------ watching

    def watch(
        self,
        keys: Union[str, Sequence[str]],
        headers_only: bool = False,
        include_history: bool = False,
        ignore_deletes: bool = False,
        meta_only: bool = False,
        inactive_threshold: Optional[float] = None,
        *,
        updates_only: bool = False,
        resume_from_revision: Optional[int] = None,
        cb: Optional[Callable[[Optional[_Entry]], None]] = None,
    ) -> _Watcher:
        """Watch the keys that match ``keys`` (a key or pattern, or a list of them).

        The watcher yields the current entries (every revision with
        ``include_history``), then one ``None``, then each update as it happens. With
        ``updates_only`` it yields only what changes from now on (the ``None`` comes at
        once); with ``resume_from_revision=N`` it starts at revision ``N``. With
        ``cb`` each item goes to ``cb`` on a thread of the watcher instead. It keeps
        going across reconnects and server restarts; ``stop()`` it (or use ``with``).
        """
        patterns = [keys] if isinstance(keys, str) else list(keys)
        if not patterns:
            raise js_errors.InvalidKeyError("watch needs at least one key or pattern, e.g. '>'")
        subjects = [self._pre + validate_filter(p) for p in patterns]
        if updates_only and (include_history or resume_from_revision is not None):
            raise js_errors.InvalidArgumentError(
                "updates_only cannot be combined with include_history or resume_from_revision")
        if include_history and resume_from_revision is not None:
            raise js_errors.InvalidArgumentError(
                "include_history cannot be combined with resume_from_revision")
        if resume_from_revision is not None and (
            isinstance(resume_from_revision, bool)
            or not isinstance(resume_from_revision, int)
            or resume_from_revision < 1
        ):
            raise js_errors.InvalidArgumentError(
                f"resume_from_revision must be a revision (an int >= 1), got {resume_from_revision!r}")
        if cb is not None and not callable(cb):
            raise js_errors.InvalidArgumentError(f"cb must be callable, got {cb!r}")
        watcher = _Watcher(self._name, self._pre, ignore_deletes=ignore_deletes,
                             timeout=self._js.timeout)
        if include_history:
            policy = api.DeliverPolicy.ALL
        elif updates_only:
            policy = api.DeliverPolicy.NEW
        elif resume_from_revision is not None:
            policy = api.DeliverPolicy.BY_START_SEQUENCE
        else:
            policy = api.DeliverPolicy.LAST_PER_SUBJECT
        config = api.ConsumerConfig(
            deliver_policy=policy,
            opt_start_seq=resume_from_revision,
            headers_only=bool(headers_only or meta_only) or None,
            inactive_threshold=inactive_threshold or 5 * 60.0,
        )
        if len(subjects) > 1:
            config.filter_subjects = subjects
        try:
            sub = self._js.subscribe(
                subjects[0] if len(subjects) == 1 else self._pre + ">",
                stream=self._stream,
                config=config,
                ordered_consumer=True,
                deliver_policy=policy,
                headers_only=bool(headers_only or meta_only),
                inactive_threshold=config.inactive_threshold,
            )
        except js_errors.StreamNotFoundError:
            raise self._gone() from None
        watcher._start(sub, updates_only=updates_only, cb=cb,
                       on_error=self._js.client.report_error)
        return watcher

    def watchall(self, **kwargs: Any) -> _Watcher:
        """Watch every key of the bucket (``watch(">", ...)``)."""
        return self.watch(">", **kwargs)

    def keys(self, filters: Optional[List[str]] = None, **kwargs: Any) -> List[str]:
        """The keys that have a value; raises :class:`NoKeysError` when there is none.

        ``filters`` are key patterns (``'app.*'``, ``'app.>'``), matched by the server.
        """
        keys = list(self.list_keys(filters))
        if not keys:
            raise js_errors.NoKeysError(description=f"bucket {self._name!r} has no keys")
        return keys

    def list_keys(self, filters: Optional[List[str]] = None) -> Iterator[str]:
        """Yield the keys that have a value (nothing for an empty bucket); ``filters``
        are key patterns matched by the server."""
        patterns = list(filters) if filters else [">"]
        watcher = self.watch(patterns, ignore_deletes=True, meta_only=True)
        try:
            for entry in watcher.initial():
                yield entry.key
        finally:
            watcher.stop()

    def history(self, key: str) -> List[_Entry]:
        """Every stored revision of ``key``, oldest first, markers included.

        Raises :class:`NoKeysError` when the key has none."""
        validate_key(key)
        entries: List[_Entry] = []
        with self.watch(key, include_history=True) as watcher:
            entries.extend(watcher.initial())
        if not entries:
            raise js_errors.NoKeysError(description=f"key {key!r} has no history in bucket {self._name!r}")
        return entries


def _past(op: Optional[str]) -> str:
    return {KV_DEL: "deleted", KV_PURGE: "purged"}.get(op or "", "removed")

