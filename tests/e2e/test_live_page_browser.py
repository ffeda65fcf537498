"""The live queue page in a real headless Chromium: who bought an item, and whether the page
is really live (its socket open and the service's log reachable)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing
from tests.e2e.conftest import Running, serving
from tests.e2e.test_admin_browser import ARGS, CHROMIUM
from tests.e2e.test_http_and_live import caught_up
from tests.e2e.test_pay_to_play import bearer, joins, settled


@pytest.fixture(autouse=True)
def _chromium() -> None:
    """Skip without Chromium, saying so; in CI, fail (a skip marker would skip there too)."""
    if CHROMIUM is None:
        missing("no Chromium on PATH (apt-get install chromium, or set WEBQUEUE_CHROMIUM)")


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[tuple[Any, Running]]:
    from playwright.async_api import async_playwright

    async with serving(tmp_path / "data", sim_speed=1.0) as svc, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = await (await browser.new_context()).new_page()
        yield tab, svc
        await browser.close()


async def test_a_paid_item_shows_its_buyer_in_queued_by(page: tuple[Any, Running]) -> None:
    tab, svc = page
    await caught_up(svc)
    await joins(svc, "alice")
    admin = bearer(svc, "boss", "admin")
    await svc.http.post(
        "/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 5000}, headers=admin
    )
    alice = bearer(svc, "alice", "viewer")
    svc.services.cytube.simulator.know_media("yt", "alices-pick", "Alice's pick", 240)
    body = {
        "media_type": "yt",
        "media_id": "alices-pick",
        "duration_sec": 240,
        "tier": "playnext",
    }
    r = await svc.http.post("/api/v1/channels/lobby/pay-items", json=body, headers=alice)
    await settled(svc, r.json()["request_id"], alice)
    await tab.goto(f"{svc.base}/")
    row = tab.locator("#queue-table tbody tr", has_text="Alice's pick")
    await row.wait_for()
    assert "bought by alice" in (await row.locator("td").nth(3).inner_text())
    await tab.wait_for_selector("#live.on")


async def test_the_page_does_not_say_live_while_the_log_is_unreachable(
    page: tuple[Any, Running],
) -> None:
    tab, svc = page
    await caught_up(svc)
    await tab.goto(f"{svc.base}/")
    await tab.wait_for_selector("#live.on")

    async def log_down(route: Any) -> None:
        await route.fulfill(
            status=503,
            content_type="application/json",
            body='{"status": "degraded", "log_connected": false}',
        )

    await tab.route("**/health", log_down)  # what /health answers when NATS is gone
    await tab.wait_for_selector("#live:has-text('event log is unreachable')", timeout=15_000)
    await tab.unroute("**/health")
    await tab.wait_for_selector("#live.on", timeout=15_000)
