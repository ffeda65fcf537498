"""What the demo panel needs from the simulator (embedded default only): joining the channel as
a registered viewer (what CyTube lets anyone do; any other rank, like every other control,
needs an admin), the PMs CyTube would have shown in chat, so a person can read their sign-in
code, and a top-up of their own wallet from the simulator's bank, so they can buy without an
admin. The simulated channel is a demo: whoever reaches it can read its PMs, which is why the
embedded default listens on loopback only unless told otherwise."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.params import JSONBody, QueryParameter

from application.identity.roles import Identity, require_self_or_admin
from application.pay.service import Wallet
from entrypoints.http.auth import IdentityDep
from entrypoints.http.params import Channel, ServicesDep, UserName
from entrypoints.http.sim import _sim
from entrypoints.schemas import CytubeUser

TOP_UP = 2000


class PmView(msgspec.Struct):
    to: str
    message: str
    at: datetime
    delivered: bool


class DemoJoin(msgspec.Struct, forbid_unknown_fields=True):
    name: CytubeUser


#: The rank a demo join gets: a registered user, never a moderator or an admin.
DEMO_RANK = 1


class SimDemoController(Controller):
    path = "/api/v1/sim/{channel:str}"
    tags = ["simulator"]

    @post(
        "/demo/join", summary="Join the simulated channel as a registered viewer", status_code=204
    )
    async def join(self, services: ServicesDep, channel: Channel, data: JSONBody[DemoJoin]) -> None:
        await _sim(services, channel).join(data.name, DEMO_RANK, False)

    @get("/pms", summary="PMs the simulated CyTube sent to a user, newest first")
    async def pms(
        self,
        services: ServicesDep,
        channel: Channel,
        to: Annotated[str, QueryParameter(name="to", min_length=1, max_length=20)],
    ) -> list[PmView]:
        _sim(services, channel)
        port: Any = services.cytube.port
        return [PmView(p.to, p.message, p.at, p.delivered) for p in port.pms_to(channel, to)[:10]]

    @post(
        "/wallets/{user:str}/top-up",
        summary="Credit 2,000 from the simulator's bank",
        status_code=200,
    )
    async def top_up(
        self, services: ServicesDep, identity: IdentityDep, channel: Channel, user: UserName
    ) -> Wallet:
        _sim(services, channel)
        require_self_or_admin(identity, user)
        bank = Identity("simulator", "admin")
        return await services.pay.service.grant(channel, bank, user, TOP_UP)
