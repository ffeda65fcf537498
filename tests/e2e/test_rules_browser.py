"""Request rules in the pages, in a real headless Chromium: the admin viewer's rules tab
is a form (a field per rule with its unit, boxes for on and off, the block lists as rows), validated
live (a bad field is named before saving, and nothing changes) and saved; the buy
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
    await admin.locator("#rules-check:has-text('as in effect now')").wait_for()
    # The form shows the rules in effect: all off (the harness runs without them).
    assert not await admin.is_checked("#rule-max_pending_per_viewer-on")
    assert await admin.input_value("#rule-max_pending_per_viewer") == ""
    assert not await admin.is_checked("#rule-max_length_sec-on")
    assert await admin.is_disabled("#rule-max_length_sec")
    assert not await admin.is_checked("#rule-fair_order")

    # A longest length below the shortest: named before saving, and nothing changes.
    await admin.check("#rule-min_length_sec-on")
    await admin.fill("#rule-min_length_sec", "60")
    await admin.check("#rule-max_length_sec-on")
    await admin.fill("#rule-max_length_sec", "10")
    await admin.locator("#rules-check:has-text('max_length_sec')").wait_for()
    assert await admin.get_attribute("#rule-max_length_sec", "aria-invalid") == "true"
    await admin.fill("#rule-max_length_sec", "1.5")  # seconds are whole
    await admin.locator("#rules-check:has-text('whole number')").wait_for()
    await admin.fill("#rule-max_length_sec", "120")
    await admin.uncheck("#rule-min_length_sec-on")
    await admin.locator("#rules-check:has-text('valid')").wait_for()
    # A blocked medium without an id: its row is named.
    await admin.click("#add-blocked-media")
    await admin.locator("#rules-check:has-text('blocked_media[0]')").wait_for()
    row = admin.locator("#blocked-media tbody tr").first
    assert await row.get_attribute("aria-invalid") == "true"
    await row.locator(".bm-id").fill("earrape1")
    await row.locator(".bm-reason").fill("too loud")
    await admin.check("#rule-max_pending_per_viewer-on")
    await admin.fill("#rule-max_pending_per_viewer", "3")
    await admin.click("#add-blocked-user")
    user = admin.locator("#blocked-users tbody tr").first
    await user.locator(".bu-user").fill("Troll")
    await user.locator(".bu-reason").fill("spam buying")
    await admin.check("input[data-exempt=blessed]")
    await admin.check("#rule-exempt_min_rank-on")
    await admin.fill("#rule-exempt_min_rank", "2")
    await admin.check("#rule-fair_order")
    await admin.locator("#rules-check:has-text('valid')").wait_for()
    still = await svc.services.rules.service.effective("lobby")  # type: ignore[union-attr]
    assert still.max_length_sec is None and still.blocked_media == ()  # checked, not saved
    await admin.click("#rules-save")
    await admin.locator("#rules-check:has-text('saved')").wait_for()
    saved = await svc.services.rules.service.effective("lobby")  # type: ignore[union-attr]
    assert saved.max_length_sec == 120 and saved.min_length_sec == 0
    assert saved.max_pending_per_viewer == 3 and saved.fair_order
    assert saved.exempt_roles == ("blessed",) and saved.exempt_min_rank == 2
    assert [(m.media_id, m.reason) for m in saved.blocked_media] == [("earrape1", "too loud")]
    assert [(u.user, u.reason) for u in saved.blocked_users] == [("Troll", "spam buying")]
    # Read back after a reload: the form shows what is in effect.
    await admin.reload()
    await admin.click("#tabs button[data-tab=rules]")
    await admin.locator("#rules-check:has-text('as in effect now')").wait_for()
    assert await admin.input_value("#rule-max_length_sec") == "120"
    assert await admin.input_value("#blocked-media tbody tr .bm-reason") == "too loud"
    # The like rules, in the same tab: a bad value named, a good one in effect at once.
    assert await admin.input_value("#like-rate_limit") == "5"
    await admin.fill("#like-rate_limit", "0")
    await admin.click("#like-rules-save")
    await admin.locator("#like-rules-msg:has-text('rate_limit')").wait_for()
    assert await admin.get_attribute("#like-rate_limit", "aria-invalid") == "true"
    await admin.fill("#like-rate_limit", "3")
    await admin.fill("#like-dedupe_window_seconds", "3600")
    await admin.click("#like-rules-save")
    await admin.locator("#like-rules-msg:has-text('saved')").wait_for()
    likes = await svc.services.likes.service.current_rules()
    assert (likes.rate_limit, likes.dedupe_window_sec) == (3, 3600)
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
    # The only 4xx are the live check refusing the bad fields, as it should.
    asked = [
        e
        for e in admin.errors
        if not (e.startswith("422 ") and e.endswith(("/rules/check", "/likes/rules")))
    ]
    assert asked == [] and viewer.errors == [], (admin.errors, viewer.errors)
