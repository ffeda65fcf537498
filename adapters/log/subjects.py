"""Subject names, with tokens normalised the way Kryten does it."""

from __future__ import annotations

import re

from application.log.ports import StreamId

_DROP = re.compile(r"[^a-z0-9_\-]")
# Far above any name the edge lets in (domain.names), far below what makes nats-server end the
# connection (a control line of 4,096 bytes): a subject that long is refused here, not there.
MAX_TOKEN = 200


def token(value: str) -> str:
    """Lowercase, dots removed, spaces to '-', anything else special dropped."""
    if len(value) > MAX_TOKEN:
        raise ValueError(f"a {len(value)}-character name is too long for a subject token")
    cleaned = _DROP.sub("", value.lower().replace(".", "").replace(" ", "-"))
    if not cleaned:
        raise ValueError(f"{value!r} leaves nothing usable as a subject token")
    return cleaned


def event_subject(prefix: str, stream: StreamId) -> str:
    return f"{prefix}.{token(stream.channel)}.{token(stream.aggregate)}.{token(stream.id)}"


def channel_filter(prefix: str, channel: str | None) -> str:
    return f"{prefix}.>" if channel is None else f"{prefix}.{token(channel)}.>"
