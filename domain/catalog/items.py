"""One catalog item, and the rule that decides whether it can be played from CyTube.

An item that cannot be played is kept, marked unavailable with the reason a viewer reads
("missing or invalid video IDs" in the PRD): hiding it would leave people wondering where it went.
"""

from __future__ import annotations

import re
from datetime import datetime

from attrs import frozen

from domain.catalog.text import fold

# MediaCMS friendly tokens are short URL-safe strings; anything else cannot make a manifest URL.
VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PLAYABLE_TYPES = ("video", "audio")
MAX_CATEGORIES = 50
MAX_TAGS = 100


@frozen
class CatalogItem:
    """`key` identifies the item across snapshots: its video id, or (when it has none that is
    usable) a stand-in made from its title, so it can still be listed and diffed."""

    key: str
    video_id: str
    title: str
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    duration_sec: int = 0
    thumbnail_url: str | None = None
    published_at: datetime | None = None
    manifest_url: str | None = None
    available: bool = True
    unavailable_reason: str | None = None


def item_key(video_id: str, title: str, ordinal: int) -> str:
    if VIDEO_ID.match(video_id):
        return video_id
    return f"~{ordinal}-{fold(title)[:40]}"


def availability(
    *,
    video_id: str,
    duration_sec: int,
    state: str | None = None,
    encoding_status: str | None = None,
    media_type: str | None = None,
    is_reviewed: bool | None = None,
) -> str | None:
    """Why the item cannot be bought or queued, or None when it can."""
    if not video_id:
        return "It has no video id, so there is no manifest for CyTube to play."
    if not VIDEO_ID.match(video_id):
        return f"Its video id {video_id[:80]!r} is not valid, so no manifest URL can be made."
    if media_type is not None and media_type not in PLAYABLE_TYPES:
        return f"It is {'an' if media_type[:1] in 'aeiou' else 'a'} {media_type}, not a video."
    if encoding_status is not None and encoding_status != "success":
        return f"It is not ready to play yet (encoding: {encoding_status})."
    if state is not None and state not in ("public", "unlisted"):
        return f"It is {state} on the media library."
    if is_reviewed is False:
        return "It has not been reviewed on the media library yet."
    if duration_sec <= 0:
        return "Its duration is not known, so it cannot be priced."
    return None


def make_item(
    *,
    video_id: str,
    title: str,
    ordinal: int,
    manifest_template: str,
    categories: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    duration_sec: int = 0,
    thumbnail_url: str | None = None,
    published_at: datetime | None = None,
    state: str | None = None,
    encoding_status: str | None = None,
    media_type: str | None = None,
    is_reviewed: bool | None = None,
) -> CatalogItem:
    """An item as a source read it: trimmed, deduplicated, classified, its manifest URL made
    from the template (`{video_id}` is replaced) when its id is usable."""
    video_id = (video_id or "").strip()
    title = " ".join((title or "").split())[:500] or video_id or "(untitled)"
    duration = max(int(duration_sec or 0), 0)
    reason = availability(
        video_id=video_id,
        duration_sec=duration,
        state=state,
        encoding_status=encoding_status,
        media_type=media_type,
        is_reviewed=is_reviewed,
    )
    usable = bool(VIDEO_ID.match(video_id))
    return CatalogItem(
        key=item_key(video_id, title, ordinal),
        video_id=video_id,
        title=title,
        categories=_unique(categories)[:MAX_CATEGORIES],
        tags=_unique(tags)[:MAX_TAGS],
        duration_sec=duration,
        thumbnail_url=thumbnail_url or None,
        published_at=published_at,
        manifest_url=manifest_template.replace("{video_id}", video_id) if usable else None,
        available=reason is None,
        unavailable_reason=reason,
    )


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        name = " ".join(str(value).split())[:200]
        if name and fold(name) not in seen:
            seen.add(fold(name))
            out.append(name)
    return tuple(out)
