"""natsync.micro without a server: config validation, the JSON documents, times."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from natsync import errors, micro
from natsync.micro.api import format_time, parse_time


def handler(req: micro.Request) -> None:
    req.respond(b"")


@pytest.mark.parametrize("name", ["", "a b", "a.b", "a*", "ü"])
def test_bad_service_names(name: str) -> None:
    with pytest.raises(ValueError) as info:
        micro.ServiceConfig(name=name, version="1.0.0")
    assert isinstance(info.value, errors.Error)
    assert str(info.value).startswith(("Invalid name.", "Name cannot be empty."))


@pytest.mark.parametrize("version", ["1", "1.0", "01.0.0", "v1.0.0", "1.0.0-", "1.0.0 "])
def test_bad_versions(version: str) -> None:
    with pytest.raises(micro.ConfigError, match="Invalid version"):
        micro.ServiceConfig(name="ok", version=version)


@pytest.mark.parametrize("version", ["0.0.0", "1.2.3-alpha.1", "1.2.3+build.7", "10.20.30-rc.1+x"])
def test_good_versions(version: str) -> None:
    assert micro.ServiceConfig(name="ok-_1", version=version).version == version


def test_endpoint_and_group_configs() -> None:
    for subject in ("a b", "a\nb", "a.>.b"):
        with pytest.raises(ValueError, match="Invalid subject"):
            micro.EndpointConfig(name="e", handler=handler, subject=subject)
    assert micro.EndpointConfig(name="e", handler=handler, subject="a.*.>").subject == "a.*.>"
    with pytest.raises(ValueError, match="Invalid queue group"):
        micro.EndpointConfig(name="e", handler=handler, queue_group="q q")
    with pytest.raises(ValueError, match="Invalid handler"):
        micro.EndpointConfig(name="e", handler="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_concurrency"):
        micro.EndpointConfig(name="e", handler=handler, max_concurrency=True)
    with pytest.raises(ValueError, match="metadata"):
        micro.ServiceConfig(name="s", version="1.0.0", metadata={"a": 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="Invalid group name"):
        micro.GroupConfig(name="a >")


def test_documents_are_nats_py_json() -> None:
    started = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    ep = micro.EndpointStats(name="e", subject="s", queue_group="q", num_requests=2, num_errors=1,
                             processing_time=30, average_processing_time=15, last_error="400:x")
    st = micro.ServiceStats(id="ID", name="n", version="1.0.0", started=started, endpoints=[ep])
    assert st.to_dict() == {
        "type": "io.nats.micro.v1.stats_response", "name": "n", "id": "ID", "version": "1.0.0",
        "started": "2024-05-06T07:08:09.123Z", "metadata": {},
        "endpoints": [{"name": "e", "subject": "s", "queue_group": "q", "num_requests": 2,
                       "num_errors": 1, "last_error": "400:x", "processing_time": 30,
                       "average_processing_time": 15, "data": None}],
    }
    back = micro.ServiceStats.from_dict(st.to_dict())
    assert back.endpoints == [ep] and back.started == started.replace(microsecond=123000)
    info = micro.ServiceInfo(name="n", id="ID", version="1.0.0")
    assert info.to_dict() == {"type": "io.nats.micro.v1.info_response", "id": "ID", "name": "n",
                              "version": "1.0.0", "description": None, "endpoints": [],
                              "metadata": {}}
    assert micro.ServiceInfo.from_dict(info.to_dict()) == info
    ping = micro.ServicePing(id="ID", name="n", version="1.0.0", metadata={"a": "b"})
    assert ping.to_dict() == {"type": "io.nats.micro.v1.ping_response", "id": "ID", "name": "n",
                              "version": "1.0.0", "metadata": {"a": "b"}}
    # what other clients write: Go's null metadata, no last_error, nanosecond times
    go = micro.EndpointStats.from_dict({"name": "e", "subject": "s", "queue_group": "q",
                                        "num_requests": 0, "num_errors": 0, "processing_time": 0,
                                        "average_processing_time": 0})
    assert go.last_error is None and go.data is None


def test_times() -> None:
    assert parse_time("2024-05-06T07:08:09.123456789Z") == datetime(
        2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    assert parse_time("2024-05-06T09:08:09+02:00") == datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    assert parse_time("2024-05-06T07:08:09Z").tzinfo is timezone.utc
    with pytest.raises(ValueError):
        parse_time("yesterday")
    assert format_time(datetime(2024, 1, 2, 3, 4, 5, 6000)) == "2024-01-02T03:04:05.006Z"


def test_service_error_and_control_subjects() -> None:
    e = micro.ServiceError("404", "not here")
    assert repr(e) == "404:not here" and str(e) == "404:not here" and isinstance(e, errors.Error)
    assert micro.ServiceError.from_dict(e.to_dict()) == e
    assert micro.control_subject(micro.ServiceVerb.PING) == "$SRV.PING"
    assert micro.control_subject("INFO", "svc") == "$SRV.INFO.svc"
    assert micro.control_subject(micro.ServiceVerb.STATS, "svc", "ID") == "$SRV.STATS.svc.ID"
    with pytest.raises(micro.ConfigError, match="name"):
        micro.control_subject("PING", None, "ID")
