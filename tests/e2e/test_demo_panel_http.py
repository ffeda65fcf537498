"""The demo panel over real HTTP, as the audit attacked it: asking for a code in someone's name
and reading it off `pms?to=NAME`, or demo-joining as a name already in the channel or as the
admin's, was signing in as them. Now a browser reads the PMs of the names it joined only; the
walkthrough (join, code, sign in) still works, from this machine for the admin's name too, and
across a restart."""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path

import httpx
import pytest

from tests.conftest import missing
from tests.e2e.conftest import Running, serving
from tests.e2e.test_http_and_live import caught_up

SIM = "/api/v1/sim/lobby"


def browser(base: str) -> httpx.AsyncClient:
    """A client that keeps its cookies, as a browser does."""
    return httpx.AsyncClient(base_url=base, timeout=10)


async def code_for(client: httpx.AsyncClient, name: str) -> str:
    sent = await client.post("/api/v1/signin/code", json={"name": name})
    assert sent.status_code == 200, sent.text
    pms = await client.get(f"{SIM}/pms", params={"to": name})
    assert pms.status_code == 200, pms.text
    return re.search(r"code is (\w+)", pms.json()[0]["message"])[1]  # type: ignore[index]


async def signs_in(client: httpx.AsyncClient, name: str) -> str:
    """The demo walkthrough: join from the panel, send a code, read it, sign in. The role."""
    joined = await client.post(f"{SIM}/demo/join", json={"name": name})
    assert joined.status_code == 204, joined.text
    cookie = joined.headers["set-cookie"].lower()
    assert (
        "httponly" in cookie and "samesite=strict" in cookie and "path=/api/v1/sim/lobby" in cookie
    )
    code = await code_for(client, name)
    verified = await client.post("/api/v1/signin/verify", json={"name": name, "code": code})
    assert verified.status_code == 200, verified.text
    return str(verified.json()["role"])


def refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text


async def test_another_browser_cannot_take_a_name_or_read_its_codes(
    service: Running, caplog: pytest.LogCaptureFixture
) -> None:
    await caught_up(service)
    caplog.set_level(logging.DEBUG)
    alice, boss, mallory = browser(service.base), browser(service.base), browser(service.base)
    try:
        assert await signs_in(alice, "alice") == "viewer"
        assert await signs_in(boss, "boss") == "admin"  # --admin boss, from this machine
        users = (await service.http.get(f"{SIM}/")).json()["users"]

        # Another browser: asks for codes in their names (what anyone may do), reads none.
        for name in ("alice", "boss"):
            sent = await mallory.post("/api/v1/signin/code", json={"name": name})
            assert sent.status_code == 200, sent.text
        for name in ("alice", "boss", "ALICE"):
            refused(await mallory.get(f"{SIM}/pms", params={"to": name}), 403, "not_your_name")
        # ...nor joins as them (a join would have made their PMs its own).
        for name in ("alice", "Boss"):
            refused(
                await mallory.post(f"{SIM}/demo/join", json={"name": name}), 409, "name_in_channel"
            )
        assert "wq_demo" not in mallory.cookies
        assert (await service.http.get(f"{SIM}/")).json()["users"] == users  # nothing changed
        # A signed-in viewer reads their own PMs, not another's; an admin reads anyone's.
        refused(await alice.get(f"{SIM}/pms", params={"to": "boss"}), 403, "not_your_name")
        assert (await service.sim.get(f"{SIM}/pms", params={"to": "alice"})).status_code == 200

        # The ones who joined still read their own codes and sign in again.
        for client, name in ((alice, "alice"), (boss, "boss")):
            code = await code_for(client, name)
            again = await browser(service.base).post(
                "/api/v1/signin/verify", json={"name": name, "code": code}
            )
            assert again.status_code == 200, again.text
        tokens = [c.value for c in alice.cookies.jar if c.name == "wq_demo"]
        served = "\n".join(  # the service's log, not the test's own HTTP client's
            r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
        )
        assert tokens and all(t not in served for t in tokens)
    finally:
        for client in (alice, boss, mallory):
            await client.aclose()


def own_address() -> str:
    """An address of this machine that is not loopback (to be a client from elsewhere)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = str(s.getsockname()[0])
    except OSError:
        address = ""
    if not address or address.startswith("127."):
        missing("this machine has no non-loopback IPv4 address to connect from")
    return address


async def test_the_admins_name_only_from_this_machine(tmp_path: Path) -> None:
    address = own_address()
    async with serving(tmp_path / "data", sim_speed=1.0, host="0.0.0.0") as svc:
        await caught_up(svc)
        elsewhere = f"http://{address}:{svc.base.rsplit(':', 1)[1]}"
        remote, local = browser(elsewhere), browser(svc.base)
        try:
            refused(
                await remote.post(f"{SIM}/demo/join", json={"name": "boss"}),
                403,
                "admin_name_remote",
            )
            assert all(u["name"] != "boss" for u in (await svc.http.get(f"{SIM}/")).json()["users"])
            assert await signs_in(remote, "alice") == "viewer"  # a viewer joins from anywhere
            assert await signs_in(local, "boss") == "admin"  # README step 6
        finally:
            await remote.aclose()
            await local.aclose()


async def test_a_restarted_service_still_knows_who_joined_whom(tmp_path: Path) -> None:
    alice = browser("http://unused")
    async with serving(tmp_path / "data", sim_speed=1.0) as svc:
        await caught_up(svc)
        alice.base_url = httpx.URL(svc.base)
        assert await signs_in(alice, "alice") == "viewer"
    async with serving(tmp_path / "data", sim_speed=1.0) as svc:
        await caught_up(svc)
        alice.base_url = httpx.URL(svc.base)
        mallory = browser(svc.base)
        try:
            refused(await mallory.get(f"{SIM}/pms", params={"to": "alice"}), 403, "not_your_name")
            refused(
                await mallory.post(f"{SIM}/demo/join", json={"name": "alice"}),
                409,
                "name_in_channel",
            )
            assert await signs_in(alice, "alice") == "viewer"  # her browser joins and reads again
        finally:
            await alice.aclose()
            await mallory.aclose()
    saved = (tmp_path / "data" / "sim-lobby-browsers.json").read_text()
    assert "alice" in saved and all(c.value not in saved for c in alice.cookies.jar)
