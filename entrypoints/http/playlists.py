"""Saved playlists and promo pools over HTTP.

Anyone with a token may list and read the normal playlists; blessed and admin may also see (and
list with `include_hidden=true`) promo pools and immutable playlists, and may create, change and
delete playlists. A hidden playlist is a 404 to a viewer, as is one that does not exist.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import UNSET, Meta, UnsetType

from application.playlists.service import Playlist, PlaylistSummary, PromoPools
from domain.media import Media
from domain.promos.kinds import PromoType
from entrypoints.http.auth import IdentityDep
from entrypoints.http.params import Channel, ServicesDep
from entrypoints.http.queue import known_channel

PathPlaylistId = FromPath[str]
MediaType = Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
MediaId = Annotated[str, Meta(min_length=1, max_length=300)]
Duration = Annotated[int, Meta(ge=0, le=7 * 24 * 3600)]
Title = Annotated[str, Meta(max_length=500)]
# Trimmed and checked (1 to 200 characters) by the domain; this only bounds the body.
Name = Annotated[str, Meta(max_length=1000)]


class PlaylistItemIn(msgspec.Struct, forbid_unknown_fields=True):
    media_type: MediaType
    media_id: MediaId
    duration_sec: Duration = 0
    title: Title = ""

    def media(self) -> Media:
        return Media(self.media_type, self.media_id, self.title, self.duration_sec)


class NewPlaylist(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    items: list[PlaylistItemIn] = msgspec.field(default_factory=list)
    is_immutable: bool = False
    promo_type: PromoType | None = None


class PlaylistPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields present change; `promo_type: null` makes a pool a normal playlist."""

    name: Name | UnsetType = UNSET
    items: list[PlaylistItemIn] | UnsetType = UNSET
    is_immutable: bool | UnsetType = UNSET
    promo_type: PromoType | UnsetType | None = UNSET


class PlaylistController(Controller):
    path = "/api/v1/channels/{channel:str}"
    tags = ["playlists"]

    @get("/playlists", summary="Saved playlists by name (hidden ones for blessed and admin)")
    async def list_playlists(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        include_hidden: Annotated[bool, QueryParameter(name="include_hidden")] = False,
    ) -> list[PlaylistSummary]:
        await known_channel(services, channel)
        return await services.playlists.service.list(channel, identity, include_hidden)

    @post("/playlists", summary="Create a playlist, a promo pool or an immutable one (blessed)")
    async def create(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[NewPlaylist],
    ) -> Playlist:
        await known_channel(services, channel)
        return await services.playlists.service.create(
            channel,
            identity,
            data.name,
            items=[i.media() for i in data.items],
            is_immutable=data.is_immutable,
            promo_type=data.promo_type,
        )

    @get("/playlists/{playlist_id:str}", summary="A playlist with its items")
    async def read(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        playlist_id: PathPlaylistId,
    ) -> Playlist:
        return await services.playlists.service.get(channel, identity, playlist_id)

    @patch(
        "/playlists/{playlist_id:str}",
        summary="Rename, replace the items, or set immutable / promo type (blessed)",
    )
    async def change(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        playlist_id: PathPlaylistId,
        data: JSONBody[PlaylistPatch],
    ) -> Playlist:
        items = None if isinstance(data.items, UnsetType) else [i.media() for i in data.items]
        return await services.playlists.service.update(
            channel,
            identity,
            playlist_id,
            name=None if isinstance(data.name, UnsetType) else data.name,
            items=items,
            is_immutable=None if isinstance(data.is_immutable, UnsetType) else data.is_immutable,
            promo_type=data.promo_type,
        )

    @delete("/playlists/{playlist_id:str}", summary="Delete a playlist (blessed)")
    async def remove(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        playlist_id: PathPlaylistId,
    ) -> None:
        await services.playlists.service.delete(channel, identity, playlist_id)

    @get("/promos/pools", summary="Each promo type's pool: its playlists and their items united")
    async def pools(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> PromoPools:
        await known_channel(services, channel)
        return await services.playlists.service.promo_pools(channel, identity)
