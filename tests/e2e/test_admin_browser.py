"""The admin projections viewer, used in a real headless Chromium.

Skips only when no Chromium is installed (Debian's `chromium`; `.ci/run` installs it).
Screenshots of each page go to a temporary folder, or to WEBQUEUE_SCREENSHOTS when it is set
(`WEBQUEUE_SCREENSHOTS=docs/screenshots` refreshes the ones the docs show): a test run does
not change the repository.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from application.log.command_handler import CommandMeta
from application.log.ports import StreamId
from domain.wallet.model import DebitForRequest, wallet_decider
from tests.conftest import missing
from tests.e2e.conftest import Running, serving
from tests.e2e.test_http_and_live import caught_up
from tests.e2e.test_pay_to_play import bearer, buy, joins, settled

SHOTS = Path(
    os.environ.get("WEBQUEUE_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / "webqueue-admin-screenshots"
)
CHROMIUM = (
    os.environ.get("WEBQUEUE_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if CHROMIUM is None:
        missing("no Chromium on PATH (apt-get install chromium, or set WEBQUEUE_CHROMIUM)")


ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def page(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Any, Running]]:
    from playwright.async_api import async_playwright

    audit = request.node.get_closest_marker("breaks_the_books") is None
    async with (
        serving(tmp_path / "data", sim_speed=1.0, audit=audit) as svc,
        async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 860})
        tab = await context.new_page()
        yield tab, svc
        await browser.close()


async def sign_in(tab: Any, svc: Running) -> None:
    token = bearer(svc, "boss", "admin")["authorization"][7:]
    await tab.goto(f"{svc.base}/admin")
    await tab.fill("#token", token)
    await tab.click("#signin-btn")
    await tab.wait_for_selector("#app:not([hidden])")


async def shot(tab: Any, name: str) -> None:
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    await tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_sign_in_refuses_a_viewer_token(page: tuple[Any, Running]) -> None:
    tab, svc = page
    await tab.goto(f"{svc.base}/admin")
    await tab.fill("#token", bearer(svc, "vic", "viewer")["authorization"][7:])
    await tab.click("#signin-btn")
    await tab.wait_for_selector("#signin-error:has-text('needs an admin token')")
    assert await tab.is_hidden("#app")


async def test_the_viewer_end_to_end(page: tuple[Any, Running]) -> None:
    tab, svc = page
    await caught_up(svc)
    admin = bearer(svc, "boss", "admin")
    await joins(svc, "alice")
    await svc.http.post(
        "/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 2000}, headers=admin
    )
    alice = bearer(svc, "alice", "viewer")
    svc.services.cytube.simulator.know_media("yt", "admin-demo", "Alice's pick", 300)
    await svc.http.post(
        "/api/v1/channels/lobby/pay-items",
        json={
            "media_type": "yt",
            "media_id": "admin-demo",
            "duration_sec": 300,
        },
        headers=alice,
    )
    await sign_in(tab, svc)

    # Projections: checkpoint, head, lag, rows; a rebuild with live progress back to lag 0.
    row = tab.locator("#projection-table tr[data-projection='queue_shadow']")
    await row.wait_for()
    await row.locator("button.rebuild").click()
    await row.locator(".progress:has-text('done')").wait_for(timeout=15_000)
    lag = "#projection-table tr[data-projection='queue_shadow'] .lag"
    await tab.wait_for_function(
        "(sel) => document.querySelector(sel).textContent === '0'", arg=lag, timeout=15_000
    )
    await shot(tab, "admin-projections")

    # Rows: browse a projection's table, paged and sortable.
    await tab.click("#tabs button[data-tab='rows']")
    await tab.select_option("#rows-projection", "queue_shadow")
    await tab.select_option("#rows-table", "queue_items")
    await tab.locator("#rows-table-view tbody tr").first.wait_for()
    await tab.click("#rows-table-view th[data-col='title']")
    await tab.locator("#rows-table-view th:has-text('title ▲')").wait_for()
    assert "rows" in await tab.inner_text("#rows-page")
    await shot(tab, "admin-rows")

    # Events: load, open a commit to see its events, causation and correlation.
    await tab.click("#tabs button[data-tab='events']")
    await tab.fill("#ev-type", "PayItemRequested")
    await tab.click("#ev-load")
    # The filtered rows, not the ones shown before the load answered (a race under load).
    await tab.locator("#event-table tbody tr:has-text('PayItemRequested')").first.click()
    await tab.wait_for_selector("#commit-card:not([hidden])")
    assert "PayItemRequested" in await tab.inner_text("#commit-events")
    assert await tab.inner_text("#commit-correlation") != "none"
    await shot(tab, "admin-events")

    # Live queue: badges, and it moves when the simulator advances.
    await tab.click("#tabs button[data-tab='queue']")
    await tab.locator("#queue-table tr:has-text('paid by alice')").wait_for(timeout=15_000)
    await shot(tab, "admin-queue")
    before = await tab.inner_text("#now-playing")
    await svc.sim.post("/api/v1/sim/lobby/clock/advance", json={"seconds": 600})
    await tab.wait_for_function(
        "(old) => document.querySelector('#now-playing').innerText !== old",
        arg=before,
        timeout=10_000,
    )
    await shot(tab, "admin-queue")

    # Time travel: the queue as of an early log position.
    await tab.fill("#tt-at", "3")
    await tab.click("#tt-go")
    await tab.locator("#queue-mode:has-text('as of 3')").wait_for()
    assert "Alice's pick" not in await tab.inner_text("#queue-table")
    await shot(tab, "admin-time-travel")
    await tab.click("#tt-live")
    await tab.locator("#queue-mode:has-text('live')").wait_for()

    # Promos & lock: settings read and saved, pools shown, the lock set and lifted.
    await tab.click("#tabs button[data-tab='promos']")
    await tab.locator("#promo-config").wait_for()
    await tab.wait_for_function(
        "() => document.querySelector('#promo-config').value.includes('every_n_items')"
    )
    config = await tab.input_value("#promo-config")
    await tab.fill("#promo-config", config.replace('"every_n_items": 4', '"every_n_items": 0'))
    await tab.click("#promo-save")
    await tab.locator("#promo-msg:has-text('general.every_n_items')").wait_for()
    await tab.fill("#promo-config", config.replace('"every_n_items": 4', '"every_n_items": 3'))
    await tab.click("#promo-save")
    await tab.locator("#promo-msg:has-text('saved')").wait_for()
    await tab.fill("#lock-label", "Movie night")
    await tab.click("#lock-on")
    await tab.locator("#lock-state:has-text('Movie night')").wait_for()
    await shot(tab, "admin-promos")
    await tab.click("#lock-off")
    await tab.locator("#lock-state:has-text('open')").wait_for()


@pytest.mark.breaks_the_books
async def test_the_money_audit_tab_shows_the_books_and_what_does_not_add_up(
    page: tuple[Any, Running],
) -> None:
    tab, svc = page
    await caught_up(svc)
    admin = bearer(svc, "boss", "admin")
    await svc.sim.post("/api/v1/sim/lobby/users", json={"name": "alice"})
    await svc.http.post(
        "/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 2000}, headers=admin
    )
    alice = bearer(svc, "alice", "viewer")
    svc.services.cytube.simulator.know_media("yt", "audit-long", "A long one", 1800)
    r = await svc.http.post(
        "/api/v1/channels/lobby/pay-items",
        json={"media_type": "yt", "media_id": "audit-long", "duration_sec": 60},
        headers=alice,
    )
    assert r.status_code == 202, r.text
    await settled(svc, r.json()["request_id"], alice)
    await sign_in(tab, svc)

    await tab.click("#tabs button[data-tab='money']")
    await tab.locator("#audit-verdict:has-text('OK')").wait_for()
    row = tab.locator("#audit-users tr[data-user='alice']")
    assert (await row.locator(".kept").inner_text()) == "500"  # topped up to CyTube's length
    purchase = tab.locator(f"#audit-purchases tr[data-request='{r.json()['request_id']}']")
    assert "positioned" in await purchase.locator(".status").inner_text()

    # Money that moved outside any purchase: the audit names it.
    await svc.services.kernel.handler.handle(
        wallet_decider,
        StreamId("lobby", "wallet", "alice"),
        DebitForRequest("stray-debit-1", 100),
        CommandMeta.new("mallory"),
    )
    await tab.click("#audit-run")
    await tab.locator("#audit-verdict:has-text('finding')").wait_for()
    findings = await tab.inner_text("#audit-findings")
    assert "debit_without_purchase" in findings and "stray-debit-1" in findings
    await shot(tab, "admin-money")


async def test_the_viewers_tab_shows_purchases_and_spend_per_viewer(
    page: tuple[Any, Running],
) -> None:
    """Alice buys twice and an admin cancels one (refunded); bob buys once with no coins
    (declined). The tab shows each viewer's row as the stats fold the log; a refund made while
    it is open shows at the next reload."""
    tab, svc = page
    await caught_up(svc)
    admin = bearer(svc, "boss", "admin")
    for user in ("alice", "bob"):
        await joins(svc, user)
    await svc.http.post(
        "/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 3000}, headers=admin
    )
    alice, bob = bearer(svc, "alice", "viewer"), bearer(svc, "bob", "viewer")
    kept = await buy(svc, alice, "spend-1", "queue")
    dropped = await buy(svc, alice, "spend-2", "queue")
    declined = await buy(svc, bob, "spend-3", "queue")
    for rid, who in ((kept, alice), (dropped, alice)):
        await settled(svc, rid, who)
    await settled(svc, declined, bob, want=("declined",))
    await sign_in(tab, svc)

    await tab.click("#tabs button[data-tab='viewers']")
    row = tab.locator("#viewers-table tr[data-user='alice']")
    await row.wait_for()
    assert await row.locator(".purchases").inner_text() == "2"
    assert await row.locator(".refunded").inner_text() == "0"
    spent_before = int((await row.locator(".spent").inner_text()).replace(",", ""))
    assert spent_before > 0
    bob_row = tab.locator("#viewers-table tr[data-user='bob']")
    assert await bob_row.locator(".declined").inner_text() == "1"
    assert await bob_row.locator(".spent").inner_text() == "0"
    # Most spent first.
    assert await tab.locator("#viewers-table tbody tr").first.get_attribute("data-user") == "alice"

    r = await svc.http.delete(f"/api/v1/channels/lobby/pay-items/{dropped}", headers=admin)
    assert r.status_code in (200, 202), r.text
    status = await settled(svc, dropped, alice, want=("refunded",))
    back = status.get("refunded") or 0
    assert back > 0, status

    async def shows_the_refund() -> bool:
        await tab.click("#viewers-reload")
        await tab.locator("#viewers-summary:has-text('as of log position')").wait_for()
        return await row.locator(".refunded").inner_text() == "1"

    for _ in range(150):  # the stats projection catches up: reload until it has
        if await shows_the_refund():
            break
        await asyncio.sleep(0.2)
    assert await row.locator(".refunded").inner_text() == "1"
    assert await row.locator(".refunded-coins").inner_text() == f"{back:,}"
    spent = int((await row.locator(".spent").inner_text()).replace(",", ""))
    assert spent == spent_before - back
    await shot(tab, "admin-viewers")


async def test_the_instances_tab_shows_this_instance_and_the_leases_it_holds(
    page: tuple[Any, Running],
) -> None:
    tab, svc = page
    keeper = svc.services.leases.keeper  # type: ignore[union-attr]
    await sign_in(tab, svc)
    await tab.click("#tabs button[data-tab='instances']")
    await tab.locator(f"#instances-verdict:has-text('{keeper.holder}')").wait_for()
    verdict = await tab.inner_text("#instances-verdict")
    assert "holds channel:lobby" in verdict and "TTL 10" in verdict
    row = tab.locator("#lease-table tr[data-lease='channel:lobby']")
    await row.wait_for()
    assert "(this one)" in await row.inner_text()
    projections = tab.locator("#lease-table tr[data-lease^='projections:']")
    assert await projections.count() == 1
    # The instances alive, each with what it holds (a standby would say so).
    assert "1 instance(s) alive" in verdict
    assert "The log: 1 copy, one server (no cluster)." in verdict  # the stream's replicas
    alive = tab.locator(f"#alive-table tr[data-instance='{keeper.holder}']")
    await alive.wait_for()
    text = await alive.inner_text()
    assert "(this one)" in text and "channel:lobby" in text
    await shot(tab, "admin-instances")

    # On a phone the tables are cards: nothing wider than the screen.
    await tab.set_viewport_size({"width": 390, "height": 844})
    await tab.locator("#alive-table td[data-label='Holds']").first.wait_for()
    assert await tab.evaluate("document.documentElement.scrollWidth") <= 390
    assert (
        await tab.evaluate("document.querySelector('#alive-table').getBoundingClientRect().right")
        <= 390
    )
    await shot(tab, "admin-instances-phone")
