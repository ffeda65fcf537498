"""What the demo panel needs from the simulator (embedded default only): joining the channel as
a registered viewer (what CyTube lets anyone do; any other rank, like every other control,
needs an admin), the PMs CyTube would have shown in chat, so a person can read their sign-in
code, and a top-up of their own wallet from the simulator's bank, so they can buy without an
admin.

A PM carries a sign-in code, so reading one is signing in as its addressee; the rules:

- A demo join gives the browser an HttpOnly, SameSite=Strict cookie (`wq_demo`, sent to the
  simulator's routes only) with a random token; the simulator keeps only its hash, for each
  name the browser that joined it last (adapters.sim.browsers). The token is never logged.
- `pms?to=NAME` answers the browser that joined NAME, NAME signed in, or an admin; anyone else
  gets 403 `not_your_name` and reads nothing.
- A join of a name already in the simulated channel that this browser did not join is refused
  (409 `name_in_channel`): it would take that person's PMs.
- An admin's name (a configured admin, or a CyTube rank that makes one) is joined, and its PMs
  read, only from the service's own machine (a loopback client: README step 6) or by an admin;
  from anywhere else 403 `admin_name_remote`.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import JSONBody, QueryParameter

from application.identity.roles import (
    Forbidden,
    Identity,
    Unauthenticated,
    require_self_or_admin,
)
from application.pay.service import Wallet
from domain.errors import Rejected
from domain.identity.names import name_key
from entrypoints.http.auth import SESSION_COOKIE, IdentityDep, provide_identity, same_origin
from entrypoints.http.identity import secure_cookie
from entrypoints.http.params import Channel, ServicesDep, UserName
from entrypoints.http.sim import _sim
from entrypoints.schemas import CytubeUser
from entrypoints.services import Services

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
#: The browser's demo token (adapters.sim.browsers): which names it joined.
DEMO_COOKIE = "wq_demo"
TOKEN_MAX_CHARS = 100


def loopback(request: Request[Any, Any, Any]) -> bool:
    """Is the client on the service's own machine?"""
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def browser_token(request: Request[Any, Any, Any]) -> str | None:
    token = request.cookies.get(DEMO_COOKIE)
    return token if token and len(token) <= TOKEN_MAX_CHARS else None


async def caller(request: Request[Any, Any, Any], services: Any) -> Identity | None:
    """Who the request is signed in as, or None: an ended session or a bad token counts as no
    credentials here (the browser's demo cookie may still show it its own PMs)."""
    if not (request.headers.get("authorization") or request.cookies.get(SESSION_COOKIE)):
        return None
    try:
        return await provide_identity(request, services)
    except Unauthenticated:
        return None


def admin_name_here(request: Request[Any, Any, Any], services: Services, name: str) -> None:
    """An admin's name, only from the service's own machine."""
    if services.identity.authenticator.role_of(name) == "admin" and not loopback(request):
        raise Forbidden(
            "admin_name_remote",
            f"{name} is an admin here: the demo panel joins an admin's name, and shows its PMs, "
            "only in a browser on the service's own machine.",
        )


class SimDemoController(Controller):
    path = "/api/v1/sim/{channel:str}"
    tags = ["simulator"]

    @post(
        "/demo/join", summary="Join the simulated channel as a registered viewer", status_code=204
    )
    async def join(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        channel: Channel,
        data: JSONBody[DemoJoin],
    ) -> Response[None]:
        sim = _sim(services, channel)
        same_origin(request)
        browsers = services.cytube.port.browsers  # type: ignore[attr-defined]
        token = browser_token(request)
        if not browsers.holds(token, data.name) and sim.user(data.name) is not None:
            raise Rejected(
                "name_in_channel",
                f"{data.name} is already in the simulated channel, joined from another "
                "browser; pick another name.",
            )
        admin_name_here(request, services, data.name)
        token = token or browsers.new_token()
        browsers.bind(token, data.name)
        await sim.join(data.name, DEMO_RANK, False)
        cookie = Cookie(
            key=DEMO_COOKIE,
            value=token,
            path=f"/api/v1/sim/{channel}",
            max_age=services.identity.config.session_absolute_sec,
            httponly=True,
            samesite="strict",
            secure=secure_cookie(request, services),
        )
        return Response(None, status_code=204, cookies=[cookie])

    @get("/pms", summary="PMs the simulated CyTube sent to a user, newest first")
    async def pms(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        channel: Channel,
        to: Annotated[str, QueryParameter(name="to", min_length=1, max_length=20)],
    ) -> list[PmView]:
        _sim(services, channel)
        port: Any = services.cytube.port
        who = await caller(request, services)
        if who is None or (who.role != "admin" and name_key(who.user) != name_key(to)):
            if not port.browsers.holds(browser_token(request), to):
                raise Forbidden(
                    "not_your_name",
                    f"This browser did not join the channel as {to}: the demo panel shows a "
                    "name's PMs only in the browser that joined as it.",
                )
            admin_name_here(request, services, to)
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
