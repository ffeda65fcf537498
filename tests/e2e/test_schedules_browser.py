"""The viewers' lock banner in a real headless Chromium: a schedule made over HTTP, then the
queue page says when the next event is; fired, the page shows the event lock banner; lifted by
the admin, the banner goes. And a schedule made in the admin page, inside its lock window at
once: the pre-fire banner on the viewers' pages, pay-to-play refused (423)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing
from tests.e2e.conftest import Running, serving
from tests.e2e.test_admin_browser import ARGS, CHROMIUM
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_to_play import bearer
from tests.e2e.test_playlists_http import BASE, item
from tests.e2e.test_web_app_browser import SHOTS


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if CHROMIUM is None:
        missing("no Chromium on PATH (apt-get install chromium, or set WEBQUEUE_CHROMIUM)")


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[tuple[Any, Running]]:
    from playwright.async_api import async_playwright

    async with serving(tmp_path / "data", sim_speed=1.0) as svc, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = await (await browser.new_context(viewport={"width": 1100, "height": 800})).new_page()
        yield tab, svc
        await browser.close()


async def test_the_lock_banner_follows_the_event(page: tuple[Any, Running]) -> None:
    tab, svc = page
    await caught_up(svc)
    admin = bearer(svc, "boss", "admin")
    for n in (1, 2):  # two: the lock lifts when the last one begins
        svc.services.cytube.simulator.know_media("yt", f"film{n}", f"Film {n}", 900)
    made = await svc.http.post(
        f"{BASE}/playlists",
        json={"name": "Film night", "items": [item("film1", 900), item("film2", 900)]},
        headers=admin,
    )
    pid = made.json()["playlist_id"]
    at = (svc.services.kernel.clock.now() + timedelta(hours=3)).isoformat()
    r = await svc.http.post(
        f"{BASE}/schedules",
        json={"playlist_id": pid, "label": "Film night", "fire_at": at, "rrule": "FREQ=WEEKLY"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    await tab.goto(f"{svc.base}/")
    nxt = tab.locator("#next-event")
    await nxt.wait_for(state="visible")
    assert "Film night" in await nxt.inner_text()
    assert await tab.locator("#event-banners .banner").count() == 0

    fired = await svc.http.post(f"{BASE}/schedules/{r.json()['schedule_id']}/fire", headers=admin)
    assert fired.status_code == 202

    async def locked() -> bool | None:
        lock = (await svc.http.get(f"{BASE}/schedules/status")).json()["lock"]
        return True if lock and lock["kind"] == "event" else None

    await eventually(locked, "the event lock", within=20)
    await tab.reload()
    banner = tab.locator("#event-banners .banner-lock")
    await banner.wait_for(state="visible", timeout=20_000)
    assert 'while "Film night" is on' in await banner.inner_text()
    await tab.screenshot(path=str(SHOTS / "event-lock-banner.png"))

    # The banner is on every viewer page, and leaves by itself once the lock lifts.
    await tab.goto(f"{svc.base}/catalog")
    status = (await svc.http.get(f"{BASE}/schedules/status")).json()
    assert await tab.locator("#event-banners .banner-lock").count() == 1, (tab.url, status)
    lifted = await svc.http.post(f"{BASE}/schedules/lift", headers=admin)
    assert lifted.status_code == 201
    await tab.locator("#event-banners .banner-lock").wait_for(state="detached", timeout=30_000)


async def test_an_admin_creates_a_recurring_schedule_and_sees_the_week(
    page: tuple[Any, Running],
) -> None:
    from tests.e2e.test_web_app_browser import sign_in

    tab, svc = page
    await caught_up(svc)
    admin = bearer(svc, "boss", "admin")
    for name, mid in (("Friday film", "ff1"), ("After party", "ap1")):
        r = await svc.http.post(
            f"{BASE}/playlists", json={"name": name, "items": [item(mid, 1800)]}, headers=admin
        )
        assert r.status_code == 201, r.text
    await sign_in(tab, svc, "boss")
    await tab.goto(f"{svc.base}/admin/schedules")
    await tab.locator("#playlist option", has_text="Friday film").wait_for(state="attached")
    await tab.select_option("#playlist", label="Friday film (1 item)")
    await tab.select_option("#fallback", label="After party (1 item)")
    await tab.fill("#label", "Film club")
    start = svc.services.kernel.clock.now() + timedelta(days=1)
    await tab.fill("#fire_at", start.strftime("%Y-%m-%dT%H:%M"))
    await tab.fill("#rrule", "FREQ=DAILY;COUNT=3")
    await tab.click("#add-btn")
    await tab.locator("#form-error:has-text('is scheduled')").wait_for()
    week = tab.locator("#week li")
    await week.first.wait_for()
    assert await week.count() == 3
    assert "then After party" in await week.first.inner_text()
    row = tab.locator("#schedules tbody tr", has_text="Film club")
    assert "FREQ=DAILY;COUNT=3" in await row.inner_text()
    # The same again overlaps: refused in the form, naming both.
    await tab.fill("#label", "Clash")
    await tab.click("#add-btn")
    await tab.locator("#form-error:has-text('overlap')").wait_for()
    assert "Film club" in await tab.inner_text("#form-error")
    await tab.screenshot(
        path=str(SHOTS / "admin-schedules.png"),
        full_page=True,
    )


async def test_a_schedule_created_in_the_browser_closes_pay_to_play_with_a_banner(
    page: tuple[Any, Running],
) -> None:
    """Created on /admin/schedules to fire in ten minutes, inside its 15-minute lock window
    from the start: every viewer page shows the pre-fire banner, and a purchase is refused."""
    from tests.e2e.test_web_app_browser import sign_in

    tab, svc = page
    await caught_up(svc)
    admin = bearer(svc, "boss", "admin")
    r = await svc.http.post(
        f"{BASE}/playlists",
        json={"name": "Quiz night", "items": [item("quiz1", 1800)]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    await sign_in(tab, svc, "boss")
    await tab.goto(f"{svc.base}/admin/schedules")
    await tab.locator("#playlist option", has_text="Quiz night").wait_for(state="attached")
    await tab.select_option("#playlist", label="Quiz night (1 item)")
    await tab.fill("#label", "Quiz")
    start = svc.services.kernel.clock.now() + timedelta(minutes=10)
    await tab.fill("#fire_at", start.strftime("%Y-%m-%dT%H:%M"))
    await tab.click("#add-btn")
    await tab.locator("#form-error:has-text('is scheduled')").wait_for()

    async def pre_fire() -> bool | None:
        lock = (await svc.http.get(f"{BASE}/schedules/status")).json()["lock"]
        return True if lock and lock["kind"] == "pre_fire" else None

    await eventually(pre_fire, "the pre-fire lock", within=30)
    for path in ("/", "/catalog"):
        await tab.goto(f"{svc.base}{path}")
        banner = tab.locator("#event-banners .banner-lock")
        await banner.wait_for(state="visible", timeout=20_000)
        text = await banner.inner_text()
        assert 'Pay-to-play is closed: "Quiz" starts at' in text, text
    await tab.goto(f"{svc.base}/")
    await tab.locator("#event-banners .banner-lock").wait_for(state="visible", timeout=20_000)
    await tab.screenshot(path=str(SHOTS / "pre-fire-lock-banner.png"))
    bought = await svc.http.post(
        f"{BASE}/pay-items",
        json={"media_type": "yt", "media_id": "late1", "duration_sec": 300, "tier": "queue"},
        headers=bearer(svc, "ann", "viewer"),
    )
    assert bought.status_code == 423, bought.text
    refused = bought.json()["error"]
    assert (refused["code"], refused["kind"], refused["label"]) == (
        "queue_locked",
        "pre_fire",
        "Quiz",
    )
