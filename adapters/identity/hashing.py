"""Keyed hashes for one-time codes and CSRF tokens, from the service's secrets.

Each purpose has its own key, derived from a secret by HMAC with the purpose's name, so a code
hash, a CSRF token and a token signature can never stand in for one another. A code hash is
HMAC-SHA256(key, challenge id + ":" + code): without the key, the log's hash tells nothing
about the code (an 8-character code from 31 symbols has 8.5e11 values; the key is 256 bits).
The key id is the first 12 hex digits of SHA-256 of the key; codes hashed before a rotation are
checked with the previous secret's key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence


def _derive(secret: bytes, purpose: str) -> bytes:
    return hmac.new(secret, f"webqueue:{purpose}".encode(), hashlib.sha256).digest()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


class HmacCodeHasher:
    def __init__(self, secret: bytes, previous: Sequence[bytes] = ()) -> None:
        keys = [_derive(s, "otp") for s in (secret, *previous)]
        self._keys = {_key_id(k): k for k in keys}
        self._current = _key_id(keys[0])

    @property
    def key_id(self) -> str:
        return self._current

    def hash(self, key_id: str, challenge_id: str, code: str) -> str | None:
        key = self._keys.get(key_id)
        if key is None:
            return None
        message = f"{challenge_id}:{code}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()


class HmacCsrf:
    """A CSRF token bound to one session: HMAC(key, session id); any held key checks it."""

    def __init__(self, secret: bytes, previous: Sequence[bytes] = ()) -> None:
        self._keys = [_derive(s, "csrf") for s in (secret, *previous)]

    def _token(self, key: bytes, session_id: str) -> str:
        mac = hmac.new(key, session_id.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:24]).decode("ascii")

    def token(self, session_id: str) -> str:
        return self._token(self._keys[0], session_id)

    def check(self, session_id: str, token: str) -> bool:
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(self._token(key, session_id), token)
        return matched
