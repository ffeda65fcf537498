"""Who is asking over HTTP (`identity`), 401/403 in the one error format, and the tokens API.

A caller is named by a bearer token (`Authorization: Bearer ...`, for the API and scripts) or by
the browser's session cookie (`wq_session`, set by signing in). Either way the role is decided
now, from the log's facts (application.identity.credentials). A write that a cookie
authenticates must also carry the session's CSRF token in `X-CSRF-Token` and, when the browser
sends an `Origin`, come from this origin; a bearer token needs neither, as a browser never
attaches one by itself.

A handler that needs a caller takes `identity: IdentityDep`; the app provides it with
`AUTH_DEPENDENCIES` and maps failures with `AUTH_EXCEPTION_HANDLERS`. Handlers that do not ask for
`identity` stay public: the credentials are only read when the dependency is needed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ValidationException
from litestar.openapi.spec import Reference, SecurityScheme
from litestar.params import JSONBody
from msgspec import Meta

from adapters.identity.tokens import DEFAULT_TTL_SEC, MAX_TTL_SEC, TokenSigner
from application.clock import Clock
from application.identity.roles import (
    USER_MAX_CHARS,
    Forbidden,
    Identity,
    Role,
    Unauthenticated,
    require,
)
from entrypoints.http.errors import error_body

IdentityDep = NamedDependency[Identity]


class IdentityPart(Protocol):
    """What identity needs from `Services.identity`: its token signer and a wall clock (tokens
    expire by real time, even when the simulator's virtual clock runs fast)."""

    signer: TokenSigner
    wall_clock: Clock


class AuthServices(Protocol):
    identity: IdentityPart


if TYPE_CHECKING:
    AuthServicesDep = NamedDependency[AuthServices]
else:
    # Litestar checks a dependency's value against its annotation, and a Protocol cannot be
    # checked at run time: any object with `.identity.signer` and `.identity.wall_clock` will do
    # (a test fake too).
    AuthServicesDep = NamedDependency[Any]

REALM = "webqueue"

SECURITY_SCHEMES: dict[str, SecurityScheme | Reference] = {
    "bearer": SecurityScheme(
        type="http",
        scheme="bearer",
        description="A token from `webqueue token issue` or `POST /api/v1/tokens`.",
    )
}
"""For `OpenAPIConfig(components=Components(security_schemes=SECURITY_SCHEMES))`."""
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
"""`security=BEARER` on a route or controller marks it as needing a token in the OpenAPI."""

UserName = Annotated[str, Meta(min_length=1, max_length=USER_MAX_CHARS, pattern=r"^\S(.*\S)?$")]
TtlSec = Annotated[int, Meta(ge=1, le=MAX_TTL_SEC)]


def identity_from_header(signer: TokenSigner, header_value: str | None, now: datetime) -> Identity:
    """The identity behind an `Authorization` header's value, or `Unauthenticated`."""
    value = (header_value or "").strip()
    if not value:
        raise Unauthenticated(
            "missing_token", "This needs a bearer token: send 'Authorization: Bearer <token>'."
        )
    scheme, *rest = value.split(None, 1)
    if scheme.lower() != "bearer":
        raise Unauthenticated(
            "invalid_token", "The Authorization header must use the Bearer scheme."
        )
    if not rest:
        raise Unauthenticated(
            "missing_token", "The Authorization header has no token after 'Bearer'."
        )
    return signer.verify(rest[0].strip(), now=now)


def signer_of(services: object) -> TokenSigner:
    """The services' token signer (`Services.identity.signer`), or a clear error when none is
    wired."""
    signer = getattr(getattr(services, "identity", None), "signer", None)
    if not isinstance(signer, TokenSigner):
        raise RuntimeError("Services has no token signer: bootstrap must wire identity.")
    return signer


SESSION_COOKIE = "wq_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token(header_value: str | None) -> str:
    """The token in an `Authorization` header's value, or `Unauthenticated`."""
    value = (header_value or "").strip()
    scheme, *rest = value.split(None, 1)
    if scheme.lower() != "bearer":
        raise Unauthenticated(
            "invalid_token", "The Authorization header must use the Bearer scheme."
        )
    if not rest:
        raise Unauthenticated(
            "missing_token", "The Authorization header has no token after 'Bearer'."
        )
    return rest[0].strip()


def same_origin(request: Request[Any, Any, Any]) -> None:
    """Refuse a browser write sent from another site (its `Origin` is not ours)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    own = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    if origin.rstrip("/") != own:
        raise Forbidden("cross_origin", f"This write came from {origin[:100]}, not from this site.")


def check_csrf(request: Request[Any, Any, Any], services: Any, session_id: str) -> None:
    same_origin(request)
    given = request.headers.get(CSRF_HEADER, "")
    if not given or not services.identity.csrf.check(session_id, given):
        raise Forbidden(
            "csrf_failed",
            "This write lacks the page's CSRF token; reload the page and try again.",
        )


async def provide_identity(request: Request[Any, Any, Any], services: AuthServicesDep) -> Identity:
    """The `identity` dependency: the caller named by the bearer token, else by the session
    cookie (with its CSRF token on a write)."""
    part = services.identity
    authenticator = getattr(part, "authenticator", None)
    header = request.headers.get("authorization")
    if header is not None and header.strip():
        if authenticator is None:  # a bare signer (tests of the HTTP layer alone)
            return identity_from_header(signer_of(services), header, part.wall_clock.now())
        identity: Identity = authenticator.from_token(bearer_token(header))
        return identity
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and authenticator is not None:
        caller = await authenticator.from_session(cookie)
        if request.method not in SAFE_METHODS:
            check_csrf(request, services, cookie)
        request.state.session = caller
        return caller.identity  # type: ignore[no-any-return]
    raise Unauthenticated(
        "missing_token",
        "This needs you signed in (sign in at /signin) or a bearer token: "
        "send 'Authorization: Bearer <token>'.",
    )


AUTH_DEPENDENCIES: dict[str, Provide] = {
    "identity": Provide(provide_identity),
}


def _header_text(text: str) -> str:
    """`text` made safe inside a quoted header parameter."""
    cleaned = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "?" for c in text
    )
    return cleaned[:200]


def _unauthenticated(_: Request[Any, Any, Any], exc: Unauthenticated) -> Response[Any]:
    challenge = f'Bearer realm="{REALM}"'
    if exc.code != "missing_token":  # RFC 6750 3.1: no error code when no credentials were sent
        challenge += f', error="invalid_token", error_description="{_header_text(exc.message)}"'
    return Response(
        error_body(exc.code, exc.message),
        status_code=401,
        headers={"WWW-Authenticate": challenge},
    )


def _forbidden(_: Request[Any, Any, Any], exc: Forbidden) -> Response[Any]:
    return Response(error_body(exc.code, exc.message), status_code=403)


AUTH_EXCEPTION_HANDLERS: dict[Any, Any] = {
    Unauthenticated: _unauthenticated,
    Forbidden: _forbidden,
}


class MintToken(msgspec.Struct, forbid_unknown_fields=True):
    user: UserName
    role: Role
    ttl_sec: TtlSec = DEFAULT_TTL_SEC


class Minted(msgspec.Struct):
    token: str
    user: str
    role: Role
    expires_at: datetime


class Me(msgspec.Struct):
    user: str
    role: Role


class TokenController(Controller):
    path = "/api/v1/tokens"
    tags = ["tokens"]
    security = BEARER

    @post(
        "/",
        summary="Issue a token for a user and role (admin only)",
        status_code=201,
        opt={"intake": False},  # appends nothing to the log
    )
    async def issue(
        self, identity: IdentityDep, services: AuthServicesDep, data: JSONBody[MintToken]
    ) -> Minted:
        require(identity, "admin")
        try:
            token, expires_at = signer_of(services).issue(
                data.user, data.role, ttl_sec=data.ttl_sec, now=services.identity.wall_clock.now()
            )
        except ValueError as exc:
            raise ValidationException(
                detail=f"Cannot issue this token: {exc}.",
                extra=[{"key": "user", "message": str(exc), "source": "body"}],
            ) from exc
        return Minted(token=token, user=data.user, role=data.role, expires_at=expires_at)

    @get("/me", summary="Who the bearer token names")
    async def me(self, identity: IdentityDep) -> Me:
        return Me(user=identity.user, role=identity.role)
