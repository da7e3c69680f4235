"""The Object Store (ADR-20): large objects in chunks on a JetStream stream.

nats-py's ``nats.js.object_store`` names, without ``await``::

    obs = js.create_object_store("backups")
    info = obs.put("db.dump", open("db.dump", "rb"))    # streamed, 128 KiB chunks, pipelined
    obs.get("db.dump", writeinto=open("copy", "wb"))     # streamed, digest and size checked
    with obs.get_stream("db.dump") as f:                 # a readable binary file
        shutil.copyfileobj(f, sys.stdout.buffer)

A bucket is the stream ``OBJ_<bucket>``; chunks go to ``$O.<bucket>.C.<nuid>`` (a new
nuid on every put), the object's info to ``$O.<bucket>.M.<base64url(name)>`` as JSON
with ``Nats-Rollup: sub``. The info is written only after every chunk is
acknowledged, so an object is never listed before it is complete; a put that fails
midway purges its chunks, or says it could not.
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Deque, List, Optional, Protocol, cast

from .. import errors
from ..nuid import next_nuid
from . import api
from ._object_codec import (
    DEFAULT_CHUNK_SIZE,
    chunk_subject,
    digest_value,
    info_json,
    meta_subject,
    normalize_headers,
)
from ._object_io import ObjectReader, PutDigest, PutSource, check_source, source_chunks
from ._object_watch import ObjectWatcher, iso_time
from .api import ObjectInfo, ObjectLink, ObjectMeta, ObjectMetaOptions, ObjectStoreConfig
from .errors import (
    BadObjectMetaError,
    InvalidObjectNameError,
    LinkIsABucketError,
    NotFoundError,
    ObjectAlreadyExists,
    ObjectDeletedError,
    ObjectNotFoundError,
    ObjectPutError,
)
from .errors import Error as JetStreamError

if TYPE_CHECKING:  # pragma: no cover
    from .._client_api import ClientAPI
    from ._parent import JetStreamParent

    class _StoreParent(JetStreamParent, Protocol):
        """The context of a bucket, which opens the bucket a link points to."""

        def object_store(self, bucket: str) -> ObjectStore: ...

__all__ = [
    "ObjectInfo",
    "ObjectLink",
    "ObjectMeta",
    "ObjectMetaOptions",
    "ObjectReader",
    "ObjectStore",
    "ObjectStoreConfig",
    "ObjectWatcher",
]

#: Chunk acks awaited at most at once by a put: 32 chunks of 128 KiB keep 4 MiB in flight.
PUT_WINDOW = 32
#: A put hashes what it sent in spans of at least this many bytes.
HASH_SPAN = 1024 * 1024
ROLLUP_HEADERS = {"Nats-Rollup": "sub"}
#: The subscription of a get holds at most this much; the server's flow control keeps
#: what it sends in flight below 32 MiB, so nothing is dropped.
GET_PENDING_BYTES = 64 * 1024 * 1024


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidObjectNameError(
            f"invalid object name {name!r}: an object name is a non-empty str"
        )
    return name


class ObjectStore:
    """A bucket of objects; returned by ``js.create_object_store`` and ``js.object_store``."""

    @dataclass
    class ObjectResult:
        """What ``get`` returns: the info, and the bytes unless they went to ``writeinto``."""

        info: ObjectInfo
        data: Optional[bytes] = b""

    @dataclass(frozen=True)
    class ObjectStoreStatus:
        """The status of a bucket, read from its stream's info."""

        stream_info: api.StreamInfo
        bucket: str

        @property
        def description(self) -> Optional[str]:
            return self.stream_info.config.description

        @property
        def ttl(self) -> Optional[float]:
            return self.stream_info.config.max_age

        @property
        def storage_type(self) -> Any:
            return self.stream_info.config.storage

        @property
        def replicas(self) -> Optional[int]:
            return self.stream_info.config.num_replicas

        @property
        def sealed(self) -> bool:
            return bool(self.stream_info.config.sealed)

        @property
        def size(self) -> int:
            return int(self.stream_info.state.bytes or 0)

        @property
        def backing_store(self) -> str:
            return "JetStream"

        @property
        def compressed(self) -> bool:
            """The bucket is stored s2-compressed (ADR-20's IsCompressed; beyond nats-py)."""
            value = self.stream_info.config.compression
            return getattr(value, "value", value) not in (None, "", "none")

    def __init__(self, name: str, stream: str, js: _StoreParent, *,
                 nc: Optional[ClientAPI] = None, timeout: float = 5.0, direct: bool = True) -> None:
        self._name = name
        self._stream = stream
        self._js = js
        self._nc = nc
        self._timeout = float(timeout)
        self._direct = direct  # the stream allows direct gets (every client's buckets do)

    @property
    def bucket(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<ObjectStore bucket={self._name!r}>"

    # ------------------------------------------------------------------ helpers

    def _publish_meta(self, info: ObjectInfo) -> None:
        self._js.publish(
            meta_subject(self._name, info.name),
            info_json(info),
            headers=dict(ROLLUP_HEADERS),
        )

    def _purge(self, subject: str) -> None:
        self._js.purge_stream(self._stream, subject=subject)

    def _find(self, name: str) -> Optional[ObjectInfo]:
        """The stored info of ``name``, deleted or not; None when there is none."""
        try:
            return self.get_info(name, show_deleted=True)
        except NotFoundError:
            return None

    # ------------------------------------------------------------------ info

    def get_info(self, name: str, show_deleted: Optional[bool] = False) -> ObjectInfo:
        """The current info of an object; ``ObjectNotFoundError`` if there is none (or it is
        deleted, unless ``show_deleted``)."""
        _check_name(name)
        try:
            msg = self._js.get_last_msg(self._stream, meta_subject(self._name, name), direct=self._direct)
        except NotFoundError:
            raise ObjectNotFoundError(
                code=404, description=f"object {name!r} not found in bucket {self._name!r}"
            ) from None
        try:
            info = ObjectInfo.from_response(json.loads(msg.data or b""))
        except (ValueError, TypeError, AttributeError) as exc:
            raise BadObjectMetaError(
                f"the info of object {name!r} in bucket {self._name!r} is not valid "
                f"object info JSON: {exc}"
            ) from None
        if not show_deleted and info.deleted:
            raise ObjectNotFoundError(
                code=404, description=f"object {name!r} in bucket {self._name!r} is deleted"
            )
        info.mtime = iso_time(getattr(msg, "time", None)) or info.mtime
        return info

    # ------------------------------------------------------------------ put

    def put(
        self,
        name: str,
        data: PutSource,
        meta: Optional[ObjectMeta] = None,
    ) -> ObjectInfo:
        """Store ``data`` (bytes, str, or a readable binary file) as the object ``name``.

        The data is read and sent in chunks (``meta.options.max_chunk_size``, 128 KiB by
        default) through ``publish_async``, at most a window of chunks unacknowledged;
        the info is written once every chunk is acknowledged. An object of that name is
        replaced, and its old chunks purged afterwards. If the put fails midway its
        chunks are purged and the error is raised; if they cannot be purged either,
        :class:`ObjectPutError` says so (they are never visible as an object).
        """
        if meta is not None and not isinstance(meta, ObjectMeta):
            raise BadObjectMetaError(
                f"meta must be an ObjectMeta, not {type(meta).__name__}"
            )
        meta = ObjectMeta() if meta is None else meta.evolve()
        if name:
            meta.name = name
        obj = _check_name(meta.name)
        opts = ObjectMetaOptions() if meta.options is None else meta.options.evolve()
        if opts.link is not None:
            raise BadObjectMetaError(
                "put cannot store a link; use add_link or add_bucket_link"
            )
        chunk_size = opts.max_chunk_size or DEFAULT_CHUNK_SIZE
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise BadObjectMetaError(
                f"max_chunk_size must be a positive int, not {chunk_size!r}"
            )
        max_payload = int(self._nc.max_payload or 0) if self._nc is not None else 0
        if max_payload and chunk_size > max_payload:
            raise BadObjectMetaError(
                f"max_chunk_size {chunk_size:,} is larger than the server's max_payload "
                f"{max_payload:,}; use a smaller chunk size"
            )
        opts.max_chunk_size = chunk_size
        meta.options = opts
        check_source(data)
        self._check_not_sealed()

        existing = self._find(obj)
        nuid = next_nuid()
        subject = chunk_subject(self._name, nuid)
        info = ObjectInfo(
            name=obj,
            bucket=self._name,
            nuid=nuid,
            description=meta.description,
            headers=normalize_headers(meta.headers) if meta.headers else meta.headers,
            options=opts,
            metadata=meta.metadata,
        )
        # hashed while waiting for acks (a helper thread measured slower: GIL hand-offs)
        digest = PutDigest(data if isinstance(data, bytes) else None)
        size = chunks = 0
        window: Deque[concurrent.futures.Future[Any]] = collections.deque()
        try:
            for chunk in source_chunks(data, chunk_size):
                # publish takes any bytes-like payload; a view of the caller's bytes
                # is framed without a copy of its own
                window.append(self._js.publish_async(subject, cast(bytes, chunk)))
                digest.add(chunk)
                size += len(chunk)
                chunks += 1
                if len(window) >= PUT_WINDOW:
                    digest.catch_up(HASH_SPAN)  # spans, not a GIL round trip per chunk
                    while len(window) >= PUT_WINDOW:
                        self._await_ack(window.popleft())
            digest.catch_up()
            while window:
                self._await_ack(window.popleft())
        except BaseException as exc:
            self._abandon(obj, subject, window, exc)
            raise
        info.size, info.chunks, info.digest = size, chunks, digest_value(digest.digest())
        try:
            self._publish_meta(info)
        except BaseException as exc:
            self._after_meta_failure(obj, nuid, subject, exc)
        info.mtime = _now()
        if existing is not None and not existing.deleted and existing.nuid and existing.nuid != nuid:
            self._purge(chunk_subject(self._name, existing.nuid))
        return info

    def _check_not_sealed(self) -> None:
        si = self._js.stream_info(self._stream)
        if si.config.sealed:
            raise JetStreamError(
                f"object store {self._name!r} is sealed: it cannot be modified; "
                "create a new bucket to store more objects"
            )

    def _await_ack(self, fut: concurrent.futures.Future[Any]) -> None:
        try:
            fut.result(timeout=2 * self._timeout + 5.0)
        except concurrent.futures.TimeoutError:
            raise errors.TimeoutError(
                f"nats: no acknowledgement for a chunk within {2 * self._timeout + 5.0:g}s"
            ) from None

    def _abandon(
        self,
        name: str,
        subject: str,
        window: Deque[concurrent.futures.Future[Any]],
        cause: BaseException,
    ) -> None:
        """After a failed put: let the chunks in flight settle, then purge them all."""
        concurrent.futures.wait(list(window), timeout=self._timeout)
        try:
            # Chunks whose futures failed with a lost connection may still sit in the
            # reconnect buffer: flush() waits for their replay, so the purge comes after
            # them rather than before (stray chunks the purge would miss).
            if self._nc is not None:
                self._nc.flush(timeout=self._timeout)
        except errors.Error:
            pass  # still down: the purge below fails too and says what to do
        try:
            self._purge(subject)
        except (errors.Error, OSError) as purge_exc:
            raise ObjectPutError(
                f"put of object {name!r} into bucket {self._name!r} failed ({cause!r}), "
                f"and its partial chunks on {subject!r} could not be purged ({purge_exc}); no "
                f"object info was written, so nothing incomplete is visible; purge them with "
                f"purge_stream({self._stream!r}, subject={subject!r}) when the server is back",
                subject=subject,
            ) from cause

    def _after_meta_failure(self, name: str, nuid: str, subject: str, cause: BaseException) -> None:
        """The info publish failed: it may still have been stored (a lost ack). Purge
        the chunks only when the stored info is not this put's."""
        try:
            stored = self._find(name)
        except (errors.Error, OSError) as exc:
            raise ObjectPutError(
                f"put of object {name!r} into bucket {self._name!r}: writing its info "
                f"failed ({cause!r}) and whether it was stored could not be checked ({exc}); "
                f"its chunks on {subject!r} are kept: get_info({name!r}) tells which it is",
                subject=subject,
            ) from cause
        if stored is not None and stored.nuid == nuid:
            return  # the info was stored; only the ack was lost
        self._abandon(name, subject, collections.deque(), cause)
        raise cause

    # ------------------------------------------------------------------ get

    def _resolve(self, name: str, show_deleted: Optional[bool]) -> ObjectReader:
        info = self.get_info(name, show_deleted)
        if not info.nuid:
            raise BadObjectMetaError(f"object {name!r} in bucket {self._name!r} has no nuid")
        if info.is_link():
            assert info.options is not None and info.options.link is not None
            link = info.options.link
            if not link.name:
                raise LinkIsABucketError(
                    f"{name!r} in bucket {self._name!r} is a link to the bucket "
                    f"{link.bucket!r}, not to an object; open it with js.object_store()"
                )
            target = self if link.bucket == self._name else self._js.object_store(link.bucket)
            linked = target.get_info(link.name)
            if linked.is_link():
                raise BadObjectMetaError(f"{name!r} is a link to a link; links go one level")
            return target._open(linked)
        return self._open(info)

    def _open(self, info: ObjectInfo) -> ObjectReader:
        if not info.size:
            return ObjectReader(info, None, lambda: None, self._timeout)
        sub = self._js.subscribe(
            chunk_subject(self._name, info.nuid),
            ordered_consumer=True,
            stream=self._stream,
            pending_bytes_limit=GET_PENDING_BYTES,
        )
        timeout = self._timeout

        def stop() -> None:
            try:
                sub.unsubscribe()
            except errors.Error:
                pass  # closed already: nothing left to stop

        return ObjectReader(info, lambda: sub.next_msg(timeout=timeout), stop, timeout)

    def get(
        self,
        name: str,
        writeinto: Optional[Any] = None,
        show_deleted: Optional[bool] = False,
    ) -> ObjectStore.ObjectResult:
        """Read an object through an ordered consumer, digest and size checked.

        With ``writeinto`` (a writable file) each chunk is written as it arrives and
        ``data`` is empty; otherwise ``data`` holds the bytes. A link reads its target.
        """
        with self._resolve(name, show_deleted) as reader:
            result = self.ObjectResult(info=reader.info)
            if writeinto is None:
                result.data = reader.readall()
                return result
            write = getattr(writeinto, "buffer", writeinto).write
            for chunk in reader.chunks():
                write(chunk)
        return result

    def get_stream(self, name: str, show_deleted: Optional[bool] = False) -> ObjectReader:
        """The object as a readable binary file (``read(n)``, lines, ``with``): beyond nats-py."""
        return self._resolve(name, show_deleted)

    # ------------------------------------------------------------------ changes

    def update_meta(self, name: str, meta: ObjectMeta) -> None:
        """Change an object's name, description, headers or metadata (not its options)."""
        if not isinstance(meta, ObjectMeta):
            raise BadObjectMetaError(f"meta must be an ObjectMeta, not {type(meta).__name__}")
        new_name = _check_name(meta.name if meta.name else name)
        try:
            info = self.get_info(name)
        except ObjectNotFoundError:
            raise ObjectDeletedError(
                code=404, description=f"cannot update the meta of {name!r} in bucket {self._name!r}: "
                "it does not exist or is deleted"
            ) from None
        if new_name != name:
            other = self._find(new_name)
            if other is not None and not other.deleted:
                raise ObjectAlreadyExists(
                    f"cannot rename {name!r} to {new_name!r} in bucket {self._name!r}: "
                    f"an object named {new_name!r} exists"
                )
        info.name = new_name
        info.description = meta.description
        info.headers = normalize_headers(meta.headers) if meta.headers else meta.headers
        info.metadata = meta.metadata
        self._publish_meta(info)
        if new_name != name:
            self._purge(meta_subject(self._name, name))

    def delete(self, name: str) -> None:
        """Mark an object deleted and purge its chunks (a no-op on a deleted one)."""
        info = self.get_info(name, show_deleted=True)
        if not info.nuid:
            raise BadObjectMetaError(f"object {name!r} in bucket {self._name!r} has no nuid")
        was_deleted = bool(info.deleted)
        if not was_deleted:
            info.deleted = True
            info.size, info.chunks, info.digest = 0, 0, ""
            self._publish_meta(info)
        self._purge(chunk_subject(self._name, info.nuid))

    def add_link(self, name: str, obj_info: ObjectInfo) -> ObjectInfo:
        """Add ``name``, a link to the object ``obj_info`` (in this bucket or another)."""
        _check_name(name)
        if not isinstance(obj_info, ObjectInfo) or not obj_info.name:
            raise BadObjectMetaError("add_link needs the ObjectInfo of an object")
        if obj_info.deleted:
            raise BadObjectMetaError(f"cannot link to {obj_info.name!r}: it is deleted")
        if obj_info.is_link():
            raise BadObjectMetaError(f"cannot link to {obj_info.name!r}: it is a link")
        return self._put_link(name, ObjectLink(bucket=obj_info.bucket, name=obj_info.name))

    def add_bucket_link(self, name: str, bucket: ObjectStore) -> ObjectInfo:
        """Add ``name``, a link to the whole bucket ``bucket``."""
        _check_name(name)
        if not isinstance(bucket, ObjectStore):
            raise BadObjectMetaError("add_bucket_link needs an ObjectStore")
        return self._put_link(name, ObjectLink(bucket=bucket.bucket))

    def _put_link(self, name: str, link: ObjectLink) -> ObjectInfo:
        self._check_not_sealed()
        existing = self._find(name)
        if existing is not None and not existing.deleted and not existing.is_link():
            raise ObjectAlreadyExists(
                f"cannot add link {name!r} in bucket {self._name!r}: an object of that "
                "name exists"
            )
        info = ObjectInfo(
            name=name, bucket=self._name, nuid=next_nuid(), size=0, chunks=0,
            options=ObjectMetaOptions(link=link),
        )
        self._publish_meta(info)
        info.mtime = _now()
        return info

    # ------------------------------------------------------------------ bucket

    def status(self) -> ObjectStore.ObjectStoreStatus:
        return self.ObjectStoreStatus(stream_info=self._js.stream_info(self._stream), bucket=self._name)

    def seal(self) -> None:
        """Seal the bucket: no further changes are allowed."""
        si = self._js.stream_info(self._stream)
        config = si.config
        config.sealed = True
        self._js.update_stream(config)

    # ------------------------------------------------------------------ watch and list

    def watch(
        self,
        ignore_deletes: bool = False,
        include_history: bool = False,
        meta_only: bool = False,
        updates_only: bool = False,
    ) -> ObjectWatcher:
        """Watch the bucket's infos. ``updates()`` and iteration give each ObjectInfo, and one
        ``None`` once the current state has been delivered (not with ``updates_only``)."""
        from .api import DeliverPolicy

        all_meta = f"$O.{self._name}.M.>"
        empty = False
        if not updates_only:
            try:
                self._js.get_last_msg(self._stream, all_meta, direct=self._direct)
            except NotFoundError:
                empty = True
        policy: Optional[Any] = None
        if updates_only:
            policy = DeliverPolicy.NEW
        elif not include_history:
            policy = DeliverPolicy.LAST_PER_SUBJECT
        sub = self._js.subscribe(all_meta, ordered_consumer=True, stream=self._stream,
                                 deliver_policy=policy)
        return ObjectWatcher(sub, ignore_deletes=ignore_deletes,
                             init_done=updates_only or empty, marker_now=empty and not updates_only)

    def list(self, ignore_deletes: bool = False) -> List[ObjectInfo]:
        """Every object's info (deleted ones too, unless ``ignore_deletes``), as nats-py does.
        Raises ``NotFoundError`` when there are none."""
        watcher = self.watch(ignore_deletes=ignore_deletes)
        entries: List[ObjectInfo] = []
        try:
            while True:
                entry = watcher.updates(timeout=self._timeout)
                if entry is None:
                    break
                entries.append(entry)
        finally:
            watcher.stop()
        if not entries:
            raise NotFoundError(code=404, description=f"no objects in bucket {self._name!r}")
        return entries
