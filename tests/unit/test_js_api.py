"""JetStream types, error mapping, name validation, status table, pull JSON: no sockets."""

from __future__ import annotations

import datetime
import json

import pytest

from natsync import errors as core_errors
from natsync.js import api
from natsync.js import errors as jse
from natsync.js.api_request import api_prefix
from natsync.js.names import (
    validate_batch,
    validate_consumer_name,
    validate_stream_name,
    validate_timeout,
)
from natsync.js.pullreq import pull_request
from natsync.js.status import StatusKind, classify


def test_stream_config_round_trips_unknown_fields_and_durations() -> None:
    wire = {
        "name": "S", "subjects": ["a.>"], "retention": "workqueue", "storage": "memory",
        "max_age": 1_500_000_000, "duplicate_window": 120_000_000_000, "discard": "new",
        "future_field": {"x": 1}, "compression": "s2", "consumer_limits":
        {"inactive_threshold": 2_000_000_000, "new_limit": 7},
    }
    cfg = api.StreamConfig.from_response(wire)
    assert cfg.retention is api.RetentionPolicy.WORK_QUEUE
    assert cfg.storage is api.StorageType.MEMORY
    assert cfg.discard is api.DiscardPolicy.NEW
    assert cfg.max_age == 1.5 and cfg.duplicate_window == 120.0
    assert cfg.consumer_limits is not None and cfg.consumer_limits.inactive_threshold == 2.0
    out = cfg.evolve(description="d").as_dict()
    assert out["future_field"] == {"x": 1}
    assert out["consumer_limits"] == {"inactive_threshold": 2_000_000_000, "new_limit": 7}
    assert out["max_age"] == 1_500_000_000 and out["duplicate_window"] == 120_000_000_000
    assert out["retention"] == "workqueue" and out["description"] == "d"
    json.dumps(out)  # JSON-ready


def test_defaults_are_nats_py_defaults() -> None:
    cfg = api.StreamConfig()
    assert (cfg.discard, cfg.max_msgs_per_subject, cfg.max_msg_size, cfg.duplicate_window) == (
        api.DiscardPolicy.OLD, -1, -1, 0)
    cc = api.ConsumerConfig()
    assert cc.deliver_policy is api.DeliverPolicy.ALL
    assert cc.ack_policy is api.AckPolicy.EXPLICIT
    assert cc.replay_policy is api.ReplayPolicy.INSTANT
    assert api.DEFAULT_PREFIX == "$JS.API"
    assert api.Header.MSG_ID == "Nats-Msg-Id"


def test_unknown_enum_value_is_kept() -> None:
    cfg = api.StreamConfig.from_response({"name": "S", "retention": "someday"})
    assert cfg.retention == "someday"
    assert cfg.as_dict()["retention"] == "someday"


def test_consumer_info_times_and_backoff() -> None:
    info = api.ConsumerInfo.from_response({
        "name": "c", "stream_name": "S", "created": "2024-01-02T03:04:05.123456789Z",
        "config": {"ack_wait": 30_000_000_000, "backoff": [1_000_000_000, 2_500_000_000],
                   "opt_start_time": "2024-01-01T00:00:00Z"},
        "delivered": {"consumer_seq": 3, "stream_seq": 9, "last_active": "2024-01-02T00:00:00Z"},
    })
    assert info.created == datetime.datetime(2024, 1, 2, 3, 4, 5, 123456,
                                             tzinfo=datetime.timezone.utc)
    assert info.config.backoff == [1.0, 2.5] and info.config.ack_wait == 30.0
    assert info.delivered is not None and info.delivered.stream_seq == 9
    out = info.config.as_dict()
    assert out["backoff"] == [1_000_000_000, 2_500_000_000]
    assert out["opt_start_time"] == "2024-01-01T00:00:00Z"


def test_account_info_tiers() -> None:
    limits = {"max_memory": 1, "max_storage": 2, "max_streams": 3, "max_consumers": 4,
              "max_ack_pending": 5, "memory_max_stream_bytes": 6, "storage_max_stream_bytes": 7,
              "max_bytes_required": False}
    info = api.AccountInfo.from_response({
        "memory": 0, "storage": 1, "streams": 2, "consumers": 3, "limits": limits,
        "api": {"total": 5, "errors": 1}, "tiers": {"R1": {"memory": 0, "storage": 1, "streams": 2,
                                                          "consumers": 3, "limits": limits}}})
    assert info.limits.max_streams == 3 and info.api.total == 5
    assert info.tiers is not None and info.tiers["R1"].limits.max_consumers == 4


@pytest.mark.parametrize(("err", "kind"), [
    ({"code": 404, "err_code": 10059, "description": "stream not found"}, jse.StreamNotFoundError),
    ({"code": 404, "err_code": 10014, "description": "consumer not found"}, jse.ConsumerNotFoundError),
    ({"code": 404, "err_code": 10037}, jse.MsgNotFoundError),
    ({"code": 400, "err_code": 10071}, jse.WrongLastSequenceError),
    ({"code": 400, "err_code": 10070}, jse.WrongLastMsgIDError),
    ({"code": 400, "err_code": 10060}, jse.StreamNotMatchError),
    ({"code": 400, "err_code": 10058}, jse.StreamNameAlreadyInUseError),
    ({"code": 503, "err_code": 10076}, jse.JetStreamNotEnabledError),
    ({"code": 503, "err_code": 1}, jse.ServiceUnavailableError),
    ({"code": 500, "err_code": 1}, jse.ServerError),
    ({"code": 404, "err_code": 1}, jse.NotFoundError),
    ({"code": 400, "err_code": 1}, jse.BadRequestError),
    ({"code": 418, "err_code": 1}, jse.APIError),
])
def test_error_mapping(err: dict, kind: type) -> None:
    exc = jse.api_error(err)
    assert type(exc) is kind
    assert isinstance(exc, jse.APIError) and isinstance(exc, core_errors.Error)
    assert exc.code == err["code"] and exc.err_code == err["err_code"]
    assert f"err_code={err['err_code']}" in str(exc)
    with pytest.raises(kind):
        jse.APIError.from_error(err)


def test_error_tree() -> None:
    assert issubclass(jse.NotFoundError, jse.APIError)
    assert issubclass(jse.StreamNotFoundError, jse.NotFoundError)
    assert issubclass(jse.FetchTimeoutError, core_errors.TimeoutError)
    assert issubclass(jse.Error, core_errors.Error)
    for name in jse.__all__:
        obj = getattr(jse, name)
        if isinstance(obj, type):
            assert issubclass(obj, core_errors.Error), name
    assert "no response from stream" in str(jse.NoStreamResponseError())
    assert "stalled" in str(jse.TooManyStalledMsgsError())


@pytest.mark.parametrize("bad", ["", "a.b", "a*", "a>", "a b", "a\tb", "a/b", "a\\b", None, 3])
def test_bad_names_are_refused(bad: object) -> None:
    with pytest.raises(jse.InvalidStreamNameError) as exc:
        validate_stream_name(bad)
    assert "stream name" in str(exc.value)
    assert isinstance(exc.value, ValueError)
    with pytest.raises(jse.InvalidConsumerNameError):
        validate_consumer_name(bad)


def test_good_names_and_arguments() -> None:
    assert validate_stream_name("ORDERS-1_x") == "ORDERS-1_x"
    assert validate_consumer_name("c1") == "c1"
    assert validate_batch(1) == 1
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(jse.InvalidArgumentError):
            validate_batch(bad)
    assert validate_timeout(0.5) == 0.5
    for bad_t in (0, -1, None, "1"):
        with pytest.raises(core_errors.BadTimeoutError):
            validate_timeout(bad_t)


def test_prefix_and_domain() -> None:
    assert api_prefix() == "$JS.API"
    assert api_prefix(domain="hub") == "$JS.hub.API"
    assert api_prefix("imported.JS.API.") == "imported.JS.API"
    with pytest.raises(core_errors.BadSubjectError):
        api_prefix(domain="a.b")
    with pytest.raises(core_errors.BadSubjectError):
        api_prefix("x.>")


@pytest.mark.parametrize(("code", "desc", "reply", "kind"), [
    (None, "", "", StatusKind.MESSAGE),
    (100, "Idle Heartbeat", "", StatusKind.HEARTBEAT),
    (100, "FlowControl Request", "$JS.FC.x", StatusKind.FLOW_CONTROL),
    (404, "No Messages", "", StatusKind.NO_MESSAGES),
    (408, "Request Timeout", "", StatusKind.REQUEST_TIMEOUT),
    (409, "Consumer Deleted", "", StatusKind.TERMINAL),
    (409, "Consumer is push based", "", StatusKind.TERMINAL),
    (409, "Exceeded MaxWaiting", "", StatusKind.WARNING),
    (409, "Exceeded MaxRequestBatch of 10", "", StatusKind.WARNING),
    (409, "Message Size Exceeds MaxBytes", "", StatusKind.REQUEST_DONE),
    (409, "Leadership Change", "", StatusKind.REQUEST_DONE),
    (400, "Bad Request", "", StatusKind.TERMINAL),
    (503, "", "", StatusKind.NO_RESPONDERS),
])
def test_status_table(code: object, desc: str, reply: str, kind: StatusKind) -> None:
    assert classify(code, desc, reply) is kind  # type: ignore[arg-type]


def test_pull_request_json() -> None:
    assert json.loads(pull_request(10)) == {"batch": 10}
    body = json.loads(pull_request(5, expires=2.5, no_wait=True, max_bytes=1024, heartbeat=0.5))
    assert body == {"batch": 5, "expires": 2_500_000_000, "no_wait": True, "max_bytes": 1024,
                    "idle_heartbeat": 500_000_000}
    with pytest.raises(jse.InvalidArgumentError):
        pull_request(0)


def test_msg_ttl_header_values() -> None:
    from natsync.js.client import publish_headers, ttl_value

    assert ttl_value(2) == "2" and ttl_value(1.5) == "1500ms" and ttl_value("1h") == "1h"
    for bad in (0, -1, True, 0.5):
        with pytest.raises(jse.InvalidArgumentError):
            ttl_value(bad)
    src = {"A": "1"}
    hdr = publish_headers(src, "S", 3)
    assert hdr == {"A": "1", "Nats-Expected-Stream": "S", "Nats-TTL": "3"} and src == {"A": "1"}
    assert publish_headers(None, None, None) is None
