"""Which browser joined which name through the demo panel (the embedded default only).

The demo panel lets a person join the simulated channel and read the PMs it sends them, so it
must know whose PMs a browser may read: the names that browser joined, and no others. A demo
join gives the browser a random token (in an HttpOnly cookie); this keeps, for each name, the
SHA-256 of the token of the browser that joined it last. Only hashes are kept and written, so
the file (next to the simulator's state, 0600, replaced atomically) holds nothing a browser
could present; it is kept so a restarted service still knows who joined whom.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from application.errors import StorageUnavailable
from domain.identity.names import name_key

FORMAT = 1


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class DemoBrowsers:
    """name key -> the hash of the token of the browser that holds the name."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._holders: dict[str, str] = {}
        if path is not None:
            self._load(path)

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(32)

    def holds(self, token: str | None, name: str) -> bool:
        """Did the browser presenting `token` demo-join `name` (and no browser since)?"""
        if not token:
            return False
        held = self._holders.get(name_key(name))
        return held is not None and secrets.compare_digest(held, _digest(token))

    def held(self, name: str) -> bool:
        """Does some browser hold `name`?"""
        return name_key(name) in self._holders

    def bind(self, token: str, name: str) -> None:
        """`name` is now the browser's with `token`; whoever held it before no longer does."""
        key, digest = name_key(name), _digest(token)
        if self._holders.get(key) == digest:
            return
        holders = {**self._holders, key: digest}
        self._save(holders)  # first: a write the disk refuses changes nothing
        self._holders = holders

    def _load(self, path: Path) -> None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        if raw.get("format") != FORMAT:
            raise ValueError(f"Unknown demo browsers format {raw.get('format')!r}.")
        self._holders = {str(k): str(v) for k, v in raw["holders"].items()}

    def _save(self, holders: dict[str, str]) -> None:
        if self._path is None:
            return
        path = self._path
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"format": FORMAT, "holders": holders}, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageUnavailable(f"demo browsers: {exc}") from exc
