"""Request rules in the pages, in a real headless Chromium: the admin viewer's rules tab
validates live (a bad field is named before saving, and nothing changes) and saves; the buy
form then explains the refusal before the viewer pays. Skips only without Chromium."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Running
from tests.e2e.test_admin_browser import sign_in as admin_sign_in
from tests.e2e.test_http_and_live import caught_up
from tests.e2e.test_web_app_browser import _chromium, app, shot, sign_in, tab_for

__all__ = ["_chromium", "app"]  # the fixtures, shared with the web app's browser tests


async def test_rules_validated_live_saved_and_explained_in_the_buy_form(
    app: tuple[Any, Running],
) -> None:
    browser, svc = app
    await caught_up(svc)
    admin = await tab_for(browser, "desktop")
    await admin_sign_in(admin, svc)
    await admin.click("#tabs button[data-tab=rules]")
    await admin.locator("#rules-config").wait_for()
    await admin.locator("#rules-check:has-text('as in effect now')").wait_for()
    assert '"fair_order": false' in await admin.input_value("#rules-config")

    await admin.fill("#rules-config", '{"min_length_sec": 60, "max_length_sec": 10}')
    await admin.locator("#rules-check:has-text('max_length_sec')").wait_for()
    assert await admin.get_attribute("#rules-config", "aria-invalid") == "true"
    await admin.fill("#rules-config", '{"max_length_sec": 120')
    await admin.locator("#rules-check:has-text('not JSON')").wait_for()
    await admin.fill("#rules-config", '{"max_length_sec": 120}')
    await admin.locator("#rules-check:has-text('valid')").wait_for()
    still = (await svc.services.rules.service.effective("lobby")).max_length_sec  # type: ignore[union-attr]
    assert still is None  # checked, not saved
    await admin.click("#rules-save")
    await admin.locator("#rules-check:has-text('saved')").wait_for()
    assert '"max_length_sec": 120' in await admin.input_value("#rules-config")
    await shot(admin, "admin-rules-desktop")

    viewer = await tab_for(browser, "desktop")
    await sign_in(viewer, svc, "alice")
    await viewer.goto(f"{svc.base}/buy")
    await viewer.click("#topup-btn")
    await viewer.locator("#balance:has-text('2,000')").wait_for()
    await viewer.fill("#link", "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    await viewer.fill("#length", "4:00")
    rule = viewer.locator("#preview-rules li[data-code=rule_too_long]")
    await rule.wait_for()
    text = await rule.inner_text()
    assert "240 s" in text and "120 s" in text, text
    assert "by the channel's rules" in await viewer.inner_text("#preview-text")
    await shot(viewer, "buy-refused-by-rule-desktop")
    await viewer.fill("#length", "1:30")  # within the limit: the rule's line goes away
    await viewer.locator("#preview-text:has-text('it can go now')").wait_for()
    assert await viewer.locator("#preview-rules").count() == 0
    # The one 4xx is the live check refusing the bad field, as it should.
    asked = [e for e in admin.errors if not (e.startswith("422 ") and e.endswith("/rules/check"))]
    assert asked == [] and viewer.errors == [], (admin.errors, viewer.errors)
