"""Scheduled events on the channel's clock, in a real headless Chromium whose own zone is
neither channel's (Asia/Tokyo): the same schedule shows different wall times under
`[schedules] time_zone` Europe/Berlin and America/New_York, named beside them, on the admin
page (the week, the list), in the pre-fire lock banner and in the queue page's next event. And
an admin editing a schedule on /admin/schedules: the form filled in the channel's zone, the
changes saved, a stale edit and an overlap refused in the form with nothing changed.

Screenshots go to WEBQUEUE_SCREENSHOTS when set (`WEBQUEUE_SCREENSHOTS=docs/screenshots`
regenerates the documentation's), else to a temporary folder."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from application.schedules.service import ScheduleConfig
from tests.conftest import missing
from tests.e2e.conftest import Running, serving
from tests.e2e.test_admin_browser import ARGS, CHROMIUM
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_to_play import bearer
from tests.e2e.test_playlists_http import BASE, item
from tests.e2e.test_web_app_browser import SHOTS, sign_in

BROWSER_ZONE = "Asia/Tokyo"  # the viewer's own: never what the pages should show


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if CHROMIUM is None:
        missing("no Chromium on PATH (apt-get install chromium, or set WEBQUEUE_CHROMIUM)")


@contextlib.asynccontextmanager
async def channel_in(tmp: Path, zone: str) -> AsyncIterator[tuple[Any, Running]]:
    """The service with the channel's zone `zone`, and a Chromium tab in Tokyo."""
    from playwright.async_api import async_playwright

    async with (
        serving(tmp, sim_speed=1.0, schedules=ScheduleConfig(time_zone=zone)) as svc,
        async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = await browser.new_context(
            viewport={"width": 1100, "height": 900}, timezone_id=BROWSER_ZONE, locale="en-US"
        )
        yield await context.new_page(), svc
        await browser.close()


async def _playlist(svc: Running, admin: dict[str, str], name: str, media: str) -> str:
    made = await svc.http.post(
        f"{BASE}/playlists", json={"name": name, "items": [item(media, 1800)]}, headers=admin
    )
    assert made.status_code == 201, made.text
    return str(made.json()["playlist_id"])


async def _seen_in(tmp: Path, zone: str, fire_at: datetime) -> dict[str, str]:
    """What the pages of a channel in `zone` say about a schedule firing at `fire_at`."""
    async with channel_in(tmp, zone) as (tab, svc):
        await caught_up(svc)
        admin = bearer(svc, "boss", "admin")
        pid = await _playlist(svc, admin, "Quiz night", "quiz1")
        made = await svc.http.post(
            f"{BASE}/schedules",
            json={"playlist_id": pid, "label": "Quiz", "fire_at": fire_at.isoformat()},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        seen: dict[str, str] = {}
        await sign_in(tab, svc, "boss")
        await tab.goto(f"{svc.base}/admin/schedules")
        week = tab.locator("#week li", has_text="Quiz")
        await week.wait_for()
        seen["week"] = await week.inner_text()
        row = tab.locator("#schedules tbody tr", has_text="Quiz")
        seen["row"] = await row.inner_text()
        seen["header"] = await tab.inner_text("#schedules thead")
        # Fire time ten minutes on: inside the 15-minute pre-fire lock from the start.

        async def pre_fire() -> bool | None:
            lock = (await svc.http.get(f"{BASE}/schedules/status")).json()["lock"]
            return True if lock and lock["kind"] == "pre_fire" else None

        await eventually(pre_fire, "the pre-fire lock", within=30)
        await tab.goto(f"{svc.base}/catalog")  # the banner as the server renders it
        banner = tab.locator("#event-banners .banner-lock")
        await banner.wait_for(state="visible", timeout=20_000)
        seen["banner (server)"] = await banner.inner_text()
        await tab.goto(f"{svc.base}/")
        await tab.evaluate("import('/static/js/common.js').then((c) => c.checkEventLock())")
        await tab.locator("#event-banners .banner-lock").wait_for(state="visible")
        seen["banner"] = await tab.locator("#event-banners .banner-lock").inner_text()
        # The next event (shown when it is not the one whose lock is on): a second, later one.
        await svc.http.patch(
            f"{BASE}/schedules/{made.json()['schedule_id']}",
            json={"active": False},
            headers=admin,
        )
        later = await svc.http.post(
            f"{BASE}/schedules",
            json={
                "playlist_id": pid,
                "label": "Late quiz",
                "fire_at": (fire_at + timedelta(days=1)).isoformat(),
            },
            headers=admin,
        )
        assert later.status_code == 201, later.text
        await tab.reload()
        nxt = tab.locator("#next-event:has-text('Late quiz')")
        await nxt.wait_for(state="visible", timeout=20_000)
        seen["next"] = await nxt.inner_text()
        return seen


async def test_times_are_shown_in_the_channels_zone(tmp_path: Path) -> None:
    fire_at = (datetime.now(UTC) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    shown = {}
    for zone in ("Europe/Berlin", "America/New_York"):
        seen = await _seen_in(tmp_path / zone.replace("/", "-"), zone, fire_at)
        wall = fire_at.astimezone(ZoneInfo(zone))
        tomorrow = wall + timedelta(days=1)
        hhmm = f"{wall:%H:%M}"
        lock_from = f"{tomorrow - timedelta(minutes=15):%H:%M}"
        assert f"{wall:%a} {wall.day} {wall:%b}, {hhmm} ({zone})" in seen["week"], seen
        assert hhmm in seen["row"] and zone in seen["header"], seen
        for banner in ("banner (server)", "banner"):
            assert (
                f'"Quiz" starts at {wall:%a} {wall.day} {wall:%b}, {hhmm} ({zone})'
                in (seen[banner])
            ), seen
        assert f"{tomorrow:%H:%M} ({zone})" in seen["next"], seen
        assert (
            f"closes at {tomorrow:%a} {tomorrow.day} {tomorrow:%b}, {lock_from})" in (seen["next"])
        ), seen
        tokyo = f"{fire_at.astimezone(ZoneInfo(BROWSER_ZONE)):%H:%M}"
        assert all(tokyo not in text for text in seen.values()), seen
        shown[zone] = seen
    berlin, new_york = shown["Europe/Berlin"], shown["America/New_York"]
    assert all(berlin[k] != new_york[k] for k in ("week", "row", "banner", "next"))


async def test_an_admin_edits_a_schedule_on_the_page(tmp_path: Path) -> None:
    zone = ZoneInfo("Europe/Berlin")
    async with channel_in(tmp_path / "data", "Europe/Berlin") as (tab, svc):
        await caught_up(svc)
        admin = bearer(svc, "boss", "admin")
        film = await _playlist(svc, admin, "Friday film", "ff1")
        await _playlist(svc, admin, "After party", "ap1")
        day = (svc.services.kernel.clock.now() + timedelta(days=2)).astimezone(zone).date()
        at = datetime(day.year, day.month, day.day, 20, 0, tzinfo=zone)
        for label, when in (("Film club", at), ("Quiz", at + timedelta(days=1, hours=1))):
            r = await svc.http.post(
                f"{BASE}/schedules",
                json={"playlist_id": film, "label": label, "fire_at": when.isoformat()},
                headers=admin,
            )
            assert r.status_code == 201, r.text
        await sign_in(tab, svc, "boss")
        await tab.goto(f"{svc.base}/admin/schedules")
        await tab.locator("#playlist option", has_text="After party").wait_for(state="attached")
        row = tab.locator("#schedules tbody tr", has_text="Film club")
        await row.get_by_role("button", name="Edit").click()
        # The form holds the schedule as set, its fire time on the channel's clock.
        assert await tab.input_value("#label") == "Film club"
        assert await tab.input_value("#fire_at") == f"{day:%Y-%m-%d}T20:00"
        assert await tab.inner_text("#form-h") == 'Edit "Film club"'
        await tab.fill("#label", "Film club, late")
        await tab.fill("#fire_at", f"{day:%Y-%m-%d}T21:30")
        await tab.fill("#lock_minutes", "30")
        await tab.select_option("#fallback", label="After party (1 item)")
        await tab.fill("#rrule", "FREQ=WEEKLY")
        await tab.uncheck("#immutable")
        await tab.click("#add-btn")
        await tab.locator("#form-error:has-text('is changed')").wait_for()
        row = tab.locator("#schedules tbody tr", has_text="Film club, late")
        await row.wait_for()
        text = await row.inner_text()
        for shown in ("(mutable)", "21:30", "30 min", "FREQ=WEEKLY", "After party"):
            assert shown in text, text
        listed = (await svc.http.get(f"{BASE}/schedules", headers=admin)).json()["schedules"]
        edited = next(s for s in listed if s["label"] == "Film club, late")
        fire_at = datetime.fromisoformat(edited["fire_at"])
        assert fire_at == at.replace(hour=21, minute=30)  # 21:30 in Berlin, kept in UTC
        assert (edited["lock_minutes"], edited["immutable"], edited["rrule"]) == (
            30,
            False,
            "FREQ=WEEKLY",
        )

        # Someone else changes it while the form is open: the stale edit is refused, shown.
        await row.get_by_role("button", name="Edit").click()
        elsewhere = await svc.http.patch(
            f"{BASE}/schedules/{edited['schedule_id']}", json={"label": "Film"}, headers=admin
        )
        assert elsewhere.status_code == 200, elsewhere.text
        await tab.fill("#label", "Mine")
        await tab.click("#add-btn")
        await tab.locator("#form-error:has-text('was changed since you read it')").wait_for()
        # Opened again, moved onto the quiz: refused as an overlap naming both.
        await tab.click("#cancel-edit")
        await tab.locator("#schedules tbody tr", has_text="Film").first.wait_for()
        row = tab.locator("#schedules tbody tr").filter(has_text="Film")
        await row.get_by_role("button", name="Edit").click()
        assert await tab.input_value("#label") == "Film"
        quiz = at + timedelta(days=1, hours=1)
        await tab.fill("#fire_at", f"{quiz:%Y-%m-%dT%H:%M}")
        await tab.click("#add-btn")
        error = tab.locator("#form-error:has-text('overlap')")
        await error.wait_for()
        assert "Quiz" in await error.inner_text() and "Film" in await error.inner_text()
        after = (await svc.http.get(f"{BASE}/schedules", headers=admin)).json()["schedules"]
        kept = next(s for s in after if s["schedule_id"] == edited["schedule_id"])
        assert (kept["label"], kept["fire_at"]) == ("Film", edited["fire_at"]), kept
        SHOTS.mkdir(parents=True, exist_ok=True)
        await tab.screenshot(path=str(SHOTS / "admin-schedules-edit.png"), full_page=True)
