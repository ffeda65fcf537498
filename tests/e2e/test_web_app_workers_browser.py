"""The web app on `webqueue serve --workers 1` (the embedded default), in a real headless
Chromium: the viewer's whole walk (sign in with the PM'd code, buy, watch it come into place,
cancel, see the refund) while the pay flow and the projections run in the worker and the
simulated channel in the front."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import missing
from tests.e2e.test_admin_browser import ARGS, CHROMIUM
from tests.e2e.test_cli import Service
from tests.e2e.test_fault_workers import gone
from tests.e2e.test_web_app_browser import buy_watch_cancel

WORKER = re.compile(r"worker 1 pid (\d+) up")


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if CHROMIUM is None:
        missing("no Chromium on PATH (apt-get install chromium, or set WEBQUEUE_CHROMIUM)")


class Front:
    def __init__(self, svc: Service) -> None:
        self.base = str(svc.http.base_url).rstrip("/")


async def test_a_viewer_walks_the_web_app_on_a_front_with_a_worker(data_dir: Path) -> None:
    from playwright.async_api import async_playwright

    svc = Service(data_dir, "--workers", "1")
    worker = None
    try:
        health = svc.wait_healthy(within=30)
        assert health["leases"] == [], "the front took a lease: its worker should"
        found = WORKER.search(health["parts"]["workers"]["detail"])
        assert found, health["parts"]["workers"]
        worker = int(found.group(1))
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                await buy_watch_cancel(browser, Front(svc), "desktop", shots=False)
            finally:
                await browser.close()
        assert svc.stop() == 0, svc.log.read_text()[-3000:]
        assert gone(worker), "the worker outlived its front's clean stop"
    finally:
        if svc.proc.poll() is None:
            svc.proc.kill()
            svc.proc.wait(15)
