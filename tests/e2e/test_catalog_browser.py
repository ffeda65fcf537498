"""The catalog in a real headless Chromium, on a phone and a desktop: search as you type, a
category chip, the keyboard through results, an item bought at the catalog's price and followed
to its place, an unavailable item saying why with buying off; the admin refreshing with live
progress and reading a snapshot's changes; a blessed user filling the working playlist from an
item page and from the playlists page's catalog search, then saving it. Screenshots as in
test_web_app_browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing
from tests.e2e.conftest import Running, serving
from tests.e2e.test_admin_browser import ARGS, CHROMIUM
from tests.e2e.test_catalog_http import snapshot_ready
from tests.e2e.test_http_and_live import caught_up
from tests.e2e.test_pay_to_play import blessed
from tests.e2e.test_web_app_browser import SIZES, shot, sign_in, tab_for


@pytest.fixture(autouse=True)
def _chromium() -> None:
    """Skip without Chromium, saying so; in CI, fail (a skip marker would skip there too)."""
    if CHROMIUM is None:
        missing("no Chromium on PATH (apt-get install chromium, or set WEBQUEUE_CHROMIUM)")


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[Any, Running]]:
    from playwright.async_api import async_playwright

    async with serving(tmp_path / "data", sim_speed=1.0) as svc, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser, svc
        await browser.close()


@pytest.mark.parametrize("size", list(SIZES))
async def test_browse_search_and_buy_from_the_catalog(app: tuple[Any, Running], size: str) -> None:
    browser, svc = app
    await caught_up(svc)
    await snapshot_ready(svc)
    tab = await tab_for(browser, size)
    await sign_in(tab, svc, "alice")
    await tab.click("nav a[href='/catalog']")
    await tab.locator("#summary:has-text('items')").wait_for()
    assert await tab.locator("#results .result").count() == 24
    assert await tab.locator("#results img.thumb").count() > 0  # thumbnails when present

    # incremental: each keystroke narrows, without pressing Enter
    await tab.locator("#q").press_sequentially("flash gordon s0", delay=40)
    await tab.locator("#summary:has-text('26 items')").wait_for()
    await tab.locator("#q").press_sequentially("2", delay=40)
    await tab.locator("#summary:has-text('13 items')").wait_for()
    await tab.fill("#q", "")
    await tab.click(".chip[data-category='Horror']")
    await tab.locator(".chip[data-category='Horror'][aria-pressed='true']").wait_for()
    await tab.fill("#q", "haxan")
    await tab.locator("#results .result-link:has-text('Häxan')").wait_for()
    await tab.locator("#results .result-link:has-text('Nosferatu')").wait_for(state="detached")
    await tab.locator("#summary:has-text('1 item')").wait_for()
    vid = await tab.locator("#results .result code.vid").text_content()
    assert vid and vid.strip()  # GH-002: a result shows its video id
    await shot(tab, f"catalog-search-{size}")
    await tab.click(".chip[data-category='Horror']")  # off again

    # the keyboard: down from the box into the results, Enter opens the item
    await tab.fill("#q", "flash gordon s01e01")
    await tab.locator("#results .result-link:has-text('Flash Gordon S01E01')").wait_for()
    await tab.locator("#summary:has-text('1 item')").wait_for()
    await tab.focus("#q")
    await tab.keyboard.press("ArrowDown")
    focused = await tab.evaluate("document.activeElement.textContent")
    assert focused == "Flash Gordon S01E01"
    await tab.keyboard.press("Enter")
    await tab.locator("#item-h:has-text('Flash Gordon S01E01')").wait_for()

    # top up (the simulator's), see the catalog's price, buy, follow it to its place
    await svc.sim.post("/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 2000})
    await tab.reload()
    await tab.locator("#price:has-text('coins')").wait_for()
    price = (await tab.inner_text("#price")).split()[0]
    await tab.locator("#balance:has-text('2,000')").wait_for()
    await tab.click("#buy-btn")
    await tab.locator("#status-badge:has-text('In place')").wait_for(timeout=15_000)
    assert f"Paid {price}" in await tab.inner_text("#status")
    assert "Flash Gordon S01E01" in await tab.inner_text("#status")
    assert await tab.locator("#add-to-playlist").count() == 0  # a viewer has no playlists
    await shot(tab, f"catalog-item-{size}")

    # an unavailable item says why, and buying is off
    await tab.goto(f"{svc.base}/catalog?q=still%20encoding")
    await tab.click("#results .result-link")
    await tab.locator("#unavailable:has-text('duration is not known')").wait_for()
    await tab.locator("#buy-btn[disabled]").wait_for()  # the page's script turns it off
    await tab.locator("#why-not").wait_for()
    assert tab.errors == [], tab.errors


async def test_an_admin_refreshes_with_live_progress_and_reads_the_diff(
    app: tuple[Any, Running],
) -> None:
    browser, svc = app
    await caught_up(svc)
    await snapshot_ready(svc)
    tab = await tab_for(browser, "desktop")
    await sign_in(tab, svc, "boss")
    await tab.goto(f"{svc.base}/catalog/items/{await _key(svc, 'nosferatu')}")
    await tab.locator("#add-to-playlist:not([disabled])").wait_for()  # an admin builds too
    await tab.click("nav a[href='/admin/catalog']")
    await tab.locator("#snapshots tbody tr").first.wait_for()
    await tab.click("#refresh-btn")
    await tab.locator("#phase:has-text('Completed')").wait_for(timeout=20_000)
    await tab.locator("#snapshots tbody tr:nth-child(2)").wait_for()
    await tab.locator("#snapshots tbody tr:first-child:has-text('current')").wait_for()
    assert "completed" in await tab.locator("#snapshots tbody tr").first.inner_text()
    await tab.locator("#snapshots tbody tr").nth(1).click()
    await tab.locator("#diff-summary:has-text('302 added')").wait_for()
    await shot(tab, "catalog-admin-desktop")
    assert tab.errors == [], tab.errors


async def _key(svc: Running, q: str) -> str:
    r = await svc.sim.get("/api/v1/channels/lobby/catalog/search", params={"q": q})
    return str(r.json()["items"][0]["key"])


async def test_a_blessed_user_fills_the_working_playlist_from_the_catalog(
    app: tuple[Any, Running],
) -> None:
    browser, svc = app
    await caught_up(svc)
    found = await snapshot_ready(svc)
    assert found["total"] > 0
    mod = await blessed(svc, "mod")
    first = await _item(svc, "nosferatu")
    middle = await _item(svc, "flash gordon s01e03")
    second = await _item(svc, "flash gordon s01e04")
    tab = await tab_for(browser, "desktop")
    await sign_in(tab, svc, "mod")

    # From the item page: added, said so, with the way to the playlist; twice is once.
    await tab.goto(f"{svc.base}/catalog/items/{first['key']}")
    await tab.click("#add-to-playlist")
    await tab.locator("#playlist-note:has-text('working playlist (1 item)')").wait_for()
    await tab.click("#add-to-playlist")
    await tab.locator("#playlist-note:has-text('in your working playlist already')").wait_for()
    await shot(tab, "catalog-item-added-desktop")
    # From a search result: the same store.
    await tab.goto(f"{svc.base}/catalog?q=flash%20gordon%20s01e03")
    await tab.click(f"#results [data-add='{middle['key']}']")
    await tab.locator("#summary:has-text('your working playlist (2 items)')").wait_for()
    await tab.click("#summary a[href='/playlists']")

    # The playlists page shows it; another is found by the search box and added by keyboard.
    await tab.locator(f"#worklist li[data-media='{first['key']}']").wait_for()
    assert "catalog" in await tab.locator("#worklist li").first.inner_text()
    await tab.locator("#catalog-q").press_sequentially("flash gordon s01e04", delay=30)
    await tab.locator("#catalog-results li:has-text('Flash Gordon S01E04')").wait_for()
    await tab.locator("#catalog-msg:has-text('1 found')").wait_for()
    await tab.focus("#catalog-q")
    await tab.keyboard.press("ArrowDown")
    assert await tab.evaluate("document.activeElement.textContent") == "Add"
    await tab.keyboard.press("Enter")
    await tab.locator(f"#worklist li[data-media='{second['key']}']").wait_for()
    await tab.locator("#catalog-msg:has-text('Added “Flash Gordon S01E04” (item 3)')").wait_for()
    total = fmt(sum(x["duration_sec"] for x in (first, middle, second)))
    assert f"3 items, {total} in all" in await tab.inner_text("#worklist-total")
    await tab.fill("#save-name", "From the catalog")
    await tab.click("#save-btn")
    await tab.locator("#save-msg:has-text('Saved “From the catalog” (3 items)')").wait_for()
    await tab.locator("#saved tr:has-text('From the catalog')").wait_for()
    await shot(tab, "playlists-catalog-desktop")

    # Saved as catalog ids, with the catalog's titles and lengths.
    listed = (await svc.http.get("/api/v1/channels/lobby/playlists", headers=mod)).json()
    pid = next(p["playlist_id"] for p in listed if p["name"] == "From the catalog")
    full = (await svc.http.get(f"/api/v1/channels/lobby/playlists/{pid}", headers=mod)).json()
    assert [(i["catalog_id"], i["title"], i["duration_sec"]) for i in full["items"]] == [
        (x["key"], x["title"], x["duration_sec"]) for x in (first, middle, second)
    ]
    # It stays the working playlist after a reload (kept in this browser).
    await tab.reload()
    await tab.locator(f"#worklist li[data-media='{second['key']}']").wait_for()
    assert await tab.input_value("#save-name") == "From the catalog"
    assert tab.errors == [], tab.errors


def fmt(sec: int) -> str:
    hours, rest = divmod(sec, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


async def _item(svc: Running, q: str) -> dict[str, Any]:
    r = await svc.sim.get("/api/v1/channels/lobby/catalog/search", params={"q": q})
    return dict(r.json()["items"][0])
