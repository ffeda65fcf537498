"""Subject names, with tokens normalised the way Kryten does it."""

from __future__ import annotations

import re

from application.log.ports import StreamId

_DROP = re.compile(r"[^a-z0-9_\-]")


def token(value: str) -> str:
    """Lowercase, dots removed, spaces to '-', anything else special dropped."""
    cleaned = _DROP.sub("", value.lower().replace(".", "").replace(" ", "-"))
    if not cleaned:
        raise ValueError(f"{value!r} leaves nothing usable as a subject token")
    return cleaned


def event_subject(prefix: str, stream: StreamId) -> str:
    return f"{prefix}.{token(stream.channel)}.{token(stream.aggregate)}.{token(stream.id)}"


def channel_filter(prefix: str, channel: str | None) -> str:
    return f"{prefix}.>" if channel is None else f"{prefix}.{token(channel)}.>"
