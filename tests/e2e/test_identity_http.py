"""Roles and sign-in over HTTP, as the issue's checks attack them: every write endpoint for
every role, CSRF from another origin, a revoked session, a demoted blessed user, the blessed
list's KV copy, and the offline /schema."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from entrypoints.http.app import create_app
from tests.e2e.conftest import Running
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_to_play import bearer, blessed, joins

C = "/api/v1/channels/lobby"
ANY = None
#: Every write endpoint, a body for it, and the least role that may use it (None: anyone).
#: "admin" on a self-or-admin endpoint means: acting on someone else's ("zed"'s) things.
WRITES: list[tuple[str, str, Any, str | None]] = [
    (
        "POST",
        f"{C}/pay-items",
        {"media_type": "yt", "media_id": "m-{role}", "duration_sec": 60},
        "viewer",
    ),
    ("DELETE", f"{C}/pay-items/{{alices}}", None, "admin"),
    ("POST", f"{C}/wallets/zed/grants", {"amount": 5}, "admin"),
    ("POST", f"{C}/lock", {"label": "Movie night"}, "admin"),
    ("DELETE", f"{C}/lock", None, "admin"),
    ("POST", f"{C}/likes", {}, "viewer"),
    ("POST", "/api/v1/tokens", {"user": "zed", "role": "viewer"}, "admin"),
    ("POST", f"{C}/playlists", {"name": "P {role}"}, "blessed"),
    ("PATCH", f"{C}/playlists/nope", {"name": "Q"}, "blessed"),
    ("DELETE", f"{C}/playlists/nope", None, "blessed"),
    ("POST", f"{C}/playlists/nope/items", {"items": [{"catalog_id": "c1"}]}, "blessed"),
    ("POST", f"{C}/playlists/nope/items/remove", {"positions": [0]}, "blessed"),
    ("POST", f"{C}/playlists/nope/items/move", {"from_position": 0, "to_position": 1}, "blessed"),
    ("POST", f"{C}/playlists/nope/duplicate", {}, "blessed"),
    ("POST", f"{C}/playlists/nope/apply", {"mode": "append"}, "blessed"),
    ("POST", f"{C}/marathons/preview", {"sources": ["nope"]}, "blessed"),
    ("POST", f"{C}/marathons", {"sources": ["nope"], "name": "M", "items": []}, "blessed"),
    ("POST", f"{C}/playlist-applies/nope/abort", None, "admin"),
    ("PUT", f"{C}/promos/config", {}, "admin"),
    ("POST", f"{C}/catalog/items/nope/buy", {"tier": "queue"}, "viewer"),
    ("POST", f"{C}/catalog/refresh", {}, "admin"),
    ("PUT", f"{C}/rules", {}, "admin"),
    ("PUT", f"{C}/likes/rules", {}, "admin"),
    (
        "POST",
        f"{C}/schedules",
        {"playlist_id": "p1", "label": "Night", "fire_at": "2030-01-01T20:00:00Z"},
        "admin",
    ),
    ("PATCH", f"{C}/schedules/nope", {"label": "Night"}, "admin"),
    ("DELETE", f"{C}/schedules/nope", None, "admin"),
    ("POST", f"{C}/schedules/nope/fire", {}, "admin"),
    ("POST", f"{C}/schedules/lift", {}, "admin"),
    ("POST", f"{C}/rules/check", {}, "admin"),
    ("POST", "/api/v1/admin/projections/queue_shadow/rebuild", None, "admin"),
    ("POST", "/api/v1/ip-blocks", {"ip": "203.0.113.9", "seconds": 600}, "admin"),
    ("DELETE", "/api/v1/ip-blocks/203.0.113.9", None, "admin"),
    ("DELETE", "/api/v1/sessions/deadbeefdeadbeef", None, "viewer"),
    ("POST", "/api/v1/tokens/revoke", {"token": "{zeds_token}"}, "admin"),
    ("POST", "/api/v1/users/zed/revoke", None, "admin"),
    ("POST", "/api/v1/signout", None, "viewer"),
    ("POST", "/api/v1/signout/everywhere", None, "viewer"),
    ("PUT", f"{C}/blessed/zed", None, "admin"),
    ("DELETE", f"{C}/blessed/zed", None, "admin"),
    ("POST", "/api/v1/sim/lobby/wallets/zed/top-up", None, "admin"),
    ("POST", "/api/v1/sim/lobby/media", {"media_type": "yt", "media_id": "s-{role}"}, "admin"),
    ("POST", "/api/v1/sim/lobby/clock/advance", {"seconds": 1}, "admin"),
    ("PUT", "/api/v1/sim/lobby/users/zed/afk", {"afk": False}, "admin"),
    ("POST", "/api/v1/sim/lobby/faults", {}, "admin"),
    (
        "PUT",
        "/api/v1/sim/lobby/hosted",
        {"media_type": "yt", "media_id": "h1", "title": "Hosted", "duration_sec": 60},
        "admin",
    ),
    ("POST", "/api/v1/sim/lobby/users", {"name": "zed"}, "admin"),
    ("DELETE", "/api/v1/sim/lobby/users/nobody", None, "admin"),
    ("POST", "/api/v1/sim/lobby/media/999999/move", {"after": "append"}, "admin"),
    ("DELETE", "/api/v1/sim/lobby/media/999999", None, "admin"),
    ("POST", "/api/v1/sim/lobby/skip", None, "admin"),
    ("POST", "/api/v1/sim/lobby/demo/join", {"name": "d_{role}"}, ANY),
    ("POST", "/api/v1/signin/code", {"name": "zed"}, ANY),
    ("POST", "/api/v1/signin/block-ip", None, ANY),
    ("POST", "/api/v1/signin/verify", {"name": "zed", "code": "WRONGONE"}, ANY),
]
ROLES = ("anonymous", "viewer", "blessed", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
ROLE_REFUSALS = {"missing_token", "insufficient_role", "not_your_own", "not_yours"}


def _template(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", path)


def test_the_table_names_every_write_endpoint(service: Running) -> None:
    app = create_app(service.services)
    routes = {
        (method, re.sub(r"\{[^}]+\}", "*", route.path))
        for route in app.routes
        for method in getattr(route, "route_handler_map", {})
        if method not in ("GET", "HEAD", "OPTIONS")
    }
    listed = set()
    for method, path, _, _ in WRITES:
        generic = re.sub(
            r"/(nope|deadbeefdeadbeef|zed|nobody|999999|203\.0\.113\.9|queue_shadow|\{alices\})(?=/|$)",
            "/*",
            path,
        )
        listed.add((method, generic.replace("/lobby", "/*")))
    assert routes == listed


async def test_every_role_on_every_write_endpoint(service: Running) -> None:
    await caught_up(service)
    await joins(service, "alice")
    await joins(service, "vic")
    admin = bearer(service, "boss", "admin")
    await service.http.post(f"{C}/wallets/alice/grants", json={"amount": 5000}, headers=admin)
    await service.http.post(f"{C}/wallets/vic/grants", json={"amount": 5000}, headers=admin)
    headers = {
        "anonymous": {},
        "viewer": bearer(service, "vic", "viewer"),
        "blessed": await blessed(service, "bea"),
        "admin": admin,
    }
    seen: list[str] = []
    for method, path, body, least in WRITES:
        for role in ROLES:
            bought = await service.http.post(
                f"{C}/pay-items",
                json={"media_type": "yt", "media_id": f"a-{len(seen)}", "duration_sec": 60},
                headers=bearer(service, "alice", "viewer"),
            )
            zed_token = bearer(service, "zed", "viewer")["authorization"][7:]
            url = _template(path).format(alices=bought.json().get("request_id", "x"))
            payload = body
            if isinstance(body, dict):
                payload = {
                    k: (v.format(role=role, zeds_token=zed_token) if isinstance(v, str) else v)
                    for k, v in body.items()
                }
            r = await service.http.request(method, url, json=payload, headers=headers[role])
            allowed = least is None or (role != "anonymous" and RANK[role] >= RANK[least])
            answer = r.json() if r.content else None
            code = (answer.get("error") or {}).get("code") if isinstance(answer, dict) else None
            if allowed:
                ok = code not in ROLE_REFUSALS
            elif role == "anonymous":
                ok = r.status_code == 401 and code == "missing_token"
            else:
                ok = r.status_code == 403 and code in ROLE_REFUSALS
            if not ok:
                seen.append(f"{method} {path} as {role}: {r.status_code} {r.text[:120]}")
            else:
                seen.append("ok")
    assert [s for s in seen if s != "ok"] == []
    assert len(seen) == len(WRITES) * len(ROLES)


async def sign_in(svc: Running, name: str, *, rank: float = 1) -> httpx.AsyncClient:
    """A browser-like client signed in by the PM code the simulator kept (read by the admin:
    the name joined by the admin's control, not from this browser's demo panel)."""
    r = await svc.sim.post("/api/v1/sim/lobby/users", json={"name": name, "rank": rank})
    assert r.status_code == 204
    client = httpx.AsyncClient(base_url=svc.base, timeout=10)
    sent = await client.post("/api/v1/signin/code", json={"name": name})
    assert sent.status_code == 200, sent.text
    pms = (await svc.sim.get("/api/v1/sim/lobby/pms", params={"to": name})).json()
    code = re.search(r"code is (\w+)", pms[0]["message"])[1]  # type: ignore[index]
    verified = await client.post("/api/v1/signin/verify", json={"name": name, "code": code})
    assert verified.status_code == 200, verified.text
    client.headers["x-csrf-token"] = verified.json()["csrf_token"]
    cookie = verified.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    return client


async def test_a_cookie_write_needs_the_csrf_token_and_this_origin(service: Running) -> None:
    await caught_up(service)
    browser = await sign_in(service, "carol")
    try:
        body = {"media_type": "yt", "media_id": "csrf1", "duration_sec": 60}
        csrf = browser.headers.pop("x-csrf-token")
        missing = await browser.post(f"{C}/pay-items", json=body)
        assert missing.status_code == 403 and missing.json()["error"]["code"] == "csrf_failed"
        forged = await browser.post(f"{C}/pay-items", json=body, headers={"x-csrf-token": "x" * 32})
        assert forged.status_code == 403
        elsewhere = await browser.post(
            f"{C}/pay-items",
            json=body,
            headers={"x-csrf-token": csrf, "origin": "https://evil.example"},
        )
        assert elsewhere.status_code == 403 and elsewhere.json()["error"]["code"] == "cross_origin"
        signin_elsewhere = await browser.post(
            "/api/v1/signin/code",
            json={"name": "carol"},
            headers={"origin": "https://evil.example"},
        )
        assert signin_elsewhere.status_code == 403
        ours = await browser.post(
            f"{C}/pay-items", json=body, headers={"x-csrf-token": csrf, "origin": service.base}
        )
        assert ours.status_code not in (401, 403), ours.text
        assert (await browser.get("/api/v1/me")).json()["user"] == "carol"  # reads need no token
    finally:
        await browser.aclose()


async def test_a_revoked_session_and_a_demoted_user_count_at_the_next_request(
    service: Running,
) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    browser = await sign_in(service, "dora")
    token = bearer(service, "dora", "blessed")
    try:
        assert (await browser.get("/api/v1/me")).json()["role"] == "viewer"
        r = await service.http.put(f"{C}/blessed/dora", headers=admin)
        assert [u["user"] for u in r.json()["users"]] == ["dora"]
        assert (await browser.get("/api/v1/me")).json()["role"] == "blessed"
        made = await browser.post(f"{C}/playlists", json={"name": "Dora's"})
        assert made.status_code == 201, made.text
        await service.http.delete(f"{C}/blessed/dora", headers=admin)
        assert (await browser.get("/api/v1/me")).json()["role"] == "viewer"
        refused = await browser.post(f"{C}/playlists", json={"name": "Again"})
        assert refused.status_code == 403
        by_token = await service.http.post(f"{C}/playlists", json={"name": "T"}, headers=token)
        assert by_token.status_code == 403  # the token said blessed; the list says no
        sessions = (await service.http.get("/api/v1/sessions", headers=admin)).json()
        assert any(s["user"] == "dora" for s in sessions)
        await service.http.post("/api/v1/users/dora/revoke", headers=admin)
        gone = await browser.get("/api/v1/me")
        assert gone.status_code == 401 and gone.json()["error"]["code"] == "session_ended"
        assert (await service.http.get("/api/v1/tokens/me", headers=token)).status_code == 401
    finally:
        await browser.aclose()


async def test_a_channel_admins_rank_makes_an_admin(service: Running) -> None:
    await caught_up(service)
    browser = await sign_in(service, "owner", rank=3)
    try:
        assert (await browser.get("/api/v1/me")).json()["role"] == "admin"
        page = await browser.get("/admin/people")
        assert "Blessed users" in page.text
    finally:
        await browser.aclose()


async def test_sign_out_ends_the_session_and_clears_the_cookie(service: Running) -> None:
    await caught_up(service)
    browser = await sign_in(service, "erin")
    try:
        out = await browser.post("/api/v1/signout")
        assert out.status_code == 200 and "max-age=0" in out.headers["set-cookie"].lower()
        assert (await browser.get("/api/v1/me")).status_code == 401
    finally:
        await browser.aclose()


async def test_the_blessed_list_is_mirrored_to_the_kv_bucket(service: Running) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    await service.http.put(f"{C}/blessed/Fran", headers=admin)
    await service.http.put(f"{C}/blessed/gus", headers=admin)
    await service.http.delete(f"{C}/blessed/gus", headers=admin)
    js = service.services.kernel.log.nc.jetstream()

    async def mirrored() -> dict[str, Any] | None:
        try:
            kv = await js.key_value("WEBQUEUE_BLESSED")
            keys = await kv.keys()
        except Exception:
            return None
        if keys != ["lobby.fran"]:
            return None
        entry = await kv.get("lobby.fran")
        return dict(__import__("json").loads(entry.value))

    value = await eventually(mirrored, "the KV copy of the blessed list")
    assert value["user"] == "Fran" and value["by"] == "boss"


async def test_schema_is_served_with_no_outside_asset(service: Running) -> None:
    page = await service.http.get("/schema")
    assert page.status_code == 200
    assert "/schema/openapi.json" in page.text and "/api/v1/signin/code" in page.text
    assert not re.search(r"(src|href)=[\"']https?://", page.text)
    assert (await service.http.get("/schema/openapi.json")).json()["info"]["title"] == "webqueue"


@pytest.mark.parametrize(
    "path", ["/", "/signin", "/buy", "/me", "/top", "/playlists", "/admin", "/admin/people"]
)
async def test_pages_load_nothing_from_elsewhere_and_run_no_inline_script(
    service: Running, path: str
) -> None:
    page = await service.http.get(path, follow_redirects=True)
    assert page.status_code == 200
    assert not re.search(r"(src|href)=[\"']https?://", page.text)
    assert "<style" not in page.text and " style=" not in page.text
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []


async def test_admins_manage_the_blessed_list_over_nats(service: Running) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")["authorization"][7:]
    viewer = bearer(service, "vic", "viewer")["authorization"][7:]

    async def ask(command: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = await service.commands.handle(f"wq.cmd.lobby.{command}", json.dumps(body).encode())
        return dict(json.loads(reply))

    refused = await ask("bless_user", {"token": viewer, "user": "hal"})
    assert refused["ok"] is False and refused["error"]["code"] == "insufficient_role"
    added = await ask("bless_user", {"token": admin, "user": "hal"})
    assert added["ok"] is True and [u["user"] for u in added["users"]] == ["hal"]
    hal = bearer(service, "hal", "blessed")["authorization"][7:]
    listed = await ask("list_blessed", {"token": hal})  # hal is blessed now: may read it
    assert [u["user"] for u in listed["users"]] == ["hal"]
    removed = await ask("unbless_user", {"token": admin, "user": "hal"})
    assert removed["ok"] is True and removed["users"] == []
    after = await ask("list_blessed", {"token": hal})
    assert after["ok"] is False and after["error"]["code"] == "insufficient_role"
