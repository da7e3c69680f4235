"""WebSocket (ws:// and wss://) against a real nats-server with a websocket listener:
pub/sub, request/reply and headers over both; SIGKILL and restart during publishing
(the reconnect buffer replays in order over WebSocket); a pool mixing ws:// and
nats://; an HTTP CONNECT proxy with proxy auth; custom upgrade headers; the
Nats-No-Masking agreement."""

from __future__ import annotations

import ssl
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

import natsync
from natsync import errors
from natsync.protocol import ws
from natsync.testing import NatsServer
from tests.conn_events import Events
from tests.connect_proxy import ConnectProxy

trustme = pytest.importorskip("trustme")

pytestmark = pytest.mark.timeout(120)

WAIT = 15.0
FAST = dict(connect_timeout=10.0, reconnect_time_wait=0.05, reconnect_jitter=0.0,
            reconnect_jitter_tls=0.0, max_reconnect_attempts=-1)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield trustme.CA()


@pytest.fixture(scope="module")
def ws_server() -> Iterator[NatsServer]:
    with NatsServer(websocket=True) as srv:
        yield srv


@pytest.fixture(scope="module")
def wss_server(ca: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    tmp: Path = tmp_path_factory.mktemp("wspki")
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = tmp / "server.pem", tmp / "server.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    with NatsServer(websocket=True, tls_cert=str(cert), tls_key=str(key)) as srv:
        yield srv


def poll(pred: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Wait for a state that has no event to wait on (bounded)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout}s")
        time.sleep(0.01)


def client_ctx(ca: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(ctx)
    return ctx


@pytest.fixture(params=["ws", "wss"])
def url_opts(request: pytest.FixtureRequest, ca: Any) -> tuple[str, dict[str, Any]]:
    if request.param == "ws":
        srv: NatsServer = request.getfixturevalue("ws_server")
        return srv.ws_url, dict(FAST)
    srv = request.getfixturevalue("wss_server")
    return srv.ws_url, dict(FAST, tls=client_ctx(ca))


# ------------------------------------------------------------------ basics


def test_pub_sub_request_reply_and_headers(url_opts: tuple[str, dict[str, Any]]) -> None:
    url, opts = url_opts
    assert url.startswith(("ws://", "wss://"))
    with natsync.connect(url, **opts) as nc, natsync.connect(url, **opts) as peer:
        assert nc.connected_url is not None and nc.connected_url.scheme == url.split(":")[0]
        sub = nc.subscribe("ws.data")
        big = bytes(range(256)) * 300  # spans many frames and reads
        nc.flush()
        for payload in (b"", b"hello", big):
            peer.publish("ws.data", payload)
        assert [sub.next_msg(WAIT).data for _ in range(3)] == [b"", b"hello", big]

        peer.subscribe("ws.svc", cb=lambda m: m.respond(b"re:" + m.data))
        peer.flush()
        assert nc.request("ws.svc", b"q", timeout=WAIT).data == b"re:q"

        hsub = nc.subscribe("ws.hdr")
        nc.flush()
        peer.publish("ws.hdr", b"h", headers={"X-Trace": "abc", "Multi": "1"})
        msg = hsub.next_msg(WAIT)
        assert msg.headers == {"X-Trace": "abc", "Multi": "1"} and msg.data == b"h"


def test_many_small_publishes_arrive_in_order(ws_server: NatsServer) -> None:
    with natsync.connect(ws_server.ws_url, **FAST) as nc:
        sub = nc.subscribe("ws.order", pending_msgs_limit=-1)
        nc.flush()
        for i in range(3000):
            nc.publish("ws.order", b"%d" % i)
        nc.flush(WAIT)
        assert [int(sub.next_msg(WAIT).data) for _ in range(3000)] == list(range(3000))
        before = ws_server.varz()["in_msgs"]
        for _ in range(200):
            nc.publish("ws.order2", b"x")
        nc.flush(WAIT)
        assert ws_server.varz()["in_msgs"] - before == 200


def test_wss_with_default_context_rejects_unknown_ca(wss_server: NatsServer) -> None:
    with pytest.raises(errors.SecureConnFailedError, match="certificate verification failed"):
        natsync.connect(wss_server.ws_url, connect_timeout=10.0)


def test_wss_tls_hostname(wss_server: NatsServer, ca: Any) -> None:
    # the certificate names 127.0.0.1 and localhost: verifying another name fails
    with pytest.raises(errors.SecureConnFailedError):
        natsync.connect(wss_server.ws_url, **dict(FAST, tls=client_ctx(ca), tls_hostname="other.example"))
    with natsync.connect(wss_server.ws_url, **dict(FAST, tls=client_ctx(ca), tls_hostname="localhost")) as nc:
        nc.flush(WAIT)


def test_tls_false_refuses_wss(wss_server: NatsServer) -> None:
    with pytest.raises(errors.SecureConnRequiredError, match="tls=False"):
        natsync.connect(wss_server.ws_url, connect_timeout=10.0, tls=False)


def test_auth_over_websocket() -> None:
    with NatsServer(websocket=True, user="alice", password="s3cret") as srv:
        port = srv.websocket_port
        with natsync.connect(f"ws://alice:s3cret@127.0.0.1:{port}", **FAST) as nc:
            nc.flush(WAIT)
        with natsync.connect(srv.ws_url, user="alice", password="s3cret", **FAST) as nc:
            nc.flush(WAIT)
        with pytest.raises(errors.AuthorizationError):
            natsync.connect(srv.ws_url, user="alice", password="wrong", **dict(FAST, allow_reconnect=False))


# ------------------------------------------------------------------ faults


def test_sigkill_restart_replays_the_buffer_in_order() -> None:
    with NatsServer(websocket=True) as srv:
        ev = Events()
        nc = natsync.connect(srv.ws_url, **FAST, **ev.callbacks())
        try:
            sub = nc.subscribe("ws.replay", pending_msgs_limit=-1)
            nc.flush(WAIT)
            stop = threading.Event()
            sent = [0]

            def publisher() -> None:
                while not stop.is_set() and sent[0] < 200000:
                    nc.publish("ws.replay", b"%d" % sent[0])
                    sent[0] += 1
                    if sent[0] % 100 == 0:
                        time.sleep(0.001)  # pacing, not synchronisation

            t = threading.Thread(target=publisher, name="test-publisher")
            t.start()
            poll(lambda: sent[0] > 500, "some publishes before the kill")
            srv.kill()
            ev.wait_count("disconnected")
            poll(lambda: nc.buffered_msgs > 50, "publishes buffered while down")
            at_down = sent[0]
            srv.restart()
            ev.wait_count("reconnected")
            poll(lambda: sent[0] > at_down + 2000, "publishes after the restart")
            stop.set()
            t.join(WAIT)
            assert not t.is_alive()
            nc.flush(WAIT)
            seen: List[int] = []
            while True:
                try:
                    seen.append(int(sub.next_msg(2).data))
                except errors.TimeoutError:
                    break
            assert seen == sorted(seen) and len(set(seen)) == len(seen)
            # what was published once the client knew it was down is replayed, in order
            assert set(range(at_down, sent[0])) <= set(seen)
            assert nc.connected_url is not None and nc.connected_url.scheme == "ws"
        finally:
            nc.close()


def test_pool_with_ws_and_nats_servers(ws_server: NatsServer) -> None:
    with NatsServer() as plain:
        ev = Events()
        nc = natsync.connect([plain.url, ws_server.ws_url], dont_randomize=True, **FAST,
                             **ev.callbacks())
        try:
            assert nc.connected_url is not None and nc.connected_url.scheme == "nats"
            plain.kill()
            ev.wait_count("reconnected")
            assert nc.connected_url is not None and nc.connected_url.scheme == "ws"
            sub = nc.subscribe("ws.pool")
            nc.publish("ws.pool", b"over ws")
            assert sub.next_msg(WAIT).data == b"over ws"
            assert [u.scheme for u in nc.servers] == ["nats", "ws"]
        finally:
            nc.close()


# ------------------------------------------------------------------ proxy, headers, masking


def test_connect_proxy_with_auth_and_custom_headers(ws_server: NatsServer) -> None:
    with ConnectProxy(user="pxuser", password="p@ss") as proxy:
        proxied = proxy.url.replace("http://", "http://pxuser:p%40ss@")
        headers = {"X-Natsync-Test": "yes", "Cookie": ["a=1", "b=2"]}
        with natsync.connect(ws_server.ws_url, ws_proxy=proxied, ws_connection_headers=headers,
                             **FAST) as nc:
            sub = nc.subscribe("ws.proxy")
            nc.publish("ws.proxy", b"tunnelled")
            assert sub.next_msg(WAIT).data == b"tunnelled"
        (tunnel,) = proxy.tunnels
        assert tunnel.request.startswith(f"CONNECT 127.0.0.1:{ws_server.websocket_port} ".encode())
        upgrade = tunnel.client_bytes().split(b"\r\n\r\n", 1)[0].decode()
        assert upgrade.startswith("GET / HTTP/1.1\r\n")
        for line in ("X-Natsync-Test: yes", "Cookie: a=1", "Cookie: b=2"):
            assert line in upgrade.split("\r\n")

        with pytest.raises(errors.AuthorizationError, match="ws_proxy refused"):
            natsync.connect(ws_server.ws_url, ws_proxy=proxy.url, **dict(FAST, allow_reconnect=False))
        assert proxy.refused == 1


def _client_frames(raw: bytes) -> List[bool]:
    """The mask bit of each frame the client sent after its upgrade request."""
    stream = raw.split(b"\r\n\r\n", 1)[1]
    masks: List[bool] = []
    pos = 0
    while pos + 2 <= len(stream):
        b1 = stream[pos + 1]
        n = b1 & 0x7F
        h = 2 + {126: 2, 127: 8}.get(n, 0)
        if n == 126:
            n = int.from_bytes(stream[pos + 2:pos + 4], "big")
        elif n == 127:
            n = int.from_bytes(stream[pos + 2:pos + 10], "big")
        masked = bool(b1 & 0x80)
        masks.append(masked)
        pos += h + (4 if masked else 0) + n
    return masks


@pytest.mark.parametrize("no_masking", [False, True])
def test_no_masking_only_when_the_server_agrees(ws_server: NatsServer, no_masking: bool) -> None:
    with ConnectProxy() as proxy:
        with natsync.connect(ws_server.ws_url, ws_proxy=proxy.url, ws_no_masking=no_masking,
                             **FAST) as nc:
            sub = nc.subscribe("ws.mask")
            for i in range(20):
                nc.publish("ws.mask", b"%d" % i)
            assert [sub.next_msg(WAIT).data for _ in range(20)] == [b"%d" % i for i in range(20)]
        (tunnel,) = proxy.tunnels
        raw = tunnel.client_bytes()
        asked = b"Nats-No-Masking: true" in raw.split(b"\r\n\r\n", 1)[0]
        assert asked is no_masking
        masks = _client_frames(raw)
        assert masks and all(m is (not no_masking) for m in masks)


def test_frames_are_decodable_by_a_server_side_decoder(ws_server: NatsServer) -> None:
    # the client's frames, as nats-server reads them: masked binary frames carrying
    # exactly the NATS protocol (CONNECT, PING, SUB, PUB ...)
    with ConnectProxy() as proxy:
        with natsync.connect(ws_server.ws_url, ws_proxy=proxy.url, **FAST) as nc:
            nc.publish("ws.seen", b"payload")
            nc.flush(WAIT)
        raw = proxy.tunnels[0].client_bytes().split(b"\r\n\r\n", 1)[1]
        events = ws.FrameDecoder(masked=True).feed(raw)
        data = b"".join(e for e in events if isinstance(e, bytes))
        assert data.startswith(b"CONNECT {") and b"PUB ws.seen 7\r\npayload\r\n" in data


def test_cluster_members_are_discovered_as_websocket_servers() -> None:
    with NatsServer(websocket=True, cluster_name="wsc") as a:
        assert a.route_url is not None
        with NatsServer(websocket=True, cluster_name="wsc", routes=[a.route_url]) as b:
            poll(lambda: a.routez().get("num_routes", 0) >= 1, "the route")
            ev = Events()
            nc = natsync.connect(a.ws_url, dont_randomize=True, **FAST, **ev.callbacks())
            try:
                want = f"ws://127.0.0.1:{b.websocket_port}"
                poll(lambda: want in [u.geturl() for u in nc.discovered_servers],
                     f"{want} among the discovered servers {nc.discovered_servers}")
                a.kill()
                ev.wait_count("reconnected")
                assert nc.connected_url is not None and nc.connected_url.geturl() == want
                sub = nc.subscribe("ws.cluster")
                nc.publish("ws.cluster", b"on b")
                assert sub.next_msg(WAIT).data == b"on b"
            finally:
                nc.close()


def test_wss_restart_replays_what_was_buffered(ca: Any, tmp_path: Path) -> None:
    leaf = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "s.pem", tmp_path / "s.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    with NatsServer(websocket=True, tls_cert=str(cert), tls_key=str(key)) as srv:
        ev = Events()
        with natsync.connect(srv.ws_url, **dict(FAST, tls=client_ctx(ca)), **ev.callbacks()) as nc:
            sub = nc.subscribe("wss.replay", pending_msgs_limit=-1)
            nc.flush(WAIT)
            srv.kill()
            ev.wait_count("disconnected")
            for i in range(300):
                nc.publish("wss.replay", b"%d" % i)
            assert nc.buffered_msgs == 300
            srv.restart()
            ev.wait_count("reconnected")
            assert [sub.next_msg(WAIT).data for _ in range(300)] == [b"%d" % i for i in range(300)]
            assert nc.connected_url is not None and nc.connected_url.scheme == "wss"
