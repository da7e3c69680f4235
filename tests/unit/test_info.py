"""natsync.protocol.info.check_info: the one place INFO field types are checked."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from natsync.errors import ProtocolError
from natsync.protocol.info import CHECKED_INFO_FIELDS, MAX_PAYLOAD_CEILING, check_info
from natsync.protocol.parser import Info, Parser

GOOD: Dict[str, Any] = {
    "server_id": "N1", "server_name": "n1", "version": "2.10.0", "go": "go1.21",
    "host": "0.0.0.0", "port": 4222, "proto": 1, "headers": True, "max_payload": 1048576,
    "client_id": 5, "client_ip": "127.0.0.1", "auth_required": False, "tls_required": False,
    "tls_available": True, "tls_verify": False, "jetstream": True, "ldm": False,
    "connect_urls": ["10.0.0.1:4222", "[::1]:4222"], "ws_connect_urls": [], "nonce": "abc",
    "cluster": "c", "domain": "d", "git_commit": "x", "xkey": "X", "unknown_field": {"any": [1]},
}


def test_a_full_valid_info_passes_unchanged() -> None:
    assert check_info(dict(GOOD)) == GOOD
    assert set(GOOD) - {"unknown_field"} == set(CHECKED_INFO_FIELDS)


def test_null_is_absent() -> None:
    assert check_info({"connect_urls": None, "max_payload": None}) == {
        "connect_urls": None, "max_payload": None}


@pytest.mark.parametrize("name", sorted(CHECKED_INFO_FIELDS))
def test_every_checked_field_rejects_a_wrong_type(name: str) -> None:
    wrong = {"a": 1} if not isinstance(GOOD[name], dict) else "x"
    with pytest.raises(ProtocolError, match=repr(name)) as info:
        check_info({name: wrong})
    assert str(info.value).startswith("nats: protocol error")


@pytest.mark.parametrize(
    ("name", "value"),
    [("max_payload", 0), ("max_payload", -1), ("max_payload", MAX_PAYLOAD_CEILING + 1),
     ("max_payload", True), ("port", 70000), ("client_id", -1), ("proto", False),
     ("connect_urls", "1.2.3.4:4222"), ("connect_urls", [1]), ("ldm", 1), ("nonce", 7)],
)
def test_out_of_range_or_lookalike_values(name: str, value: Any) -> None:
    with pytest.raises(ProtocolError, match=repr(name)):
        check_info({name: value})


def test_the_parser_checks_every_info() -> None:
    assert Parser().feed(b'INFO {"max_payload": 1024}\r\n') == [Info({"max_payload": 1024})]
    with pytest.raises(ProtocolError, match="'max_payload'"):
        Parser().feed(b'INFO {"max_payload": true}\r\n')
