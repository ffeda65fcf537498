"""The playlists page in a real headless Chromium, as a blessed editor uses it: build a working
playlist from media links, reorder it by drag-and-drop and by keyboard, save it by name (a
taken name refused in words), make a marathon with the pattern checked as it is typed, preview
and save it, then apply a playlist and watch the progress; a viewer sees the list read-only.

Screenshots go to WEBQUEUE_SCREENSHOTS when set (`WEBQUEUE_SCREENSHOTS=docs/screenshots`),
else to a temporary folder.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import missing
from tests.e2e.conftest import Running
from tests.e2e.test_admin_browser import CHROMIUM
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_to_play import blessed
from tests.e2e.test_web_app_browser import app, shot, sign_in, tab_for

__all__ = ["app"]


@pytest.fixture(autouse=True)
def _chromium() -> None:
    """Skip without Chromium, saying so; in CI, fail (a skip marker would skip there too)."""
    if CHROMIUM is None:
        missing("no Chromium on PATH (apt-get install chromium, or set WEBQUEUE_CHROMIUM)")


BASE = "/api/v1/channels/lobby"


async def order(tab: Any, list_id: str = "#worklist") -> list[str]:
    return [
        str(x)
        for x in await tab.locator(f"{list_id} li").evaluate_all(
            "els => els.map(e => e.dataset.media)"
        )
    ]


async def add(tab: Any, link: str, title: str, length: str) -> None:
    await tab.fill("#item-link", link)
    await tab.fill("#item-title", title)
    await tab.fill("#item-length", length)
    await tab.click("#add-btn")
    await tab.locator(f"#worklist li:has-text('{title}')").wait_for()


async def test_build_reorder_save_marathon_and_apply(app: tuple[Any, Running]) -> None:
    browser, svc = app
    await caught_up(svc)
    mod = await blessed(svc, "mod")
    shows = [
        {
            "media_type": "yt",
            "media_id": f"ep{n}xxxxxxxx",
            "title": f"Show S01E{n:02d}",
            "duration_sec": 1300,
        }
        for n in (2, 1, 3)
    ]
    made = await svc.http.post(
        f"{BASE}/playlists", json={"name": "Shows", "items": shows}, headers=mod
    )
    assert made.status_code == 201, made.text

    tab = await tab_for(browser, "desktop")
    await sign_in(tab, svc, "mod")
    await tab.click("a[href='/playlists']")
    await tab.locator("#saved tr[data-playlist]").first.wait_for()

    # Build a working playlist from links.
    await add(tab, "https://youtu.be/aaaaaaaaaa1", "First clip", "3:00")
    await add(tab, "https://www.youtube.com/watch?v=bbbbbbbbbb2", "Second clip", "4:30")
    await add(tab, "https://youtu.be/cccccccccc3", "Third clip", "1:05:00")
    assert await order(tab) == ["aaaaaaaaaa1", "bbbbbbbbbb2", "cccccccccc3"]
    assert "1:12:30" in await tab.inner_text("#worklist-total")

    # Reorder: drag the third onto the first, then Alt+Down on the first by keyboard.
    await tab.locator("#worklist li").nth(2).drag_to(tab.locator("#worklist li").nth(0))
    assert await order(tab) == ["cccccccccc3", "aaaaaaaaaa1", "bbbbbbbbbb2"]
    await tab.locator("#worklist li").nth(0).focus()
    await tab.keyboard.press("Alt+ArrowDown")
    assert await order(tab) == ["aaaaaaaaaa1", "cccccccccc3", "bbbbbbbbbb2"]
    focused = await tab.evaluate("document.activeElement.dataset.media")
    assert focused == "cccccccccc3"  # the moved item keeps the focus

    # Save by name; a taken name (case and spaces aside) is refused in words.
    await tab.fill("#save-name", "  SHOWS ")
    await tab.click("#save-btn")
    await tab.locator("#save-msg:has-text('There is a playlist named')").wait_for()
    await tab.fill("#save-name", "Friday Night")
    await tab.click("#save-btn")
    await tab.locator("#save-msg:has-text('Saved “Friday Night” (3 items)')").wait_for()
    await tab.locator("#saved tr:has-text('Friday Night')").wait_for()
    await shot(tab, "playlists-editor-desktop")

    # The marathon builder: sources A and B, a pattern checked as it is typed, a preview.
    await tab.check("#sources input[type=checkbox] >> nth=0")  # Friday Night (by name: first)
    await tab.check("#sources input[type=checkbox] >> nth=1")  # Shows
    await tab.check("input[name=method][value=interleave]")
    await tab.fill("#pattern", "A B Z")
    await tab.locator("#pattern-error:has-text('names source Z')").wait_for()
    assert await tab.get_attribute("#pattern", "aria-invalid") == "true"
    await tab.fill("#pattern", "A0")
    await tab.locator("#pattern-error:has-text('count of 0')").wait_for()
    await tab.fill("#pattern", "a2 b")
    await tab.locator("#preview-list li").nth(5).wait_for()
    assert await tab.inner_text("#pattern-error") == ""
    # By hand: A's first two, B's first episode (run order: S01E01), then A's third, B's next.
    assert await order(tab, "#preview-list") == [
        "aaaaaaaaaa1", "cccccccccc3", "ep1xxxxxxxx", "bbbbbbbbbb2", "ep2xxxxxxxx", "ep3xxxxxxxx",
    ]  # fmt: skip
    await shot(tab, "playlists-marathon-desktop")
    await tab.click("#use-preview-btn")
    await tab.locator("#editor-title:has-text('a marathon')").wait_for()
    await tab.locator("#worklist li").nth(5).focus()
    await tab.keyboard.press("Alt+ArrowUp")  # edit the order before saving
    await tab.fill("#save-name", "Friday Marathon")
    await tab.click("#save-btn")
    await tab.locator("#save-msg:has-text('Saved “Friday Marathon” (6 items)')").wait_for()

    async def saved_marathon() -> dict[str, Any] | None:  # the list is a read model: it follows
        saved = (await svc.http.get(f"{BASE}/playlists", headers=mod)).json()
        return next((p for p in saved if p["name"] == "Friday Marathon"), None)

    marathon = await eventually(saved_marathon, "the marathon in the list", within=10)
    full = (await svc.http.get(f"{BASE}/playlists/{marathon['playlist_id']}", headers=mod)).json()
    assert full["recipe"]["method"] == "interleave" and full["recipe"]["pattern"] == "a2 b"
    assert [i["media_id"] for i in full["items"]][-2:] == ["ep3xxxxxxxx", "ep2xxxxxxxx"]

    # Apply: the modes explained, hard-replace off for a blessed user, live progress.
    await tab.locator("#modes input[value=hard_replace][disabled]").wait_for()
    assert "You may not use this mode" in await tab.inner_text("#modes")
    await tab.select_option("#apply-playlist", label="Friday Night (3 items)")
    await tab.check("input[name=mode][value=append]")
    await tab.click("#apply-btn")
    await tab.locator("#apply-summary:has-text('done; 3 of 3 queued')").wait_for(timeout=20_000)
    assert await tab.inner_text("#apply-live") == "live"
    await shot(tab, "playlists-apply-desktop")
    applied = "#saved tr:has-text('Friday Night') td[data-label=Applied]:not(:has-text('never'))"
    await tab.locator(applied).wait_for(timeout=10_000)
    # The refusals the page asked for and showed in words: the taken name, the bad patterns.
    unexpected = [
        e
        for e in tab.errors
        if not (e.startswith("409 ") and e.endswith("/playlists"))
        and not (e.startswith("422 ") and e.endswith("/marathons/preview"))
    ]
    assert unexpected == [], tab.errors


async def test_a_viewer_sees_saved_playlists_read_only(app: tuple[Any, Running]) -> None:
    browser, svc = app
    await caught_up(svc)
    mod = await blessed(svc, "mod")
    items = [{"media_type": "yt", "media_id": "v1", "title": "A clip", "duration_sec": 60}]
    await svc.http.post(f"{BASE}/playlists", json={"name": "Open Mic", "items": items}, headers=mod)
    tab = await tab_for(browser, "phone")
    await sign_in(tab, svc, "vic")
    await tab.goto(f"{svc.base}/playlists")
    await tab.locator("#read-only").wait_for()
    row = tab.locator("#saved tr:has-text('Open Mic')")
    await row.wait_for()
    assert await row.locator("button:has-text('Delete')").count() == 0
    await row.locator("button:has-text('Open')").click()
    await tab.locator("#worklist li:has-text('A clip')").wait_for()
    assert await tab.locator("#add-form, #marathon-h, #apply-btn").count() == 0
    await shot(tab, "playlists-phone")
    assert tab.errors == [], tab.errors
