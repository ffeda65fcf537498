"""Failures the application reports to every entrypoint alike."""

from __future__ import annotations


class NotFoundError(LookupError):
    """Nothing by that name: an HTTP 404, a NATS `not_found`-style error reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
