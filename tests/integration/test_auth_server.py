"""Authentication against a real nats-server: user/password, token, NKey, JWT/creds.

Also: expired credentials, permission violations (connection survives), auth
failures during reconnect (reported, server leaves the pool after two in a row),
and that no secret shows up in reprs, exception messages or log records.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import nkeys  # type: ignore[import-untyped]
import pytest

import natsync
from natsync import errors
from natsync.testing import NatsServer
from tests import jwt_helpers as jh
from tests.conn_events import Events

WAIT = 15.0  # bound on every wait in this file
Factory = Callable[..., NatsServer]


# --------------------------------------------------------------------------- helpers


def roundtrip(nc: Any, subject: str = "auth.check") -> None:
    """Prove the connection is usable: a message goes out and comes back."""
    sub = nc.subscribe(subject)
    nc.publish(subject, b"ping")
    msg = sub.next_msg(timeout=WAIT)
    assert msg.data == b"ping"
    sub.unsubscribe()


def fast(**extra: Any) -> dict[str, Any]:
    """Options for quick reconnects and a connect timeout far above what auth needs."""
    opts: dict[str, Any] = {
        "connect_timeout": 10.0,
        "reconnect_time_wait": 0.1,
        "reconnect_jitter": 0.0,
        "reconnect_jitter_tls": 0.0,
        "dont_randomize": True,
    }
    opts.update(extra)
    return opts


def url_with(srv: NatsServer, userinfo: str) -> str:
    return f"nats://{userinfo}@127.0.0.1:{srv.port}"


def expect_auth_failure(url: str, **options: Any) -> errors.AuthorizationError:
    """connect() must raise an AuthorizationError (not time out, not hang)."""
    with pytest.raises(errors.AuthorizationError) as ei:
        natsync.connect(url, **fast(**options))
    assert not isinstance(ei.value, TimeoutError)
    return ei.value


def nkey_server_config(public: str) -> str:
    return f"authorization {{\n  users = [ {{ nkey: {public} }} ]\n}}\n"


@pytest.fixture(scope="module")
def operator() -> jh.Operator:
    return jh.make_operator()


@pytest.fixture
def op_server(nats_server_factory: Factory, operator: jh.Operator) -> NatsServer:
    return nats_server_factory(config=operator.server_config())


# --------------------------------------------------------------------------- user/password


def test_user_password_option(nats_server_factory: Factory) -> None:
    srv = nats_server_factory(user="alice", password="pa55-w0rd")
    with natsync.connect(srv.url, **fast(user="alice", password="pa55-w0rd")) as nc:
        roundtrip(nc)


def test_user_password_in_url(nats_server_factory: Factory) -> None:
    srv = nats_server_factory(user="alice", password="p@ss:w/rd")
    # percent-escaped in the URL, decoded before it is sent
    with natsync.connect(url_with(srv, "alice:p%40ss%3Aw%2Frd"), **fast()) as nc:
        roundtrip(nc)


def test_url_credentials_win_over_options(nats_server_factory: Factory) -> None:
    srv = nats_server_factory(user="alice", password="right")
    url = url_with(srv, "alice:right")
    with natsync.connect(url, **fast(user="alice", password="wrong")) as nc:
        roundtrip(nc)


@pytest.mark.parametrize(
    ("userinfo", "options"),
    [
        (None, {"user": "alice", "password": "wrong"}),
        (None, {"user": "mallory", "password": "right"}),
        ("alice:wrong", {}),
        (None, {}),  # no credentials at all
    ],
)
def test_wrong_user_password_is_rejected(
    nats_server_factory: Factory, userinfo: Optional[str], options: dict[str, Any]
) -> None:
    srv = nats_server_factory(user="alice", password="right")
    url = srv.url if userinfo is None else url_with(srv, userinfo)
    exc = expect_auth_failure(url, **options)
    assert isinstance(exc, errors.AuthorizationViolationError)


# --------------------------------------------------------------------------- token


def test_token_option(nats_server_factory: Factory) -> None:
    srv = nats_server_factory(token="t0k3n-s3cret")
    with natsync.connect(srv.url, **fast(token="t0k3n-s3cret")) as nc:
        roundtrip(nc)


def test_token_in_url(nats_server_factory: Factory) -> None:
    srv = nats_server_factory(token="t0k3n-s3cret")
    with natsync.connect(url_with(srv, "t0k3n-s3cret"), **fast()) as nc:
        roundtrip(nc)


def test_wrong_token_is_rejected(nats_server_factory: Factory) -> None:
    srv = nats_server_factory(token="t0k3n-s3cret")
    expect_auth_failure(srv.url, token="not-it")
    expect_auth_failure(url_with(srv, "not-it"))


def test_token_callable_is_called_on_every_connect(nats_server_factory: Factory) -> None:
    srv = nats_server_factory(token="t0k3n-s3cret")
    calls: list[float] = []
    lock = threading.Lock()

    def token() -> str:
        with lock:
            calls.append(time.monotonic())
        return "t0k3n-s3cret"

    ev = Events()
    nc = natsync.connect(srv.url, **fast(token=token, **ev.callbacks()))
    try:
        roundtrip(nc)
        assert len(calls) == 1
        srv.kill()
        ev.wait_count("disconnected")
        srv.restart()
        ev.wait_count("reconnected")
        roundtrip(nc)
        # one handshake for the connect, one for the reconnect: a fresh token for each
        with lock:
            assert len(calls) == 2
    finally:
        nc.close()


# --------------------------------------------------------------------------- NKeys


@pytest.fixture
def user_key() -> jh.KeyPair:
    return jh.new_keypair(nkeys.PREFIX_BYTE_USER)


def test_nkey_seed_file(nats_server_factory: Factory, user_key: jh.KeyPair, tmp_path: Path) -> None:
    srv = nats_server_factory(config=nkey_server_config(user_key.public))
    seed_file = tmp_path / "user.nk"
    seed_file.write_text(user_key.seed + "\n")
    with natsync.connect(srv.url, **fast(nkeys_seed=str(seed_file))) as nc:
        roundtrip(nc)


def test_nkey_seed_string(nats_server_factory: Factory, user_key: jh.KeyPair) -> None:
    srv = nats_server_factory(config=nkey_server_config(user_key.public))
    with natsync.connect(srv.url, **fast(nkeys_seed_str=user_key.seed)) as nc:
        roundtrip(nc)


def test_wrong_nkey_is_rejected(nats_server_factory: Factory, user_key: jh.KeyPair) -> None:
    srv = nats_server_factory(config=nkey_server_config(user_key.public))
    other = jh.new_keypair(nkeys.PREFIX_BYTE_USER)
    expect_auth_failure(srv.url, nkeys_seed_str=other.seed)


def test_bad_seed_fails_before_sending(nats_server_factory: Factory, user_key: jh.KeyPair) -> None:
    srv = nats_server_factory(config=nkey_server_config(user_key.public))
    bad = user_key.seed[:-2]
    with pytest.raises(errors.InvalidUserCredentialsError) as ei:
        natsync.connect(srv.url, **fast(nkeys_seed_str=bad))
    assert bad not in str(ei.value)


# --------------------------------------------------------------------------- JWT / creds


def test_creds_file(op_server: NatsServer, operator: jh.Operator, tmp_path: Path) -> None:
    creds = operator.user("alice").write(tmp_path / "alice.creds")
    with natsync.connect(op_server.url, **fast(user_credentials=creds)) as nc:
        roundtrip(nc)


def test_user_jwt_cb_and_signature_cb(op_server: NatsServer, operator: jh.Operator) -> None:
    user = operator.user("bob")
    jwt_calls: list[int] = []
    nonces: list[str] = []

    def user_jwt_cb() -> bytes:
        jwt_calls.append(1)
        return user.jwt.encode()

    def signature_cb(nonce: str) -> bytes:
        # nats-py's convention: the base64-encoded signature, as bytes
        nonces.append(nonce)
        return base64.b64encode(user.key.sign(nonce.encode()))

    opts = fast(user_jwt_cb=user_jwt_cb, signature_cb=signature_cb)
    with natsync.connect(op_server.url, **opts) as nc:
        roundtrip(nc)
    assert len(jwt_calls) == 1
    assert len(nonces) == 1 and nonces[0]


def test_creds_of_another_operator_are_rejected(op_server: NatsServer, tmp_path: Path) -> None:
    stranger = jh.make_operator("elsewhere").user("eve")
    exc = expect_auth_failure(op_server.url, user_credentials=stranger.write(tmp_path / "e.creds"))
    assert isinstance(exc, errors.AuthorizationViolationError)


def test_signature_by_the_wrong_key_is_rejected(
    op_server: NatsServer, operator: jh.Operator
) -> None:
    user = operator.user("bob")
    imposter = jh.new_keypair(nkeys.PREFIX_BYTE_USER)
    expect_auth_failure(
        op_server.url,
        user_jwt_cb=lambda: user.jwt,
        signature_cb=lambda nonce: base64.b64encode(imposter.sign(nonce.encode())),
    )


def test_missing_creds_file_is_reported(op_server: NatsServer, tmp_path: Path) -> None:
    path = tmp_path / "nope.creds"
    with pytest.raises(errors.InvalidUserCredentialsError) as ei:
        natsync.connect(op_server.url, **fast(user_credentials=str(path)))
    assert str(path) in str(ei.value)


def test_expired_user_is_rejected_at_connect(
    op_server: NatsServer, operator: jh.Operator, tmp_path: Path
) -> None:
    expired = operator.user("old", expires=int(time.time()) - 60)
    expect_auth_failure(op_server.url, user_credentials=expired.write(tmp_path / "old.creds"))


def test_user_authentication_expired_is_reported(
    op_server: NatsServer, operator: jh.Operator, tmp_path: Path
) -> None:
    # Valid for ~2 s: the server disconnects with 'User Authentication Expired'.
    soon = operator.user("soon", expires=int(time.time()) + 2)
    ev = Events()
    nc = natsync.connect(
        op_server.url,
        **fast(
            user_credentials=soon.write(tmp_path / "soon.creds"),
            max_reconnect_attempts=2,
            **ev.callbacks(),
        ),
    )
    try:
        roundtrip(nc)
        (exc, *_) = ev.wait_error(errors.AuthenticationExpiredError)
        assert isinstance(exc, errors.AuthorizationError)
        # The reconnect is refused (the JWT is expired for good): the client gives up.
        ev.wait_count("closed")
        assert nc.is_closed
    finally:
        nc.close()


def test_permissions_violation_is_reported_and_connection_survives(
    op_server: NatsServer, operator: jh.Operator, tmp_path: Path
) -> None:
    limited = operator.user("limited", pub_allow=["allowed.>"])
    ev = Events()
    opts = fast(user_credentials=limited.write(tmp_path / "lim.creds"), **ev.callbacks())
    with natsync.connect(op_server.url, **opts) as nc:
        sub = nc.subscribe("allowed.>")
        nc.publish("denied.subject", b"no")
        nc.flush(timeout=WAIT)
        (exc,) = ev.wait_error(errors.PermissionsViolationError)
        assert "denied.subject" in str(exc)
        # still connected and usable
        nc.publish("allowed.x", b"yes")
        assert sub.next_msg(timeout=WAIT).data == b"yes"
        nc.flush(timeout=WAIT)
        assert nc.is_connected
        assert "disconnected" not in ev.log


# --------------------------------------------------------------------------- reconnect


def test_auth_failure_on_reconnect_goes_to_error_cb_and_server_leaves_pool(
    nats_server_factory: Factory,
) -> None:
    srv = nats_server_factory(user="alice", password="first")
    port = srv.port
    ev = Events()
    # Reconnect forever: only the auth rule (two failures in a row) can end it.
    nc = natsync.connect(
        srv.url,
        **fast(user="alice", password="first", max_reconnect_attempts=-1, **ev.callbacks()),
    )
    try:
        roundtrip(nc)
        srv.kill()
        ev.wait_count("disconnected")
        # Same port, new password: the client's credentials are now wrong.
        nats_server_factory(port=port, user="alice", password="second")
        failures = ev.wait_error(errors.AuthorizationError, n=2)
        assert all(isinstance(e, errors.AuthorizationViolationError) for e in failures)
        ev.wait_count("closed")
        assert nc.is_closed
        assert "reconnected" not in ev.log
        assert not any(s.port == port for s in nc.servers)
    finally:
        nc.close()


def test_auth_failure_on_one_server_does_not_stop_the_others(
    nats_server_factory: Factory,
) -> None:
    good = nats_server_factory(user="alice", password="pw")
    bad = nats_server_factory(user="alice", password="other")
    ev = Events()
    with natsync.connect(
        [bad.url, good.url], **fast(user="alice", password="pw", **ev.callbacks())
    ) as nc:
        roundtrip(nc)
        assert nc.connected_url is not None and nc.connected_url.port == good.port


# --------------------------------------------------------------------------- secrets


SECRET_PASSWORD = "pw-6f1e0c2b-secret"
SECRET_TOKEN = "tok-9d3a77e4-secret"


def _texts(exc: BaseException) -> str:
    parts = []
    seen: Optional[BaseException] = exc
    while seen is not None:
        parts.append(f"{seen!s} {seen!r}")
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return " ".join(parts)


def test_secrets_never_in_reprs(nats_server_factory: Factory, operator: jh.Operator) -> None:
    srv = nats_server_factory(user="alice", password=SECRET_PASSWORD)
    user = operator.user("u")
    url = url_with(srv, f"alice:{SECRET_PASSWORD}")
    with natsync.connect(url, **fast(user="alice", password=SECRET_PASSWORD)) as nc:
        # (nc.servers and nc.connected_url are the caller's own ParseResults, as in nats-py)
        texts = [repr(nc), str(nc), repr(nc.stats)]
        for text in texts:
            assert SECRET_PASSWORD not in text
    from natsync.options import build_options

    opts = build_options(
        url, user="alice", password=SECRET_PASSWORD, token=SECRET_TOKEN, nkeys_seed_str=user.seed
    )
    text = repr(opts) + str(opts)
    for secret in (SECRET_PASSWORD, SECRET_TOKEN, user.seed):
        assert secret not in text


def test_secrets_never_in_errors_or_logs(
    nats_server_factory: Factory, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    srv = nats_server_factory(user="alice", password="right-one")
    seed = jh.new_keypair(nkeys.PREFIX_BYTE_USER).seed
    secrets = [SECRET_PASSWORD, SECRET_TOKEN, seed]
    attempts: list[tuple[str, dict[str, Any]]] = [
        (srv.url, {"user": "alice", "password": SECRET_PASSWORD}),
        (url_with(srv, f"alice:{SECRET_PASSWORD}"), {}),
        (url_with(srv, SECRET_TOKEN), {}),
        (srv.url, {"token": SECRET_TOKEN}),
        (srv.url, {"nkeys_seed_str": seed}),
        (srv.url, {"nkeys_seed_str": seed[:-1]}),
    ]
    for url, options in attempts:
        with pytest.raises(errors.Error) as ei:
            natsync.connect(url, **fast(**options))
        text = _texts(ei.value)
        for secret in secrets:
            assert secret not in text, f"secret leaked in {type(ei.value).__name__}: {text}"

    # an asynchronous auth failure (reconnect) too
    srv2 = nats_server_factory(user="alice", password=SECRET_PASSWORD)
    port = srv2.port
    ev = Events()
    nc = natsync.connect(
        url_with(srv2, f"alice:{SECRET_PASSWORD}"),
        **fast(max_reconnect_attempts=-1, **ev.callbacks()),
    )
    try:
        srv2.kill()
        ev.wait_count("disconnected")
        nats_server_factory(port=port, user="alice", password="changed")
        for exc in ev.wait_error(errors.AuthorizationError, n=2):
            assert SECRET_PASSWORD not in _texts(exc)
        ev.wait_count("closed")
    finally:
        nc.close()

    for record in caplog.records:
        message = record.getMessage()
        exc_text = _texts(record.exc_info[1]) if record.exc_info and record.exc_info[1] else ""
        for secret in secrets:
            assert secret not in message and secret not in exc_text, record
