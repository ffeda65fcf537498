"""Saved playlists and promo pools over HTTP.

Anyone with a token may list and read the normal playlists; blessed and admin may also see (and
list with `include_hidden=true`) promo pools and immutable playlists, and may create, change and
delete playlists. A hidden playlist is a 404 to a viewer, as is one that does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import msgspec
from litestar import Controller, WebSocket, delete, get, patch, post, websocket
from litestar.exceptions import ValidationException, WebSocketDisconnect
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import UNSET, Meta, UnsetType

from application.errors import NotFoundError
from application.playlists.apply import ApplyStatus, ModeInfo, status_of
from application.playlists.marathons import MarathonPreview, MarathonService
from application.playlists.service import (
    CatalogRef,
    ItemSpec,
    Playlist,
    PlaylistSummary,
    PromoPools,
)
from domain.media import Media
from domain.playlists.apply import ApplyMode
from domain.playlists.marathon import Method
from domain.promos.kinds import PromoType
from entrypoints.http.auth import IdentityDep
from entrypoints.http.limits import WsLimits
from entrypoints.http.params import Channel, ServicesDep
from entrypoints.http.queue import known_channel
from entrypoints.peers import require_peers
from entrypoints.services import Services

PathPlaylistId = FromPath[str]
MediaType = Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
MediaId = Annotated[str, Meta(min_length=1, max_length=300)]
Duration = Annotated[int, Meta(ge=0, le=7 * 24 * 3600)]
Title = Annotated[str, Meta(max_length=500)]
# Trimmed and checked (1 to 200 characters) by the domain; this only bounds the body.
Name = Annotated[str, Meta(max_length=1000)]


CatalogId = Annotated[str, Meta(min_length=1, max_length=200)]
Version = Annotated[int, Meta(ge=0)]
Position = Annotated[int, Meta(ge=0, le=100_000)]


class PlaylistItemIn(msgspec.Struct, forbid_unknown_fields=True):
    """A plain media link (`media_type`, `media_id`, title and length as given) or a catalog
    item (`catalog_id` alone: title and length come from the catalog)."""

    media_type: MediaType | None = None
    media_id: MediaId | None = None
    duration_sec: Duration = 0
    title: Title = ""
    catalog_id: CatalogId | None = None

    def spec(self) -> ItemSpec:
        if self.catalog_id is not None:
            if self.media_type is not None or self.media_id is not None:
                raise ValidationException(
                    "An item is a catalog_id or a media_type and media_id, not both."
                )
            return CatalogRef(self.catalog_id)
        if self.media_type is None or self.media_id is None:
            raise ValidationException("An item needs media_type and media_id, or a catalog_id.")
        return Media(self.media_type, self.media_id, self.title, self.duration_sec)


def _specs(items: list[PlaylistItemIn]) -> list[ItemSpec]:
    return [i.spec() for i in items]


class NewPlaylist(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    items: list[PlaylistItemIn] = msgspec.field(default_factory=list)
    is_immutable: bool = False
    promo_type: PromoType | None = None


class PlaylistPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields present change; `promo_type: null` makes a pool a normal playlist.
    `expected_version`: refused with 409 `version_conflict` (and `current_version`) when the
    playlist changed since that version."""

    name: Name | UnsetType = UNSET
    items: list[PlaylistItemIn] | UnsetType = UNSET
    is_immutable: bool | UnsetType = UNSET
    promo_type: PromoType | UnsetType | None = UNSET
    expected_version: Version | None = None


class ItemsIn(msgspec.Struct, forbid_unknown_fields=True):
    items: list[PlaylistItemIn]
    at: Position | None = None
    expected_version: Version | None = None


class RemoveIn(msgspec.Struct, forbid_unknown_fields=True):
    positions: Annotated[list[Position], Meta(min_length=1, max_length=2000)]
    expected_version: Version | None = None


class MoveIn(msgspec.Struct, forbid_unknown_fields=True):
    from_position: Position
    to_position: Position
    expected_version: Version | None = None


class DuplicateIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None


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
            items=_specs(data.items),
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
        items = None if isinstance(data.items, UnsetType) else _specs(data.items)
        return await services.playlists.service.update(
            channel,
            identity,
            playlist_id,
            name=None if isinstance(data.name, UnsetType) else data.name,
            items=items,
            is_immutable=None if isinstance(data.is_immutable, UnsetType) else data.is_immutable,
            promo_type=data.promo_type,
            expected_version=data.expected_version,
        )

    @delete("/playlists/{playlist_id:str}", summary="Delete a playlist (blessed)")
    async def remove(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        playlist_id: PathPlaylistId,
        expected_version: Annotated[
            int | None, QueryParameter(name="expected_version", ge=0)
        ] = None,
    ) -> None:
        await services.playlists.service.delete(
            channel, identity, playlist_id, expected_version=expected_version
        )

    @post(
        "/playlists/{playlist_id:str}/items",
        summary="Insert items (media links or catalog ids) at a position, or at the end (blessed)",
        status_code=200,
    )
    async def add_items(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        playlist_id: PathPlaylistId,
        data: JSONBody[ItemsIn],
    ) -> Playlist:
        return await services.playlists.service.add_items(
            channel,
            identity,
            playlist_id,
            _specs(data.items),
            at=data.at,
            expected_version=data.expected_version,
        )

    @post(
        "/playlists/{playlist_id:str}/items/remove",
        summary="Remove the items at these positions (blessed)",
        status_code=200,
    )
    async def remove_items(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        playlist_id: PathPlaylistId,
        data: JSONBody[RemoveIn],
    ) -> Playlist:
        return await services.playlists.service.remove_items(
            channel, identity, playlist_id, data.positions, expected_version=data.expected_version
        )

    @post(
        "/playlists/{playlist_id:str}/items/move",
        summary="Move one item to another position (blessed)",
        status_code=200,
    )
    async def move_item(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        playlist_id: PathPlaylistId,
        data: JSONBody[MoveIn],
    ) -> Playlist:
        return await services.playlists.service.move_item(
            channel,
            identity,
            playlist_id,
            data.from_position,
            data.to_position,
            expected_version=data.expected_version,
        )

    @post(
        "/playlists/{playlist_id:str}/duplicate",
        summary="Copy a playlist under a new name (blessed)",
    )
    async def duplicate(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        playlist_id: PathPlaylistId,
        data: JSONBody[DuplicateIn],
    ) -> Playlist:
        return await services.playlists.service.duplicate(channel, identity, playlist_id, data.name)

    @get("/promos/pools", summary="Each promo type's pool: its playlists and their items united")
    async def pools(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> PromoPools:
        await known_channel(services, channel)
        return await services.playlists.service.promo_pools(channel, identity)


# ---- marathons and applies -------------------------------------------------------------------

PatternText = Annotated[str, Meta(max_length=500)]
Seed = Annotated[int, Meta(ge=0, le=2**63 - 1)]


class MarathonIn(msgspec.Struct, forbid_unknown_fields=True):
    """Sources by playlist id, in the order chosen (labels A, B, ... in that order)."""

    sources: Annotated[list[Annotated[str, Meta(max_length=64)]], Meta(min_length=1, max_length=26)]
    method: Method = "concatenate"
    pattern: PatternText | None = None
    seed: Seed | None = None
    keep_run_order: bool = True


class NewMarathon(MarathonIn, forbid_unknown_fields=True, kw_only=True):
    """Save a marathon: its name and the items in the order to keep (the preview's, reordered
    as the editor left it); the recipe is recorded beside them."""

    name: Name
    items: list[PlaylistItemIn]


class ApplyIn(msgspec.Struct, forbid_unknown_fields=True):
    mode: ApplyMode = "preserve_current"


class ModesOut(msgspec.Struct):
    modes: list[ModeInfo]


class AppliesOut(msgspec.Struct):
    applies: list[ApplyStatus]


class MarathonController(Controller):
    path = "/api/v1/channels/{channel:str}"
    tags = ["playlists"]

    @post(
        "/marathons/preview", summary="The order a marathon would have (blessed)", status_code=200
    )
    async def preview(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[MarathonIn],
    ) -> MarathonPreview:
        await known_channel(services, channel)
        return await services.playlists.marathons.preview(
            channel,
            identity,
            data.sources,
            data.method,
            pattern=data.pattern,
            seed=data.seed,
            keep_run_order=data.keep_run_order,
        )

    @post("/marathons", summary="Save a marathon as a new playlist, with its recipe (blessed)")
    async def save(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[NewMarathon],
    ) -> Playlist:
        await known_channel(services, channel)
        preview = await services.playlists.marathons.preview(
            channel,
            identity,
            data.sources,
            data.method,
            pattern=data.pattern,
            seed=data.seed,
            keep_run_order=data.keep_run_order,
        )
        return await services.playlists.service.create(
            channel,
            identity,
            data.name,
            items=_specs(data.items),
            recipe=MarathonService.recipe(preview),
        )


class ApplyController(Controller):
    path = "/api/v1/channels/{channel:str}"
    tags = ["playlists"]

    @get("/playlist-applies/modes", summary="The apply modes, which this caller may use, and why")
    async def modes(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> ModesOut:
        await known_channel(services, channel)
        return ModesOut(services.playlists.applier.modes(identity))

    @post(
        "/playlists/{playlist_id:str}/apply",
        summary="Apply a playlist to the queue (blessed; hard_replace: admin)",
        status_code=202,
    )
    async def apply(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        playlist_id: PathPlaylistId,
        data: JSONBody[ApplyIn],
    ) -> ApplyStatus:
        await known_channel(services, channel)
        require_peers(services, cytube=True)
        return await services.playlists.applier.start(channel, identity, playlist_id, data.mode)

    @get("/playlist-applies", summary="The running apply and the latest ones, newest first")
    async def recent(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> AppliesOut:
        await known_channel(services, channel)
        return AppliesOut(await services.playlists.applier.recent(channel, identity))

    @get("/playlist-applies/current", summary="The running apply, or else the latest")
    async def current(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> ApplyStatus:
        await known_channel(services, channel)
        return await services.playlists.applier.status(channel, identity)

    @get("/playlist-applies/{apply_id:str}", summary="One apply: progress and each item's outcome")
    async def one(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        apply_id: PathPlaylistId,
    ) -> ApplyStatus:
        await known_channel(services, channel)
        return await services.playlists.applier.status(channel, identity, apply_id)

    @post(
        "/playlist-applies/{apply_id:str}/abort",
        summary="Stop a running apply where it is (admin)",
        status_code=200,
    )
    async def abort(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        apply_id: PathPlaylistId,
    ) -> ApplyStatus:
        await known_channel(services, channel)
        return await services.playlists.applier.abort(channel, identity, apply_id)

    @websocket("/playlist-applies/live")
    async def live(self, socket: WebSocket, services: ServicesDep, channel: Channel) -> None:
        """The latest apply on connect (`null` when there is none) and again on every step,
        as JSON text frames."""
        try:
            await known_channel(services, channel)
        except NotFoundError as exc:
            await socket.close(code=4404, reason=exc.message[:120])
            return
        limits: WsLimits = socket.app.state.ws_limits
        ip = socket.client.host if socket.client else "?"
        refused = limits.admit(ip)
        if refused is not None:
            await socket.close(code=1013, reason=refused[:120])
            return
        try:
            await _serve_applies(socket, services, channel)
        finally:
            limits.release(ip)


_encode = msgspec.json.Encoder().encode


async def _serve_applies(socket: WebSocket, services: Services, channel: str) -> None:
    applier = services.playlists.applier
    await socket.accept()
    listener = asyncio.ensure_future(_ignore_frames(socket))
    try:
        async with applier.watch.watching(channel) as box:
            box.put_nowait(None)
            while not listener.done():
                waiter = asyncio.ensure_future(box.get())
                await asyncio.wait({waiter, listener}, return_when=asyncio.FIRST_COMPLETED)
                if not waiter.done():
                    waiter.cancel()
                    break
                latest = (await applier.state(channel)).latest
                body = None if latest is None else status_of(latest)
                await socket.send_data(_encode(body).decode(), mode="text")
    except (WebSocketDisconnect, OSError):
        pass
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        with contextlib.suppress(Exception):
            await socket.close()


async def _ignore_frames(socket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, OSError):
        while True:
            await socket.receive_data("text")
