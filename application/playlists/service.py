"""Saved playlists as the entrypoints see them, and promo pools as the promo director sees them.

Writes go through the playlist decider (blessed or admin); reads come from the `playlists`
projection. Promo pools and immutable playlists are hidden: viewers never see them listed or by
id, and their media cannot be bought (`non_payable`).
"""

from __future__ import annotations

import builtins
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from attrs import frozen

from application.clock import Clock
from application.errors import NotFoundError
from application.identity.roles import Identity, require
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.streams import playlist_stream
from application.playlists.projection import PLAYLIST_ITEMS, PLAYLISTS, media_of
from application.projections.ports import ProjectionStore
from domain.decider import Context
from domain.errors import Rejected
from domain.media import Media
from domain.playlists.model import (
    CreatePlaylist,
    DeletePlaylist,
    PlaylistCommand,
    PlaylistState,
    RenamePlaylist,
    SetPlaylistFlags,
    SetPlaylistItems,
    playlist_decider,
)
from domain.promos.kinds import PROMO_TYPES, PromoType

_ID = re.compile(r"^[0-9a-f]{32}$")

_Pool = tuple[list[str], list[Media]]
"""A promo type's playlist ids and the union of their items."""


@frozen
class _Hidden:
    """What a channel keeps out of viewers' reach: its promo pools, and every media in a pool
    or an immutable playlist (which pay-to-play refuses)."""

    pools: dict[PromoType, _Pool]
    non_payable: frozenset[tuple[str, str]]


class PlaylistEntry(msgspec.Struct):
    media_type: str
    media_id: str
    title: str
    duration_sec: int


class PlaylistSummary(msgspec.Struct):
    playlist_id: str
    name: str
    is_immutable: bool
    promo_type: PromoType | None
    item_count: int
    total_duration_sec: int
    created_at: datetime
    updated_at: datetime


class Playlist(msgspec.Struct):
    """One playlist with its items. Times come from the read model: a write's answer (read
    from the log, which has no clock in its facts) leaves them null."""

    playlist_id: str
    name: str
    is_immutable: bool
    promo_type: PromoType | None
    item_count: int
    total_duration_sec: int
    items: list[PlaylistEntry]
    created_at: datetime | None = None
    updated_at: datetime | None = None


class PromoPool(msgspec.Struct):
    playlists: list[str]
    items: list[PlaylistEntry]


class PromoPools(msgspec.Struct):
    pools: dict[str, PromoPool]


def entry(media: Media) -> PlaylistEntry:
    return PlaylistEntry(media.type, media.id, media.title, media.duration_sec)


def _is_hidden(row: dict[str, Any]) -> bool:
    return bool(row["is_immutable"]) or row["promo_type"] is not None


def _unknown(playlist_id: str) -> NotFoundError:
    return NotFoundError("unknown_playlist", f"There is no playlist {playlist_id!r}.")


def _summary(row: dict[str, Any]) -> PlaylistSummary:
    return PlaylistSummary(
        playlist_id=row["playlist_id"],
        name=row["name"],
        is_immutable=row["is_immutable"],
        promo_type=row["promo_type"],
        item_count=row["item_count"],
        total_duration_sec=row["total_duration_sec"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _from_state(state: PlaylistState) -> Playlist:
    return Playlist(
        playlist_id=state.playlist_id,
        name=state.name,
        is_immutable=state.is_immutable,
        promo_type=state.promo_type,
        item_count=len(state.items),
        total_duration_sec=sum(m.duration_sec for m in state.items),
        items=[entry(m) for m in state.items],
    )


class PlaylistService:
    def __init__(
        self,
        handler: CommandHandler,
        read_models: ProjectionStore,
        clock: Clock,
        *,
        cache_pools: bool = False,
    ) -> None:
        """`cache_pools`: keep each channel's promo pools and non-payable media in memory
        between changes; only for a service that calls `rows_changed` once the playlists
        projection has stored a change (a purchase then asks no SQL)."""
        self._handler = handler
        self._read = read_models
        self._clock = clock
        self._cache_pools = cache_pools
        self._hidden: dict[str, _Hidden] = {}
        self._generation: dict[str, int] = {}

    # --- writes -------------------------------------------------------------------------------

    async def _state(self, channel: str, playlist_id: str) -> PlaylistState:
        state: PlaylistState = await self._handler.state(
            playlist_decider, playlist_stream(channel, playlist_id)
        )
        return state

    def _check(self, state: PlaylistState, commands: Sequence[PlaylistCommand]) -> None:
        """Decide every command in turn against a local copy, so that a request made of several
        commands is refused whole, before anything is appended."""
        ctx = Context(now=self._clock.now())
        for command in commands:
            for event in playlist_decider.decide(state, command, ctx):
                state = playlist_decider.evolve(state, event)

    async def _run(
        self, channel: str, who: Identity, playlist_id: str, commands: Sequence[PlaylistCommand]
    ) -> Playlist:
        require(who, "blessed")
        if not _ID.match(playlist_id):
            raise _unknown(playlist_id)
        stream = playlist_stream(channel, playlist_id)
        try:
            self._check(await self._state(channel, playlist_id), commands)
            for command in commands:
                await self._handler.handle(
                    playlist_decider, stream, command, CommandMeta.new(who.user)
                )
        except Rejected as exc:
            if exc.code == "unknown_playlist":
                raise _unknown(playlist_id) from exc
            raise
        return _from_state(await self._state(channel, playlist_id))

    async def create(
        self,
        channel: str,
        who: Identity,
        name: str,
        *,
        items: Sequence[Media] = (),
        is_immutable: bool = False,
        promo_type: PromoType | None = None,
    ) -> Playlist:
        """A new playlist under a fresh id; with `items`, they are set in a second commit."""
        playlist_id = uuid.uuid4().hex
        commands: list[PlaylistCommand] = [CreatePlaylist(name, who.user, is_immutable, promo_type)]
        if items:
            commands.append(SetPlaylistItems(tuple(items), who.user))
        return await self._run(channel, who, playlist_id, commands)

    async def rename(self, channel: str, who: Identity, playlist_id: str, name: str) -> Playlist:
        return await self._run(channel, who, playlist_id, [RenamePlaylist(name, who.user)])

    async def set_items(
        self, channel: str, who: Identity, playlist_id: str, items: Sequence[Media]
    ) -> Playlist:
        command = SetPlaylistItems(tuple(items), who.user)
        return await self._run(channel, who, playlist_id, [command])

    async def set_flags(
        self,
        channel: str,
        who: Identity,
        playlist_id: str,
        is_immutable: bool,
        promo_type: PromoType | None,
    ) -> Playlist:
        command = SetPlaylistFlags(is_immutable, promo_type, who.user)
        return await self._run(channel, who, playlist_id, [command])

    async def update(
        self,
        channel: str,
        who: Identity,
        playlist_id: str,
        *,
        name: str | None = None,
        items: Sequence[Media] | None = None,
        is_immutable: bool | None = None,
        promo_type: PromoType | msgspec.UnsetType | None = msgspec.UNSET,
    ) -> Playlist:
        """Change any of name, items and flags; all are checked before any is written.
        `None` (or UNSET for `promo_type`, where None means "no promo") leaves a field alone."""
        require(who, "blessed")
        if not _ID.match(playlist_id):
            raise _unknown(playlist_id)
        state = await self._state(channel, playlist_id)
        commands: list[PlaylistCommand] = []
        if name is not None:
            commands.append(RenamePlaylist(name, who.user))
        if is_immutable is not None or not isinstance(promo_type, msgspec.UnsetType):
            commands.append(
                SetPlaylistFlags(
                    state.is_immutable if is_immutable is None else is_immutable,
                    state.promo_type if isinstance(promo_type, msgspec.UnsetType) else promo_type,
                    who.user,
                )
            )
        if items is not None:
            commands.append(SetPlaylistItems(tuple(items), who.user))
        if not commands and not state.live:
            raise _unknown(playlist_id)
        return await self._run(channel, who, playlist_id, commands)

    async def delete(self, channel: str, who: Identity, playlist_id: str) -> None:
        await self._run(channel, who, playlist_id, [DeletePlaylist(who.user)])

    # --- reads (from the projection) ----------------------------------------------------------

    async def _live_rows(self, channel: str) -> list[dict[str, Any]]:
        return await self._read.fetch(
            PLAYLISTS,
            {"channel": channel, "deleted": False},
            order_by=("created_at", "playlist_id"),
        )

    async def _items(self, channel: str, playlist_id: str) -> list[Media]:
        rows = await self._read.fetch(
            PLAYLIST_ITEMS, {"channel": channel, "playlist_id": playlist_id}, order_by=("position",)
        )
        return [media_of(r) for r in rows]

    async def list(
        self, channel: str, who: Identity, include_hidden: bool = False
    ) -> list[PlaylistSummary]:
        """Playlists by name. Promo pools and immutable playlists are included only when asked
        for by someone blessed or above; a viewer asking gets the normal ones."""
        show_hidden = include_hidden and who.at_least("blessed")
        rows = [r for r in await self._live_rows(channel) if show_hidden or not _is_hidden(r)]
        rows.sort(key=lambda r: (r["name"].casefold(), r["playlist_id"]))
        return [_summary(r) for r in rows]

    async def get(self, channel: str, who: Identity, playlist_id: str) -> Playlist:
        """One playlist with its items; a hidden one is unknown to a viewer."""
        rows = await self._read.fetch(PLAYLISTS, {"channel": channel, "playlist_id": playlist_id})
        if not rows or rows[0]["deleted"]:
            raise _unknown(playlist_id)
        row = rows[0]
        if _is_hidden(row) and not who.at_least("blessed"):
            raise _unknown(playlist_id)
        items = await self._items(channel, playlist_id)
        return Playlist(
            playlist_id=row["playlist_id"],
            name=row["name"],
            is_immutable=row["is_immutable"],
            promo_type=row["promo_type"],
            item_count=row["item_count"],
            total_duration_sec=row["total_duration_sec"],
            items=[entry(m) for m in items],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def rows_changed(self, channels: set[str]) -> None:
        """The playlists projection stored a change for these channels: drop what is cached.
        A read that was under way when the change landed does not cache its (older) answer."""
        for channel in channels:
            self._generation[channel] = self._generation.get(channel, 0) + 1
            self._hidden.pop(channel, None)

    async def _hidden_media(self, channel: str) -> _Hidden:
        """Promo pools and non-payable media, from one read of the channel's playlists."""
        cached = self._hidden.get(channel)
        if cached is not None:
            return cached
        generation = self._generation.get(channel, 0)
        pools: dict[PromoType, _Pool] = {t: ([], []) for t in PROMO_TYPES}
        seen: dict[PromoType, set[tuple[str, str]]] = {t: set() for t in PROMO_TYPES}
        non_payable: set[tuple[str, str]] = set()
        for row in await self._live_rows(channel):
            if not _is_hidden(row):
                continue
            items = await self._items(channel, row["playlist_id"])
            non_payable.update(m.key for m in items)
            promo_type = row["promo_type"]
            if promo_type not in pools:
                continue
            ids, media = pools[promo_type]
            ids.append(row["playlist_id"])
            for item in items:
                if item.key not in seen[promo_type]:
                    seen[promo_type].add(item.key)
                    media.append(item)
        hidden = _Hidden(pools, frozenset(non_payable))
        if self._cache_pools and self._generation.get(channel, 0) == generation:
            self._hidden[channel] = hidden
        return hidden

    async def _pools(self, channel: str) -> dict[PromoType, _Pool]:
        pools = (await self._hidden_media(channel)).pools
        return {t: (list(ids), list(media)) for t, (ids, media) in pools.items()}

    async def pools(self, channel: str) -> dict[PromoType, builtins.list[Media]]:
        """Every promo type (empty ones too) with the union of its playlists' items: oldest
        playlist first, each in stored order, a media that repeats kept at its first place."""
        return {t: media for t, (_ids, media) in (await self._pools(channel)).items()}

    async def promo_pools(self, channel: str, who: Identity) -> PromoPools:
        """The pools with the playlists behind them (blessed or admin)."""
        require(who, "blessed")
        return PromoPools(
            {
                t: PromoPool(ids, [entry(m) for m in media])
                for t, (ids, media) in (await self._pools(channel)).items()
            }
        )

    async def non_payable(self, channel: str) -> frozenset[tuple[str, str]]:
        """Media keys in promo pools and immutable playlists: not for pay-to-play."""
        return (await self._hidden_media(channel)).non_payable
