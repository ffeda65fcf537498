"""The session cookie's `Secure` flag: a TLS-terminating proxy hands us plain http, so an
operator behind one forces it with `[identity] secure_cookies = true`; left unset, it follows
the request's scheme (plain http here, so no flag, or a browser on http would drop it)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from application.identity.rules import IdentityConfig
from tests.e2e.conftest import Running, serving


async def signed_in_cookie(svc: Running, name: str) -> str:
    joined = await svc.sim.post("/api/v1/sim/lobby/users", json={"name": name, "rank": 1})
    assert joined.status_code == 204, joined.text
    async with httpx.AsyncClient(base_url=svc.base, timeout=10) as browser:
        sent = await browser.post("/api/v1/signin/code", json={"name": name})
        assert sent.status_code == 200, sent.text
        pms = (await svc.sim.get("/api/v1/sim/lobby/pms", params={"to": name})).json()
        code = re.search(r"code is (\w+)", pms[0]["message"])[1]  # type: ignore[index]
        verified = await browser.post("/api/v1/signin/verify", json={"name": name, "code": code})
        assert verified.status_code == 200, verified.text
        return verified.headers["set-cookie"].lower()


async def test_secure_cookies_forced_by_config_over_plain_http(tmp_path: Path) -> None:
    config = IdentityConfig(admins=("boss",), secure_cookies=True)
    async with serving(tmp_path / "data", identity=config) as svc:
        cookie = await signed_in_cookie(svc, "carol")
    assert cookie.startswith("wq_session=")
    assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


async def test_unset_the_flag_follows_the_scheme(tmp_path: Path) -> None:
    async with serving(tmp_path / "data") as svc:
        cookie = await signed_in_cookie(svc, "dave")
    assert "httponly" in cookie and "; secure" not in cookie
