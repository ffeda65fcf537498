"""Signed bearer tokens, and the secret that signs them.

A token is `base64url(payload) + "." + base64url(HMAC-SHA256(secret, base64url(payload)))`, both
parts without padding; the payload is msgspec JSON `{"sub", "role", "iat", "exp", "v": 1}` with
times in whole Unix seconds. The signature covers the payload's text exactly as sent, and it is
checked (in constant time) before the payload is parsed, so nothing unsigned is ever decoded.

The secret is `WEBQUEUE_SECRET` when that is set, else `DATA_DIR/secret.key` (64 hex digits, mode
0600), written on first use so that two processes starting at once end up with the same one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final

import msgspec

from application.identity.ports import Claims
from application.identity.roles import (
    Identity,
    Role,
    Unauthenticated,
    parse_role,
    user_problem,
)

log = logging.getLogger("webqueue.tokens")

DEFAULT_TTL_SEC: Final = 30 * 24 * 3600
"""How long a token lives unless told otherwise: 30 days."""
MAX_TTL_SEC: Final = 365 * 24 * 3600
"""The longest a token may live: 365 days."""
MAX_TOKEN_CHARS: Final = 2048
"""Longer strings are refused before any decoding."""
MIN_SECRET_BYTES: Final = 32
SECRET_ENV: Final = "WEBQUEUE_SECRET"
SECRET_FILE: Final = "secret.key"
TOKEN_VERSION: Final = 1

_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_SECRET_HEX = re.compile(r"[0-9a-f]{64}")


_UnixSeconds = Annotated[int, msgspec.Meta(ge=0, le=253402300799)]  # up to 9999-12-31


class _Payload(msgspec.Struct, omit_defaults=True):
    sub: str
    role: str
    iat: _UnixSeconds
    exp: _UnixSeconds
    v: int
    jti: str | None = None  # tokens issued before revocation by id have none


_encode_payload = msgspec.json.Encoder().encode
_decode_payload = msgspec.json.Decoder(_Payload).decode


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Strict unpadded base64url: only the URL alphabet, and only its one canonical spelling."""
    bad = Unauthenticated("invalid_token", f"The token's {what} is not valid base64url.")
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise bad
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise bad from None
    if _b64encode(raw) != text:  # unused trailing bits set: another spelling of the same bytes
        raise bad
    return raw


def _seconds(now: datetime) -> int:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return int(now.timestamp() // 1)


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenSigner:
    """Issues bearer tokens with one HMAC-SHA256 secret, and verifies them with it or with one
    of the `previous` secrets: after a rotation, tokens signed before it keep working until
    the old secret is dropped from the list."""

    def __init__(self, secret: bytes, *, previous: Sequence[bytes] = ()) -> None:
        for key in (secret, *previous):
            if len(key) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"a token secret must be at least {MIN_SECRET_BYTES} bytes, got {len(key)}"
                )
        self._secret = bytes(secret)
        self._previous = tuple(bytes(p) for p in previous)

    def _sign(self, body: str, secret: bytes | None = None) -> bytes:
        key = self._secret if secret is None else secret
        return hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()

    def _signed_by_any(self, body: str, given: bytes) -> bool:
        matched = False
        for key in (self._secret, *self._previous):  # every key, so timing tells nothing
            matched |= hmac.compare_digest(given, self._sign(body, key))
        return matched

    def issue(
        self, user: str, role: Role, *, ttl_sec: int = DEFAULT_TTL_SEC, now: datetime
    ) -> tuple[str, datetime]:
        """A token for `user` as `role`, valid from `now` for `ttl_sec`; and when it expires."""
        problem = user_problem(user)
        if problem is not None:
            raise ValueError(problem)
        role = parse_role(role)
        if isinstance(ttl_sec, bool) or not isinstance(ttl_sec, int):
            raise TypeError(f"ttl_sec must be an int, got {type(ttl_sec).__name__}")
        if not 1 <= ttl_sec <= MAX_TTL_SEC:
            raise ValueError(f"ttl_sec must be 1 to {MAX_TTL_SEC} seconds, got {ttl_sec}")
        iat = _seconds(now)
        exp = iat + ttl_sec
        payload = _Payload(
            sub=user, role=role, iat=iat, exp=exp, v=TOKEN_VERSION, jti=secrets.token_hex(8)
        )
        body = _b64encode(_encode_payload(payload))
        token = f"{body}.{_b64encode(self._sign(body))}"
        if len(token) > MAX_TOKEN_CHARS:  # cannot happen within the limits above; kept honest
            raise ValueError("the token would be longer than verify accepts")
        return token, datetime.fromtimestamp(exp, UTC)

    def verify(self, token: str, *, now: datetime) -> Identity:
        """The identity `token` names, or `Unauthenticated` saying what is wrong with it."""
        claims = self.claims(token, now=now)
        return Identity(claims.user, claims.role)

    def claims(self, token: str, *, now: datetime) -> Claims:
        """Everything a valid token says (user, role ceiling, times, id), or `Unauthenticated`."""
        current = _seconds(now)
        if not isinstance(token, str) or not token:
            raise Unauthenticated("invalid_token", "The token is empty.")
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated(
                "invalid_token", f"The token is longer than {MAX_TOKEN_CHARS} characters."
            )
        body, dot, signature = token.partition(".")
        if not dot or not body or not signature or "." in signature:
            raise Unauthenticated(
                "invalid_token", "The token is not two base64url parts joined by a dot."
            )
        given = _b64decode(signature, "signature")
        body_raw = _b64decode(body, "payload")
        if not self._signed_by_any(body, given):
            raise Unauthenticated("invalid_token", "The token's signature does not match.")
        try:
            payload = _decode_payload(body_raw)
        except msgspec.DecodeError:
            raise Unauthenticated("invalid_token", "The token's payload is malformed.") from None
        if payload.v != TOKEN_VERSION:
            raise Unauthenticated(
                "invalid_token", f"The token has version {payload.v}; this service reads 1."
            )
        try:
            role = parse_role(payload.role)
        except ValueError:
            raise Unauthenticated("invalid_token", "The token names an unknown role.") from None
        problem = user_problem(payload.sub)
        if problem is not None:
            raise Unauthenticated("invalid_token", f"The token's user is unusable: {problem}.")
        if payload.exp <= payload.iat:
            raise Unauthenticated("invalid_token", "The token expires before it was issued.")
        if payload.exp - payload.iat > MAX_TTL_SEC:
            raise Unauthenticated("invalid_token", "The token lives longer than 365 days.")
        if current >= payload.exp:
            raise Unauthenticated(
                "expired_token",
                f"The token expired at {_iso(payload.exp)}; ask an admin for a new one.",
            )
        return Claims(
            payload.sub,
            role,
            datetime.fromtimestamp(payload.iat, UTC),
            datetime.fromtimestamp(payload.exp, UTC),
            payload.jti if payload.jti and len(payload.jti) <= 64 else None,
        )


def _read_secret_file(path: Path) -> bytes:
    text = ""
    for attempt in range(50):
        text = path.read_text(encoding="ascii", errors="replace").strip()
        if text or attempt == 49:
            break
        time.sleep(0.02)  # only on the no-hard-link fallback: the creator is still writing
    if not _SECRET_HEX.fullmatch(text):
        raise ValueError(
            f"{path} is not a token secret (64 lowercase hex digits); delete it to make a new "
            "one, which invalidates every token issued so far"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        log.warning("%s is readable by others (mode %o); chmod 600 it", path, mode)
    return bytes.fromhex(text)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_secret_file(path: Path) -> None:
    """Write a fresh secret to `path` unless one is there; whoever gets there first wins.

    The secret is written and flushed to a private temporary file first, then hard-linked into
    place: `link` fails if the name exists, so a racing process never sees a half-written file
    and never overwrites the winner's secret. Where the file system has no hard links, the file is
    created exclusively in place instead (and readers wait for its content).
    """
    data = (secrets.token_hex(32) + "\n").encode("ascii")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    _write_private(tmp, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:
        with contextlib.suppress(FileExistsError):
            _write_private(path, data)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def load_secret(data_dir: Path, env: Mapping[str, str]) -> bytes:
    """The token secret: `WEBQUEUE_SECRET` if set, else `data_dir/secret.key`, made on first use."""
    if SECRET_ENV in env:
        value = env[SECRET_ENV]
        if len(value) < MIN_SECRET_BYTES:
            raise ValueError(
                f"{SECRET_ENV} must be at least {MIN_SECRET_BYTES} characters long "
                f"(it has {len(value)}); e.g. python -c 'import secrets; "
                "print(secrets.token_hex(32))'"
            )
        return value.encode("utf-8")
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    if not path.exists():
        _create_secret_file(path)
    return _read_secret_file(path)


PREVIOUS_ENV: Final = "WEBQUEUE_SECRET_PREVIOUS"
PREVIOUS_FILE: Final = "secret.previous"
KEEP_PREVIOUS: Final = 2


def load_previous_secrets(data_dir: Path, env: Mapping[str, str]) -> list[bytes]:
    """Secrets that verify but no longer sign: `WEBQUEUE_SECRET_PREVIOUS` (comma-separated)
    when set, else the lines of `data_dir/secret.previous` that `webqueue secret rotate` keeps."""
    if PREVIOUS_ENV in env:
        return [v.strip().encode("utf-8") for v in env[PREVIOUS_ENV].split(",") if v.strip()]
    path = data_dir / PREVIOUS_FILE
    if not path.exists():
        return []
    lines = path.read_text(encoding="ascii", errors="replace").split()
    return [bytes.fromhex(line) for line in lines if _SECRET_HEX.fullmatch(line)]


def rotate_secret(data_dir: Path) -> None:
    """A new `secret.key`; the old one moves to the head of `secret.previous` (the last
    KEEP_PREVIOUS kept), so tokens it signed keep working. Sessions do not depend on it."""
    path = data_dir / SECRET_FILE
    old = _read_secret_file(path).hex() if path.exists() else None
    previous_path = data_dir / PREVIOUS_FILE
    kept = []
    if previous_path.exists():
        kept = [
            line
            for line in previous_path.read_text(encoding="ascii", errors="replace").split()
            if _SECRET_HEX.fullmatch(line)
        ]
    if old is not None:
        kept = [old, *kept][:KEEP_PREVIOUS]
    tmp = previous_path.with_name(f".{PREVIOUS_FILE}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    _write_private(tmp, ("\n".join(kept) + "\n").encode("ascii"))
    os.replace(tmp, previous_path)
    fresh = path.with_name(f".{SECRET_FILE}.{os.getpid()}.new")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(fresh)
    _write_private(fresh, (secrets.token_hex(32) + "\n").encode("ascii"))
    os.replace(fresh, path)
