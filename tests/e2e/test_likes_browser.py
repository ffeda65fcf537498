"""Likes in a real headless Chromium, on a phone (390x844) and a desktop (1440x900): a viewer
likes what plays and sees the count go up, a second like is refused in words, another viewer's
page shows the new count live; the top page with its time window, top liked shown to a blessed
user and closed to a viewer.

Screenshots go to WEBQUEUE_SCREENSHOTS when set (`WEBQUEUE_SCREENSHOTS=docs/screenshots`
refreshes the docs' pictures), else to a temporary folder.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Running
from tests.e2e.test_http_and_live import caught_up
from tests.e2e.test_pay_to_play import blessed
from tests.e2e.test_web_app_browser import SIZES, app, shot, sign_in, tab_for

__all__ = ["app"]  # the fixture, used by name


@pytest.mark.parametrize("size", list(SIZES))
async def test_like_what_plays_and_see_the_count_live(app: tuple[Any, Running], size: str) -> None:
    browser, svc = app
    await caught_up(svc)
    await blessed(svc, "mod")  # on the blessed list before signing in: sees top liked
    watcher = await tab_for(browser, size)  # nobody signed in: sees the count, may not like
    await watcher.goto(f"{svc.base}/")
    await watcher.locator("#live:has-text('live')").wait_for()
    assert await watcher.is_visible("#like-signin")
    assert await watcher.inner_text("#like-count") == "No likes yet"

    alice = await tab_for(browser, size)
    await sign_in(alice, svc, "alice")
    await alice.locator("#live:has-text('live')").wait_for()
    await alice.click("#like-btn")
    await alice.locator("#like-count:has-text('1 like')").wait_for()
    await alice.locator("#like-note:has-text('your like counts')").wait_for()
    assert await alice.get_attribute("#like-btn", "aria-pressed") == "true"
    await watcher.locator("#like-count:has-text('1 like')").wait_for()  # live, no reload

    await alice.click("#like-btn")  # again: deduplicated, said in words, the count stays
    await alice.locator("#like-note:has-text('You liked')").wait_for()
    assert await alice.inner_text("#like-count") == "1 like"
    await shot(alice, f"likes-queue-{size}")

    mod = await tab_for(browser, size)
    await sign_in(mod, svc, "mod")
    await mod.click("#like-btn")
    await watcher.locator("#like-count:has-text('2 likes')").wait_for()
    await alice.locator("#like-count:has-text('2 likes')").wait_for()

    await mod.goto(f"{svc.base}/top")
    await mod.locator("#played tbody tr").first.wait_for()
    await mod.locator("#liked tbody tr td.num:has-text('2')").wait_for()
    await mod.locator("#now-likes:has-text('2 likes')").wait_for()
    await mod.select_option("#window", "1h")
    await mod.locator("#window-words:has-text('last hour')").wait_for()
    await mod.locator("#liked tbody tr").first.wait_for()
    await shot(mod, f"likes-top-{size}")

    await alice.goto(f"{svc.base}/top")
    await alice.locator("#played tbody tr").first.wait_for()
    assert await alice.is_visible("#liked-closed") and not await alice.is_visible("#liked")

    # The one refusal the test asked for (the second like), shown in words above; nothing else.
    assert [e for e in alice.errors if not e.endswith("/api/v1/channels/lobby/likes")] == []
    assert len(alice.errors) == 1 and alice.errors[0].startswith("409 ")
    for tab in (watcher, mod):
        assert tab.errors == [], tab.errors
