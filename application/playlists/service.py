"""Saved playlists as the entrypoints see them, and promo pools as the promo director sees them.

Writes go through the playlist decider (blessed or admin); reads come from the `playlists`
projection. Promo pools and immutable playlists are hidden: viewers never see them listed or by
id, and their media cannot be bought (`non_payable`).
"""

from __future__ import annotations

import builtins
import contextlib
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import msgspec
from attrs import frozen

from application.clock import Clock
from application.errors import NotFoundError
from application.identity.roles import Identity, require
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import ConcurrencyConflict, StoreUnavailable
from application.log.streams import playlist_names_stream, playlist_stream
from application.playlists.catalog import CatalogItems, NoCatalog
from application.playlists.projection import PLAYLIST_ITEMS, PLAYLIST_META, PLAYLISTS, media_of
from application.projections.ports import ProjectionStore
from domain.decider import Context
from domain.errors import Rejected
from domain.media import Media
from domain.playlists.marathon import Recipe
from domain.playlists.model import (
    AddPlaylistItems,
    CreatePlaylist,
    DeletePlaylist,
    EditPlaylist,
    MovePlaylistItem,
    PlaylistCommand,
    PlaylistState,
    RemovePlaylistItems,
    RenamePlaylist,
    SetPlaylistFlags,
    SetPlaylistItems,
    check_version,
    name_key,
    playlist_decider,
)
from domain.playlists.names import (
    ClaimPlaylistName,
    NamesState,
    ReleasePlaylistName,
    name_taken,
    names_decider,
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
    catalog_id: str | None = None


class PlaylistSummary(msgspec.Struct):
    playlist_id: str
    name: str
    is_immutable: bool
    promo_type: PromoType | None
    item_count: int
    total_duration_sec: int
    created_at: datetime
    updated_at: datetime
    created_by: str = ""
    version: int | None = None
    apply_count: int = 0
    last_applied_at: datetime | None = None


class RecipeOut(msgspec.Struct):
    """How a marathon was made (its sources by id, in label order A, B, ...)."""

    method: str
    sources: list[str]
    pattern: str | None
    seed: int | None
    keep_run_order: bool


def recipe_out(recipe: Recipe | None) -> RecipeOut | None:
    if recipe is None:
        return None
    return RecipeOut(
        recipe.method, list(recipe.sources), recipe.pattern, recipe.seed, recipe.keep_run_order
    )


class Playlist(msgspec.Struct):
    """One playlist with its items, as the log has it (`version` is what an edit names in
    `expected_version`). Read from the projection while the log is unreachable: then
    `version` is null."""

    playlist_id: str
    name: str
    is_immutable: bool
    promo_type: PromoType | None
    item_count: int
    total_duration_sec: int
    items: list[PlaylistEntry]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    created_by: str = ""
    version: int | None = None
    copied_from: str | None = None
    recipe: RecipeOut | None = None
    apply_count: int = 0
    last_applied_at: datetime | None = None


class PromoPool(msgspec.Struct):
    playlists: list[str]
    items: list[PlaylistEntry]


class PromoPools(msgspec.Struct):
    pools: dict[str, PromoPool]


@frozen
class CatalogRef:
    """An item to add by its catalog id: title, length and media come from the catalog."""

    item_id: str


ItemSpec = Media | CatalogRef


def entry(media: Media, ref: str | None = None) -> PlaylistEntry:
    return PlaylistEntry(media.type, media.id, media.title, media.duration_sec, ref)


def _is_hidden(row: dict[str, Any]) -> bool:
    return bool(row["is_immutable"]) or row["promo_type"] is not None


def _unknown(playlist_id: str) -> NotFoundError:
    return NotFoundError("unknown_playlist", f"There is no playlist {playlist_id!r}.")


def _summary(row: dict[str, Any], meta: dict[str, Any] | None) -> PlaylistSummary:
    meta = meta or {}
    return PlaylistSummary(
        playlist_id=row["playlist_id"],
        name=row["name"],
        is_immutable=row["is_immutable"],
        promo_type=row["promo_type"],
        item_count=row["item_count"],
        total_duration_sec=row["total_duration_sec"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created_by=meta.get("created_by") or "",
        version=meta.get("version"),
        apply_count=meta.get("apply_count") or 0,
        last_applied_at=meta.get("last_applied_at"),
    )


def _from_state(state: PlaylistState, meta: dict[str, Any] | None = None) -> Playlist:
    meta = meta or {}
    return Playlist(
        playlist_id=state.playlist_id,
        name=state.name,
        is_immutable=state.is_immutable,
        promo_type=state.promo_type,
        item_count=len(state.items),
        total_duration_sec=sum(m.duration_sec for m in state.items),
        items=[entry(m, r) for m, r in zip(state.items, state.all_refs(), strict=True)],
        created_at=state.created_at,
        updated_at=state.updated_at,
        created_by=state.created_by,
        version=state.version,
        copied_from=state.copied_from,
        recipe=recipe_out(state.recipe),
        apply_count=meta.get("apply_count") or 0,
        last_applied_at=meta.get("last_applied_at"),
    )


class PlaylistService:
    def __init__(
        self,
        handler: CommandHandler,
        read_models: ProjectionStore,
        clock: Clock,
        *,
        cache_pools: bool = False,
        catalog: CatalogItems | None = None,
    ) -> None:
        """`cache_pools`: keep each channel's promo pools and non-payable media in memory
        between changes; only for a service that calls `rows_changed` once the playlists
        projection has stored a change (a purchase then asks no SQL). `catalog`: where items
        added by catalog id are looked up (none wired: only plain media links)."""
        self._handler = handler
        self._read = read_models
        self._clock = clock
        self._cache_pools = cache_pools
        self._hidden: dict[str, _Hidden] = {}
        self._generation: dict[str, int] = {}
        self.catalog: CatalogItems = catalog or NoCatalog()

    # --- writes -------------------------------------------------------------------------------

    async def _state(self, channel: str, playlist_id: str) -> PlaylistState:
        state: PlaylistState = await self._handler.state(
            playlist_decider, playlist_stream(channel, playlist_id)
        )
        return state

    async def state(self, channel: str, playlist_id: str) -> PlaylistState:
        """The playlist as the log has it (for the apply service); unknown ids are not live."""
        if not _ID.match(playlist_id):
            return PlaylistState(playlist_id)
        return await self._state(channel, playlist_id)

    def _check(
        self, state: PlaylistState, commands: Sequence[PlaylistCommand]
    ) -> list[PlaylistCommand]:
        """Decide every command in turn against a local copy, so that a request made of several
        commands is refused whole, before anything is appended. With an expected version on
        the first, each later one expects the version the one before leaves: nothing written
        in between by someone else goes unnoticed."""
        ctx = Context(now=self._clock.now())
        expecting = commands[0].expected_version if commands else None
        checked: list[PlaylistCommand] = []
        for i, command in enumerate(commands):
            if expecting is not None and i:
                command = attrs.evolve(command, expected_version=state.version)
            checked.append(command)
            for event in playlist_decider.decide(state, command, ctx):
                state = playlist_decider.evolve(state, event)
        return checked

    async def _run(
        self,
        channel: str,
        who: Identity,
        playlist_id: str,
        commands: Sequence[PlaylistCommand],
        *,
        claim: str | None = None,
    ) -> Playlist:
        """Check, claim the name (`claim`) if one is being given, then write."""
        require(who, "blessed")
        if not _ID.match(playlist_id):
            raise _unknown(playlist_id)
        stream = playlist_stream(channel, playlist_id)
        try:
            checked = self._check(await self._state(channel, playlist_id), commands)
            if claim is not None:
                await self._claim(channel, claim.strip(), playlist_id)
            if checked:  # one commit, however many changes: never seen half made
                one = checked[0] if len(checked) == 1 else EditPlaylist(tuple(checked))
                await self._handler.handle(playlist_decider, stream, one, CommandMeta.new(who.user))
        except Rejected as exc:
            if exc.code == "unknown_playlist":
                raise _unknown(playlist_id) from exc
            raise
        return _from_state(await self._state(channel, playlist_id))

    async def _holds(self, channel: str, playlist_id: str, key: str) -> PlaylistState | None:
        """The playlist if it is live and still carries a name with this key."""
        state = await self.state(channel, playlist_id)
        return state if state.live and name_key(state.name) == key else None

    async def _claim(self, channel: str, name: str, playlist_id: str) -> None:
        """Take `name` for the playlist, or raise `name_taken` naming the one that has it.
        Playlists from before the names stream existed are found in the projection."""
        key = name_key(name)
        for row in await self._live_rows(channel):
            if row["playlist_id"] != playlist_id and name_key(row["name"]) == key:
                holder = await self._holds(channel, row["playlist_id"], key)
                if holder is not None:
                    raise name_taken(holder.name, holder.playlist_id)
        stream = playlist_names_stream(channel)
        free: tuple[str, ...] = ()
        for _ in range(3):
            try:
                await self._handler.handle(
                    names_decider,
                    stream,
                    ClaimPlaylistName(name, playlist_id, free=free),
                    CommandMeta.new("playlists"),
                )
                return
            except Rejected as exc:
                existing = exc.extra.get("existing") if exc.code == "name_taken" else None
                if not existing:
                    raise
                holder = await self._holds(channel, existing["playlist_id"], key)
                if holder is not None:
                    raise name_taken(holder.name, holder.playlist_id) from exc
                free = (*free, existing["playlist_id"])  # a stale claim: take it over
        raise ConcurrencyConflict(stream, 0)

    async def resolve(
        self, channel: str, specs: Sequence[ItemSpec]
    ) -> tuple[tuple[Media, ...], tuple[str | None, ...]]:
        """Plain media as given; catalog ids looked up (title and length from the catalog)."""
        items: list[Media] = []
        refs: list[str | None] = []
        for spec in specs:
            if isinstance(spec, CatalogRef):
                found = await self.catalog.get(channel, spec.item_id)
                if found is None:
                    raise Rejected(
                        "unknown_catalog_item",
                        f"The catalog has no item {spec.item_id!r}; add it as a media link.",
                    )
                items.append(found.media)
                refs.append(found.item_id)
            else:
                items.append(spec)
                refs.append(None)
        return tuple(items), tuple(refs)

    async def create(
        self,
        channel: str,
        who: Identity,
        name: str,
        *,
        items: Sequence[ItemSpec] = (),
        is_immutable: bool = False,
        promo_type: PromoType | None = None,
        copied_from: str | None = None,
        recipe: Recipe | None = None,
    ) -> Playlist:
        """A new playlist under a fresh id; with `items`, they are set in a second commit.
        Refused with `name_taken` (409) when the channel has a playlist of that name."""
        require(who, "blessed")
        playlist_id = uuid.uuid4().hex
        media, refs = await self.resolve(channel, items)
        commands: list[PlaylistCommand] = [
            CreatePlaylist(
                name,
                who.user,
                is_immutable,
                promo_type,
                copied_from=copied_from,
                recipe=recipe,
            )
        ]
        if media:
            commands.append(SetPlaylistItems(media, who.user, refs=refs))
        return await self._run(channel, who, playlist_id, commands, claim=name)

    async def duplicate(
        self, channel: str, who: Identity, playlist_id: str, name: str | None = None
    ) -> Playlist:
        """A copy under a new name (default "<name> (copy)", then "(copy 2)", ...), not
        immutable and no promo pool: a copy is a starting point for editing."""
        require(who, "blessed")
        source = await self.state(channel, playlist_id)
        if not source.live:
            raise _unknown(playlist_id)
        specs: list[ItemSpec] = list(source.items)
        given = name
        for n in range(1, 50):
            name = given or (f"{source.name} (copy)" if n == 1 else f"{source.name} (copy {n})")
            try:
                made = await self.create(channel, who, name, items=specs, copied_from=playlist_id)
            except Rejected as exc:
                if exc.code != "name_taken" or given:
                    raise
                continue
            if any(source.all_refs()):
                return await self._run(
                    channel,
                    who,
                    made.playlist_id,
                    [SetPlaylistItems(source.items, who.user, refs=source.all_refs())],
                )
            return made
        raise Rejected("name_taken", f"Too many copies of {source.name!r}; give the copy a name.")

    async def rename(
        self,
        channel: str,
        who: Identity,
        playlist_id: str,
        name: str,
        *,
        expected_version: int | None = None,
    ) -> Playlist:
        command = RenamePlaylist(name, who.user, expected_version=expected_version)
        return await self._run(channel, who, playlist_id, [command], claim=name)

    async def set_items(
        self,
        channel: str,
        who: Identity,
        playlist_id: str,
        items: Sequence[ItemSpec],
        *,
        expected_version: int | None = None,
    ) -> Playlist:
        require(who, "blessed")
        media, refs = await self.resolve(channel, items)
        command = SetPlaylistItems(media, who.user, refs=refs, expected_version=expected_version)
        return await self._run(channel, who, playlist_id, [command])

    async def add_items(
        self,
        channel: str,
        who: Identity,
        playlist_id: str,
        items: Sequence[ItemSpec],
        *,
        at: int | None = None,
        expected_version: int | None = None,
    ) -> Playlist:
        require(who, "blessed")
        media, refs = await self.resolve(channel, items)
        command = AddPlaylistItems(
            media, who.user, refs=refs, at=at, expected_version=expected_version
        )
        return await self._run(channel, who, playlist_id, [command])

    async def remove_items(
        self,
        channel: str,
        who: Identity,
        playlist_id: str,
        positions: Sequence[int],
        *,
        expected_version: int | None = None,
    ) -> Playlist:
        command = RemovePlaylistItems(tuple(positions), who.user, expected_version=expected_version)
        return await self._run(channel, who, playlist_id, [command])

    async def move_item(
        self,
        channel: str,
        who: Identity,
        playlist_id: str,
        from_position: int,
        to_position: int,
        *,
        expected_version: int | None = None,
    ) -> Playlist:
        command = MovePlaylistItem(
            from_position, to_position, who.user, expected_version=expected_version
        )
        return await self._run(channel, who, playlist_id, [command])

    async def set_flags(
        self,
        channel: str,
        who: Identity,
        playlist_id: str,
        is_immutable: bool,
        promo_type: PromoType | None,
        *,
        expected_version: int | None = None,
    ) -> Playlist:
        command = SetPlaylistFlags(
            is_immutable, promo_type, who.user, expected_version=expected_version
        )
        return await self._run(channel, who, playlist_id, [command])

    async def update(
        self,
        channel: str,
        who: Identity,
        playlist_id: str,
        *,
        name: str | None = None,
        items: Sequence[ItemSpec] | None = None,
        is_immutable: bool | None = None,
        promo_type: PromoType | msgspec.UnsetType | None = msgspec.UNSET,
        expected_version: int | None = None,
    ) -> Playlist:
        """Change any of name, items and flags; all are checked before any is written.
        `None` (or UNSET for `promo_type`, where None means "no promo") leaves a field alone.
        `expected_version`: refused with `version_conflict` (409) if the playlist moved on."""
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
            media, refs = await self.resolve(channel, items)
            commands.append(SetPlaylistItems(media, who.user, refs=refs))
        if not commands and not state.live:
            raise _unknown(playlist_id)
        if commands and expected_version is not None:
            commands[0] = attrs.evolve(commands[0], expected_version=expected_version)
        elif expected_version is not None:
            check_version(state, expected_version)
        renamed = name is not None and name.strip() != state.name
        return await self._run(channel, who, playlist_id, commands, claim=name if renamed else None)

    async def delete(
        self,
        channel: str,
        who: Identity,
        playlist_id: str,
        *,
        expected_version: int | None = None,
    ) -> None:
        command = DeletePlaylist(who.user, expected_version=expected_version)
        await self._run(channel, who, playlist_id, [command])
        with contextlib.suppress(Rejected):
            await self._handler.handle(
                names_decider,
                playlist_names_stream(channel),
                ReleasePlaylistName(playlist_id),
                CommandMeta.new("playlists"),
            )

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

    async def _meta(self, channel: str) -> dict[str, dict[str, Any]]:
        rows = await self._read.fetch(PLAYLIST_META, {"channel": channel})
        return {r["playlist_id"]: r for r in rows}

    async def list(
        self, channel: str, who: Identity, include_hidden: bool = False
    ) -> list[PlaylistSummary]:
        """Playlists by name. Promo pools and immutable playlists are included only when asked
        for by someone blessed or above; a viewer asking gets the normal ones."""
        show_hidden = include_hidden and who.at_least("blessed")
        rows = [r for r in await self._live_rows(channel) if show_hidden or not _is_hidden(r)]
        rows.sort(key=lambda r: (r["name"].casefold(), r["playlist_id"]))
        meta = await self._meta(channel)
        return [_summary(r, meta.get(r["playlist_id"])) for r in rows]

    async def find(self, channel: str, who: Identity, name: str) -> str:
        """A playlist's id by its name (without case or spaces), as a viewer may see it."""
        key = name_key(name)
        names: NamesState = await self._handler.state(names_decider, playlist_names_stream(channel))
        claim = names.holder(name)
        candidates = [claim.playlist_id] if claim is not None else []
        candidates += [
            r["playlist_id"] for r in await self._live_rows(channel) if name_key(r["name"]) == key
        ]
        for playlist_id in candidates:
            state = await self._holds(channel, playlist_id, key)
            if state is not None and (not state.hidden or who.at_least("blessed")):
                return playlist_id
        raise NotFoundError("unknown_playlist", f"There is no playlist named {name!r}.")

    async def get(self, channel: str, who: Identity, playlist_id: str) -> Playlist:
        """One playlist with its items, as the log has it; from the projection while the log
        cannot be reached. A hidden one is unknown to a viewer."""
        if not _ID.match(playlist_id):
            raise _unknown(playlist_id)
        metas = await self._read.fetch(
            PLAYLIST_META, {"channel": channel, "playlist_id": playlist_id}
        )
        meta = metas[0] if metas else None
        try:
            state = await self._state(channel, playlist_id)
        except StoreUnavailable:
            return await self._get_stored(channel, who, playlist_id, meta)
        if not state.live or (state.hidden and not who.at_least("blessed")):
            raise _unknown(playlist_id)
        playlist = _from_state(state, meta)
        if playlist.created_at is None:  # written before events carried their time
            rows = await self._read.fetch(
                PLAYLISTS, {"channel": channel, "playlist_id": playlist_id}
            )
            if rows:
                playlist.created_at = rows[0]["created_at"]
                playlist.updated_at = rows[0]["updated_at"]
        return playlist

    async def _get_stored(
        self, channel: str, who: Identity, playlist_id: str, meta: dict[str, Any] | None
    ) -> Playlist:
        rows = await self._read.fetch(PLAYLISTS, {"channel": channel, "playlist_id": playlist_id})
        if not rows or rows[0]["deleted"]:
            raise _unknown(playlist_id)
        row = rows[0]
        if _is_hidden(row) and not who.at_least("blessed"):
            raise _unknown(playlist_id)
        items = await self._items(channel, playlist_id)
        meta = meta or {}
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
            created_by=meta.get("created_by") or "",
            apply_count=meta.get("apply_count") or 0,
            last_applied_at=meta.get("last_applied_at"),
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
