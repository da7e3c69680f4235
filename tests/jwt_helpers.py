"""Test-only NATS JWT v2 material: operator, system account, account, users.

Built with the ``nkeys`` package; the JWTs are encoded by hand the way
nats-io/jwt v2 does it:

* header ``{"typ":"JWT","alg":"ed25519-nkey"}``;
* claims ``jti`` (base32, no padding, of the SHA-512/256 of the claims encoded with
  an empty ``jti``), ``iat``, ``iss`` (public key of the signer), ``sub``
  (public key of the subject), ``name``, optional ``exp``, and
  ``nats: {type, version: 2, ...}``;
* each part JSON, base64url without padding; the signature is ed25519 by the
  issuer over ``header.claims``, base64url without padding.

:func:`make_operator` returns an :class:`Operator` whose :meth:`Operator.server_config`
is a config snippet for ``nats-server`` in operator mode with the in-memory
resolver, and whose :meth:`Operator.user` issues user credentials (optionally
expiring, optionally with publish/subscribe permissions) as JWT + seed +
``.creds`` text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nkeys  # type: ignore[import-untyped]

__all__ = [
    "Account",
    "Operator",
    "UserCreds",
    "creds_text",
    "encode_jwt",
    "make_operator",
    "new_keypair",
]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(obj: Any) -> str:
    return _b64url(json.dumps(obj, separators=(",", ":")).encode())


@dataclass(frozen=True)
class KeyPair:
    """A generated NKey: encoded seed and public key, both ``str``."""

    seed: str
    public: str

    def nkeys_pair(self) -> Any:
        return nkeys.from_seed(bytearray(self.seed.encode()))

    def sign(self, data: bytes) -> bytes:
        kp = self.nkeys_pair()
        try:
            return bytes(kp.sign(data))
        finally:
            kp.wipe()


def new_keypair(prefix: int) -> KeyPair:
    """A fresh NKey with role ``prefix`` (e.g. ``nkeys.PREFIX_BYTE_USER``)."""
    seed = nkeys.encode_seed(os.urandom(32), prefix)
    kp = nkeys.from_seed(bytearray(seed))
    public = bytes(kp.public_key).decode()
    kp.wipe()
    return KeyPair(seed=bytes(seed).decode(), public=public)


def _jti(claims: dict[str, Any]) -> str:
    body = dict(claims, jti="")
    data = json.dumps(body, separators=(",", ":")).encode()
    try:
        digest = hashlib.new("sha512_256", data).digest()
    except ValueError:  # OpenSSL without SHA-512/256: the server does not check jti
        digest = hashlib.sha256(data).digest()
    return base64.b32encode(digest).rstrip(b"=").decode()


def encode_jwt(
    *,
    issuer: KeyPair,
    subject: str,
    name: str,
    nats: dict[str, Any],
    expires: int | None = None,
    issued_at: int | None = None,
) -> str:
    """Encode and sign a NATS v2 JWT."""
    claims: dict[str, Any] = {
        "iat": int(time.time()) if issued_at is None else issued_at,
        "iss": issuer.public,
        "name": name,
        "sub": subject,
        "nats": dict(nats, version=2),
    }
    if expires is not None:
        claims["exp"] = expires
    claims["jti"] = _jti(claims)
    header = _b64url_json({"typ": "JWT", "alg": "ed25519-nkey"})
    payload = _b64url_json(claims)
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{_b64url(issuer.sign(signing_input))}"


def decode_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT (no verification)."""
    part = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return result


def creds_text(user_jwt: str, seed: str) -> str:
    """A ``.creds`` file as ``nsc generate creds`` writes it."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{user_jwt}\n"
        "------END NATS USER JWT------\n"
        "\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n"
        "\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n"
        "\n"
        "*************************************************************\n"
    )


@dataclass(frozen=True)
class UserCreds:
    """A user: JWT, seed and the ``.creds`` text holding both."""

    jwt: str
    key: KeyPair

    @property
    def seed(self) -> str:
        return self.key.seed

    @property
    def public(self) -> str:
        return self.key.public

    @property
    def creds(self) -> str:
        return creds_text(self.jwt, self.key.seed)

    def write(self, path: os.PathLike[str] | str) -> str:
        """Write the ``.creds`` file (mode 0600) and return its path."""
        p = Path(path)
        p.write_text(self.creds)
        p.chmod(0o600)
        return str(p)


def _permissions(allow: list[str] | None, deny: list[str] | None) -> dict[str, Any]:
    perm: dict[str, Any] = {}
    if allow is not None:
        perm["allow"] = list(allow)
    if deny is not None:
        perm["deny"] = list(deny)
    return perm


@dataclass(frozen=True)
class Account:
    key: KeyPair
    jwt: str
    name: str

    @property
    def public(self) -> str:
        return self.key.public

    def user(
        self,
        name: str = "user",
        *,
        expires: int | None = None,
        pub_allow: list[str] | None = None,
        pub_deny: list[str] | None = None,
        sub_allow: list[str] | None = None,
        sub_deny: list[str] | None = None,
        bearer_token: bool = False,
    ) -> UserCreds:
        """Issue a user of this account. ``expires`` is a Unix time in seconds."""
        key = new_keypair(nkeys.PREFIX_BYTE_USER)
        nats: dict[str, Any] = {
            "pub": _permissions(pub_allow, pub_deny),
            "sub": _permissions(sub_allow, sub_deny),
            "subs": -1,
            "data": -1,
            "payload": -1,
            "type": "user",
        }
        if bearer_token:
            nats["bearer_token"] = True
        token = encode_jwt(
            issuer=self.key, subject=key.public, name=name, nats=nats, expires=expires
        )
        return UserCreds(jwt=token, key=key)


def _new_account(operator: KeyPair, name: str) -> Account:
    key = new_keypair(nkeys.PREFIX_BYTE_ACCOUNT)
    nats: dict[str, Any] = {
        "limits": {
            "subs": -1,
            "data": -1,
            "payload": -1,
            "imports": -1,
            "exports": -1,
            "wildcards": True,
            "conn": -1,
            "leaf": -1,
        },
        "default_permissions": {"pub": {}, "sub": {}},
        "type": "account",
    }
    token = encode_jwt(issuer=operator, subject=key.public, name=name, nats=nats)
    return Account(key=key, jwt=token, name=name)


@dataclass(frozen=True)
class Operator:
    """An operator with a system account and one application account."""

    key: KeyPair
    jwt: str
    system: Account
    account: Account
    extra_accounts: tuple[Account, ...] = field(default=())

    def user(self, name: str = "user", **kwargs: Any) -> UserCreds:
        """A user of the application account (see :meth:`Account.user`)."""
        return self.account.user(name, **kwargs)

    def server_config(self) -> str:
        """Config text for ``nats-server``: operator mode, MEMORY resolver, preloaded accounts."""
        accounts = (self.system, self.account, *self.extra_accounts)
        preload = "\n".join(f"  {a.public}: {a.jwt}" for a in accounts)
        return (
            f"operator: {self.jwt}\n"
            f"system_account: {self.system.public}\n"
            "resolver: MEMORY\n"
            "resolver_preload: {\n"
            f"{preload}\n"
            "}\n"
        )


def make_operator(name: str = "natsync-test") -> Operator:
    """Generate an operator, its system account ``SYS`` and an account ``APP``."""
    op_key = new_keypair(nkeys.PREFIX_BYTE_OPERATOR)
    system = _new_account(op_key, "SYS")
    account = _new_account(op_key, "APP")
    op_jwt = encode_jwt(
        issuer=op_key,
        subject=op_key.public,
        name=name,
        nats={"type": "operator", "system_account": system.public},
    )
    return Operator(key=op_key, jwt=op_jwt, system=system, account=account)
