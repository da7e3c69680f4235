"""A server INFO whose fields have the wrong JSON types or ranges: a ProtocolError
raised by connect(), a failed attempt while reconnecting (the loop goes on), a
dropped connection when it arrives on a live one. Never a builtin TypeError, a
dead reconnect thread or a bogus server in the pool."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from natsync import errors
from tests.wire.conftest import CLIENT_DEFAULTS, Clients, Events
from tests.wire.fakeserver import DEFAULT_INFO, FakeConn, FakeServer

pytestmark = pytest.mark.timeout(30)

BAD_FIELDS = [
    {"connect_urls": 5},
    {"connect_urls": "127.0.0.1:4222"},  # a string, not a list: one bogus server per char
    {"connect_urls": ["127.0.0.1:4222", 7]},
    {"max_payload": True},  # a bool is not a limit of 1 byte
    {"max_payload": 0},
    {"max_payload": -5},
    {"max_payload": "1048576"},
    {"nonce": 7},
    {"client_id": "seven"},
    {"client_ip": ["127.0.0.1"]},
    {"tls_required": "yes"},
    {"ldm": 1},
    {"version": 2.10},
]


def _ids(case: Dict[str, Any]) -> str:
    (name, value), = case.items()
    return f"{name}={value!r}"


def _serve_bad_info(server: FakeServer, bad: Dict[str, Any]) -> FakeConn:
    conn = server.accept()
    conn.send_info(**bad)
    conn.wait_eof()
    return conn


@pytest.mark.parametrize("bad", BAD_FIELDS, ids=_ids)
def test_connect_raises_protocol_error(
    fake_server: FakeServer, clients: Clients, events: Events, bad: Dict[str, Any]
) -> None:
    bg = fake_server.background(lambda: _serve_bad_info(fake_server, bad), "bad-info")
    nc = clients.new()
    with pytest.raises(errors.ProtocolError) as info:
        nc.connect(fake_server.url, **CLIENT_DEFAULTS, **events.callbacks())
    (name, _value), = bad.items()
    assert str(info.value).startswith("nats: protocol error")
    assert repr(name) in str(info.value)
    conn: FakeConn = bg.result()
    assert "CONNECT" not in conn.ops()  # refused before anything was sent
    assert nc.is_closed
    assert events.errors == [] and events.log == []  # connect() raised it: not also sent to error_cb
    # tests/conftest.py checks that no natsync thread is left behind


def test_nkey_auth_with_non_string_nonce_is_protocol_error(
    fake_server: FakeServer, clients: Clients
) -> None:
    bg = fake_server.background(lambda: _serve_bad_info(fake_server, {"nonce": 7}), "bad-nonce")
    nc = clients.new()
    seed = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU"
    with pytest.raises(errors.ProtocolError, match="'nonce'"):
        nc.connect(fake_server.url, nkeys_seed_str=seed, **CLIENT_DEFAULTS)
    bg.result()


def test_null_fields_count_as_absent(fake_server: FakeServer, clients: Clients) -> None:
    nc, conn = clients.connect(
        fake_server, info=dict(DEFAULT_INFO, connect_urls=None, max_payload=None))
    assert nc.is_connected
    assert nc.max_payload == 1024 * 1024  # the default, not None
    assert nc.discovered_servers == []
    nc.flush(timeout=2)


def test_bad_info_while_reconnecting_is_a_failed_attempt(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    """The reconnect loop reports the bad INFO, counts it as a failed attempt, and
    goes on: the next good server INFO connects, and nothing published is lost."""
    nc, conn = clients.connect(fake_server, **events.callbacks())
    conn.close()
    events.wait_count("disconnected")
    nc.publish("kept", b"1")
    bad = fake_server.accept()
    bad.send_info(connect_urls=5)
    bad.wait_eof()
    exc = events.wait_error(errors.ProtocolError)[0]
    assert "'connect_urls'" in str(exc)
    assert nc.is_reconnecting
    assert isinstance(nc.last_error, errors.ProtocolError)
    good = fake_server.accept()
    good.handshake()
    events.wait_count("reconnected")
    frames = good.wait_frames(lambda fs: any(f.op == "PUB" for f in fs))
    assert [f.short() for f in frames if f.op == "PUB"] == ["PUB kept 1 b'1'"]
    assert nc.is_connected and nc.discovered_servers == []
    assert events.log.count("closed") == 0


def test_bad_info_on_a_live_connection_drops_it(
    fake_server: FakeServer, clients: Clients, events: Events
) -> None:
    nc, conn = clients.connect(fake_server, **events.callbacks())
    conn.send_info(max_payload=True)
    events.wait_count("disconnected")
    exc = events.wait_error(errors.ProtocolError)[0]
    assert "'max_payload'" in str(exc)
    assert nc.max_payload == 1024 * 1024  # not taken as a 1-byte limit
    conn.wait_eof()
    conn2 = fake_server.accept()
    conn2.handshake()
    events.wait_count("reconnected")
    nc.publish("after", b"x" * 100)
    nc.flush(timeout=2)
