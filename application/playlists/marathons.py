"""The marathon builder's preview: sources read from the log, the domain's pure methods, and
an answer the page can show, reorder and save as a new playlist (`PlaylistService.create`
with the items and the `Recipe`). A shuffle without a seed gets one drawn here; the answer
carries it, so the same order can be made again."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from attrs import frozen

from application.identity.roles import Identity, require
from application.playlists.service import PlaylistEntry, PlaylistService, entry
from domain.decider import RandomSource
from domain.errors import Rejected
from domain.media import Media
from domain.playlists.marathon import (
    LABELS,
    MAX_SOURCES,
    SEED_MAX,
    Method,
    Recipe,
    check_seed,
    marathon,
    unused_sources,
)


class MarathonSource(msgspec.Struct):
    label: str
    playlist_id: str
    name: str
    item_count: int


class MarathonEntry(PlaylistEntry, kw_only=True):
    source: str


class MarathonPreview(msgspec.Struct):
    method: Method
    pattern: str | None
    seed: int | None
    keep_run_order: bool
    sources: list[MarathonSource]
    items: list[MarathonEntry]
    total_duration_sec: int
    dropped_repeats: int
    unused_sources: list[str]


@frozen
class _Item:
    label: str
    media: Media
    ref: str | None


class MarathonService:
    def __init__(self, playlists: PlaylistService, random: RandomSource) -> None:
        self._playlists = playlists
        self._random = random

    def draw_seed(self) -> int:
        return int(self._random.random() * SEED_MAX)

    async def preview(
        self,
        channel: str,
        who: Identity,
        sources: Sequence[str],
        method: Method = "concatenate",
        *,
        pattern: str | None = None,
        seed: int | None = None,
        keep_run_order: bool = True,
    ) -> MarathonPreview:
        """The order a marathon of these playlists (ids, in the order chosen) would have.
        Repeats of a media (CyTube takes each once) are dropped after the first."""
        require(who, "blessed")
        if not sources:
            raise Rejected("no_sources", "Choose at least one playlist to make a marathon from.")
        if len(sources) > MAX_SOURCES:
            raise Rejected(
                "too_many_sources", f"A marathon has at most {MAX_SOURCES} sources (A to Z)."
            )
        if method == "shuffle":
            seed = self.draw_seed() if seed is None else check_seed(seed)
        chosen: list[MarathonSource] = []
        items: list[list[_Item]] = []
        for label, playlist_id in zip(LABELS, sources, strict=False):
            state = await self._playlists.state(channel, playlist_id)
            if not state.live:
                raise Rejected(
                    "unknown_playlist",
                    f"Source {label}: there is no playlist {playlist_id!r}.",
                    {"source": label, "playlist_id": playlist_id},
                )
            chosen.append(MarathonSource(label, playlist_id, state.name, len(state.items)))
            items.append(
                [_Item(label, m, r) for m, r in zip(state.items, state.all_refs(), strict=True)]
            )
        ordered = marathon(
            method,
            items,
            lambda i: i.media.title,
            pattern=pattern,
            seed=seed,
            keep_run_order=keep_run_order,
        )
        seen: set[tuple[str, str]] = set()
        out: list[MarathonEntry] = []
        for item in ordered:
            if item.media.key in seen:
                continue
            seen.add(item.media.key)
            e = entry(item.media, item.ref)
            out.append(MarathonEntry(**msgspec.structs.asdict(e), source=item.label))
        return MarathonPreview(
            method=method,
            pattern=pattern if method == "interleave" else None,
            seed=seed if method == "shuffle" else None,
            keep_run_order=keep_run_order,
            sources=chosen,
            items=out,
            total_duration_sec=sum(e.duration_sec for e in out),
            dropped_repeats=len(ordered) - len(out),
            unused_sources=list(unused_sources(pattern or "", len(sources)))
            if method == "interleave"
            else [],
        )

    @staticmethod
    def recipe(preview: MarathonPreview) -> Recipe:
        return Recipe(
            preview.method,
            tuple(s.playlist_id for s in preview.sources),
            preview.pattern,
            preview.seed,
            preview.keep_run_order,
        )
