"""A catalog source read from a file: JSON (a list of items, or `{"items": [...]}`) or CSV (a
header row). Each item: `video_id` (also `friendly_token` or `id`), `title`, `categories` and
`tags` (a JSON list, or one string split on `|`, `;` or `,`), `duration_sec` (or `duration`),
`thumbnail_url`, `published_at` (ISO 8601; or `add_date`) and, optionally, MediaCMS's `state`,
`encoding_status`, `media_type` and `is_reviewed`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from application.catalog.ports import CatalogSourceError, Report
from domain.catalog.items import CatalogItem, make_item

_SPLIT = re.compile(r"[|;]|,(?!\s)")


def demo_catalog_text() -> str:
    return resources.files("adapters.catalog_file").joinpath("demo_catalog.json").read_text("utf-8")


def _names(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    text = str(value).strip()
    if text.startswith("["):
        try:
            return tuple(str(v) for v in json.loads(text))
        except ValueError:
            pass
    return tuple(part.strip() for part in _SPLIT.split(text) if part.strip())


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: Any) -> int:
    try:
        return max(int(float(value or 0)), 0)
    except (TypeError, ValueError):
        return 0


def _bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes")


def items_from(records: list[Mapping[str, Any]], manifest_template: str) -> list[CatalogItem]:
    out = []
    for ordinal, raw in enumerate(records):
        video_id = str(raw.get("video_id") or raw.get("friendly_token") or raw.get("id") or "")
        out.append(
            make_item(
                video_id=video_id,
                title=str(raw.get("title") or ""),
                ordinal=ordinal,
                manifest_template=manifest_template,
                categories=_names(raw.get("categories")),
                tags=_names(raw.get("tags")),
                duration_sec=_int(raw.get("duration_sec", raw.get("duration"))),
                thumbnail_url=(str(raw["thumbnail_url"]) if raw.get("thumbnail_url") else None),
                published_at=_when(raw.get("published_at") or raw.get("add_date")),
                state=raw.get("state") or None,
                encoding_status=raw.get("encoding_status") or None,
                media_type=raw.get("media_type") or None,
                is_reviewed=_bool(raw.get("is_reviewed")),
            )
        )
    return out


def parse(text: str, *, csv_format: bool, manifest_template: str, name: str) -> list[CatalogItem]:
    try:
        if csv_format:
            records: list[Mapping[str, Any]] = list(csv.DictReader(io.StringIO(text)))
        else:
            data = json.loads(text)
            records = data.get("items", []) if isinstance(data, dict) else data
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise CatalogSourceError(f"{name}: expected a list of items (objects)")
    except (ValueError, csv.Error) as exc:
        kind = "CSV" if csv_format else "JSON"
        raise CatalogSourceError(f"{name} is not valid {kind}: {exc}") from None
    return items_from(records, manifest_template)


class FileCatalogSource:
    """`path` None: the demo catalog shipped with webqueue."""

    def __init__(self, path: Path | None, manifest_template: str) -> None:
        self._path = path
        self._template = manifest_template

    @property
    def description(self) -> str:
        return "the demo catalog" if self._path is None else f"the file {self._path.name}"

    async def read(self, known: Mapping[str, CatalogItem], report: Report) -> list[CatalogItem]:
        if self._path is None:
            text, csv_format, name = demo_catalog_text(), False, "the demo catalog"
        else:
            path = self._path
            try:
                text = await asyncio.to_thread(path.read_text, "utf-8")
            except OSError as exc:
                raise CatalogSourceError(
                    f"cannot read the catalog file {path}: {exc.strerror}"
                ) from None
            csv_format, name = path.suffix.lower() == ".csv", path.name
        items = parse(text, csv_format=csv_format, manifest_template=self._template, name=name)
        report.listed(len(items), len(items))
        return items
