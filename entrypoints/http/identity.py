"""Signing in and out, sessions, revocation, the blessed list and blocked addresses over HTTP.

The sign-in steps need no credentials; they refuse a request from another site (`Origin`) and
are rate limited by the rules in application.identity. The session cookie is HttpOnly,
SameSite=Lax and Secure over https; the CSRF token for writes comes back with `verify` and
`/api/v1/me`, and the pages carry it in a meta tag.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import Cookie
from litestar.params import JSONBody
from msgspec import Meta

from application.errors import NotFoundError
from application.identity.access import IpBlockView, SessionView
from application.identity.blessed import BlessedView
from application.identity.roles import Role, Unauthenticated
from application.identity.signin import Blocked, CodeRequested
from entrypoints.http.auth import (
    SESSION_COOKIE,
    IdentityDep,
    same_origin,
)
from entrypoints.http.params import Channel, PathText, ServicesDep, UserName
from entrypoints.services import Services

Name = Annotated[str, Meta(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]
Code = Annotated[str, Meta(min_length=1, max_length=64)]


class AskCode(msgspec.Struct, forbid_unknown_fields=True):
    name: Name


class Verify(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    code: Code


class Me(msgspec.Struct):
    user: str
    role: Role
    via: str
    csrf_token: str | None = None
    session_expires_at: datetime | None = None


class RevokeTokenBody(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, Meta(min_length=1, max_length=4096)]


class BlockBody(msgspec.Struct, forbid_unknown_fields=True):
    ip: Annotated[str, Meta(min_length=1, max_length=64)]
    seconds: Annotated[int, Meta(ge=60, le=365 * 86400)] = 72 * 3600


class BlessedList(msgspec.Struct):
    users: list[BlessedView]


def client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def secure_cookie(request: Request[Any, Any, Any], services: Services) -> bool:
    forced = services.identity.config.secure_cookies
    return forced if forced is not None else request.url.scheme == "https"


def session_cookie(request: Request[Any, Any, Any], services: Services, value: str) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path="/",
        max_age=services.identity.config.session_absolute_sec if value else 0,
        httponly=True,
        samesite="lax",
        secure=secure_cookie(request, services),
    )


def _own_channel(services: Services, channel: str) -> None:
    if channel != services.identity.signin.channel:
        raise NotFoundError("unknown_channel", f"No channel named {channel!r} is served here.")


def _session_of(request: Request[Any, Any, Any]) -> Any:
    return getattr(request.state, "session", None)


class SignInController(Controller):
    path = "/api/v1/signin"
    tags = ["sign-in"]

    @post("/code", summary="Send a one-time code to a CyTube user as a PM", status_code=200)
    async def code(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[AskCode]
    ) -> CodeRequested:
        same_origin(request)
        return await services.identity.signin.request_code(data.name, client_ip(request))

    @post(
        "/verify", summary="Trade the code for a session (sets the session cookie)", status_code=200
    )
    async def verify(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[Verify]
    ) -> Response[Me]:
        same_origin(request)
        agent = request.headers.get("user-agent", "")[:300]
        signed = await services.identity.signin.verify(
            data.name, data.code, client_ip(request), agent
        )
        role = services.identity.authenticator.role_of(signed.user)
        body = Me(
            signed.user,
            role,
            "session",
            services.identity.csrf.token(signed.session_id),
            signed.expires_at,
        )
        return Response(body, cookies=[session_cookie(request, services, signed.session_id)])

    @post(
        "/block-ip",
        summary="Block this address from sign-in codes (after an unasked try)",
        status_code=200,
    )
    async def block_ip(self, request: Request[Any, Any, Any], services: ServicesDep) -> Blocked:
        same_origin(request)
        return await services.identity.signin.block_ip(client_ip(request))


class SessionController(Controller):
    path = "/api/v1"
    tags = ["sessions"]

    @get("/me", summary="Who you are now, your role by the facts, and your CSRF token")
    async def me(
        self, request: Request[Any, Any, Any], identity: IdentityDep, services: ServicesDep
    ) -> Me:
        caller = _session_of(request)
        if caller is None:
            return Me(identity.user, identity.role, "token")
        cookie = request.cookies.get(SESSION_COOKIE, "")
        return Me(
            identity.user,
            identity.role,
            "session",
            services.identity.csrf.token(cookie),
            caller.session.expires_at,
        )

    @post("/signout", summary="End this browser's session", status_code=200)
    async def sign_out(
        self, request: Request[Any, Any, Any], identity: IdentityDep, services: ServicesDep
    ) -> Response[dict[str, str]]:
        caller = _session_of(request)
        if caller is not None:
            await services.identity.access.sign_out(identity, caller.session_hash)
        return Response({"status": "signed_out"}, cookies=[session_cookie(request, services, "")])

    @post("/signout/everywhere", summary="End every session of yours", status_code=200)
    async def sign_out_everywhere(
        self, request: Request[Any, Any, Any], identity: IdentityDep, services: ServicesDep
    ) -> Response[dict[str, str]]:
        await services.identity.access.sign_out_everywhere(identity)
        return Response(
            {"status": "signed_out_everywhere"}, cookies=[session_cookie(request, services, "")]
        )

    @get("/sessions", summary="Live sessions: yours, or everyone's for an admin")
    async def sessions(
        self, request: Request[Any, Any, Any], identity: IdentityDep, services: ServicesDep
    ) -> list[SessionView]:
        caller = _session_of(request)
        return services.identity.access.sessions(identity, caller.session_hash if caller else None)

    @delete(
        "/sessions/{ref:str}", summary="End one session (yours, or any as admin)", status_code=200
    )
    async def end_session(
        self, identity: IdentityDep, services: ServicesDep, ref: PathText
    ) -> dict[str, str]:
        await services.identity.access.end_session(identity, ref)
        return {"status": "ended"}

    @post(
        "/users/{user:str}/revoke",
        summary="End a user's sessions and void their tokens (admin)",
        status_code=200,
    )
    async def revoke_user(
        self, identity: IdentityDep, services: ServicesDep, user: UserName
    ) -> dict[str, str]:
        await services.identity.access.revoke_user(identity, user)
        return {"status": "revoked", "user": user}

    @post(
        "/tokens/revoke",
        summary="Revoke one bearer token (your own, or any as admin)",
        status_code=200,
    )
    async def revoke_token(
        self, identity: IdentityDep, services: ServicesDep, data: JSONBody[RevokeTokenBody]
    ) -> dict[str, str]:
        token = data.token.removeprefix("Bearer ").strip()
        try:
            user, token_id, expires = services.identity.authenticator.token_id(token)
        except Unauthenticated as exc:
            raise NotFoundError(
                "unknown_token", f"That is not a live token: {exc.message}"
            ) from None
        await services.identity.access.revoke_token(identity, user, token_id, expires)
        return {"status": "revoked", "user": user}

    @get("/ip-blocks", summary="Addresses blocked from sign-in codes (admin)")
    async def ip_blocks(self, identity: IdentityDep, services: ServicesDep) -> list[IpBlockView]:
        return services.identity.access.ip_blocks(identity)

    @post("/ip-blocks", summary="Block an address from sign-in codes (admin)", status_code=200)
    async def block(
        self, identity: IdentityDep, services: ServicesDep, data: JSONBody[BlockBody]
    ) -> list[IpBlockView]:
        await services.identity.access.block_ip(identity, data.ip, data.seconds)
        return services.identity.access.ip_blocks(identity)

    @delete("/ip-blocks/{ip:str}", summary="Lift a block (admin)", status_code=200)
    async def unblock(
        self, identity: IdentityDep, services: ServicesDep, ip: PathText
    ) -> list[IpBlockView]:
        await services.identity.access.unblock_ip(identity, ip)
        return services.identity.access.ip_blocks(identity)


class BlessedController(Controller):
    path = "/api/v1/channels/{channel:str}/blessed"
    tags = ["blessed"]

    @get("/", summary="The blessed list (blessed or admin)")
    async def entries(
        self, identity: IdentityDep, services: ServicesDep, channel: Channel
    ) -> BlessedList:
        _own_channel(services, channel)
        return BlessedList(services.identity.blessed.entries(identity))

    @put("/{user:str}", summary="Bless a user (admin); effective at their next request")
    async def bless(
        self, identity: IdentityDep, services: ServicesDep, channel: Channel, user: UserName
    ) -> BlessedList:
        _own_channel(services, channel)
        return BlessedList(await services.identity.blessed.bless(identity, user))

    @delete(
        "/{user:str}",
        summary="Un-bless a user (admin); effective at their next request",
        status_code=200,
    )
    async def unbless(
        self, identity: IdentityDep, services: ServicesDep, channel: Channel, user: UserName
    ) -> BlessedList:
        _own_channel(services, channel)
        return BlessedList(await services.identity.blessed.unbless(identity, user))
