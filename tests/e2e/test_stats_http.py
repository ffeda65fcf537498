"""Stats over HTTP, checked against a count done by hand over the log."""

from __future__ import annotations

from tests.e2e.conftest import Running
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_to_play import bearer, buy, joins, settled


async def test_stats_match_a_count_over_the_log(service: Running) -> None:
    await caught_up(service)
    admin, alice = bearer(service, "boss", "admin"), bearer(service, "alice", "viewer")
    await joins(service, "alice")
    await service.http.post(
        "/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 3000}, headers=admin
    )
    kept = await buy(service, alice, "s1", "queue")
    dropped = await buy(service, alice, "s2", "playnext")
    await settled(service, kept, alice)
    await settled(service, dropped, alice)
    await service.http.delete(f"/api/v1/channels/lobby/pay-items/{dropped}", headers=admin)
    await settled(service, dropped, alice, want=("refunded",))
    await service.sim.post("/api/v1/sim/lobby/clock/advance", json={"seconds": 400})

    events = [
        e
        async for c in service.services.kernel.log.events.read_all(channel="lobby")
        for e in c.commit.events
    ]
    by_hand = {
        "items_queued": sum(type(e).__name__ == "ItemAdded" for e in events),
        "captured": sum(e.cost for e in events if type(e).__name__ == "PaymentCaptured"),
        "refunded_total": sum(e.amount for e in events if type(e).__name__ == "PayItemRefunded"),
    }

    async def matches() -> dict[str, object] | None:
        r = await service.http.get("/api/v1/channels/lobby/stats", headers=alice)
        body = r.json()
        got = {k: body[k] for k in by_hand}
        return body if got == by_hand else None

    stats = await eventually(matches, f"stats to reach {by_hand}")
    assert stats["net"] == by_hand["captured"] - by_hand["refunded_total"]
    assert stats["paid_by_tier"] == {"queue": 1, "playnext": 1}
    assert stats["refunded_by_reason"] == {"admin_remove": 250}
    top = await service.http.get(
        "/api/v1/channels/lobby/stats/top-played", params={"window": "7d"}, headers=alice
    )
    assert top.status_code == 200 and top.json()
    bad = await service.http.get(
        "/api/v1/channels/lobby/stats/top-played", params={"window": "7x"}, headers=alice
    )
    assert bad.status_code == 400

    # Per viewer, for admins only: alice's two purchases, one refunded (counted by hand above).
    path = "/api/v1/channels/lobby/stats/viewers"
    refused = await service.http.get(path, headers=alice)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_role"
    viewers = (await service.http.get(path, headers=admin)).json()
    assert viewers["position"] >= stats["position"]
    assert viewers["viewers"] == [
        {
            "user": "alice",
            "purchases": 2,
            "declined": 0,
            "played": viewers["viewers"][0]["played"],  # whatever the sim got to: checked below
            "refunded": 1,
            "captured": by_hand["captured"],
            "refunded_coins": by_hand["refunded_total"],
            "spent": by_hand["captured"] - by_hand["refunded_total"],
        }
    ]
    played = [  # up to the position the answer reflects: the sim may play on meanwhile
        e
        async for c in service.services.kernel.log.events.read_all(channel="lobby")
        if c.position <= viewers["position"]
        for e in c.commit.events
        if type(e).__name__ == "PayItemPlaying"
    ]
    assert viewers["viewers"][0]["played"] == len(played)
