"""natsync.auth: credentials -> CONNECT fields, .creds parsing, signing, secret hygiene."""

from __future__ import annotations

import base64
import logging
import sys
import traceback
from pathlib import Path
from typing import Any, Callable
from urllib.parse import ParseResult, urlparse

import nacl.signing
import nkeys  # type: ignore[import-untyped]
import pytest

from natsync import auth
from natsync.errors import Error, InvalidUserCredentialsError
from tests import jwt_helpers as jh

NONCE = "k3y-n0nc3_Zm9vYmFy"
URL = urlparse("nats://127.0.0.1:4222")


def fields(
    *,
    user: str | None = None,
    password: str | None = None,
    token: Any = None,
    nkeys_seed: str | None = None,
    nkeys_seed_str: str | None = None,
    user_credentials: auth.Credentials | None = None,
    signature_cb: Callable[[str], bytes] | None = None,
    user_jwt_cb: Callable[[], Any] | None = None,
    url: ParseResult = URL,
    nonce: str | None = NONCE,
) -> dict[str, Any]:
    return auth.connect_auth_fields(
        user=user,
        password=password,
        token=token,
        nkeys_seed=nkeys_seed,
        nkeys_seed_str=nkeys_seed_str,
        user_credentials=user_credentials,
        signature_cb=signature_cb,
        user_jwt_cb=user_jwt_cb,
        url=url,
        nonce=nonce,
    )


def verify(public: str, nonce: str, sig: str) -> None:
    """Raise unless ``sig`` (base64url or std base64) is ``public``'s signature of ``nonce``."""
    raw = base64.urlsafe_b64decode(sig.replace("+", "-").replace("/", "_") + "=" * (-len(sig) % 4))
    decoded = base64.b32decode(public.encode() + b"=" * (-len(public) % 8))
    # public NKey = 1 prefix byte + 32-byte ed25519 key + 2-byte CRC
    nacl.signing.VerifyKey(decoded[1:33]).verify(nonce.encode(), raw)


def all_zero(buf: bytearray) -> bool:
    return len(buf) > 0 and not any(buf)


@pytest.fixture(scope="module")
def operator() -> jh.Operator:
    return jh.make_operator()


@pytest.fixture(scope="module")
def alice(operator: jh.Operator) -> jh.UserCreds:
    return operator.user("alice")


@pytest.fixture
def creds_file(tmp_path: Path, alice: jh.UserCreds) -> str:
    return alice.write(tmp_path / "alice.creds")


@pytest.fixture
def user_key() -> jh.KeyPair:
    return jh.new_keypair(nkeys.PREFIX_BYTE_USER)


@pytest.fixture
def seed_file(tmp_path: Path, user_key: jh.KeyPair) -> str:
    path = tmp_path / "user.nk"
    path.write_text(user_key.seed + "\n")
    return str(path)


# -- precedence -------------------------------------------------------------


def test_no_credentials_gives_no_fields() -> None:
    assert fields() == {}


def test_user_and_password() -> None:
    assert fields(user="bob", password="hunter2") == {"user": "bob", "pass": "hunter2"}


def test_user_without_password_sends_empty_password() -> None:
    assert fields(user="bob") == {"user": "bob", "pass": ""}


def test_token_string() -> None:
    assert fields(token="s3cret") == {"auth_token": "s3cret"}


def test_token_callable_is_called_on_every_connect() -> None:
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return f"tok-{len(calls)}"

    assert fields(token=token) == {"auth_token": "tok-1"}
    assert fields(token=token) == {"auth_token": "tok-2"}
    assert len(calls) == 2


def test_token_wins_over_user_and_password() -> None:
    assert fields(token="t", user="u", password="p") == {"auth_token": "t"}


def test_url_user_and_password_win_over_every_option(creds_file: str, user_key: jh.KeyPair) -> None:
    url = urlparse("nats://urluser:urlpass@127.0.0.1:4222")
    got = fields(
        url=url,
        user="u",
        password="p",
        token="t",
        nkeys_seed_str=user_key.seed,
        user_credentials=creds_file,
    )
    assert got == {"user": "urluser", "pass": "urlpass"}


def test_url_lone_userinfo_is_a_token() -> None:
    got = fields(url=urlparse("nats://tok3n@127.0.0.1:4222"), user="u", password="p")
    assert got == {"auth_token": "tok3n"}


def test_url_userinfo_is_percent_decoded() -> None:
    got = fields(url=urlparse("nats://us%3Aer:p%40ss%2Fw@127.0.0.1:4222"))
    assert got == {"user": "us:er", "pass": "p@ss/w"}


def test_url_with_empty_password_sends_user_and_empty_pass() -> None:
    assert fields(url=urlparse("nats://bob:@h:4222")) == {"user": "bob", "pass": ""}


def test_url_without_userinfo_falls_back_to_options() -> None:
    assert fields(url=urlparse("nats://h:4222"), token="t") == {"auth_token": "t"}


def test_url_token_does_not_call_token_callable() -> None:
    def token() -> str:
        raise AssertionError("must not be called when the URL carries credentials")

    assert fields(url=urlparse("nats://x@h:4222"), token=token) == {"auth_token": "x"}


def test_creds_file_gives_jwt_and_signature(creds_file: str, alice: jh.UserCreds) -> None:
    got = fields(user_credentials=creds_file)
    assert set(got) == {"jwt", "sig"}
    assert got["jwt"] == alice.jwt
    verify(alice.public, NONCE, got["sig"])


def test_signature_is_base64url_without_padding(creds_file: str) -> None:
    sig = fields(user_credentials=creds_file)["sig"]
    assert "=" not in sig and "+" not in sig and "/" not in sig
    assert len(base64.urlsafe_b64decode(sig + "==")) == 64


def test_jwt_wins_over_seed_token_and_user(creds_file: str, user_key: jh.KeyPair) -> None:
    got = fields(
        user_credentials=creds_file,
        nkeys_seed_str=user_key.seed,
        token="t",
        user="u",
        password="p",
    )
    assert set(got) == {"jwt", "sig"}


def test_nkey_seed_string(user_key: jh.KeyPair) -> None:
    got = fields(nkeys_seed_str=user_key.seed)
    assert got["nkey"] == user_key.public
    assert set(got) == {"nkey", "sig"}
    verify(user_key.public, NONCE, got["sig"])


def test_nkey_seed_string_with_surrounding_whitespace(user_key: jh.KeyPair) -> None:
    got = fields(nkeys_seed_str=f"  {user_key.seed}\n")
    assert got["nkey"] == user_key.public


def test_nkey_seed_file(seed_file: str, user_key: jh.KeyPair) -> None:
    got = fields(nkeys_seed=seed_file)
    assert got["nkey"] == user_key.public
    verify(user_key.public, NONCE, got["sig"])


def test_nkey_seed_file_may_be_decorated(tmp_path: Path, user_key: jh.KeyPair) -> None:
    path = tmp_path / "decorated.nk"
    path.write_text(
        "************ IMPORTANT ************\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{user_key.seed}\n------END USER NKEY SEED------\n"
    )
    assert fields(nkeys_seed=str(path))["nkey"] == user_key.public


def test_nkey_wins_over_token_and_user(user_key: jh.KeyPair) -> None:
    got = fields(nkeys_seed_str=user_key.seed, token="t", user="u", password="p")
    assert set(got) == {"nkey", "sig"}


def test_user_jwt_cb_and_signature_cb_nats_py_style(alice: jh.UserCreds) -> None:
    # nats-py callbacks: the JWT as bytes(array), the std-base64 signature as bytes.
    nonces: list[str] = []

    def sig_cb(nonce: str) -> bytes:
        nonces.append(nonce)
        return base64.b64encode(alice.key.sign(nonce.encode()))

    got = fields(user_jwt_cb=lambda: bytearray(alice.jwt.encode()), signature_cb=sig_cb)
    assert nonces == [NONCE]
    assert got["jwt"] == alice.jwt
    assert got["sig"] == base64.b64encode(alice.key.sign(NONCE.encode())).decode()
    verify(alice.public, NONCE, got["sig"])


def test_callbacks_may_return_str(alice: jh.UserCreds) -> None:
    got = fields(
        user_jwt_cb=lambda: alice.jwt + "\n",
        signature_cb=lambda n: auth.sign_nonce(alice.seed.encode(), n).encode(),
    )
    assert got["jwt"] == alice.jwt
    verify(alice.public, NONCE, got["sig"])


def test_user_jwt_cb_overrides_creds_jwt_but_file_seed_signs(
    creds_file: str, alice: jh.UserCreds
) -> None:
    got = fields(user_credentials=creds_file, user_jwt_cb=lambda: b"a.b.c")
    assert got["jwt"] == "a.b.c"
    verify(alice.public, NONCE, got["sig"])


def test_signature_cb_overrides_creds_seed(creds_file: str, alice: jh.UserCreds) -> None:
    got = fields(user_credentials=creds_file, signature_cb=lambda n: b"c2lnbmVk")
    assert got == {"jwt": alice.jwt, "sig": "c2lnbmVk"}


def test_user_jwt_cb_signed_with_nkeys_seed(alice: jh.UserCreds) -> None:
    got = fields(user_jwt_cb=lambda: alice.jwt, nkeys_seed_str=alice.seed)
    assert got["jwt"] == alice.jwt
    verify(alice.public, NONCE, got["sig"])


def test_without_nonce_nothing_is_signed(creds_file: str, user_key: jh.KeyPair) -> None:
    def sig_cb(nonce: str) -> bytes:
        raise AssertionError("no nonce: nothing to sign")

    assert set(fields(user_credentials=creds_file, nonce=None)) == {"jwt"}
    assert fields(nkeys_seed_str=user_key.seed, nonce=None) == {"nkey": user_key.public}
    got = fields(user_jwt_cb=lambda: "a.b.c", signature_cb=sig_cb, nonce=None)
    assert got == {"jwt": "a.b.c"}


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"password": "p"}, "without user"),
        ({"nkeys_seed": "/x", "nkeys_seed_str": "SU"}, "not both"),
        ({"signature_cb": lambda n: b"x"}, "user_jwt_cb"),
        ({"user_jwt_cb": lambda: "a.b.c"}, "signature_cb"),
    ],
)
def test_contradictory_options_are_rejected(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidUserCredentialsError, match=words):
        fields(**kwargs)


def test_contradictory_options_rejected_even_with_url_credentials() -> None:
    with pytest.raises(InvalidUserCredentialsError):
        fields(url=urlparse("nats://u:p@h:4222"), password="p")


# -- callbacks that misbehave -----------------------------------------------


def test_token_callable_raising_is_wrapped() -> None:
    def token() -> str:
        raise RuntimeError("vault unreachable")

    with pytest.raises(
        InvalidUserCredentialsError, match="token callable raised RuntimeError"
    ) as ei:
        fields(token=token)
    assert isinstance(ei.value.__cause__, RuntimeError)


@pytest.mark.parametrize("bad", [None, 42, ""])
def test_token_callable_must_return_a_non_empty_str(bad: Any) -> None:
    with pytest.raises(InvalidUserCredentialsError, match="non-empty str"):
        fields(token=lambda: bad)


def test_signature_cb_raising_is_wrapped(alice: jh.UserCreds) -> None:
    def sig_cb(nonce: str) -> bytes:
        raise KeyError("hsm")

    with pytest.raises(InvalidUserCredentialsError, match="signature_cb raised KeyError") as ei:
        fields(user_jwt_cb=lambda: alice.jwt, signature_cb=sig_cb)
    assert isinstance(ei.value.__cause__, KeyError)


@pytest.mark.parametrize("bad", [b"\xff\xfe\x00raw", b"", "not base64!", 12])
def test_signature_cb_must_return_base64(alice: jh.UserCreds, bad: Any) -> None:
    with pytest.raises(InvalidUserCredentialsError, match="signature_cb"):
        fields(user_jwt_cb=lambda: alice.jwt, signature_cb=lambda n: bad)


@pytest.mark.parametrize("bad", [None, b"", b"\xff\xfe", 3.5])
def test_user_jwt_cb_must_return_a_jwt(alice: jh.UserCreds, bad: Any) -> None:
    with pytest.raises(InvalidUserCredentialsError, match="user_jwt_cb"):
        fields(user_jwt_cb=lambda: bad, nkeys_seed_str=alice.seed)


def test_user_jwt_cb_raising_is_wrapped(alice: jh.UserCreds) -> None:
    def jwt_cb() -> bytes:
        raise OSError("gone")

    with pytest.raises(InvalidUserCredentialsError, match="user_jwt_cb raised OSError"):
        fields(user_jwt_cb=jwt_cb, nkeys_seed_str=alice.seed)


# -- .creds parsing ---------------------------------------------------------


def test_load_creds_nsc_format(creds_file: str, alice: jh.UserCreds) -> None:
    jwt, seed = auth.load_creds(creds_file)
    assert jwt == alice.jwt
    assert isinstance(seed, bytearray)
    assert seed == bytearray(alice.seed.encode())


def test_load_creds_accepts_pathlike(tmp_path: Path, alice: jh.UserCreds) -> None:
    path = Path(alice.write(tmp_path / "a.creds"))
    assert auth.load_creds(path)[0] == alice.jwt


def _load_text(tmp_path: Path, text: str) -> tuple[str, bytes]:
    """``load_creds`` of a file holding ``text``: the JWT and the seed's bytes."""
    path = tmp_path / "user.creds"
    path.write_bytes(text.encode())
    jwt, seed = auth.load_creds(str(path))
    return jwt, bytes(seed)


def test_load_creds_is_tolerant_of_layout(tmp_path: Path, alice: jh.UserCreds) -> None:
    # CRLF, other dash counts, indentation, blank lines inside blocks, no final newline.
    text = (
        "\r\n  ---BEGIN NATS USER JWT---------\r\n\r\n"
        f"   {alice.jwt}   \r\n"
        "\r\n--------END NATS USER JWT---\r\n"
        "some commentary in between\r\n"
        "\t----- BEGIN   USER NKEY SEED -----\r\n"
        f"{alice.seed}\r\n"
        "------END USER NKEY SEED------"
    )
    assert _load_text(tmp_path, text) == (alice.jwt, alice.seed.encode())


def test_load_creds_seed_block_first(tmp_path: Path, alice: jh.UserCreds) -> None:
    text = (
        f"-----BEGIN USER NKEY SEED-----\n{alice.seed}\n------END USER NKEY SEED------\n"
        f"-----BEGIN NATS USER JWT-----\n{alice.jwt}\n------END NATS USER JWT------\n"
    )
    assert _load_text(tmp_path, text) == (alice.jwt, alice.seed.encode())


def test_load_creds_unlabelled_blocks_in_order(tmp_path: Path, alice: jh.UserCreds) -> None:
    # Like nats.go: without labels the first block is the JWT and the second the seed.
    text = (
        f"-----BEGIN-----\n{alice.jwt}\n-----END-----\n"
        f"-----BEGIN-----\n{alice.seed}\n-----END-----\n"
    )
    assert _load_text(tmp_path, text) == (alice.jwt, alice.seed.encode())


def _creds_error(tmp_path: Path, text: str) -> InvalidUserCredentialsError:
    path = tmp_path / "bad.creds"
    path.write_text(text)
    with pytest.raises(InvalidUserCredentialsError) as ei:
        auth.load_creds(str(path))
    assert str(path) in str(ei.value)
    return ei.value


def test_load_creds_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.creds"
    with pytest.raises(InvalidUserCredentialsError, match="does not exist") as ei:
        auth.load_creds(str(path))
    assert str(path) in str(ei.value)


def test_load_creds_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidUserCredentialsError, match="directory"):
        auth.load_creds(str(tmp_path))


def test_load_creds_empty(tmp_path: Path) -> None:
    assert "empty" in str(_creds_error(tmp_path, "  \n\n"))


def test_load_creds_without_jwt_block(tmp_path: Path, alice: jh.UserCreds) -> None:
    text = f"-----BEGIN USER NKEY SEED-----\n{alice.seed}\n------END USER NKEY SEED------\n"
    exc = _creds_error(tmp_path, text)
    assert "no user JWT" in str(exc)
    assert alice.seed not in str(exc)


def test_load_creds_without_seed_block(tmp_path: Path, alice: jh.UserCreds) -> None:
    text = f"-----BEGIN NATS USER JWT-----\n{alice.jwt}\n------END NATS USER JWT------\n"
    exc = _creds_error(tmp_path, text)
    assert "no NKey seed" in str(exc)
    assert alice.jwt not in str(exc)


def test_load_creds_empty_seed_block(tmp_path: Path, alice: jh.UserCreds) -> None:
    text = (
        f"-----BEGIN NATS USER JWT-----\n{alice.jwt}\n------END NATS USER JWT------\n"
        "-----BEGIN USER NKEY SEED-----\n\n------END USER NKEY SEED------\n"
    )
    assert "no NKey seed" in str(_creds_error(tmp_path, text))


def test_load_creds_block_without_end(tmp_path: Path, alice: jh.UserCreds) -> None:
    text = (
        f"-----BEGIN NATS USER JWT-----\n{alice.jwt}\n------END NATS USER JWT------\n"
        f"-----BEGIN USER NKEY SEED-----\n{alice.seed}\n"
    )
    exc = _creds_error(tmp_path, text)
    assert "no END line" in str(exc)
    assert alice.seed not in str(exc)


def test_load_creds_malformed_jwt(tmp_path: Path, alice: jh.UserCreds) -> None:
    text = (
        "-----BEGIN NATS USER JWT-----\nnot a jwt at all\n------END NATS USER JWT------\n"
        f"-----BEGIN USER NKEY SEED-----\n{alice.seed}\n------END USER NKEY SEED------\n"
    )
    exc = _creds_error(tmp_path, text)
    assert "does not hold a JWT" in str(exc)
    assert alice.seed not in str(exc)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-1],  # truncated
        lambda s: "X" + s[1:],  # not a seed
        lambda s: s[:10] + "1" + s[11:],  # not base32
        lambda s: s.lower(),
    ],
)
def test_load_creds_bad_seed_shape(
    tmp_path: Path, alice: jh.UserCreds, mangle: Callable[[str], str]
) -> None:
    bad_seed = mangle(alice.seed)
    exc = _creds_error(tmp_path, jh.creds_text(alice.jwt, bad_seed))
    assert "valid NKey seed" in str(exc)
    assert bad_seed not in str(exc) and alice.jwt not in str(exc)


def _flip_checksum(seed: str) -> str:
    # Keep the shape (58 base32 chars, 'S' first) but break the CRC.
    last = "A" if seed[-5] != "A" else "B"
    return seed[:-5] + last + seed[-4:]


def test_bad_seed_checksum_is_caught_when_signing(tmp_path: Path, alice: jh.UserCreds) -> None:
    bad_seed = _flip_checksum(alice.seed)
    path = tmp_path / "crc.creds"
    path.write_text(jh.creds_text(alice.jwt, bad_seed))
    with pytest.raises(InvalidUserCredentialsError, match="not a valid NKey seed") as ei:
        fields(user_credentials=str(path))
    text = _all_text(ei.value)
    assert bad_seed not in text and alice.jwt not in text


def test_unreadable_creds_file(tmp_path: Path, alice: jh.UserCreds) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = Path(alice.write(tmp_path / "locked.creds"))
    path.chmod(0)
    with pytest.raises(InvalidUserCredentialsError, match="not readable"):
        auth.load_creds(str(path))


def test_missing_seed_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidUserCredentialsError, match="NKey seed file .* does not exist"):
        fields(nkeys_seed=str(tmp_path / "none.nk"))


def test_empty_seed_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.nk"
    path.write_text("\n\n")
    with pytest.raises(InvalidUserCredentialsError, match="empty"):
        fields(nkeys_seed=str(path))


# -- signing ----------------------------------------------------------------


def test_sign_nonce_verifies_with_nkeys(user_key: jh.KeyPair) -> None:
    sig = auth.sign_nonce(bytearray(user_key.seed.encode()), NONCE)
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    kp = nkeys.from_seed(bytearray(user_key.seed.encode()))
    assert kp.verify(NONCE.encode(), raw) is True
    with pytest.raises(nkeys.ErrInvalidSignature):
        kp.verify(b"another nonce", raw)


def test_sign_nonce_does_not_wipe_callers_seed(user_key: jh.KeyPair) -> None:
    seed = bytearray(user_key.seed.encode())
    auth.sign_nonce(seed, NONCE)
    assert seed == bytearray(user_key.seed.encode())


def test_public_key_from_seed(user_key: jh.KeyPair) -> None:
    assert auth.public_key_from_seed(user_key.seed) == user_key.public
    assert auth.public_key_from_seed(user_key.seed.encode()) == user_key.public
    assert auth.public_key_from_seed(bytearray(user_key.seed.encode())) == user_key.public


@pytest.mark.parametrize("bad", ["", "SUABC", "not-a-seed" * 6])
def test_bad_seed_strings_are_rejected_without_echo(bad: str) -> None:
    with pytest.raises(InvalidUserCredentialsError) as ei:
        fields(nkeys_seed_str=bad)
    if bad:
        assert bad not in str(ei.value)


def test_public_key_as_seed_is_rejected(user_key: jh.KeyPair) -> None:
    with pytest.raises(InvalidUserCredentialsError, match="not a valid NKey seed"):
        auth.public_key_from_seed(user_key.public)


def test_bad_seed_checksum_in_seed_string(user_key: jh.KeyPair) -> None:
    bad = _flip_checksum(user_key.seed)
    with pytest.raises(InvalidUserCredentialsError) as ei:
        fields(nkeys_seed_str=bad)
    assert ei.value.__cause__ is None
    assert ei.value.__context__ is None or ei.value.__suppress_context__
    assert bad not in str(ei.value) and bad not in repr(ei.value)


# -- secrets ----------------------------------------------------------------


def _all_text(exc: BaseException) -> str:
    """Message and repr of ``exc`` and of every exception chained to it."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        parts.extend(traceback.format_exception_only(type(seen), seen))
        parts.append(repr(seen))
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return "".join(parts)


def test_no_secret_in_any_error(
    tmp_path: Path, alice: jh.UserCreds, user_key: jh.KeyPair, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [alice.seed, alice.jwt, user_key.seed, "hunter2", "t0k3n"]
    attempts: list[Callable[[], Any]] = [
        lambda: fields(nkeys_seed_str=_flip_checksum(user_key.seed)),
        lambda: fields(password="hunter2"),
        lambda: fields(token=lambda: None, user="u", password="hunter2"),
        lambda: fields(user_jwt_cb=lambda: alice.jwt, signature_cb=lambda n: b"\xff" + b"t0k3n"),
        lambda: auth.load_creds(str(tmp_path / "missing.creds")),
    ]
    bad = tmp_path / "bad.creds"
    bad.write_text(jh.creds_text(alice.jwt, alice.seed[:-3]))
    attempts.append(lambda: auth.load_creds(str(bad)))
    for attempt in attempts:
        with pytest.raises(Error) as ei:
            attempt()
        text = _all_text(ei.value)
        for secret in secrets:
            assert secret not in text
    for record in caplog.records:
        for secret in secrets:
            assert secret not in record.getMessage()


def test_redact_url_hides_userinfo() -> None:
    assert auth.redact_url(urlparse("nats://bob:hunter2@host:4222")) == "nats://***@host:4222"
    assert auth.redact_url(urlparse("tls://t0k3n@[::1]:4222")) == "tls://***@[::1]:4222"
    assert auth.redact_url(urlparse("nats://host:4222")) == "nats://host:4222"


# -- seed wiping ------------------------------------------------------------


class Captured:
    def __init__(self) -> None:
        self.buffers: list[bytearray] = []

    def wrap(self, fn: Callable[..., Any], pick: Callable[[Any], bytearray]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            self.buffers.append(pick(result))
            return result

        return wrapper


def test_creds_seed_and_file_buffer_are_wiped(
    monkeypatch: pytest.MonkeyPatch, creds_file: str
) -> None:
    cap = Captured()
    monkeypatch.setattr(auth, "_read_secret_file", cap.wrap(auth._read_secret_file, lambda b: b))
    monkeypatch.setattr(auth, "load_creds", cap.wrap(auth.load_creds, lambda r: r[1]))
    monkeypatch.setattr(nkeys, "from_seed", cap.wrap(nkeys.from_seed, lambda kp: kp._seed))
    got = fields(user_credentials=creds_file)
    assert "sig" in got
    # file buffer, keypair's seed copy, load_creds' seed: all overwritten with zeros
    assert len(cap.buffers) == 3
    assert all(all_zero(buf) for buf in cap.buffers)


def test_nkey_seed_file_buffers_are_wiped(monkeypatch: pytest.MonkeyPatch, seed_file: str) -> None:
    cap = Captured()
    monkeypatch.setattr(auth, "_read_secret_file", cap.wrap(auth._read_secret_file, lambda b: b))
    monkeypatch.setattr(auth, "_load_seed_file", cap.wrap(auth._load_seed_file, lambda b: b))
    monkeypatch.setattr(nkeys, "from_seed", cap.wrap(nkeys.from_seed, lambda kp: kp._seed))
    fields(nkeys_seed=seed_file)
    assert len(cap.buffers) == 4  # file, seed, one keypair for the public key, one to sign
    assert all(all_zero(buf) for buf in cap.buffers)


def test_nkey_seed_string_copy_is_wiped(
    monkeypatch: pytest.MonkeyPatch, user_key: jh.KeyPair
) -> None:
    cap = Captured()
    monkeypatch.setattr(auth, "_seed_from_options", cap.wrap(auth._seed_from_options, lambda b: b))
    fields(nkeys_seed_str=user_key.seed)
    assert len(cap.buffers) == 1 and all_zero(cap.buffers[0])


def test_seed_is_wiped_when_signing_fails(monkeypatch: pytest.MonkeyPatch, creds_file: str) -> None:
    cap = Captured()
    monkeypatch.setattr(auth, "load_creds", cap.wrap(auth.load_creds, lambda r: r[1]))
    monkeypatch.setattr(auth, "sign_nonce", _raise_invalid)
    with pytest.raises(InvalidUserCredentialsError):
        fields(user_credentials=creds_file)
    assert len(cap.buffers) == 1 and all_zero(cap.buffers[0])


def _raise_invalid(*args: Any) -> str:
    raise InvalidUserCredentialsError("nats: test")


def test_creds_seed_not_read_when_callbacks_sign(
    monkeypatch: pytest.MonkeyPatch, creds_file: str
) -> None:
    cap = Captured()
    monkeypatch.setattr(auth, "load_creds", cap.wrap(auth.load_creds, lambda r: r[1]))
    fields(user_credentials=creds_file, user_jwt_cb=lambda: "a.b.c", signature_cb=lambda n: b"c2ln")
    assert cap.buffers == []


# -- nkeys not installed ------------------------------------------------------


def test_missing_nkeys_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, user_key: jh.KeyPair, creds_file: str
) -> None:
    monkeypatch.setitem(sys.modules, "nkeys", None)  # makes `import nkeys` raise ImportError
    for attempt in (
        lambda: fields(nkeys_seed_str=user_key.seed),
        lambda: fields(user_credentials=creds_file),
        lambda: auth.sign_nonce(user_key.seed.encode(), NONCE),
    ):
        with pytest.raises(InvalidUserCredentialsError, match=r'pip install "natsync\[nkeys\]"'):
            attempt()


def test_missing_nkeys_does_not_affect_other_auth(
    monkeypatch: pytest.MonkeyPatch, creds_file: str, alice: jh.UserCreds
) -> None:
    monkeypatch.setitem(sys.modules, "nkeys", None)
    assert fields(token="t") == {"auth_token": "t"}
    assert fields(user="u", password="p") == {"user": "u", "pass": "p"}
    # parsing .creds needs no nkeys; nor do caller-provided callbacks
    assert auth.load_creds(creds_file)[0] == alice.jwt
    got = fields(user_jwt_cb=lambda: alice.jwt, signature_cb=lambda n: b"c2ln")
    assert got == {"jwt": alice.jwt, "sig": "c2ln"}


# -- (jwt_file, seed_file) pair, as nats-py accepts ---------------------------


def test_creds_as_jwt_and_seed_file_pair(tmp_path: Path, alice: jh.UserCreds) -> None:
    jwt_file = tmp_path / "user.jwt"
    jwt_file.write_text(alice.jwt + "\n")
    seed_file = tmp_path / "user.nk"
    seed_file.write_text(alice.seed)
    got = fields(user_credentials=(str(jwt_file), str(seed_file)))
    assert got["jwt"] == alice.jwt
    verify(alice.public, NONCE, got["sig"])


def test_jwt_file_may_be_decorated(tmp_path: Path, alice: jh.UserCreds) -> None:
    jwt_file = tmp_path / "user.jwt"
    jwt_file.write_text(
        f"-----BEGIN NATS USER JWT-----\n{alice.jwt}\n------END NATS USER JWT------\n"
    )
    got = fields(user_credentials=(str(jwt_file), str(tmp_path / "unused.nk")), nonce=None)
    assert got == {"jwt": alice.jwt}


def test_jwt_file_without_jwt(tmp_path: Path, alice: jh.UserCreds) -> None:
    jwt_file = tmp_path / "user.jwt"
    jwt_file.write_text("garbage\n")
    seed_file = tmp_path / "user.nk"
    seed_file.write_text(alice.seed)
    with pytest.raises(InvalidUserCredentialsError, match="does not hold a JWT"):
        fields(user_credentials=(str(jwt_file), str(seed_file)))
