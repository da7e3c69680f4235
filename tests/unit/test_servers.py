from __future__ import annotations

import random
from urllib.parse import ParseResult

import pytest

from natsync.errors import AuthorizationError, AuthorizationViolationError, UnexpectedEOF
from natsync.servers import (
    DEFAULT_PORT,
    Server,
    ServerPool,
    hostport,
    parse_servers,
    parse_url,
    redact_url,
)

# -- parse_url ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host", "nats://host:4222"),
        ("host:5222", "nats://host:5222"),
        ("nats://host:5222", "nats://host:5222"),
        ("nats://host", "nats://host:4222"),
        ("nats://host/", "nats://host:4222"),
        ("tls://host", "tls://host:4222"),
        ("tls://host:4443", "tls://host:4443"),
        ("NATS://Host.Example.COM:1", "nats://host.example.com:1"),
        ("nats://user:pass@host:4222", "nats://user:pass@host:4222"),
        ("nats://token@host", "nats://token@host:4222"),
        ("user:pass@host", "nats://user:pass@host:4222"),
        ("nats://u:p@ss@host:7", "nats://u:p@ss@host:7"),
        ("nats://@host", "nats://host:4222"),
        ("[::1]:4222", "nats://[::1]:4222"),
        ("[::1]", "nats://[::1]:4222"),
        ("nats://[::1]:4222", "nats://[::1]:4222"),
        ("tls://[fe80::1]:9", "tls://[fe80::1]:9"),
        ("::1", "nats://[::1]:4222"),
        ("2001:db8::7", "nats://[2001:db8::7]:4222"),
        ("127.0.0.1", "nats://127.0.0.1:4222"),
        ("  nats://host:1  ", "nats://host:1"),
        ("localhost:65535", "nats://localhost:65535"),
    ],
)
def test_parse_url_accepts(text: str, expected: str) -> None:
    result = parse_url(text)
    assert isinstance(result, ParseResult)
    assert result.geturl() == expected
    assert result.port is not None
    assert (result.path, result.query, result.fragment) == ("", "", "")


def test_parse_url_fields() -> None:
    u = parse_url("tls://alice:secret@nats.example.com:4443")
    assert u.scheme == "tls"
    assert u.hostname == "nats.example.com"
    assert u.port == 4443
    assert u.username == "alice"
    assert u.password == "secret"
    t = parse_url("nats://s3cr3t@host")
    assert t.username == "s3cr3t"
    assert t.password is None
    v6 = parse_url("[::1]:4223")
    assert v6.hostname == "::1"
    assert v6.port == 4223
    assert parse_url("host").port == DEFAULT_PORT == 4222


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ws://host:80?x=1", "query"),
        ("wss://host#frag", "fragment"),
        ("http://host", "unknown scheme"),
        ("nats://", "no host"),
        ("nats://:4222", "no host"),
        ("nats://user@:4222", "no host"),
        ("host:abc", "port"),
        ("host:0", "port"),
        ("host:65536", "port"),
        ("host:-1", "port"),
        ("nats://host:", "port"),
        ("nats://host:4222/sub", "path"),
        ("nats://host:4222?x=1", "path, query"),
        ("nats://host:4222#frag", "path, query or fragment"),
        ("nats://ho st:4222", "whitespace"),
        ("nats://[::1:4222", "invalid"),
    ],
)
def test_parse_url_rejects(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_url(text)


def test_parse_url_rejects_non_str() -> None:
    with pytest.raises(TypeError):
        parse_url(b"nats://host")  # type: ignore[arg-type]


def test_redact_url() -> None:
    assert redact_url(parse_url("nats://u:p@h:1")) == "nats://***@h:1"
    assert redact_url(parse_url("tls://tok@h")) == "tls://***@h:4222"
    assert redact_url(parse_url("h")) == "nats://h:4222"


def test_hostport_helper() -> None:
    assert hostport("a", 1) == "a:1"
    assert hostport("::1", 2) == "[::1]:2"


# -- parse_servers -----------------------------------------------------------


@pytest.mark.parametrize("empty", [None, "", "  ", [], (), [""], " , "])
def test_parse_servers_default(empty: object) -> None:
    result = parse_servers(empty)  # type: ignore[arg-type]
    assert [u.geturl() for u in result] == ["nats://localhost:4222"]


def test_parse_servers_forms() -> None:
    assert [u.geturl() for u in parse_servers("a")] == ["nats://a:4222"]
    assert [u.geturl() for u in parse_servers("nats://a:1, tls://b:2,c")] == [
        "nats://a:1",
        "tls://b:2",
        "nats://c:4222",
    ]
    assert [u.geturl() for u in parse_servers(["a:1", "b:2,c:3", "  "])] == [
        "nats://a:1",
        "nats://b:2",
        "nats://c:3",
    ]
    parsed = parse_url("nats://x:9")
    assert parse_servers([parsed, "y"]) == [parsed, parse_url("y")]
    assert parse_servers(parsed) == [parsed]


def test_parse_servers_errors() -> None:
    with pytest.raises(ValueError, match="unknown scheme"):
        parse_servers("nats://a,http://b")
    with pytest.raises(TypeError):
        parse_servers([1])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        parse_servers(b"nats://a")  # type: ignore[arg-type]


# -- Server ------------------------------------------------------------------


def test_server_properties() -> None:
    s = Server(parse_url("tls://u:p@[::1]:4443"))
    assert s.tls is True
    assert s.hostport == "[::1]:4443"
    assert (s.reconnects, s.did_connect, s.discovered, s.auth_failures) == (0, False, False, 0)
    assert s.last_attempt is None
    assert s.last_error is None
    assert "p@" not in repr(s)
    assert "***@" in repr(s)
    plain = Server(parse_url("host"), discovered=True)
    assert plain.tls is False
    assert plain.discovered is True
    assert plain.hostport == "host:4222"


# -- ServerPool ------------------------------------------------------------


def urls(*names: str) -> list[ParseResult]:
    return [parse_url(n) for n in names]


def hosts(servers: list[Server]) -> list[str]:
    return [s.uri.hostname or "" for s in servers]


def test_pool_keeps_order_without_randomize() -> None:
    pool = ServerPool(urls("a", "b", "c"), randomize=False)
    assert hosts(pool.servers) == ["a", "b", "c"]
    assert [u.hostname for u in pool.uris] == ["a", "b", "c"]
    assert hosts(pool.first_pass()) == ["a", "b", "c"]
    assert len(pool) == 3
    assert hosts(list(pool)) == ["a", "b", "c"]
    assert pool.discovered_uris == []


def test_pool_shuffles_all_when_randomizing() -> None:
    names = [f"h{i}" for i in range(8)]
    orders = {
        tuple(hosts(ServerPool(urls(*names), rng=random.Random(seed)).servers))
        for seed in range(30)
    }
    assert all(sorted(o) == sorted(names) for o in orders)
    assert len(orders) > 1
    # The first configured server is not pinned to the front.
    assert {o[0] for o in orders} != {"h0"}


def test_pool_shuffle_is_deterministic_with_rng() -> None:
    a = ServerPool(urls("a", "b", "c", "d"), rng=random.Random(7))
    b = ServerPool(urls("a", "b", "c", "d"), rng=random.Random(7))
    assert hosts(a.servers) == hosts(b.servers)


def test_pool_dedupes_configured_keeping_first() -> None:
    pool = ServerPool(urls("nats://u:p@a:1", "a:1", "tls://a:1", "b"), randomize=False)
    assert [s.uri.geturl() for s in pool] == ["nats://u:p@a:1", "nats://b:4222"]


def test_views_are_copies() -> None:
    pool = ServerPool(urls("a", "b"), randomize=False)
    pool.servers.clear()
    pool.first_pass().clear()
    assert len(pool) == 2


def test_next_server_rotates() -> None:
    pool = ServerPool(urls("a", "b", "c"), randomize=False)
    picked = [pool.next_server(-1) for _ in range(7)]
    assert hosts([p for p in picked if p]) == ["a", "b", "c", "a", "b", "c", "a"]
    assert hosts(pool.servers) == ["b", "c", "a"]


def test_next_server_prunes_exhausted() -> None:
    pool = ServerPool(urls("a", "b", "c"), randomize=False)
    a, b, c = pool.servers
    a.reconnects = 3
    c.reconnects = 2
    assert pool.next_server(3) is b
    assert hosts(pool.servers) == ["c", "b"]
    c.reconnects = 3
    b.reconnects = 3
    assert pool.next_server(3) is None
    assert len(pool) == 0


def test_next_server_forever() -> None:
    pool = ServerPool(urls("a"), randomize=False)
    (a,) = pool.servers
    a.reconnects = 10**6
    assert pool.next_server(-1) is a


def test_max_zero_means_no_reconnect() -> None:
    pool = ServerPool(urls("a", "b"), randomize=False)
    assert pool.round_iter(0) == []
    assert pool.next_server(0) is None


def test_round_iter_gives_each_server_exactly_max_attempts() -> None:
    pool = ServerPool(urls("a", "b", "c"), randomize=False)
    attempts: dict[str, int] = {}
    rounds = 0
    while True:
        this_round = pool.round_iter(3)
        if not this_round:
            break
        rounds += 1
        assert rounds <= 10
        for server in this_round:
            assert server in pool
            attempts[server.hostport] = attempts.get(server.hostport, 0) + 1
            assert pool.record_failure(server, OSError("refused"), now=float(rounds)) is False
    assert rounds == 3
    assert attempts == {"a:4222": 3, "b:4222": 3, "c:4222": 3}
    assert len(pool) == 0


def test_round_iter_forever_never_prunes() -> None:
    pool = ServerPool(urls("a", "b"), randomize=False)
    for _ in range(100):
        for server in pool.round_iter(-1):
            pool.record_failure(server, OSError("x"))
    assert len(pool) == 2
    assert all(s.reconnects == 100 for s in pool)


def test_round_order_after_success_puts_connected_server_last() -> None:
    pool = ServerPool(urls("a", "b", "c"), randomize=False)
    a = pool.first_pass()[0]
    pool.record_success(a, now=1.0)
    assert hosts(pool.round_iter(5)) == ["b", "c", "a"]
    b = pool.servers[0]
    pool.record_failure(b, OSError("down"))
    c = pool.servers[1]
    pool.record_success(c)
    assert hosts(pool.round_iter(5)) == ["b", "a", "c"]


def test_record_success_resets_counters() -> None:
    pool = ServerPool(urls("a"), randomize=False)
    (a,) = pool.servers
    pool.record_failure(a, OSError("x"), now=5.0)
    pool.record_failure(a, AuthorizationViolationError(), now=6.0)
    assert a.reconnects == 2
    assert a.auth_failures == 1
    assert a.last_attempt == 6.0
    failure = a.last_error
    assert isinstance(failure, AuthorizationViolationError)
    pool.record_success(a, now=7.0)
    assert (a.reconnects, a.auth_failures, a.did_connect) == (0, 0, True)
    assert a.last_error is None
    assert a.last_attempt == 7.0


def test_record_failure_sets_monotonic_time_by_default() -> None:
    pool = ServerPool(urls("a"), randomize=False)
    (a,) = pool.servers
    err = UnexpectedEOF()
    pool.record_failure(a, err)
    assert a.last_error is err
    assert isinstance(a.last_attempt, float)


def test_auth_failure_removes_after_two_in_a_row() -> None:
    pool = ServerPool(urls("a", "b"), randomize=False)
    a, b = pool.servers
    assert pool.record_auth_failure(a) is False
    assert a in pool
    assert pool.record_auth_failure(a) is True
    assert a not in pool
    assert pool.servers == [b]


def test_auth_failures_must_be_consecutive() -> None:
    pool = ServerPool(urls("a"), randomize=False)
    (a,) = pool.servers
    assert pool.record_failure(a, AuthorizationError()) is False
    assert pool.record_failure(a, OSError("reset")) is False  # breaks the run
    assert a.auth_failures == 0
    assert pool.record_failure(a, AuthorizationError()) is False
    pool.record_success(a)
    assert pool.record_failure(a, AuthorizationError()) is False
    assert a in pool
    assert pool.record_failure(a, AuthorizationViolationError()) is True
    assert a not in pool
    assert len(pool) == 0


def test_remove_and_find() -> None:
    pool = ServerPool(urls("nats://u:p@a:1", "b", "[::1]:5"), randomize=False)
    a = pool.find("a:1")
    assert a is not None
    assert a.uri.username == "u"
    assert pool.find("nats://a:1") is a
    assert pool.find("tls://x:y@a:1") is a  # scheme and user info do not matter
    assert pool.find(parse_url("a:1")) is a
    assert pool.find("[::1]:5") is not None
    assert pool.find("a:2") is None
    assert pool.find("not a url") is None
    pool.remove(a)
    assert pool.find("a:1") is None
    pool.remove(a)  # no error the second time
    assert len(pool) == 2


def test_iteration_is_safe_while_removing() -> None:
    pool = ServerPool(urls("a", "b", "c"), randomize=False)
    for server in pool:
        pool.remove(server)
    assert len(pool) == 0


# -- discovered servers -------------------------------------------------------


def test_add_discovered_merges_and_dedupes() -> None:
    pool = ServerPool(urls("nats://a:4222", "b:4223"), randomize=False)
    added = pool.add_discovered(
        ["a:4222", "b:4223", "c:4222", "c:4222", "d:5000", "localhost:4222"],
        tls=False,
        randomize=False,
    )
    assert [s.uri.geturl() for s in added] == [
        "nats://c:4222",
        "nats://d:5000",
        "nats://localhost:4222",
    ]
    assert all(s.discovered for s in added)
    assert [u.geturl() for u in pool.discovered_uris] == [s.uri.geturl() for s in added]
    assert hosts(pool.servers) == ["a", "b", "c", "d", "localhost"]
    # Same INFO again: nothing new.
    assert pool.add_discovered(["c:4222", "a:4222"], tls=False, randomize=False) == []
    assert len(pool) == 5


def test_add_discovered_localhost_and_loopback_are_distinct() -> None:
    pool = ServerPool(urls("localhost:4222"), randomize=False)
    added = pool.add_discovered(["127.0.0.1:4222", "localhost:4222"], tls=False, randomize=False)
    assert [s.hostport for s in added] == ["127.0.0.1:4222"]


def test_add_discovered_ipv6_and_bad_entries() -> None:
    pool = ServerPool(urls("[::1]:4222"), randomize=False)
    added = pool.add_discovered(
        ["[::1]:4222", "[::2]:4222", "bad:port", "", "http://x:1", 7],  # type: ignore[list-item]
        tls=False,
        randomize=False,
    )
    assert [s.uri.geturl() for s in added] == ["nats://[::2]:4222"]


def test_add_discovered_tls_scheme() -> None:
    pool = ServerPool(urls("tls://a:4222"), randomize=False)
    (added,) = pool.add_discovered(["b:4222"], tls=True, randomize=False)
    assert added.uri.scheme == "tls"
    assert added.tls


def test_add_discovered_inherits_credentials() -> None:
    pool = ServerPool(urls("nats://alice:s3cret@a:4222"), randomize=False)
    (b,) = pool.add_discovered(["b:4222"], tls=False, randomize=False)
    assert b.uri.geturl() == "nats://alice:s3cret@b:4222"
    assert b.uri.username == "alice"
    assert b.uri.password == "s3cret"

    tok = ServerPool(urls("tls://tok3n@a"), randomize=False)
    (c,) = tok.add_discovered(["c:4222"], tls=True, randomize=False)
    assert c.uri.geturl() == "tls://tok3n@c:4222"


def test_add_discovered_inherits_from_first_configured_with_creds() -> None:
    # Randomising the pool must not change whose credentials are inherited.
    for seed in range(10):
        pool = ServerPool(urls("a", "nats://u1:p1@b", "nats://u2:p2@c"), rng=random.Random(seed))
        (d,) = pool.add_discovered(["d:4222"], tls=False, randomize=True)
        assert d.uri.username == "u1"


def test_add_discovered_without_creds() -> None:
    pool = ServerPool(urls("a"), randomize=False)
    (b,) = pool.add_discovered(["b:4222"], tls=False, randomize=False)
    assert b.uri.geturl() == "nats://b:4222"


def test_add_discovered_randomize_shuffles_new_ones_only() -> None:
    names = [f"n{i}:4222" for i in range(8)]
    orders = set()
    for seed in range(20):
        pool = ServerPool(urls("a", "b"), randomize=False, rng=random.Random(seed))
        added = pool.add_discovered(names, tls=False, randomize=True)
        assert hosts(pool.servers)[:2] == ["a", "b"]
        assert pool.servers[2:] == added
        orders.add(tuple(s.hostport for s in added))
    assert all(sorted(o) == sorted(names) for o in orders)
    assert len(orders) > 1


def test_discovered_servers_take_part_in_rounds() -> None:
    pool = ServerPool(urls("a"), randomize=False)
    pool.add_discovered(["b:4222"], tls=False, randomize=False)
    assert hosts(pool.round_iter(2)) == ["a", "b"]


def test_removed_configured_server_can_be_rediscovered() -> None:
    pool = ServerPool(urls("a", "b"), randomize=False)
    a = pool.servers[0]
    pool.remove(a)
    (again,) = pool.add_discovered(["a:4222"], tls=False, randomize=False)
    assert again.discovered
    assert again is not a


@pytest.mark.parametrize(
    "text",
    [
        "nats://alice:hunter2@host:abc",
        "ws://alice:hunter2@host?q",
        "http://hunter2@host",
        "nats://alice:hunter2@host:4222/path",
        "alice:hunter2@host:0",
        "nats://alice:hunter2@:4222",
    ],
)
def test_parse_url_errors_hide_user_info(text: str) -> None:
    with pytest.raises(ValueError, match=r"\*\*\*@") as info:
        parse_url(text)
    assert "hunter2" not in str(info.value)
    assert "alice" not in str(info.value)


def test_websocket_urls_ports_paths_and_flags() -> None:
    assert parse_url("ws://h").geturl() == "ws://h:80"
    assert parse_url("wss://u:p@h/nats/ws").geturl() == "wss://u:p@h:443/nats/ws"
    assert parse_url("ws://h:8080/").geturl() == "ws://h:8080"
    pool = ServerPool(urls("ws://a:1", "wss://b:2", "nats://c:3", "tls://d:4"), randomize=False)
    assert [(s.websocket, s.tls) for s in pool] == [
        (True, False), (True, True), (False, False), (False, True)]
    with pytest.raises(ValueError, match="path"):
        parse_url("nats://h:4222/nats")


def test_add_discovered_keeps_the_websocket_scheme() -> None:
    pool = ServerPool(urls("wss://a:443"), randomize=False)
    (added,) = pool.add_discovered(["b:8443"], tls=True, randomize=False, scheme="wss")
    assert added.uri.geturl() == "wss://b:8443" and added.discovered and added.websocket
