"""Pay-to-play over HTTP: preview, buy, follow, cancel; wallets; the queue lock."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, delete, get, post
from litestar.params import JSONBody, QueryParameter

from application.pay.service import Accepted, LockState, PayItemStatus, Preview, Wallet
from domain.media import Media
from entrypoints.defaults import lock_until
from entrypoints.http.auth import IdentityDep
from entrypoints.http.params import Channel, PathRequestId, ServicesDep, UserName
from entrypoints.http.queue import known_channel
from entrypoints.peers import require_peers
from entrypoints.schemas import BuyItem, Duration, Grant, Lock, MediaId, MediaType, TierName


class Cancelling(msgspec.Struct):
    request_id: str
    status: str


class PayController(Controller):
    path = "/api/v1/channels/{channel:str}"
    tags = ["pay-to-play"]

    @get("/pay-items/preview", summary="What a purchase would cost, and whether it can go now")
    async def preview(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        media_type: Annotated[MediaType, QueryParameter(name="media_type")],
        media_id: Annotated[MediaId, QueryParameter(name="media_id")],
        duration_sec: Annotated[Duration | None, QueryParameter(name="duration_sec")] = None,
        tier: Annotated[TierName, QueryParameter(name="tier")] = "queue",
    ) -> Preview:
        await known_channel(services, channel)
        media = Media(media_type, media_id, "", duration_sec or 0)
        return await services.pay.service.preview(channel, identity, media, tier)

    @post("/pay-items", summary="Buy a slot: 202, then follow the status URL", status_code=202)
    async def buy(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        data: JSONBody[BuyItem],
    ) -> Accepted:
        await known_channel(services, channel)
        require_peers(services, cytube=True, economy=True)
        media = data.media()
        return await services.pay.service.request(
            channel, identity, media, data.tier, data.request_id
        )

    @get("/pay-items/{request_id:str}", summary="A purchase's status and every step so far")
    async def status(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        request_id: PathRequestId,
    ) -> PayItemStatus:
        return await services.pay.service.status(channel, identity, request_id)

    @delete(
        "/pay-items/{request_id:str}",
        summary="Cancel, refund and remove a purchase (your own while pending, or any as admin)",
        status_code=202,
    )
    async def cancel(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        request_id: PathRequestId,
    ) -> Cancelling:
        await services.pay.service.cancel(channel, identity, request_id, "admin_remove")
        return Cancelling(request_id, "cancelling")

    @get("/wallets/{user:str}", summary="A wallet's balance (your own, or any for an admin)")
    async def wallet(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel, user: UserName
    ) -> Wallet:
        require_peers(services, economy=True)
        return await services.pay.service.wallet(channel, identity, user)

    @post("/wallets/{user:str}/grants", summary="Credit a wallet (admin, local ledger)")
    async def grant(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        user: UserName,
        data: JSONBody[Grant],
    ) -> Wallet:
        return await services.pay.service.grant(channel, identity, user, data.amount)

    @post("/lock", summary="Close pay-to-play, with a label and an optional end (admin)")
    async def lock(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel, data: JSONBody[Lock]
    ) -> LockState:
        await known_channel(services, channel)
        until = lock_until(services, data.until)
        return await services.pay.service.lock(channel, identity, data.label, until)

    @delete("/lock", summary="Reopen pay-to-play (admin)", status_code=200)
    async def unlock(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel
    ) -> LockState:
        return await services.pay.service.unlock(channel, identity)
