"""`GET /api/v1/channels/{channel}/purchases`: the caller's own purchases, newest first (an
admin may name another user). A read of the queue shadow's ledger rows; what each status means
is in docs/http-api.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import QueryParameter

from application.identity.roles import require_self_or_admin
from application.queue.shadow import PAY_ITEMS
from entrypoints.http.auth import IdentityDep
from entrypoints.http.params import Channel, ServicesDep
from entrypoints.http.queue import known_channel


class Purchase(msgspec.Struct):
    request_id: str
    media_type: str
    media_id: str
    title: str
    duration_sec: int
    tier: str
    status: str
    payment: str
    placement: str
    cost: int
    refunded: int
    cancel_reason: str | None
    decline_code: str | None
    requested_at: datetime
    updated_at: datetime
    finished: bool


class PurchasesController(Controller):
    path = "/api/v1/channels/{channel:str}/purchases"
    tags = ["pay-to-play"]

    @get("/", summary="Your purchases, newest first (an admin may ask for anyone's)")
    async def mine(
        self,
        services: ServicesDep,
        identity: IdentityDep,
        channel: Channel,
        user: Annotated[str | None, QueryParameter(name="user", max_length=100)] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=200)] = 50,
    ) -> list[Purchase]:
        await known_channel(services, channel)
        whose = user or identity.user
        require_self_or_admin(identity, whose)
        rows = await services.kernel.read_models.fetch(
            PAY_ITEMS, {"channel": channel, "user": whose}, order_by=("requested_at",)
        )
        return [
            Purchase(
                r["request_id"],
                r["media_type"],
                r["media_id"],
                r["title"],
                r["duration_sec"],
                r["tier"],
                r["status"],
                r["payment"],
                r["placement"],
                r["cost"],
                r["refunded"],
                r["cancel_reason"],
                r["decline_code"],
                r["requested_at"],
                r["updated_at"],
                r["finished"],
            )
            for r in reversed(rows[-limit:])
        ]
