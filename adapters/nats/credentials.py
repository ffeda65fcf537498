"""Who we are to NATS: a user and password, a token, or a NATS `.creds` file.

Credentials never travel on a command line (where `ps` shows them to every local user): they
come from a file (`--nats-creds FILE`, `WEBQUEUE_NATS_CREDS=FILE`) or from the environment
(`WEBQUEUE_NATS_USER` + `WEBQUEUE_NATS_PASSWORD`, or `WEBQUEUE_NATS_TOKEN`). A credentials file
is either a NATS `.creds` file (a user JWT and its nkey seed, for operator-mode servers; nats-py
needs the `nkeys` package for it) or a small JSON object `{"user": ..., "password": ...}` or
`{"token": ...}`, which is what the embedded server writes for its users.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from attrs import frozen

from adapters.nats.servers import server_urls

__all__ = [
    "CredentialsError",
    "NatsCredentials",
    "credentials_from_env",
    "load_credentials",
    "reject_url_credentials",
    "write_password_file",
]

ENV_CREDS = "WEBQUEUE_NATS_CREDS"
ENV_USER = "WEBQUEUE_NATS_USER"
ENV_PASSWORD = "WEBQUEUE_NATS_PASSWORD"
ENV_TOKEN = "WEBQUEUE_NATS_TOKEN"
_JWT_MARK = "-----BEGIN NATS USER JWT-----"


class CredentialsError(RuntimeError):
    """Credentials that cannot be read or make no sense; the message says which and why."""


@frozen(repr=False)
class NatsCredentials:
    """One way of proving who we are; `repr` never shows a secret."""

    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds_file: Path | None = None  # a NATS .creds file (JWT + nkey seed)

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for `nats.connect`."""
        if self.creds_file is not None:
            return {"user_credentials": str(self.creds_file)}
        if self.token is not None:
            return {"token": self.token}
        if self.user is not None:
            return {"user": self.user, "password": self.password}
        return {}

    @property
    def anonymous(self) -> bool:
        return not self.connect_options()

    def __repr__(self) -> str:
        if self.creds_file is not None:
            return f"NatsCredentials(creds_file={str(self.creds_file)!r})"
        if self.token is not None:
            return "NatsCredentials(token=***)"
        if self.user is not None:
            return f"NatsCredentials(user={self.user!r}, password=***)"
        return "NatsCredentials(anonymous)"


ANONYMOUS = NatsCredentials()


def load_credentials(path: Path) -> NatsCredentials:
    """Read a credentials file: a NATS `.creds` file, or JSON with user/password or token."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialsError(f"cannot read NATS credentials {path}: {exc.strerror}") from exc
    if _JWT_MARK in text:
        return NatsCredentials(creds_file=path)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise CredentialsError(
            f"{path} is neither a NATS .creds file nor a JSON object with "
            '"user"/"password" or "token"'
        )
    user, password, token = data.get("user"), data.get("password"), data.get("token")
    if isinstance(token, str) and token:
        return NatsCredentials(token=token)
    if isinstance(user, str) and user and isinstance(password, str):
        return NatsCredentials(user=user, password=password)
    raise CredentialsError(f'{path} has neither "user" and "password" nor "token"')


def credentials_from_env(
    environ: Mapping[str, str], creds_file: Path | None = None
) -> NatsCredentials:
    """`creds_file` if given, else what the environment names; anonymous when nothing is."""
    if creds_file is not None:
        return load_credentials(creds_file)
    if environ.get(ENV_CREDS):
        return load_credentials(Path(environ[ENV_CREDS]))
    if environ.get(ENV_TOKEN):
        return NatsCredentials(token=environ[ENV_TOKEN])
    if environ.get(ENV_USER):
        return NatsCredentials(user=environ[ENV_USER], password=environ.get(ENV_PASSWORD, ""))
    return ANONYMOUS


def reject_url_credentials(url: str) -> None:
    """A `nats://user:pass@host` URL puts the secret on the command line: refuse it (in any
    of a cluster's URLs)."""
    if any(urlsplit(one).username or urlsplit(one).password for one in server_urls(url)):
        raise CredentialsError(
            "the NATS URL carries credentials, which every local user can read off the "
            f"command line; give them in a file (--nats-creds FILE or {ENV_CREDS}) or in "
            f"{ENV_USER}/{ENV_PASSWORD} instead"
        )


def write_password_file(path: Path, user: str) -> NatsCredentials:
    """Create `path` (mode 0600, never overwritten) with a new random password for `user`;
    an existing file is read instead."""
    if path.exists():
        return load_credentials(path)
    credentials = NatsCredentials(user=user, password=secrets.token_urlsafe(32))
    body = json.dumps({"user": user, "password": credentials.password}).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_credentials(path)  # another process made it first
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    return credentials
