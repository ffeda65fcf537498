"""The version lives in pyproject.toml only; this reads it from the installed metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def webqueue_version() -> str:
    try:
        return version("webqueue")
    except PackageNotFoundError:
        return "0+unknown"
