"""Credentials -> CONNECT fields. Pure: no sockets, no threads, no logging.

The handshake calls :func:`connect_auth_fields` once per connection attempt with
the server's INFO nonce, so a token callable, a ``user_jwt_cb`` and a
``signature_cb`` are called afresh on every connect and reconnect, and files
(``user_credentials``, ``nkeys_seed``) are re-read each time (a rotated file is
picked up on the next reconnect).

Which credentials are sent (the first that applies wins; nothing is mixed):

1. user info in the server's URL -- it applies to that server only:
   ``nats://user:pass@host`` sends ``user``/``pass``, ``nats://token@host`` sends
   ``auth_token``. Percent-escapes are decoded (``%40`` for ``@``).
2. a user JWT: ``user_credentials`` (a ``.creds`` file, or a ``(jwt_file,
   seed_file)`` pair as nats-py accepts) and/or ``user_jwt_cb``, sending ``jwt`` +
   ``sig``. The JWT comes from ``user_jwt_cb`` if given, else the file; the nonce
   is signed by ``signature_cb`` if given, else with the seed of ``user_credentials``,
   else with ``nkeys_seed``/``nkeys_seed_str``.
3. an NKey seed (``nkeys_seed`` file or ``nkeys_seed_str``): ``nkey`` + ``sig``.
4. ``token`` (a string, or a zero-argument callable returning a fresh token):
   ``auth_token``.
5. ``user`` and ``password``: ``user``/``pass``.

Callbacks follow nats-py: ``signature_cb(nonce: str) -> bytes`` returns the
*base64-encoded* ed25519 signature of the nonce's bytes (nats-py returns
``base64.b64encode(sig)``; base64url without padding, as nats.go sends, works as
well since the server accepts both), and ``user_jwt_cb() -> bytes`` returns the
user JWT (``bytes``, ``bytearray`` or ``str``). natsync itself signs with base64url
without padding, as nats.go does.

When the server's INFO carries no nonce (it does not do NKey/JWT auth), the
``jwt`` or ``nkey`` is sent without a ``sig`` and nothing is signed.

Secrets: seeds are read into ``bytearray`` buffers and overwritten with zeros as
soon as the signature is made (best effort: the ``nkeys``/``nacl`` libraries keep
transient immutable copies that Python cannot wipe). No seed, JWT, password or
token is ever put in an exception message; errors name the file and the problem.
"""

from __future__ import annotations

import base64
import importlib
import os
import re
from types import ModuleType
from typing import Any, Callable, Iterator, Union
from urllib.parse import ParseResult, unquote

from .errors import InvalidUserCredentialsError

__all__ = [
    "NKEYS_INSTALL_HINT",
    "connect_auth_fields",
    "load_creds",
    "public_key_from_seed",
    "redact_url",
    "sign_nonce",
]

StrPath = Union[str, "os.PathLike[str]"]
#: a ``.creds`` file, or (as nats-py accepts) a ``(jwt_file, seed_file)`` pair
Credentials = Union[StrPath, tuple[StrPath, StrPath]]
TokenSource = Union[str, Callable[[], str]]
SignatureCallback = Callable[[str], bytes]
JWTCallback = Callable[[], Union[bytes, bytearray, str]]

NKEYS_INSTALL_HINT = 'install it with: pip install "natsync[nkeys]"'

#: A credentials or seed file larger than this is certainly not one.
_MAX_FILE_SIZE = 1024 * 1024

_WHITESPACE = b" \t\r\n\v\f"
_BASE32_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_JWT_RE = re.compile(rb"[A-Za-z0-9_\-=]+\.[A-Za-z0-9_\-=]+\.[A-Za-z0-9_\-=]+")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/_\-]+={0,2}")
# An encoded seed: 2 prefix bytes + 32 key bytes + 2 CRC bytes = 36 bytes = 58 base32 chars.
_SEED_RAW_LEN = 36


# ---------------------------------------------------------------------------
# small helpers


def _wipe(buf: bytearray | None) -> None:
    """Overwrite ``buf`` with zeros in place."""
    if buf:
        with memoryview(buf) as view:
            view[:] = bytes(len(buf))


def _nkeys() -> ModuleType:
    """Import ``nkeys`` lazily; it is an optional extra."""
    try:
        return importlib.import_module("nkeys")
    except ImportError:
        raise InvalidUserCredentialsError(
            "nats: NKey and JWT authentication need the optional 'nkeys' package, which is "
            f"not installed; {NKEYS_INSTALL_HINT}"
        ) from None


def redact_url(url: ParseResult) -> str:
    """``url`` as a string fit for messages and logs: user info becomes ``***``."""
    if "@" in url.netloc:
        netloc = "***@" + url.netloc.rpartition("@")[2]
        return url._replace(netloc=netloc).geturl()
    return url.geturl()


def _strip_range(buf: bytearray, start: int, end: int) -> tuple[int, int]:
    while start < end and buf[start] in _WHITESPACE:
        start += 1
    while end > start and buf[end - 1] in _WHITESPACE:
        end -= 1
    return start, end


def _read_secret_file(path: StrPath, what: str) -> bytearray:
    """Read a small file into a fresh bytearray (wipeable) without other copies."""
    name = os.fspath(path)
    try:
        with open(name, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            if size > _MAX_FILE_SIZE:
                raise InvalidUserCredentialsError(
                    f"nats: {what} file {name!r} is {size} bytes, too large to be one; "
                    "check the path"
                )
            buf = bytearray(size)
            got = 0
            with memoryview(buf) as view:
                while got < size:
                    n = f.readinto(view[got:])
                    if not n:
                        break
                    got += n
            if got < size:
                del buf[got:]
            return buf
    except FileNotFoundError:
        raise InvalidUserCredentialsError(
            f"nats: {what} file {name!r} does not exist; check the path"
        ) from None
    except IsADirectoryError:
        raise InvalidUserCredentialsError(
            f"nats: {what} file {name!r} is a directory; give the path of the file"
        ) from None
    except PermissionError:
        raise InvalidUserCredentialsError(
            f"nats: {what} file {name!r} is not readable by this process (permission denied)"
        ) from None
    except OSError as exc:
        raise InvalidUserCredentialsError(
            f"nats: cannot read {what} file {name!r}: {exc.strerror or type(exc).__name__}"
        ) from None


# ---------------------------------------------------------------------------
# .creds parsing


class _Block:
    __slots__ = ("end", "label", "start")

    def __init__(self, label: str, start: int, end: int) -> None:
        self.label = label  # e.g. "NATS USER JWT", upper case
        self.start = start  # content range in the buffer, whitespace stripped
        self.end = end


def _marker(buf: bytearray, start: int, end: int) -> tuple[str, str] | None:
    """``("BEGIN"|"END", label)`` if the line is a ``---- BEGIN X ----`` marker."""
    s, e = _strip_range(buf, start, end)
    if e - s < 6 or not buf.startswith(b"---", s, e) or not buf.endswith(b"---", s, e):
        return None
    # A marker line holds no secret, so copying it is fine.
    text = bytes(buf[s:e]).strip(b"-").strip().decode("ascii", "replace").upper()
    word, _, label = text.partition(" ")
    if word not in ("BEGIN", "END"):
        return None
    return word, " ".join(label.split())


def _lines(buf: bytearray) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each line of ``buf``, without its ``\\n`` (no copies)."""
    pos = 0
    n = len(buf)
    while pos < n:
        nl = buf.find(b"\n", pos)
        line_end = n if nl < 0 else nl
        yield pos, line_end
        pos = line_end + 1


def _find_blocks(buf: bytearray, name: str) -> list[_Block]:
    blocks: list[_Block] = []
    open_label: str | None = None
    content_start = 0
    for pos, line_end in _lines(buf):
        marker = _marker(buf, pos, line_end)
        if marker is not None:
            word, label = marker
            if word == "BEGIN":
                if open_label is not None:
                    raise InvalidUserCredentialsError(
                        f"nats: credentials file {name!r}: the '{open_label}' block has no END "
                        "line before the next BEGIN; regenerate the file (nsc generate creds)"
                    )
                open_label = label
                content_start = line_end + 1
            elif open_label is not None:
                s, e = _strip_range(buf, content_start, pos)
                blocks.append(_Block(open_label, s, e))
                open_label = None
    if open_label is not None:
        raise InvalidUserCredentialsError(
            f"nats: credentials file {name!r}: the '{open_label}' block has no END line; "
            "regenerate the file (nsc generate creds)"
        )
    return blocks


def _pick(blocks: list[_Block], keyword: str, fallback_index: int) -> _Block | None:
    for block in blocks:
        if keyword in block.label:
            return block
    # Unlabelled files: like the Go clients, the first block is the JWT, the second the seed.
    unlabelled = not any(("JWT" in b.label or "SEED" in b.label) for b in blocks)
    if unlabelled and len(blocks) > fallback_index:
        return blocks[fallback_index]
    return None


def _has_inner_whitespace(buf: bytearray, block: _Block) -> bool:
    return any(buf[i] in _WHITESPACE for i in range(block.start, block.end))


def _check_seed_shape(seed: bytearray, where: str) -> None:
    """Cheap structural check that needs no nkeys: 'S' + base32, 58 characters."""
    if len(seed) != 58 or seed[0] != ord("S") or any(c not in _BASE32_ALPHABET for c in seed):
        raise InvalidUserCredentialsError(
            f"nats: {where} does not hold a valid NKey seed (expected 58 base32 characters "
            "starting with 'S'); regenerate it"
        )


def _seed_at(buf: bytearray, start: int, end: int, where: str) -> bytearray:
    """A copy of the seed in ``buf[start:end]``, checked (and wiped if it is malformed)."""
    seed = buf[start:end]
    try:
        _check_seed_shape(seed, where)
    except InvalidUserCredentialsError:
        _wipe(seed)
        raise
    return seed


def load_creds(path: StrPath) -> tuple[str, bytearray]:
    """Parse a ``.creds`` file into ``(user_jwt, seed)``.

    The file holds a ``-----BEGIN NATS USER JWT-----`` block and a
    ``-----BEGIN USER NKEY SEED-----`` block; the number of dashes, surrounding
    whitespace, blank lines, CRLF line ends and the text between the blocks do not
    matter. The seed is returned in a ``bytearray`` the caller should wipe
    (overwrite with zeros) once it has signed. Any problem raises
    :class:`~natsync.errors.InvalidUserCredentialsError` naming the file and the
    problem, never its content.
    """
    name = os.fspath(path)
    buf = _read_secret_file(name, "credentials")
    try:
        if _strip_range(buf, 0, len(buf)) == (len(buf), len(buf)):
            raise InvalidUserCredentialsError(
                f"nats: credentials file {name!r} is empty; regenerate it (nsc generate creds)"
            )
        blocks = _find_blocks(buf, name)
        jwt_block = _pick(blocks, "JWT", 0)
        seed_block = _pick(blocks, "SEED", 1)
        if jwt_block is None or jwt_block.start == jwt_block.end:
            raise InvalidUserCredentialsError(
                f"nats: credentials file {name!r} has no user JWT (a '-----BEGIN NATS USER "
                "JWT-----' block); is it a .creds file? regenerate it (nsc generate creds)"
            )
        if seed_block is None or seed_block.start == seed_block.end:
            raise InvalidUserCredentialsError(
                f"nats: credentials file {name!r} has no NKey seed (a '-----BEGIN USER NKEY "
                "SEED-----' block); regenerate it (nsc generate creds)"
            )
        if _has_inner_whitespace(buf, jwt_block) or not _JWT_RE.fullmatch(
            buf, jwt_block.start, jwt_block.end
        ):
            raise InvalidUserCredentialsError(
                f"nats: credentials file {name!r}: the JWT block does not hold a JWT "
                "(three base64url parts separated by dots); regenerate the file"
            )
        if _has_inner_whitespace(buf, seed_block):
            raise InvalidUserCredentialsError(
                f"nats: credentials file {name!r}: the seed block must hold the seed on one "
                "line; regenerate the file"
            )
        jwt = buf[jwt_block.start : jwt_block.end].decode("ascii")
        return jwt, _seed_at(buf, seed_block.start, seed_block.end, f"credentials file {name!r}")
    finally:
        _wipe(buf)


def _load_jwt_file(path: StrPath) -> str:
    """Read a user JWT file: a bare JWT, or a decorated ``... JWT`` block."""
    name = os.fspath(path)
    buf = _read_secret_file(name, "user JWT")
    try:
        blocks = _find_blocks(buf, name)
        block = _pick(blocks, "JWT", 0)
        start, end = (block.start, block.end) if block else _strip_range(buf, 0, len(buf))
        if end <= start or not _JWT_RE.fullmatch(buf, start, end):
            raise InvalidUserCredentialsError(
                f"nats: user JWT file {name!r} does not hold a JWT "
                "(three base64url parts separated by dots)"
            )
        return buf[start:end].decode("ascii")
    finally:
        _wipe(buf)


def _load_seed_file(path: StrPath) -> bytearray:
    """Read an NKey seed file: a bare seed, or a decorated ``... NKEY SEED`` block."""
    name = os.fspath(path)
    buf = _read_secret_file(name, "NKey seed")
    try:
        blocks = _find_blocks(buf, name)
        seed_block = _pick(blocks, "SEED", 1)
        if seed_block is None and len(blocks) == 1:
            seed_block = blocks[0]
        if seed_block is not None:
            start, end = seed_block.start, seed_block.end
        else:
            # A bare seed: the first non-blank line.
            start, end = 0, 0
            for pos, line_end in _lines(buf):
                start, end = _strip_range(buf, pos, line_end)
                if end > start:
                    break
        if end <= start:
            raise InvalidUserCredentialsError(
                f"nats: NKey seed file {name!r} is empty; it should hold a seed ('SU...')"
            )
        return _seed_at(buf, start, end, f"NKey seed file {name!r}")
    finally:
        _wipe(buf)


# ---------------------------------------------------------------------------
# signing


def _keypair(seed: bytes | bytearray, where: str) -> Any:
    """An nkeys KeyPair for ``seed``, validated (prefix, length and CRC)."""
    nkeys = _nkeys()
    bad = InvalidUserCredentialsError(
        f"nats: {where} is not a valid NKey seed (bad encoding, length or checksum); "
        "check that the whole seed was copied"
    )
    if len(seed) != 58 or seed[:1] != b"S":
        raise bad
    padded = bytearray(seed)
    padded.extend(b"=" * (-len(seed) % 8))
    try:
        raw = base64.b32decode(padded)
    except (ValueError, TypeError):
        raise bad from None
    finally:
        _wipe(padded)
    if len(raw) != _SEED_RAW_LEN or bytes(nkeys.crc16_checksum(raw[:-2])) != raw[-2:]:
        raise bad
    del raw
    copy = bytearray(seed)  # the KeyPair keeps it; _release wipes it
    try:
        return nkeys.from_seed(copy)
    except (nkeys.NkeysError, ValueError, TypeError, IndexError):  # nacl's are ValueError/TypeError
        _wipe(copy)
        raise bad from None


def _release(kp: Any) -> None:
    seed = getattr(kp, "_seed", None)
    if isinstance(seed, bytearray):
        _wipe(seed)
    try:
        kp.wipe()
    except AttributeError:  # already wiped
        pass


def public_key_from_seed(seed: bytes | bytearray | str) -> str:
    """The public NKey (``U...``, ``A...``, ...) of an encoded seed."""
    if isinstance(seed, str):
        owned = bytearray(seed.encode("ascii", "replace"))
        try:
            kp = _keypair(owned, "the seed")
        finally:
            _wipe(owned)
    else:
        kp = _keypair(seed, "the seed")
    try:
        return bytes(kp.public_key).decode("ascii")
    finally:
        _release(kp)


def sign_nonce(seed: bytes | bytearray, nonce: str) -> str:
    """Sign the server's nonce with ``seed``: ed25519 over the nonce's bytes,
    base64url without padding (as nats.go sends; the server also accepts
    standard base64). ``seed`` is not wiped; that is the caller's job.
    """
    kp = _keypair(seed, "the seed")
    try:
        raw = kp.sign(nonce.encode("utf-8"))
    finally:
        _release(kp)
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode("ascii")


# ---------------------------------------------------------------------------
# callbacks


def _call(label: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``; an exception it raises becomes an error naming ``label``, chained."""
    try:
        return fn(*args)
    except Exception as exc:
        raise InvalidUserCredentialsError(
            f"nats: {label} raised {type(exc).__name__}; see the chained exception"
        ) from exc


def _returned_text(value: Any, name: str, what: str, not_ascii: str) -> str:
    """What callback ``name`` returned (``what``, as bytes or str) as stripped text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise InvalidUserCredentialsError(not_ascii) from None
    if not isinstance(value, str):
        raise InvalidUserCredentialsError(
            f"nats: {name} must return {what} as bytes or str, got {type(value).__name__}"
        )
    return value.strip()


def _call_token(token: Callable[[], str]) -> str:
    value: Any = _call("the token callable", token)
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if not isinstance(value, str) or not value:
        raise InvalidUserCredentialsError(
            f"nats: the token callable must return a non-empty str, got {type(value).__name__}"
        )
    return value


def _call_user_jwt_cb(cb: JWTCallback) -> str:
    text = _returned_text(
        _call("user_jwt_cb", cb), "user_jwt_cb", "the user JWT",
        "nats: user_jwt_cb returned bytes that are not an ASCII JWT",
    )
    if not text:
        raise InvalidUserCredentialsError("nats: user_jwt_cb returned an empty JWT")
    return text


def _call_signature_cb(cb: SignatureCallback, nonce: str) -> str:
    text = _returned_text(
        _call("signature_cb", cb, nonce), "signature_cb", "the base64-encoded signature",
        "nats: signature_cb must return the base64-encoded signature "
        "(e.g. base64.b64encode(kp.sign(nonce.encode()))), not raw signature bytes",
    )
    if not text or not _BASE64_RE.fullmatch(text):
        raise InvalidUserCredentialsError(
            "nats: signature_cb must return the base64-encoded signature "
            "(e.g. base64.b64encode(kp.sign(nonce.encode()))); it returned "
            + ("nothing" if not text else "something else")
        )
    return text


# ---------------------------------------------------------------------------
# the CONNECT fields


def _check_options(
    *,
    user: str | None,
    password: str | None,
    nkeys_seed: StrPath | None,
    nkeys_seed_str: str | None,
    user_credentials: Credentials | None,
    signature_cb: SignatureCallback | None,
    user_jwt_cb: JWTCallback | None,
) -> None:
    if password is not None and user is None:
        raise InvalidUserCredentialsError("nats: password was given without user; set both")
    if nkeys_seed is not None and nkeys_seed_str is not None:
        raise InvalidUserCredentialsError(
            "nats: give nkeys_seed (a file) or nkeys_seed_str (the seed), not both"
        )
    if signature_cb is not None and user_jwt_cb is None and user_credentials is None:
        raise InvalidUserCredentialsError(
            "nats: signature_cb signs for a user JWT; give user_jwt_cb (or user_credentials) too"
        )
    if (
        user_jwt_cb is not None
        and signature_cb is None
        and user_credentials is None
        and nkeys_seed is None
        and nkeys_seed_str is None
    ):
        raise InvalidUserCredentialsError(
            "nats: user_jwt_cb needs a way to sign the server's nonce; give signature_cb "
            "(or nkeys_seed / nkeys_seed_str / user_credentials)"
        )


def _url_fields(url: ParseResult) -> dict[str, Any] | None:
    username, password = url.username, url.password
    if password is not None:
        return {"user": unquote(username or ""), "pass": unquote(password)}
    if username:
        return {"auth_token": unquote(username)}
    return None


def _seed_from_options(nkeys_seed: StrPath | None, nkeys_seed_str: str | None) -> bytearray:
    if nkeys_seed is not None:
        return _load_seed_file(nkeys_seed)
    assert nkeys_seed_str is not None
    seed = bytearray(nkeys_seed_str.encode("ascii", "replace"))
    start, end = _strip_range(seed, 0, len(seed))
    if start or end != len(seed):
        stripped = seed[start:end]
        _wipe(seed)
        seed = stripped
    return seed


def connect_auth_fields(
    *,
    user: str | None,
    password: str | None,
    token: str | Callable[[], str] | None,
    nkeys_seed: StrPath | None,
    nkeys_seed_str: str | None,
    user_credentials: Credentials | None,
    signature_cb: SignatureCallback | None,
    user_jwt_cb: JWTCallback | None,
    url: ParseResult,
    nonce: str | None,
) -> dict[str, Any]:
    """The authentication fields of CONNECT for one connection attempt to ``url``.

    Returns a dict with some of ``user``/``pass``, ``auth_token``, ``nkey`` +
    ``sig``, ``jwt`` + ``sig`` (empty when no credentials are configured); see the
    module docstring for the precedence. ``nonce`` is the server's INFO nonce.
    Raises :class:`~natsync.errors.InvalidUserCredentialsError` for credentials that
    cannot be used (a missing or malformed file, a bad seed, a callback that
    failed, ``nkeys`` not installed, contradictory options).
    """
    _check_options(
        user=user,
        password=password,
        nkeys_seed=nkeys_seed,
        nkeys_seed_str=nkeys_seed_str,
        user_credentials=user_credentials,
        signature_cb=signature_cb,
        user_jwt_cb=user_jwt_cb,
    )

    from_url = _url_fields(url)
    if from_url is not None:
        return from_url

    if user_credentials is not None or user_jwt_cb is not None:
        return _jwt_fields(
            nkeys_seed=nkeys_seed,
            nkeys_seed_str=nkeys_seed_str,
            user_credentials=user_credentials,
            signature_cb=signature_cb,
            user_jwt_cb=user_jwt_cb,
            nonce=nonce,
        )

    if nkeys_seed is not None or nkeys_seed_str is not None:
        seed = _seed_from_options(nkeys_seed, nkeys_seed_str)
        try:
            fields: dict[str, Any] = {"nkey": public_key_from_seed(seed)}
            if nonce is not None:
                fields["sig"] = sign_nonce(seed, nonce)
            return fields
        finally:
            _wipe(seed)

    if token is not None:
        value = _call_token(token) if callable(token) else token
        if value:
            return {"auth_token": value}

    if user is not None:
        return {"user": user, "pass": password if password is not None else ""}

    return {}


def _jwt_fields(
    *,
    nkeys_seed: StrPath | None,
    nkeys_seed_str: str | None,
    user_credentials: Credentials | None,
    signature_cb: SignatureCallback | None,
    user_jwt_cb: JWTCallback | None,
    nonce: str | None,
) -> dict[str, Any]:
    seed: bytearray | None = None
    try:
        jwt: str | None = None
        need_seed = nonce is not None and signature_cb is None
        if isinstance(user_credentials, tuple):
            jwt_file, seed_file = user_credentials
            if user_jwt_cb is None:
                jwt = _load_jwt_file(jwt_file)
            if need_seed:
                seed = _load_seed_file(seed_file)
        elif user_credentials is not None and (user_jwt_cb is None or need_seed):
            jwt, seed = load_creds(user_credentials)
            if not need_seed:
                _wipe(seed)
                seed = None
        if user_jwt_cb is not None:
            jwt = _call_user_jwt_cb(user_jwt_cb)
        assert jwt is not None
        fields: dict[str, Any] = {"jwt": jwt}
        if nonce is None:
            return fields
        if signature_cb is not None:
            fields["sig"] = _call_signature_cb(signature_cb, nonce)
            return fields
        if seed is None:
            seed = _seed_from_options(nkeys_seed, nkeys_seed_str)
        fields["sig"] = sign_nonce(seed, nonce)
        return fields
    finally:
        _wipe(seed)
