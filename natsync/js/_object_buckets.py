"""Object Store buckets: ``js.create_object_store``, ``js.object_store`` and
``js.delete_object_store`` (nats-py's names), and the stream each bucket is (ADR-20).

The bucket ``B`` is the stream ``OBJ_B`` on ``$O.B.C.>`` (chunks) and ``$O.B.M.>``
(infos), with rollups and direct gets allowed and ``discard: new``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional

from . import api
from ._object_codec import is_valid_bucket, stream_name
from .api import ObjectStoreConfig
from .errors import BadObjectMetaError, BucketNotFoundError, InvalidBucketNameError, NotFoundError
from .object_store import ObjectStore

if TYPE_CHECKING:  # pragma: no cover
    from .._client_api import ClientAPI
    from .client import JetStreamContext

__all__ = ["check_bucket", "create_object_store", "delete_object_store", "object_store"]


def check_bucket(bucket: object) -> str:
    if not is_valid_bucket(bucket):
        raise InvalidBucketNameError(
            f"invalid bucket name {bucket!r}: use 1 or more of a-z, A-Z, 0-9, _ and -"
        )
    assert isinstance(bucket, str)
    return bucket



def _store_config(bucket: Optional[str], config: Optional[ObjectStoreConfig],
                  params: Dict[str, Any]) -> ObjectStoreConfig:
    if config is None:
        config = ObjectStoreConfig(bucket=bucket)
    elif not isinstance(config, ObjectStoreConfig):
        raise BadObjectMetaError(f"config must be an ObjectStoreConfig, not {type(config).__name__}")
    elif bucket is not None:
        config = config.evolve(bucket=bucket)
    try:
        config = config.evolve(**params) if params else config
    except TypeError as exc:
        raise BadObjectMetaError(f"create_object_store: {exc}") from None
    check_bucket(config.bucket)
    return config


def create_object_store(js: JetStreamContext, nc: ClientAPI, timeout: float, bucket: Optional[str],
                        config: Optional[ObjectStoreConfig], params: Dict[str, Any]) -> ObjectStore:
    """``js.create_object_store``: create the bucket's stream (ADR-20's settings)."""
    config = _store_config(bucket, config, params)
    assert config.bucket is not None
    name = config.bucket
    stream = api.StreamConfig(
        name=stream_name(name),
        description=config.description,
        subjects=[f"$O.{name}.C.>", f"$O.{name}.M.>"],
        max_age=config.ttl,
        max_bytes=config.max_bytes or -1,
        storage=config.storage,
        num_replicas=config.replicas or 1,
        placement=config.placement,
        discard=api.DiscardPolicy.NEW,
        allow_rollup_hdrs=True,
        allow_direct=True,
        metadata=config.metadata,
        compression=api.StoreCompression.S2 if config.compression else None,
    )
    js.add_stream(stream)
    return ObjectStore(name, stream_name(name), js, nc=nc, timeout=timeout)


def object_store(js: JetStreamContext, nc: ClientAPI, timeout: float, bucket: str) -> ObjectStore:
    """``js.object_store``: bind to an existing bucket; ``BucketNotFoundError`` if none."""
    check_bucket(bucket)
    try:
        si = js.stream_info(stream_name(bucket))
    except NotFoundError:
        raise BucketNotFoundError(
            code=404, description=f"object store {bucket!r} not found: create it with "
            "js.create_object_store()"
        ) from None
    return ObjectStore(bucket, stream_name(bucket), js, nc=nc, timeout=timeout,
                       direct=bool(si.config.allow_direct))


def delete_object_store(js: JetStreamContext, bucket: str) -> bool:
    """``js.delete_object_store``: delete the bucket's stream and every object in it."""
    check_bucket(bucket)
    return js.delete_stream(stream_name(bucket))
