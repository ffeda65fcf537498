"""Bearer tokens over HTTP: 401 and 403 in the one error format, minting tokens, `/me`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from attrs import frozen
from litestar import Litestar, get
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components
from litestar.testing import AsyncTestClient

from adapters.identity.tokens import MAX_TTL_SEC, TokenSigner
from application.identity.roles import Identity, Role, Unauthenticated, require
from entrypoints.http.auth import (
    AUTH_DEPENDENCIES,
    AUTH_EXCEPTION_HANDLERS,
    SECURITY_SCHEMES,
    IdentityDep,
    TokenController,
    identity_from_header,
)
from entrypoints.http.errors import EXCEPTION_HANDLERS

NOW = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)


class FrozenClock:
    """Our `Clock` port, standing still unless a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value

    async def sleep(self, seconds: float) -> None:
        self.value += timedelta(seconds=seconds)


@frozen
class FakeIdentity:
    signer: TokenSigner
    wall_clock: FrozenClock


class FakeServices:
    """The two parts of `Services` that identity needs."""

    def __init__(self) -> None:
        self.identity = FakeIdentity(TokenSigner(b"k" * 32), FrozenClock(NOW))

    def token(self, user: str, role: Role, ttl_sec: int = 3600) -> str:
        identity = self.identity
        return identity.signer.issue(user, role, ttl_sec=ttl_sec, now=identity.wall_clock.now())[0]


@get("/api/v1/blessed-only", sync_to_thread=False)
def blessed_only(identity: IdentityDep) -> dict[str, str]:
    require(identity, "blessed")
    return {"hello": identity.user}


@get("/api/v1/public", sync_to_thread=False)
def public() -> dict[str, str]:
    return {"open": "yes"}


def make_app(services: FakeServices) -> Litestar:
    """Wired as the lead wires the real app: identity and the error mapping at app level."""
    return Litestar(
        route_handlers=[TokenController, blessed_only, public],
        dependencies={
            "services": Provide(lambda: services, sync_to_thread=False),
            **AUTH_DEPENDENCIES,
        },
        exception_handlers={**EXCEPTION_HANDLERS, **AUTH_EXCEPTION_HANDLERS},
        openapi_config=OpenAPIConfig(
            title="test", version="0", components=Components(security_schemes=SECURITY_SCHEMES)
        ),
    )


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


@pytest.fixture
async def client(services: FakeServices) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=make_app(services)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_401(response: Any, code: str) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="webqueue"')
    if code == "missing_token":
        assert "error=" not in challenge
    else:
        assert 'error="invalid_token"' in challenge


# --- 401 ------------------------------------------------------------------------------------


async def test_missing_token(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/v1/tokens/me")
    assert_401(response, "missing_token")
    assert "Authorization: Bearer" in response.json()["error"]["message"]
    assert_401(
        await client.get("/api/v1/tokens/me", headers={"Authorization": ""}), "missing_token"
    )
    assert_401(
        await client.get("/api/v1/tokens/me", headers={"Authorization": "Bearer  "}),
        "missing_token",
    )


@pytest.mark.parametrize(
    "header",
    [
        "Basic YWxpY2U6c2VjcmV0",
        "Token abc.def",
        "Bearer not-a-token",
        "Bearer abc.def.ghi",
        "Bearer @@@.###",
        "Bearer " + "A" * 5000 + ".B",
    ],
)
async def test_malformed_headers_and_tokens(client: AsyncTestClient[Litestar], header: str) -> None:
    assert_401(
        await client.get("/api/v1/tokens/me", headers={"Authorization": header}), "invalid_token"
    )


async def test_non_ascii_header_is_refused_not_crashed(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get(
        "/api/v1/tokens/me", headers=[(b"authorization", "Bearer tök.én".encode())]
    )
    assert_401(response, "invalid_token")


async def test_expired_token(client: AsyncTestClient[Litestar], services: FakeServices) -> None:
    token = services.token("alice", "admin", ttl_sec=60)
    assert (await client.get("/api/v1/tokens/me", headers=bearer(token))).status_code == 200
    services.identity.wall_clock.value = NOW + timedelta(seconds=60)
    response = await client.get("/api/v1/tokens/me", headers=bearer(token))
    assert_401(response, "expired_token")
    assert "expired" in response.json()["error"]["message"]
    assert "expired at 2026-11-20T20:01:00Z" in response.headers["www-authenticate"]


async def test_wrong_signature(client: AsyncTestClient[Litestar]) -> None:
    stranger = TokenSigner(b"x" * 32).issue("alice", "admin", ttl_sec=60, now=NOW)[0]
    response = await client.get("/api/v1/tokens/me", headers=bearer(stranger))
    assert_401(response, "invalid_token")
    assert "signature" in response.json()["error"]["message"]


async def test_minting_without_a_token_is_401_not_400(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/api/v1/tokens", json={"user": "", "role": "nobody"})
    assert_401(response, "missing_token")


# --- 403 and minting ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "blessed"])
async def test_only_admins_mint_tokens(
    client: AsyncTestClient[Litestar], services: FakeServices, role: Role
) -> None:
    response = await client.post(
        "/api/v1/tokens",
        json={"user": "mallory", "role": "admin"},
        headers=bearer(services.token("mallory", role)),
    )
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "insufficient_role"
    assert error["message"] == f"This needs the admin role; mallory is a {role}."
    assert "www-authenticate" not in response.headers


async def test_admin_mints_a_token_that_works(
    client: AsyncTestClient[Litestar], services: FakeServices
) -> None:
    response = await client.post(
        "/api/v1/tokens",
        json={"user": "bob", "role": "blessed", "ttl_sec": 7200},
        headers=bearer(services.token("root", "admin")),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"token", "user", "role", "expires_at"}
    assert (body["user"], body["role"]) == ("bob", "blessed")
    assert datetime.fromisoformat(body["expires_at"]) == NOW + timedelta(hours=2)
    assert services.identity.signer.verify(body["token"], now=NOW) == Identity("bob", "blessed")

    me = await client.get("/api/v1/tokens/me", headers=bearer(body["token"]))
    assert me.json() == {"user": "bob", "role": "blessed"}
    ok = await client.get("/api/v1/blessed-only", headers=bearer(body["token"]))
    assert ok.json() == {"hello": "bob"}


async def test_minted_token_defaults_to_30_days(
    client: AsyncTestClient[Litestar], services: FakeServices
) -> None:
    response = await client.post(
        "/api/v1/tokens",
        json={"user": "bob", "role": "viewer"},
        headers=bearer(services.token("root", "admin")),
    )
    assert response.status_code == 201, response.text
    assert datetime.fromisoformat(response.json()["expires_at"]) == NOW + timedelta(days=30)


@pytest.mark.parametrize(
    "body",
    [
        {"user": "", "role": "viewer"},
        {"user": " bob", "role": "viewer"},
        {"user": "b" * 101, "role": "viewer"},
        {"user": "bob", "role": "owner"},
        {"user": "bob", "role": "viewer", "ttl_sec": 0},
        {"user": "bob", "role": "viewer", "ttl_sec": MAX_TTL_SEC + 1},
        {"user": "bob", "role": "viewer", "ttl_sec": "1d"},
        {"user": "bob", "role": "viewer", "extra": 1},
        {"user": "b\x00b", "role": "viewer"},
        {"role": "viewer"},
    ],
)
async def test_bad_mint_requests_are_400(
    client: AsyncTestClient[Litestar], services: FakeServices, body: dict[str, Any]
) -> None:
    response = await client.post(
        "/api/v1/tokens", json=body, headers=bearer(services.token("root", "admin"))
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


# --- /me and the rest -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "blessed", "admin"])
async def test_me_for_any_valid_token(
    client: AsyncTestClient[Litestar], services: FakeServices, role: Role
) -> None:
    response = await client.get("/api/v1/tokens/me", headers=bearer(services.token("zoë", role)))
    assert response.status_code == 200
    assert response.json() == {"user": "zoë", "role": role}


async def test_scheme_is_case_insensitive(
    client: AsyncTestClient[Litestar], services: FakeServices
) -> None:
    token = services.token("alice", "viewer")
    response = await client.get("/api/v1/tokens/me", headers={"Authorization": f"bearer {token}"})
    assert response.json()["user"] == "alice"


async def test_role_checks_in_other_handlers(
    client: AsyncTestClient[Litestar], services: FakeServices
) -> None:
    viewer = await client.get("/api/v1/blessed-only", headers=bearer(services.token("v", "viewer")))
    assert viewer.status_code == 403
    assert viewer.json()["error"]["message"] == (
        "This needs the blessed role or above; v is a viewer."
    )
    admin = await client.get("/api/v1/blessed-only", headers=bearer(services.token("a", "admin")))
    assert admin.json() == {"hello": "a"}


async def test_handlers_without_identity_stay_public(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/v1/public", headers={"Authorization": "Bearer junk"})
    assert response.json() == {"open": "yes"}


def test_identity_from_header_without_litestar() -> None:
    signer = TokenSigner(b"k" * 32)
    token, _ = signer.issue("alice", "blessed", ttl_sec=60, now=NOW)
    assert identity_from_header(signer, f"Bearer {token}", NOW) == Identity("alice", "blessed")
    assert identity_from_header(signer, f"  BEARER   {token}  ", NOW).user == "alice"
    assert identity_from_header(signer, f"Bearer\t{token}", NOW).user == "alice"
    for value, code in [
        (None, "missing_token"),
        ("Bearer", "missing_token"),
        ("Bearer a b", "invalid_token"),
    ]:
        with pytest.raises(Unauthenticated) as raised:
            identity_from_header(signer, value, NOW)
        assert raised.value.code == code


async def test_openapi_documents_the_bearer_scheme(client: AsyncTestClient[Litestar]) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/tokens"]["post"]["security"] == [{"bearer": []}]
    assert schema["paths"]["/api/v1/tokens/me"]["get"]["security"] == [{"bearer": []}]
