"""Request rules over HTTP: a refusal explained before paying (the preview) and at the buy, no
money taken; a rule change by an admin taking effect on the next purchase, with no restart;
live validation naming the bad field; every change and every refusal in the log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from application.log.command_handler import CommandMeta
from application.log.streams import presence_stream
from domain.presence.model import ObserveRankChanged, presence_decider
from domain.rules.config import RulesConfig
from tests.e2e.conftest import Running, command_client, serving
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_refusals_http import code
from tests.e2e.test_pay_to_play import ask, balance, bearer, buy, joins, settled

C = "/api/v1/channels/lobby"


def item(media_id: str, minutes: int = 5, tier: str = "queue") -> dict[str, Any]:
    return {"media_type": "yt", "media_id": media_id, "duration_sec": minutes * 60, "tier": tier}


async def events_named(svc: Running, *names: str) -> list[Any]:
    return [
        e
        async for stored in svc.services.kernel.log.events.read_all(channel="lobby")
        for e in stored.commit.events
        if type(e).__name__ in names
    ]


async def test_a_refusal_by_rule_and_a_rule_change_taking_effect_live(service: Running) -> None:
    await caught_up(service)
    admin, alice = bearer(service, "boss", "admin"), bearer(service, "alice", "viewer")
    await joins(service, "alice")
    granted = await service.http.post(
        f"{C}/wallets/alice/grants", json={"amount": 5000}, headers=admin
    )
    assert granted.status_code == 201, granted.text

    rules = await service.http.get(f"{C}/rules", headers=alice)
    assert rules.status_code == 200 and rules.json()["max_pending_per_viewer"] == 2

    for media_id in ("ruleOne", "ruleTwo"):
        await settled(service, await buy(service, alice, media_id, "queue"), alice, ("positioned",))
    paid = await balance(service, "alice", alice)

    # Explained before paying: the preview names the rule, its number, and when it clears.
    preview = await service.http.get(
        f"{C}/pay-items/preview",
        params={"media_type": "yt", "media_id": "ruleThree", "duration_sec": 300},
        headers=alice,
    )
    body = preview.json()
    assert preview.status_code == 200 and body["available"] is False, body
    assert body["code"] == "rule_max_pending" and "limit is 2" in body["reason"]
    assert [r["code"] for r in body["refusals"]] == ["rule_max_pending"]
    assert (body["cost"], body["balance"]) == (250, paid)  # the price, shown though refused
    refused = await service.http.post(f"{C}/pay-items", json=item("ruleThree"), headers=alice)
    assert (refused.status_code, code(refused)) == (409, "rule_max_pending"), refused.text
    assert "clears" in refused.json()["error"]["message"]
    assert await balance(service, "alice", alice) == paid  # a refusal takes no money

    # Live validation: a bad value is named, and changes nothing.
    bad = await service.http.post(
        f"{C}/rules/check", json={"max_length_sec": 10, "min_length_sec": 60}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "max_length_sec", bad.text
    good = await service.http.post(
        f"{C}/rules/check", json={"max_pending_per_viewer": 3}, headers=admin
    )
    assert good.status_code == 200 and good.json()["max_pending_per_viewer"] == 3
    assert (await service.http.get(f"{C}/rules", headers=alice)).json()[
        "max_pending_per_viewer"
    ] == 2
    denied = await service.http.put(f"{C}/rules", json={"max_pending_per_viewer": 9}, headers=alice)
    assert denied.status_code == 403, denied.text

    # The change takes effect on the very next purchase: no restart.
    changed = await service.http.put(
        f"{C}/rules", json={"max_pending_per_viewer": 3, "cooldown_minutes": 30}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["cooldown_minutes"] == 30 and changed.json()["min_length_sec"] == 0
    preview = await service.http.get(
        f"{C}/pay-items/preview",
        params={"media_type": "yt", "media_id": "ruleThree", "duration_sec": 300},
        headers=alice,
    )
    body = preview.json()
    assert body["code"] == "rule_cooldown", body  # no longer the count: the new cooldown
    wait = body["refusals"][0]["wait_sec"]
    assert 0 < wait <= 30 * 60 and body["refusals"][0]["retry_at"]
    cooling = await service.http.post(f"{C}/pay-items", json=item("ruleThree"), headers=alice)
    assert (cooling.status_code, code(cooling)) == (429, "rule_cooldown"), cooling.text

    lifted = await service.http.put(f"{C}/rules", json={"cooldown_minutes": 0}, headers=admin)
    assert lifted.status_code == 200
    await buy(service, alice, "ruleThree", "queue")  # the third, under the new limit of 3

    changes = await events_named(service, "RulesChanged")
    assert [e.config.cooldown_minutes for e in changes] == [30, 0]
    refusals = await events_named(service, "RequestRefusedByRule")
    assert [(e.user, e.media_id, e.code) for e in refusals] == [
        ("alice", "ruleThree", "rule_max_pending"),
        ("alice", "ruleThree", "rule_cooldown"),
    ]

    async def counted() -> dict[str, int] | None:
        r = await service.http.get(f"{C}/stats/", headers=admin)
        found = r.json().get("refusals_by_rule") if r.status_code == 200 else None
        return found if found == {"rule_max_pending": 1, "rule_cooldown": 1} else None

    await eventually(counted, "refusals by rule in the stats")


async def test_fair_order_switched_on_is_a_fact_in_the_queues_log(service: Running) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    r = await service.http.put(f"{C}/rules", json={"fair_order": True}, headers=admin)
    assert r.status_code == 200 and r.json()["fair_order"] is True
    orders = await events_named(service, "QueueOrderSet")
    assert [(e.fair, e.by) for e in orders] == [(True, "boss")]
    state = await service.services.pay.service._state("lobby")
    assert state.fair_order is True


async def test_a_cytube_rank_at_the_minimum_is_exempt(service: Running) -> None:
    """The rank is CyTube's, as presence reports it: a moderator (2) in the channel skips the
    per-viewer count, a registered viewer (1) does not; the rank changing in CyTube changes it."""
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    r = await service.http.put(
        f"{C}/rules", json={"max_pending_per_viewer": 1, "exempt_min_rank": 2}, headers=admin
    )
    assert r.status_code == 200 and r.json()["exempt_min_rank"] == 2, r.text
    bad = await service.http.post(f"{C}/rules/check", json={"exempt_min_rank": 300}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "exempt_min_rank"
    facts = service.services.identity.facts
    for user, rank in (("mod", 2), ("reg", 1)):
        joined = await service.sim.post(
            "/api/v1/sim/lobby/users", json={"name": user, "rank": rank}
        )
        assert joined.status_code == 204, joined.text
        await service.http.post(f"{C}/wallets/{user}/grants", json={"amount": 5000}, headers=admin)

        async def seen(user: str = user, rank: float = rank) -> bool | None:
            return True if facts.rank("lobby", user) == rank else None

        await eventually(seen, f"{user}'s rank {rank} in the identity facts")
    mod, reg = bearer(service, "mod", "viewer"), bearer(service, "reg", "viewer")
    for media_id in ("rankA", "rankB"):  # two waiting: above the limit of 1, exempt
        await settled(service, await buy(service, mod, media_id, "queue"), mod, ("positioned",))
    await settled(service, await buy(service, reg, "rankC", "queue"), reg, ("positioned",))
    refused = await service.http.post(f"{C}/pay-items", json=item("rankD"), headers=reg)
    assert (refused.status_code, code(refused)) == (409, "rule_max_pending"), refused.text

    # CyTube makes reg a moderator (`setUserRank`): exempt from the next purchase on.
    await service.services.kernel.handler.handle(
        presence_decider,
        presence_stream("lobby"),
        ObserveRankChanged("reg", 2),
        CommandMeta.new("cytube"),
    )

    async def promoted() -> bool | None:
        return True if facts.rank("lobby", "reg") == 2 else None

    await eventually(promoted, "reg's new rank in the identity facts")
    await settled(service, await buy(service, reg, "rankD", "queue"), reg, ("positioned",))


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Running]:
    """The service with the request rules' defaults (the harness turns them off)."""
    async with serving(tmp_path / "data", sim_speed=1.0, rules=RulesConfig()) as svc:
        yield svc


@pytest.fixture
async def nc(service: Running) -> AsyncIterator[Client]:
    client = await command_client(service)
    yield client
    await client.close()


async def test_rules_over_nats_command_subjects(service: Running, nc: Client) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")["authorization"][7:]
    vic = bearer(service, "vic", "viewer")["authorization"][7:]
    got = await ask(nc, "get_rules", {"token": vic})
    assert got["ok"] and got["max_pending_per_viewer"] == 2, got
    denied = await ask(nc, "set_rules", {"token": vic, "max_pending_per_viewer": 5})
    assert denied["ok"] is False and denied["error"]["code"] == "insufficient_role", denied
    bad = await ask(nc, "set_rules", {"token": admin, "cooldown_minutes": -1})
    assert (
        bad["error"]["code"] == "invalid_config" and "cooldown_minutes" in bad["error"]["message"]
    )
    blocked = {"media_type": "yt", "media_id": "loud1", "reason": "too loud"}
    done = await ask(nc, "set_rules", {"token": admin, "blocked_media": [blocked]})
    assert done["ok"] and done["blocked_media"] == [blocked], done
    preview = await ask(
        nc,
        "preview_pay_item",
        {"token": vic, "media_type": "yt", "media_id": "loud1", "duration_sec": 60},
    )
    assert preview["code"] == "rule_media_blocked" and "too loud" in preview["reason"], preview
