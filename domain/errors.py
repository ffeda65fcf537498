"""The one way the domain says no."""

from __future__ import annotations


class Rejected(Exception):
    """A command the domain refuses; `code` is stable for machines, `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
