"""Likes as a user meets them: over HTTP and the NATS command subjects, the count live on the
queue's socket, the roles, and the stats bucket read by a plain NATS client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from nats.aio.client import Client

from adapters.sim.demo import DEMO_PLAYLIST
from tests.e2e.conftest import Running, command_client
from tests.e2e.test_http_and_live import caught_up, eventually, queue
from tests.e2e.test_pay_to_play import ask, bearer, blessed

LIKES = "/api/v1/channels/lobby/likes"


@pytest.fixture
async def nc(service: Running) -> AsyncIterator[Client]:
    client = await command_client(service)
    yield client
    await client.close()


async def playing(svc: Running) -> dict[str, Any]:
    now = (await queue(svc))["now_playing"]
    assert now is not None and now["item"] is not None
    return dict(now)


async def test_a_like_counts_once_shows_live_and_is_refused_with_reasons(service: Running) -> None:
    await caught_up(service)
    alice, bob = bearer(service, "alice", "viewer"), bearer(service, "bob", "viewer")
    now = await playing(service)
    item_id = now["item"]["item_id"]
    assert now["likes"] == 0
    async with websockets.connect(f"{service.ws}/api/v1/channels/lobby/live") as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert first["now_playing"]["likes"] == 0

        r = await service.http.post(LIKES, json={"item_id": item_id}, headers=alice)
        assert r.status_code == 201, r.text
        assert r.json()["item_id"] == item_id and r.json()["user"] == "alice"
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 5)))["now_playing"][
            "likes"
        ] != 1:
            pass
        assert frame["now_playing"]["item"]["item_id"] == item_id

        again = await service.http.post(LIKES, json={"item_id": item_id}, headers=alice)
        assert again.status_code == 409
        error = again.json()["error"]
        assert error["code"] == "already_liked" and "until" in error
        # A day from the first like, less the moments since (the channel's clock runs).
        assert 86_000 < int(again.headers["retry-after"]) <= 86_400

        r = await service.http.post(LIKES, headers=bob)  # no body: what plays now
        assert r.status_code == 201, r.text
        while json.loads(await asyncio.wait_for(ws.recv(), 5))["now_playing"]["likes"] != 2:
            pass

    stale = await service.http.post(LIKES, json={"item_id": "q999"}, headers=alice)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "not_playing"
    nobody = await service.http.post(LIKES, json={"item_id": item_id})
    assert nobody.status_code == 401
    bad = await service.http.post(LIKES, json={"item_id": "a b"}, headers=alice)
    assert bad.status_code == 400
    now_liked = (await service.http.get(f"{LIKES}/now")).json()  # everyone sees the count
    assert now_liked["likes"] == 2 and now_liked["item_id"] == item_id

    # The next item: the same viewer may like it, and its count starts at nothing.
    await service.sim.post(
        "/api/v1/sim/lobby/clock/advance", json={"seconds": DEMO_PLAYLIST[0].duration_sec + 10}
    )

    async def moved_on() -> dict[str, Any] | None:
        now = (await queue(service))["now_playing"]
        return now if now and now["item"] and now["item"]["item_id"] != item_id else None

    second = await eventually(moved_on, "the next item to play")
    assert second["likes"] == 0
    r = await service.http.post(LIKES, json={"item_id": second["item"]["item_id"]}, headers=alice)
    assert r.status_code == 201, r.text
    stale = await service.http.post(LIKES, json={"item_id": item_id}, headers=bob)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "not_playing"
    assert "is not playing" in stale.json()["error"]["message"]


async def test_aggregates_are_for_blessed_users_and_admins(service: Running) -> None:
    await caught_up(service)
    alice = bearer(service, "alice", "viewer")
    mod = await blessed(service, "mod")
    now = await playing(service)
    media = now["item"]["media"]
    assert (await service.http.post(LIKES, headers=alice)).status_code == 201
    assert (await service.http.post(LIKES, headers=mod)).status_code == 201

    async def top() -> list[dict[str, Any]] | None:
        r = await service.http.get(f"{LIKES}/top-liked", params={"window": "1d"}, headers=mod)
        assert r.status_code == 200, r.text
        found = r.json()
        return found if found and found[0]["likes"] == 2 else None

    ranked = await eventually(top, "top liked to count both likes")
    assert (ranked[0]["media_type"], ranked[0]["media_id"]) == (media["type"], media["id"])
    for path in ("/top-liked", "/over-time", f"/items/{now['item']['item_id']}"):
        refused = await service.http.get(LIKES + path, headers=alice)
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == "insufficient_role"
    item = (await service.http.get(f"{LIKES}/items/{now['item']['item_id']}", headers=mod)).json()
    assert item["likes"] == 2
    one = await service.http.get(f"{LIKES}/media/{media['type']}/{media['id']}", headers=mod)
    assert one.json()["likes"] == 2
    hours = await service.http.get(
        f"{LIKES}/over-time", params={"window": "1d", "bucket": "hour"}, headers=mod
    )
    assert hours.json()["total"] == 2 and sum(b["likes"] for b in hours.json()["buckets"]) == 2
    wrong = await service.http.get(f"{LIKES}/top-liked", params={"window": "1x"}, headers=mod)
    assert wrong.status_code == 400


async def test_like_over_nats_with_structured_errors(service: Running, nc: Client) -> None:
    await caught_up(service)
    alice = bearer(service, "alice", "viewer")["authorization"][7:]
    admin = bearer(service, "boss", "admin")["authorization"][7:]
    liked = await ask(nc, "like", {"token": alice})
    assert liked["ok"] is True, liked
    again = await ask(nc, "like", {"token": alice, "item_id": liked["item_id"]})
    assert again["ok"] is False and again["error"]["code"] == "already_liked"
    assert 86_000 < again["error"]["retry_after_sec"] <= 86_400
    stale = await ask(nc, "like", {"token": admin, "item_id": "q999"})
    assert stale["error"]["code"] == "not_playing"
    malformed = await ask(nc, "like", {"token": alice, "item": "x"})
    assert malformed["error"]["code"] == "invalid_request"
    anonymous = await ask(nc, "like", {"token": "nope"})
    assert anonymous["error"]["code"] == "invalid_token"
    now = await eventually(lambda: _now_with(nc, 1), "the like to be counted", within=5)
    assert now["item_id"] == liked["item_id"]
    refused = await ask(nc, "top_liked", {"token": alice})
    assert refused["error"]["code"] == "insufficient_role"

    async def top() -> dict[str, Any] | None:  # read from SQL: a moment after the live count
        found = await ask(nc, "top_liked", {"token": admin, "window": "7d"})
        assert found["ok"], found
        return found if found["items"] and found["items"][0]["likes"] == 1 else None

    await eventually(top, "top liked to count the like")

    # The like rules over NATS: anyone signed in reads them, only an admin changes them.
    got = await ask(nc, "get_like_rules", {"token": alice})
    assert got["ok"] and got["dedupe_window_seconds"] == 86_400, got
    denied = await ask(nc, "set_like_rules", {"token": alice, "dedupe_window_seconds": 0})
    assert denied["error"]["code"] == "insufficient_role"
    bad = await ask(nc, "set_like_rules", {"token": admin, "rate_window_seconds": 0})
    assert bad["error"]["code"] == "invalid_config", bad
    assert bad["error"]["field"] == "rate_window_seconds"
    done = await ask(nc, "set_like_rules", {"token": admin, "dedupe_window_seconds": 0})
    assert done["ok"] and done["dedupe_window_seconds"] == 0 and done["rate_limit"] == 5, done
    counted = await ask(nc, "like", {"token": alice, "item_id": liked["item_id"]})
    assert counted["ok"] is True, counted  # no dedupe any more: the same medium counts again


async def _now_with(nc: Client, likes: int) -> dict[str, Any] | None:
    now = await ask(nc, "get_likes_now", {})
    return now if now["ok"] and now["likes"] == likes else None


async def test_the_stats_bucket_is_readable_by_a_plain_nats_client(service: Running) -> None:
    await caught_up(service)
    alice = bearer(service, "alice", "viewer")
    r = await service.http.post(LIKES, headers=alice)
    assert r.status_code == 201
    media = r.json()
    import nats

    log = service.services.kernel.log
    reader = await nats.connect(log.url, **log.credentials.connect_options())
    try:
        kv = await reader.jetstream().key_value("WEBQUEUE_STATS")

        async def liked() -> dict[str, Any] | None:
            try:
                entry = await kv.get(f"lobby.media.{media['media_type']}.{media['media_id']}")
            except Exception:
                return None
            value = json.loads(entry.value or b"{}")
            return value if value.get("likes") == 1 else None

        value = await eventually(liked, "the like in the stats bucket")
        assert value["plays"] >= 1 and value["title"] == media["title"]
        now = json.loads((await kv.get("lobby.now")).value or b"{}")
        assert now["item_id"] == media["item_id"]
    finally:
        await reader.close()


async def test_like_rules_changed_by_an_admin_take_effect_on_the_next_like(
    service: Running,
) -> None:
    """No restart: an admin turns the dedupe off and tightens the rate limit, and the very next
    likes are judged by the new rules; the change is an event in the log."""
    await caught_up(service)
    like_rules = service.services.likes.service.rules

    async def following() -> bool | None:
        return True if like_rules.from_memory else None

    await eventually(following, "the like rules folded from the tail, as wired")
    admin, alice = bearer(service, "boss", "admin"), bearer(service, "alice", "viewer")
    rules = f"{LIKES}/rules"
    before = await service.http.get(rules, headers=alice)
    assert before.status_code == 200
    assert before.json() == {
        "rate_limit": 5,
        "rate_window_seconds": 60,
        "dedupe_window_seconds": 86_400,
    }
    assert (await service.http.post(LIKES, headers=alice)).status_code == 201
    again = await service.http.post(LIKES, headers=alice)
    assert again.json()["error"]["code"] == "already_liked"

    denied = await service.http.put(rules, json={"dedupe_window_seconds": 0}, headers=alice)
    assert denied.status_code == 403, denied.text
    bad = await service.http.put(rules, json={"rate_limit": 0}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "rate_limit", bad.text
    changed = await service.http.put(
        rules,
        json={"dedupe_window_seconds": 0, "rate_limit": 2, "rate_window_seconds": 86_400},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "rate_limit": 2,
        "rate_window_seconds": 86_400,
        "dedupe_window_seconds": 0,
    }
    # The same medium again counts now (no dedupe), and the next within the day is over the
    # new limit of 2 (the first like above counts towards it).
    assert (await service.http.post(LIKES, headers=alice)).status_code == 201
    limited = await service.http.post(LIKES, headers=alice)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "like_rate_limited"
    assert "At most 2 likes every day" in limited.json()["error"]["message"]
    assert (await service.http.get(rules, headers=alice)).json()["rate_limit"] == 2

    changes = [
        e
        async for c in service.services.kernel.log.events.read_all(channel="lobby")
        for e in c.commit.events
        if type(e).__name__ == "LikeRulesChanged"
    ]
    assert [(e.rules.rate_limit, e.rules.dedupe_window_sec, e.by) for e in changes] == [
        (2, 0, "boss")
    ]
