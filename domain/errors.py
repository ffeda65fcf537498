"""The one way the domain says no."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Rejected(Exception):
    """A command the domain refuses; `code` is stable for machines, `message` is for people.
    `extra`: what a caller needs to act on it (say, the current version after a conflict),
    sent beside code and message over HTTP and NATS."""

    def __init__(self, code: str, message: str, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.extra: dict[str, Any] = dict(extra or {})
