"""Promos as an admin sets them up and viewers see them, over HTTP, at 600x simulated time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from application.projections.runner import ProjectionRunner
from domain.promos.kinds import PROMO_TYPES
from entrypoints.bootstrap import projections
from tests.e2e.conftest import Running, serving
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_to_play import bearer, joins


@pytest.fixture
async def fast(tmp_path: Path) -> AsyncIterator[Running]:
    async with serving(tmp_path / "data", sim_speed=600.0) as svc:
        yield svc


async def designate_pools(svc: Running, admin: dict[str, str]) -> None:
    for kind in PROMO_TYPES:
        body = {
            "name": f"{kind} pool",
            "promo_type": kind,
            "items": [
                {
                    "media_type": "yt",
                    "media_id": f"{kind}-{n}",
                    "title": f"{kind} {n}",
                    "duration_sec": 12,
                }
                for n in range(3)
            ],
        }
        r = await svc.http.post("/api/v1/channels/lobby/playlists", json=body, headers=admin)
        assert r.status_code == 201, r.text


async def promo_history(svc: Running) -> list[tuple[str, str, str]]:
    rows = [
        (e.promo_id, e.promo_type, e.target_item_id)
        for c in [x async for x in svc.services.kernel.log.events.read_all(channel="lobby")]
        for e in c.commit.events
        if type(e).__name__ == "PromoChosen"
    ]
    return rows


async def test_promos_over_two_simulated_hours(fast: Running) -> None:
    await caught_up(fast)
    admin = bearer(fast, "boss", "admin")
    await designate_pools(fast, admin)
    config = await fast.http.get("/api/v1/channels/lobby/promos/config", headers=admin)
    assert config.json()["general"]["every_n_items"] == 4

    async def pools_seen() -> bool:
        r = await fast.http.get("/api/v1/channels/lobby/promos/pools", headers=admin)
        return all(len(r.json()["pools"][k]["items"]) == 3 for k in PROMO_TYPES)

    await eventually(pools_seen, "the pools in the read model")
    await joins(fast, "boss")
    await fast.http.post(
        "/api/v1/channels/lobby/wallets/boss/grants", json={"amount": 5000}, headers=admin
    )
    bought = await fast.http.post(
        "/api/v1/channels/lobby/pay-items",
        json={"media_type": "yt", "media_id": "paid-pick", "duration_sec": 240, "tier": "queue"},
        headers=admin,
    )
    assert bought.status_code == 202

    # Let playback run (600x) until both lead-ins have stood in place, or three simulated hours
    # (the demo's 97-minute feature comes up about two hours in).
    start = fast.services.kernel.clock.now()

    async def lead_ins_positioned() -> bool:
        positioned: set[str] = set()
        kinds: set[str] = set()
        async for c in fast.services.kernel.log.events.read_all(channel="lobby"):
            for e in c.commit.events:
                if type(e).__name__ == "PromoChosen":
                    kinds.add(f"{e.promo_id}:{e.promo_type}")
                elif type(e).__name__ == "PromoPositioned":
                    positioned.add(e.promo_id)
        done = {k.split(":")[1] for k in kinds if k.split(":")[0] in positioned}
        return {"feature_presentation", "viewers_choice"} <= done

    while (fast.services.kernel.clock.now() - start).total_seconds() < 3 * 3600:
        if await lead_ins_positioned():
            break
        await asyncio.sleep(0.5)
    commits = [c async for c in fast.services.kernel.log.events.read_all(channel="lobby")]
    events = [e for c in commits for e in c.commit.events]
    positioned = {e.promo_id for e in events if type(e).__name__ == "PromoPositioned"}
    chosen = [e for e in events if type(e).__name__ == "PromoChosen"]
    movie = next(
        e.item_id for e in events if type(e).__name__ == "ItemAdded" and e.media.duration_sec > 3600
    )
    paid = next(e.item_id for e in events if type(e).__name__ == "PayItemAttached")
    fp = [c for c in chosen if c.promo_type == "feature_presentation"]
    vc = [c for c in chosen if c.promo_type == "viewers_choice"]
    assert fp and all(c.target_item_id == movie for c in fp), "FP only before the long item"
    assert any(c.promo_id in positioned for c in fp), "and it stood right before it"
    assert [c.target_item_id for c in vc] == [paid] and vc[0].promo_id in positioned

    history = await promo_history(fast)
    kinds = Counter(kind for _, kind, _ in history)
    general = sum(kinds[k] for k in ("channel_identity", "event", "mod_shoutout"))
    content_started = sum(
        1
        for c in [x async for x in fast.services.kernel.log.events.read_all(channel="lobby")]
        for e in c.commit.events
        if type(e).__name__ == "NowPlayingChanged"
    )
    assert general >= 2 and general * 3 <= content_started, (kinds, content_started)

    # A replay-rebuild of the projections shows the same promo history and the same rows.
    # Playback is frozen first, so the log stands still while the two are compared.
    fast.services.kernel.clock.set_speed(1e-9)  # type: ignore[attr-defined]
    await caught_up(fast)
    before = await fast.services.kernel.read_models.fetch(
        "queue_items", order_by=("channel", "position")
    )
    for projection in projections():
        await ProjectionRunner(
            fast.services.kernel.log.events, fast.services.kernel.read_models, projection
        ).rebuild()
    after = await fast.services.kernel.read_models.fetch(
        "queue_items", order_by=("channel", "position")
    )
    promo_rows = [
        (r["item_id"], r["promo_type"], r["lead_in_for"]) for r in before if r["kind"] == "promo"
    ]
    assert [
        (r["item_id"], r["promo_type"], r["lead_in_for"]) for r in after if r["kind"] == "promo"
    ] == promo_rows
    assert await promo_history(fast) == history


async def test_bad_promo_settings_are_refused_with_the_field(fast: Running) -> None:
    admin = bearer(fast, "boss", "admin")
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"general": {"every_n_items": 0}}, 422, "general.every_n_items"),
        ({"movie_threshold_seconds": -5}, 422, "movie_threshold_seconds"),
        ({"types": {"channel_identity": {"weight": -1}}}, 400, ""),
        ({"types": {"nonsense": {}}}, 400, ""),
        ({"surprise": True}, 400, ""),
    ]
    for body, status, field in cases:
        r = await fast.http.put("/api/v1/channels/lobby/promos/config", json=body, headers=admin)
        assert r.status_code == status, (body, r.text)
        if field:
            assert r.json()["error"]["field"] == field
    viewer = bearer(fast, "vic", "viewer")
    r = await fast.http.put("/api/v1/channels/lobby/promos/config", json={}, headers=viewer)
    assert r.status_code == 403
    ok = await fast.http.put(
        "/api/v1/channels/lobby/promos/config",
        json={"general": {"every_n_items": 2}, "types": {"event": {"enabled": False}}},
        headers=admin,
    )
    assert ok.status_code == 200
    assert ok.json()["types"]["event"]["enabled"] is False
    assert ok.json()["types"]["channel_identity"]["weight"] == 3


async def test_a_partial_put_changes_only_what_it_names(fast: Running) -> None:
    """A PUT naming one field once reset every field it left out to its default, silently."""
    admin = bearer(fast, "boss", "admin")
    url = "/api/v1/channels/lobby/promos/config"
    first = {"general": {"every_m_minutes": 45}, "types": {"event": {"weight": 5}}}
    assert (await fast.http.put(url, json=first, headers=admin)).status_code == 200
    r = await fast.http.put(url, json={"movie_threshold_seconds": 5400}, headers=admin)
    assert r.status_code == 200
    got = (await fast.http.get(url, headers=admin)).json()
    assert got["movie_threshold_seconds"] == 5400
    assert got["general"]["every_m_minutes"] == 45  # kept, not reset to 20
    assert got["general"]["every_n_items"] == 4
    assert got["types"]["event"]["weight"] == 5  # kept, not reset to 2
    assert got["types"]["mod_shoutout"]["order"] == "sequential"
