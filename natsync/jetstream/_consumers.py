"""Consumer create/update/delete requests with ADR-37's ``action`` (create, update,
or create-or-update), over the shared :class:`natsync.js.api_request.JSApi`."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ..js import api
from ..js.api_request import JSApi
from ..js.errors import InvalidArgumentError
from ..js.names import validate_consumer_name, validate_stream_name

__all__ = ["upsert_consumer", "delete_consumer", "CREATE", "UPDATE", "CREATE_OR_UPDATE"]

CREATE = "create"
UPDATE = "update"
CREATE_OR_UPDATE = ""


def upsert_consumer(jsapi: JSApi, stream: str, config: api.ConsumerConfig, action: str,
                    timeout: Optional[float] = None) -> api.ConsumerInfo:
    """Create and/or update a consumer; a name is required (ADR-37: no unnamed consumers
    except ordered ones, which name themselves)."""
    validate_stream_name(stream)
    name = config.name or config.durable_name
    if not name:
        raise InvalidArgumentError(
            "a consumer needs a name (name= or durable_name=); for a throw-away "
            "consumer set inactive_threshold, or use ordered_consumer()")
    validate_consumer_name(name)
    if config.name and config.durable_name and config.name != config.durable_name:
        raise InvalidArgumentError(
            f"consumer name {config.name!r} and durable_name {config.durable_name!r} "
            "differ; give one, or the same value for both")
    if config.deliver_subject:
        raise InvalidArgumentError(
            "natsync.jetstream consumers are pull consumers: leave deliver_subject unset "
            "(push consumers are in natsync.js, js.subscribe)")
    if config.name is None:
        config = config.evolve(name=name)
    suffix = f"CONSUMER.CREATE.{stream}.{name}"
    fs = config.filter_subject
    if fs and fs != ">" and not config.filter_subjects:
        suffix += f".{fs}"
    req: Dict[str, Any] = {"stream_name": stream, "config": config.as_dict()}
    if action:
        req["action"] = action
    return api.ConsumerInfo.from_response(jsapi.request(suffix, req, timeout))


def delete_consumer(jsapi: JSApi, stream: str, name: str, timeout: Optional[float] = None) -> bool:
    validate_stream_name(stream)
    validate_consumer_name(name)
    return bool(jsapi.request(f"CONSUMER.DELETE.{stream}.{name}", None, timeout).get("success"))
