"""Failures the application reports to every entrypoint alike."""

from __future__ import annotations


class StorageUnavailable(Exception):
    """Local storage refused a write (a full disk, a read-only mount): an HTTP 503 that says
    so; whoever holds the work tries again by itself once the storage takes it."""


class NotFoundError(LookupError):
    """Nothing by that name: an HTTP 404, a NATS `not_found`-style error reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
