"""TLS against a real nats-server with trustme certificates.

tls:// with a trusting context, the default verifying context against an unknown CA,
tls_hostname, mutual TLS, TLS handshake first, the nats:// -> TLS upgrade a server
requires, and a reconnect over TLS that replays the reconnect buffer.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

import natsync
from natsync import errors
from natsync.testing import NatsServer
from tests.conn_events import Events

trustme = pytest.importorskip("trustme")

WAIT = 15.0  # bound on every wait in this file
Factory = Callable[..., NatsServer]


@dataclass(frozen=True)
class Pki:
    ca: Any  # trustme.CA
    ca_file: str
    server_cert: str
    server_key: str
    client: Any  # trustme.LeafCert for mutual TLS
    tmp: Path

    def client_context(self, *, with_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(ctx)
        if with_cert:
            self.client.configure_cert(ctx)
        return ctx

    def server_files(self, *identities: str) -> tuple[str, str]:
        """A server certificate (chain file, key file) for other identities."""
        leaf = self.ca.issue_cert(*identities)
        name = "-".join(identities).replace("*", "star")
        chain = self.tmp / f"{name}.pem"
        key = self.tmp / f"{name}.key"
        chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key))
        return str(chain), str(key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    tmp = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert = tmp / "server.pem"
    key = tmp / "server.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    client = ca.issue_cert("natsync-client@example.com", common_name="natsync-client")
    return Pki(ca, str(ca_file), str(cert), str(key), client, tmp)


@pytest.fixture
def tls_server(nats_server_factory: Factory, pki: Pki) -> NatsServer:
    return nats_server_factory(tls_cert=pki.server_cert, tls_key=pki.server_key)


def fast(**extra: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "connect_timeout": 10.0,
        "reconnect_time_wait": 0.1,
        "reconnect_jitter": 0.0,
        "reconnect_jitter_tls": 0.0,
    }
    opts.update(extra)
    return opts


def roundtrip(nc: Any, subject: str = "tls.check") -> None:
    sub = nc.subscribe(subject)
    nc.publish(subject, b"secure")
    assert sub.next_msg(timeout=WAIT).data == b"secure"
    sub.unsubscribe()


# --------------------------------------------------------------------------- server TLS


def test_tls_url_with_trusting_context(tls_server: NatsServer, pki: Pki) -> None:
    assert tls_server.url.startswith("tls://")
    with natsync.connect(tls_server.url, **fast(tls=pki.client_context())) as nc:
        roundtrip(nc)
        assert nc.is_connected


def test_localhost_name_verifies(tls_server: NatsServer, pki: Pki) -> None:
    url = f"tls://localhost:{tls_server.port}"
    with natsync.connect(url, **fast(tls=pki.client_context())) as nc:
        roundtrip(nc)


def test_default_context_rejects_unknown_ca(tls_server: NatsServer) -> None:
    with pytest.raises(errors.SecureConnFailedError) as ei:
        natsync.connect(tls_server.url, **fast())
    # names the server, says what failed
    assert f"127.0.0.1:{tls_server.port}" in str(ei.value)
    assert "certificate" in str(ei.value).lower()


def test_server_requiring_tls_upgrades_a_nats_url_with_context(
    tls_server: NatsServer, pki: Pki
) -> None:
    url = f"nats://127.0.0.1:{tls_server.port}"
    with natsync.connect(url, **fast(tls=pki.client_context())) as nc:
        roundtrip(nc)


def test_server_requiring_tls_nats_url_without_context_verifies_by_default(
    tls_server: NatsServer,
) -> None:
    # INFO says tls_required: the client upgrades with a default verifying context,
    # which does not trust the test CA.
    url = f"nats://127.0.0.1:{tls_server.port}"
    with pytest.raises(errors.SecureConnFailedError) as ei:
        natsync.connect(url, **fast())
    assert f"127.0.0.1:{tls_server.port}" in str(ei.value)


def test_client_refusing_tls_gets_secure_conn_required(tls_server: NatsServer) -> None:
    # tls=False refuses TLS: a server that requires it is a clear, prompt error
    url = f"nats://127.0.0.1:{tls_server.port}"
    with pytest.raises(errors.SecureConnRequiredError) as ei:
        natsync.connect(url, **fast(tls=False))
    assert f"127.0.0.1:{tls_server.port}" in str(ei.value) and "tls=False" in str(ei.value)


def test_tls_wanted_but_server_has_none(nats_server_factory: Factory, pki: Pki) -> None:
    plain = nats_server_factory()
    url = f"tls://127.0.0.1:{plain.port}"
    with pytest.raises(errors.SecureConnWantedError):
        natsync.connect(url, **fast(tls=pki.client_context()))


# --------------------------------------------------------------------------- tls_hostname


def test_tls_hostname(nats_server_factory: Factory, pki: Pki) -> None:
    cert, key = pki.server_files("nats.example.test")
    srv = nats_server_factory(tls_cert=cert, tls_key=key)
    # The certificate names nats.example.test, not 127.0.0.1: verification fails ...
    with pytest.raises(errors.SecureConnFailedError):
        natsync.connect(srv.url, **fast(tls=pki.client_context()))
    # ... unless the client is told which name to verify.
    opts = fast(tls=pki.client_context(), tls_hostname="nats.example.test")
    with natsync.connect(srv.url, **opts) as nc:
        roundtrip(nc)


def test_tls_hostname_must_match(nats_server_factory: Factory, pki: Pki) -> None:
    cert, key = pki.server_files("nats.example.test")
    srv = nats_server_factory(tls_cert=cert, tls_key=key)
    with pytest.raises(errors.SecureConnFailedError):
        natsync.connect(srv.url, **fast(tls=pki.client_context(), tls_hostname="other.test"))


# --------------------------------------------------------------------------- mutual TLS


@pytest.fixture
def mtls_server(nats_server_factory: Factory, pki: Pki) -> NatsServer:
    return nats_server_factory(
        tls_cert=pki.server_cert, tls_key=pki.server_key, tls_ca=pki.ca_file, tls_verify=True
    )


def test_mutual_tls_with_client_cert(mtls_server: NatsServer, pki: Pki) -> None:
    opts = fast(tls=pki.client_context(with_cert=True))
    with natsync.connect(mtls_server.url, **opts) as nc:
        roundtrip(nc)


def test_mutual_tls_without_client_cert_fails(mtls_server: NatsServer, pki: Pki) -> None:
    with pytest.raises(errors.SecureConnFailedError) as ei:
        natsync.connect(mtls_server.url, **fast(tls=pki.client_context()))
    assert f"127.0.0.1:{mtls_server.port}" in str(ei.value)


def test_mutual_tls_with_cert_from_unknown_ca_fails(mtls_server: NatsServer, pki: Pki) -> None:
    stranger = trustme.CA().issue_cert("mallory@example.com")
    ctx = pki.client_context()
    stranger.configure_cert(ctx)
    with pytest.raises(errors.SecureConnFailedError):
        natsync.connect(mtls_server.url, **fast(tls=ctx))


# --------------------------------------------------------------------------- handshake first


@pytest.fixture
def hs_first_server(nats_server_factory: Factory, pki: Pki) -> NatsServer:
    return nats_server_factory(
        tls_cert=pki.server_cert, tls_key=pki.server_key, tls_handshake_first=True
    )


def test_tls_handshake_first(hs_first_server: NatsServer, pki: Pki) -> None:
    opts = fast(tls=pki.client_context(), tls_handshake_first=True)
    with natsync.connect(hs_first_server.url, **opts) as nc:
        roundtrip(nc)


def test_tls_handshake_first_mismatch_fails_cleanly(hs_first_server: NatsServer, pki: Pki) -> None:
    # The server waits for a ClientHello, the client for INFO: an error, not a hang.
    with pytest.raises(errors.Error):
        natsync.connect(hs_first_server.url, **fast(tls=pki.client_context(), connect_timeout=3.0))


# --------------------------------------------------------------------------- reconnect over TLS


def test_reconnect_over_tls_replays_buffered_messages(tls_server: NatsServer, pki: Pki) -> None:
    ev = Events()
    nc = natsync.connect(
        tls_server.url,
        **fast(tls=pki.client_context(), max_reconnect_attempts=-1, **ev.callbacks()),
    )
    try:
        sub = nc.subscribe("replay.>")
        nc.publish("replay.before", b"0")
        assert sub.next_msg(timeout=WAIT).data == b"0"

        tls_server.kill()
        ev.wait_count("disconnected")
        sent = [f"{i}".encode() for i in range(1, 51)]
        for payload in sent:
            nc.publish("replay.during", payload)  # buffered while reconnecting
        assert nc.buffered_msgs == len(sent)

        tls_server.restart()
        ev.wait_count("reconnected")
        got = [sub.next_msg(timeout=WAIT).data for _ in sent]
        assert got == sent  # all of them, in publish order, over the new TLS session
        assert nc.buffered_msgs == 0
        nc.flush(timeout=WAIT)
        roundtrip(nc)
        assert not [e for e in ev.errors if isinstance(e, errors.SecureConnFailedError)]
    finally:
        nc.close()


def test_tls_handshake_first_client_against_plain_first_server(
    tls_server: NatsServer, pki: Pki
) -> None:
    # The client starts TLS, the server first sends a plaintext INFO.
    opts = fast(tls=pki.client_context(), tls_handshake_first=True, connect_timeout=3.0)
    with pytest.raises(errors.SecureConnFailedError) as ei:
        natsync.connect(tls_server.url, **opts)
    assert "tls_handshake_first" in str(ei.value)


def test_tls_reader_and_writer_threads_share_the_connection_safely(
    tls_server: NatsServer, pki: Pki
) -> None:
    """OpenSSL forbids concurrent use of one SSL object: heavy traffic in both
    directions on one TLS connection, from several threads, must not corrupt the
    stream (no protocol error, no reconnect) and must lose nothing."""
    errs: list[BaseException] = []
    nc = natsync.connect(tls_server.url, **fast(tls=pki.client_context(), error_cb=errs.append))
    n_threads, per_thread = 4, 20_000
    got = [0]
    done = threading.Event()

    def cb(msg: Any) -> None:
        got[0] += 1
        if got[0] == n_threads * per_thread:
            done.set()

    nc.subscribe("tls.load", cb=cb, pending_msgs_limit=-1, pending_bytes_limit=-1)
    nc.subscribe("tls.echo", cb=lambda m: m.respond(m.data))
    nc.flush(timeout=WAIT)

    def publisher() -> None:
        payload = b"p" * 300
        for i in range(per_thread):
            nc.publish("tls.load", payload)
            if i % 2000 == 0:
                assert nc.request("tls.echo", b"e", timeout=WAIT).data == b"e"

    ts = [threading.Thread(target=publisher) for _ in range(n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(WAIT * 4)
    nc.flush(timeout=WAIT)
    assert done.wait(WAIT * 2), f"received {got[0]} of {n_threads * per_thread}"
    assert nc.stats["reconnects"] == 0 and not errs
    nc.close()


def test_reconnect_over_tls_uses_tls_jitter(
    tls_server: NatsServer, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    from natsync.backoff import Backoff

    seen: list[tuple[bool, float]] = []
    real = Backoff.delay

    def spy(self: Backoff, attempt: int, tls: bool) -> float:
        d = real(self, attempt, tls)
        seen.append((tls, d))
        return d

    monkeypatch.setattr(Backoff, "delay", spy)
    reconnected = threading.Event()
    nc = natsync.connect(tls_server.url, **fast(
        tls=pki.client_context(), reconnect_time_wait=0.01, reconnect_jitter=9.0,
        reconnect_jitter_tls=0.02, reconnect_random=lambda: 1.0,
        reconnected_cb=reconnected.set, max_reconnect_attempts=-1))
    tls_server.kill()
    deadline = threading.Event()
    for _ in range(500):
        if seen:
            break
        deadline.wait(0.01)
    tls_server.restart()
    assert reconnected.wait(WAIT)
    nc.close()
    assert seen and all(tls for tls, _d in seen)
    assert all(abs(d - 0.03) < 1e-9 for _t, d in seen)  # time_wait + 1.0 * jitter_tls
