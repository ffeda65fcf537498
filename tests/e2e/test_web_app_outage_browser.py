"""A real NATS outage under a signed-in browser (the fake /health of test_web_app_browser.py
shows the words; this shows the service behind them): the only nats-server stops while the
pages are open, and then comes back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.nats.embedded_server import EmbeddedNatsServer
from tests.conftest import missing
from tests.e2e.conftest import serving
from tests.e2e.test_admin_browser import ARGS, CHROMIUM
from tests.e2e.test_http_and_live import caught_up
from tests.e2e.test_web_app_browser import shot, sign_in, tab_for


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if CHROMIUM is None:
        missing("no Chromium on PATH (apt-get install chromium, or set WEBQUEUE_CHROMIUM)")


async def test_a_signed_in_viewer_through_a_real_nats_outage(
    tmp_path: Path, broker: EmbeddedNatsServer
) -> None:
    from playwright.async_api import async_playwright

    async with (
        serving(
            tmp_path / "data",
            nats_url=broker.url,
            cytube="sim",
            economy="local",
            allow_open_nats=True,  # a test broker without users
        ) as svc,
        async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            await caught_up(svc)
            tab = await tab_for(browser, "desktop")
            await sign_in(tab, svc, "olga")
            await tab.locator("#live:has-text('live')").wait_for()
            rows = await tab.locator("#queue-table tbody tr").count()
            assert rows > 0

            await asyncio.to_thread(broker.stop)
            # The open page says so by itself, and keeps what it shows.
            await tab.locator("#live:has-text('not live')").wait_for(timeout=20_000)
            assert await tab.locator("#queue-table tbody tr").count() == rows
            # A page loaded now: read models answer, actions are off with the reason.
            await tab.goto(f"{svc.base}/buy")
            await tab.locator(
                "#banners .banner-down:has-text('event log (NATS) cannot be reached')"
            ).wait_for(timeout=20_000)
            # (the server draws that banner; the page's own health check then turns actions off)
            await tab.locator("#buy-btn[disabled]").wait_for(timeout=20_000)
            assert "This is off until it is back" in await tab.inner_text(".needs-reason")
            # The wallet is the economy's (here the ledger in the log): not guessed at.
            await tab.locator("#balance:text-is('unknown')").wait_for()
            await shot(tab, "outage-real-buy")
            await tab.goto(f"{svc.base}/")
            await tab.locator("#queue-table tbody tr").first.wait_for()  # reads keep working
            assert (await tab.inner_text("#live")).strip() != "live"

            await asyncio.to_thread(broker.start)
            await tab.locator("#live:text-is('live')").wait_for(timeout=30_000)
            await tab.goto(f"{svc.base}/buy")
            await tab.locator("#banners .banner-down").wait_for(state="detached", timeout=30_000)
            assert not await tab.is_disabled("#buy-btn")
            await tab.locator("#balance:not(:text-is('unknown'))").wait_for()
        finally:
            await browser.close()
