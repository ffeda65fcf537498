"""The catalog over HTTP: search (title words, categories, paging, sort), categories, an item,
buying an item (its title, duration and price from the catalog), refresh with live progress
(Server-Sent Events) and the snapshots with their diff. Reads answer from the read model, so
they keep working on the last snapshot while NATS or the media library is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from application.catalog.ports import (
    CategoryCount,
    CategoryMode,
    ItemView,
    SearchPage,
    SearchQuery,
    SnapshotDetail,
    SnapshotInfo,
    Sort,
)
from application.catalog.refresh import RefreshProgress
from application.pay.service import Accepted, Preview
from entrypoints.http.auth import IdentityDep
from entrypoints.http.params import Channel, ServicesDep
from entrypoints.http.queue import known_channel
from entrypoints.peers import require_peers
from entrypoints.schemas import RequestId, TierName

ItemKey = FromPath[str]
SnapshotId = FromPath[str]
_encode = msgspec.json.Encoder().encode


class BuyCatalogItem(msgspec.Struct, forbid_unknown_fields=True):
    """Only the tier and an optional request id: what is bought, and its price, is the
    catalog's."""

    tier: TierName = "queue"
    request_id: RequestId | None = None


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    full: bool = False  # read every item's details again, not only new or changed ones


class CatalogController(Controller):
    path = "/api/v1/channels/{channel:str}/catalog"
    tags = ["catalog"]

    @get("/search", summary="Search the current snapshot: title words, categories, paged")
    async def search(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        q: Annotated[str, QueryParameter(name="q", max_length=200)] = "",
        category: Annotated[list[str] | None, QueryParameter(name="category", max_items=20)] = None,
        category_mode: Annotated[CategoryMode, QueryParameter(name="category_mode")] = "any",
        sort: Annotated[Sort, QueryParameter(name="sort")] = "relevance",
        page: Annotated[int, QueryParameter(name="page", ge=1, le=100_000)] = 1,
        per_page: Annotated[int, QueryParameter(name="per_page", ge=1, le=100)] = 24,
        available_only: Annotated[bool, QueryParameter(name="available_only")] = False,
    ) -> SearchPage:
        await known_channel(services, channel)
        query = SearchQuery(
            channel,
            text=q,
            categories=[c[:200] for c in category or []],
            category_mode=category_mode,
            sort=sort,
            page=page,
            per_page=per_page,
            available_only=available_only,
        )
        return await services.catalog.service.search(identity, query)

    @get("/categories", summary="The current snapshot's categories with their item counts")
    async def categories(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> list[CategoryCount]:
        await known_channel(services, channel)
        return await services.catalog.service.categories(channel)

    @get("/items/{key:str}", summary="One catalog item (unavailable ones say why)")
    async def item(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel, key: ItemKey
    ) -> ItemView:
        await known_channel(services, channel)
        return await services.catalog.service.item(channel, identity, key)

    @get("/items/{key:str}/preview", summary="What buying this item would cost, and if it can")
    async def preview(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        key: ItemKey,
        tier: Annotated[TierName, QueryParameter(name="tier")] = "queue",
    ) -> Preview:
        await known_channel(services, channel)
        return await services.catalog.purchases.preview(channel, identity, key, tier)

    @post(
        "/items/{key:str}/buy",
        summary="Buy this item: priced by the catalog's duration, played by its manifest URL",
        status_code=202,
    )
    async def buy(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        key: ItemKey,
        data: JSONBody[BuyCatalogItem],
    ) -> Accepted:
        await known_channel(services, channel)
        require_peers(services, cytube=True, economy=True)
        return await services.catalog.purchases.buy(
            channel, identity, key, data.tier, data.request_id
        )

    @post("/refresh", summary="Start a refresh from the source (admin)", status_code=202)
    async def refresh(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[RefreshRequest | None] = None,
    ) -> RefreshProgress:
        await known_channel(services, channel)
        full = data.full if data is not None else False
        return await services.catalog.service.refresh(identity, full=full)

    @get("/refresh", summary="The refresh under way, or the last one (admin)")
    async def progress(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> RefreshProgress:
        await known_channel(services, channel)
        return services.catalog.service.progress(identity)

    @get(
        "/refresh/events",
        summary="The refresh's progress as Server-Sent Events, until it ends (admin)",
    )
    async def progress_events(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> ServerSentEvent:
        await known_channel(services, channel)
        refresher = services.catalog.refresher
        services.catalog.service.progress(identity)  # admin only

        async def events() -> AsyncGenerator[ServerSentEventMessage, None]:
            version = -1
            while True:
                progress = await refresher.changed(version, 15.0)
                if progress.version == version:
                    yield ServerSentEventMessage(comment="still here")
                    continue
                version = progress.version
                yield ServerSentEventMessage(data=_encode(progress).decode(), event="progress")
                if not progress.running:
                    return
                await asyncio.sleep(0.2)  # at most five a second

        return ServerSentEvent(events())

    @get("/snapshots", summary="The latest snapshots: status, counts, diff, errors (admin)")
    async def snapshots(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=100)] = 20,
    ) -> list[SnapshotInfo]:
        await known_channel(services, channel)
        return await services.catalog.service.snapshots(channel, identity, limit)

    @get("/snapshots/{snapshot_id:str}", summary="One snapshot and the changes it brought (admin)")
    async def snapshot(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        snapshot_id: SnapshotId,
    ) -> SnapshotDetail:
        await known_channel(services, channel)
        return await services.catalog.service.snapshot(channel, identity, snapshot_id)
