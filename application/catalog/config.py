"""`[catalog]`: where the library comes from, how it is read, and when it is refreshed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from attrs import Attribute, field, frozen

SourceKind = Literal["demo", "file", "mediacms", "none"]
# The PRD's manifest URL; stock MediaCMS serves no manifest, the channel's customised one does.
DEFAULT_MANIFEST = "https://www.420grindhouse.com/api/v1/media/cytube/{video_id}.json?format=json"


def _template(_: object, attribute: Attribute[str], value: str) -> None:
    if "{video_id}" not in value:
        raise ValueError("must contain {video_id}")
    if not value.startswith(("https://", "http://", "{base}/")):
        raise ValueError("must be an http(s) URL, or start with {base}/ (the MediaCMS URL)")


def _batch(_: object, attribute: Attribute[int], value: int) -> None:
    if not 1 <= value <= 500:
        raise ValueError(f"must be 1 to 500, got {value}")


@frozen
class CatalogConfig:
    """`source`: `demo` (the catalog shipped with webqueue), `file` (`file`, JSON or CSV),
    `mediacms` (`mediacms_url`, with `mediacms_token` for the uncapped editor listing) or `none`.
    `manifest_template` makes each item's CyTube manifest URL from its `{video_id}`; `{base}` is
    replaced by the MediaCMS base URL. `refresh_interval_minutes` 0 means on demand only.
    """

    source: SourceKind = "demo"
    file: Path | None = None
    mediacms_url: str | None = field(default=None, metadata={"url": True})
    mediacms_token: str | None = field(default=None, metadata={"secret": True})
    manifest_template: str = field(default=DEFAULT_MANIFEST, validator=_template)
    refresh_interval_minutes: float = 0.0
    refresh_on_start: bool = True  # when there is no snapshot yet, or ours was interrupted
    details: Literal["changed", "all"] = "changed"  # which items' details a refresh reads
    detail_concurrency: int = 4
    facets_endpoint: bool = True  # try a customised instance's bulk /api/v1/media_facets
    timeout_sec: float = 30.0
    retries: int = 4
    batch_size: int = field(default=200, validator=_batch)
    stale_after_sec: float = 300.0  # another process's refresh that long silent is taken over
