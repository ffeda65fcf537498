"""The catalog as users meet it, on the real composition root with the demo catalog: search,
buying an item at the catalog's price (what the buyer could send about it is refused), an
unavailable item, media kept for promos hidden and unpayable, NATS commands, and search on the
last snapshot while NATS is down (a refresh then says why it cannot run)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from adapters.nats.embedded_server import EmbeddedNatsServer
from tests.e2e.conftest import Running, command_client, serving
from tests.e2e.test_http_and_live import eventually
from tests.e2e.test_pay_to_play import balance, bearer, blessed, joins, settled

BASE = "/api/v1/channels/lobby/catalog"


async def snapshot_ready(svc: Running) -> dict[str, Any]:
    viewer = bearer(svc, "ann", "viewer")

    async def check() -> dict[str, Any] | None:
        r = await svc.http.get(f"{BASE}/search", params={"per_page": 1}, headers=viewer)
        return r.json() if r.status_code == 200 and r.json()["total"] > 0 else None

    return dict(await eventually(check, "the demo catalog to be indexed", within=20))


async def find(svc: Running, q: str, who: dict[str, str]) -> dict[str, Any]:
    r = await svc.http.get(f"{BASE}/search", params={"q": q}, headers=who)
    assert r.status_code == 200, r.text
    return dict(r.json()["items"][0])


async def test_search_and_buy_at_the_catalogs_price(service: Running) -> None:
    page = await snapshot_ready(service)
    assert page["total"] >= 300
    admin, alice = bearer(service, "boss", "admin"), bearer(service, "alice", "viewer")
    await joins(service, "alice")
    await service.http.post(
        "/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 5000}, headers=admin
    )
    episode = await find(service, "flash gordon s01e01", alice)
    assert episode["title"] == "Flash Gordon S01E01" and episode["available"]

    generic = await service.http.get(
        "/api/v1/channels/lobby/pay-items/preview",
        params={
            "media_type": "cm",
            "media_id": episode["manifest_url"],
            "duration_sec": episode["duration_sec"],
        },
        headers=alice,
    )
    preview = await service.http.get(f"{BASE}/items/{episode['key']}/preview", headers=alice)
    assert preview.status_code == 200, preview.text
    assert preview.json()["cost"] == generic.json()["cost"] > 0
    assert preview.json()["media_type"] == "cm"

    # what is bought, and so its price, is the catalog's: a body naming a title or a length
    # is refused and changes nothing
    cheat = await service.http.post(
        f"{BASE}/items/{episode['key']}/buy",
        json={"tier": "queue", "duration_sec": 1, "title": "cheap"},
        headers=alice,
    )
    assert cheat.status_code == 400, cheat.text
    assert await balance(service, "alice", alice) == 5000

    bought = await service.http.post(
        f"{BASE}/items/{episode['key']}/buy", json={"tier": "queue"}, headers=alice
    )
    assert bought.status_code == 202, bought.text
    status = await settled(service, bought.json()["request_id"], alice)
    assert status["status"] == "positioned", status
    assert (status["media_type"], status["media_id"]) == ("cm", episode["manifest_url"])
    assert (status["title"], status["duration_sec"]) == (
        "Flash Gordon S01E01",
        episode["duration_sec"],
    )
    assert status["cost"] == preview.json()["cost"]
    assert await balance(service, "alice", alice) == 5000 - status["cost"]


async def test_an_unavailable_item_says_why_and_cannot_be_bought(service: Running) -> None:
    await snapshot_ready(service)
    alice = bearer(service, "alice", "viewer")
    lost = await find(service, "lost reel", alice)
    assert lost["available"] is False and "no video id" in lost["unavailable_reason"]
    preview = await service.http.get(f"{BASE}/items/{quote(lost['key'])}/preview", headers=alice)
    assert preview.json()["available"] is False
    assert preview.json()["code"] == "catalog_item_unavailable"
    r = await service.http.post(f"{BASE}/items/{quote(lost['key'])}/buy", json={}, headers=alice)
    assert r.status_code == 409 and r.json()["error"]["code"] == "catalog_item_unavailable"
    missing = await service.http.get(f"{BASE}/items/nope", headers=alice)
    assert missing.status_code == 404


async def test_media_kept_for_promos_is_hidden_from_viewers_and_unpayable(
    service: Running,
) -> None:
    await snapshot_ready(service)
    mod = await blessed(service, "mod")
    alice = bearer(service, "alice", "viewer")
    trailer = await find(service, "grindhouse trailer reel 1", alice)
    pool = await service.http.post(
        "/api/v1/channels/lobby/playlists",
        json={
            "name": "Trailers pool",
            "promo_type": "channel_identity",
            "items": [
                {
                    "media_type": "cm",
                    "media_id": trailer["manifest_url"],
                    "title": trailer["title"],
                    "duration_sec": trailer["duration_sec"],
                }
            ],
        },
        headers=mod,
    )
    assert pool.status_code == 201, pool.text

    async def hidden() -> bool:
        r = await service.http.get(f"{BASE}/search", params={"q": "trailer reel 1"}, headers=alice)
        return r.json()["total"] == 0

    await eventually(hidden, "the pooled trailer to leave viewers' search")
    assert (
        await service.http.get(f"{BASE}/items/{trailer['key']}", headers=alice)
    ).status_code == 404
    seen = await find(service, "grindhouse trailer reel 1", mod)
    assert seen["hidden"] is True
    r = await service.http.post(f"{BASE}/items/{trailer['key']}/buy", json={}, headers=mod)
    assert r.status_code == 422 and r.json()["error"]["code"] == "media_not_payable"


async def test_refresh_and_search_over_nats_and_http(service: Running) -> None:
    await snapshot_ready(service)
    admin = service.services.identity.signer.issue(
        "boss", "admin", ttl_sec=600, now=service.services.kernel.wall_clock.now()
    )[0]
    viewer = service.services.identity.signer.issue(
        "ann", "viewer", ttl_sec=600, now=service.services.kernel.wall_clock.now()
    )[0]
    nc = await command_client(service)
    try:

        async def ask(command: str, **body: Any) -> dict[str, Any]:
            msg = await nc.request(f"wq.cmd.lobby.{command}", json.dumps(body).encode(), timeout=5)
            return dict(json.loads(msg.data))

        found = await ask("search_catalog", token=viewer, q="haxan")
        assert found["ok"] and [i["title"] for i in found["items"]] == ["Häxan"]
        combined = await ask(
            "search_catalog", token=viewer, q="s02", categories=["horror"], per_page=50
        )
        assert combined["total"] == 10 and all(
            "S02" in i["title"].upper() for i in combined["items"]
        )
        refused = await ask("refresh_catalog", token=viewer)
        assert refused["error"]["code"] == "insufficient_role"
        bad = await ask("search_catalog", token=viewer, per_page=1000)
        assert bad["error"]["code"] == "invalid_request"
        started = await ask("refresh_catalog", token=admin)
        assert started["ok"] and started["phase"] in ("listing", "indexing", "completed")
    finally:
        await nc.close()
    headers = bearer(service, "boss", "admin")

    async def done() -> dict[str, Any] | None:
        r = await service.http.get(f"{BASE}/snapshots", headers=headers)
        snaps = r.json()
        return snaps if len(snaps) == 2 and snaps[0]["status"] == "completed" else None

    snaps = await eventually(done, "the second snapshot", within=20)
    assert snaps[0]["current"] and not snaps[1]["current"]
    assert (snaps[0]["added"], snaps[0]["removed"], snaps[0]["changed"]) == (0, 0, 0)
    viewer_h = bearer(service, "ann", "viewer")
    assert (await service.http.get(f"{BASE}/snapshots", headers=viewer_h)).status_code == 403


async def test_search_answers_from_the_last_snapshot_while_nats_is_down(
    tmp_path: Path, broker: EmbeddedNatsServer
) -> None:
    async with serving(tmp_path / "data", nats_url=broker.url, allow_open_nats=True) as svc:
        await snapshot_ready(svc)
        admin, viewer = bearer(svc, "boss", "admin"), bearer(svc, "ann", "viewer")
        await asyncio.to_thread(broker.stop)

        async def gone() -> bool:
            return not svc.services.kernel.log.nc.is_connected

        await eventually(gone, "the service to notice NATS is gone", within=10)
        r = await svc.http.get(f"{BASE}/search", params={"q": "nosferatu"}, headers=viewer)
        assert r.status_code == 200 and [i["title"] for i in r.json()["items"]] == ["Nosferatu"]
        assert (await svc.http.get(f"{BASE}/categories", headers=viewer)).status_code == 200
        refresh = await svc.http.post(f"{BASE}/refresh", json={}, headers=admin)
        assert refresh.status_code == 503, refresh.text
        assert "NATS" in refresh.json()["error"]["message"]


async def test_the_catalog_prices_a_plain_purchase_and_fills_playlists(service: Running) -> None:
    """The catalog plugged into pay and playlists: a plain purchase of a catalog item's manifest
    URL is priced by the catalog's length, whatever length the buyer hints; an unavailable one
    is refused; a playlist item naming a catalog id takes the catalog's title and length."""
    await snapshot_ready(service)
    admin, alice = bearer(service, "boss", "admin"), bearer(service, "alice", "viewer")
    await joins(service, "alice")
    await service.http.post(
        "/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 5000}, headers=admin
    )
    episode = await find(service, "flash gordon s01e03", alice)
    catalog_price = (
        await service.http.get(f"{BASE}/items/{episode['key']}/preview", headers=alice)
    ).json()["cost"]
    hinted = await service.http.get(
        "/api/v1/channels/lobby/pay-items/preview",
        params={"media_type": "cm", "media_id": episode["manifest_url"], "duration_sec": 1},
        headers=alice,
    )
    assert hinted.status_code == 200, hinted.text
    assert hinted.json()["cost"] == catalog_price  # not the 1-second hint's price
    plain = await service.http.post(
        "/api/v1/channels/lobby/pay-items",
        json={"media_type": "cm", "media_id": episode["manifest_url"], "duration_sec": 1},
        headers=alice,
    )
    assert plain.status_code == 202, plain.text
    status = await settled(service, plain.json()["request_id"], alice)
    assert (status["title"], status["duration_sec"]) == (episode["title"], episode["duration_sec"])
    assert status["cost"] == catalog_price

    editor = await blessed(service, "carol")
    made = await service.http.post(
        "/api/v1/channels/lobby/playlists",
        json={"name": "Serial night", "items": [{"catalog_id": episode["key"]}]},
        headers=editor,
    )
    assert made.status_code == 201, made.text
    [entry] = made.json()["items"]
    assert entry["title"] == episode["title"]
    assert entry["duration_sec"] == episode["duration_sec"]
