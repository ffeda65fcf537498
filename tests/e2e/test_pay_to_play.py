"""Pay-to-play as users meet it: over HTTP and over NATS command subjects."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client

from tests.e2e.conftest import Running, command_client
from tests.e2e.test_http_and_live import caught_up, eventually


async def joins(svc: Running, user: str) -> None:
    """Buyers are in the channel (one who is not gets refunded after the grace period)."""
    r = await svc.sim.post("/api/v1/sim/lobby/users", json={"name": user})
    assert r.status_code == 204, r.text


def bearer(svc: Running, user: str, role: str) -> dict[str, str]:
    token, _ = svc.services.identity.signer.issue(
        user, role, ttl_sec=3600, now=svc.services.kernel.wall_clock.now()
    )
    return {"authorization": f"Bearer {token}"}


async def blessed(svc: Running, user: str) -> dict[str, str]:
    """A blessed user's bearer header: on the blessed list (put there by the admin), since a
    token's role is a ceiling and the list decides."""
    r = await svc.http.put(
        f"/api/v1/channels/lobby/blessed/{user}", headers=bearer(svc, "boss", "admin")
    )
    assert r.status_code == 200, r.text
    return bearer(svc, user, "blessed")


SETTLED = ("positioned", "playing", "declined", "refunded")


async def settled(
    svc: Running, rid: str, who: dict[str, str], want: tuple[str, ...] = SETTLED
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await svc.http.get(f"/api/v1/channels/lobby/pay-items/{rid}", headers=who)
        if r.status_code != 200:
            return None
        body = r.json()
        return body if body["status"] in want else None

    return dict(await eventually(check, f"purchase {rid} to settle", within=15))


async def buy(svc: Running, who: dict[str, str], media_id: str, tier: str, minutes: int = 5) -> str:
    body = {
        "media_type": "yt",
        "media_id": media_id,
        "duration_sec": minutes * 60,
        "tier": tier,
    }
    r = await svc.http.post("/api/v1/channels/lobby/pay-items", json=body, headers=who)
    assert r.status_code == 202, r.text
    assert r.json()["status_url"].endswith(r.json()["request_id"])
    return str(r.json()["request_id"])


async def balance(svc: Running, user: str, who: dict[str, str]) -> int:
    r = await svc.http.get(f"/api/v1/channels/lobby/wallets/{user}", headers=who)
    assert r.status_code == 200, r.text
    return int(r.json()["balance"])


async def test_buy_queue_and_playnext_over_http_then_an_admin_cancels(service: Running) -> None:
    await caught_up(service)
    admin, alice = bearer(service, "boss", "admin"), bearer(service, "alice", "viewer")
    await joins(service, "alice")
    grant = await service.http.post(
        "/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 5000}, headers=admin
    )
    assert grant.status_code == 201 and grant.json()["balance"] == 5000
    preview = await service.http.get(
        "/api/v1/channels/lobby/pay-items/preview",
        params={"media_type": "yt", "media_id": "q1", "duration_sec": 300, "tier": "queue"},
        headers=alice,
    )
    assert preview.json()["available"] is True and preview.json()["cost"] == 250

    queued = await buy(service, alice, "q1", "queue")
    await settled(service, queued, alice)
    nexted = await buy(service, alice, "n1", "playnext", minutes=20)
    status = await settled(service, nexted, alice)
    assert status["status"] == "positioned" and status["cost"] == 500
    steps = [h["type"] for h in status["history"]]
    assert steps[:3] == ["PayItemRequested", "PaymentStarted", "PaymentCaptured"]

    async def shown() -> list[Any] | None:
        items = (await service.http.get("/api/v1/channels/lobby/queue")).json()["items"]
        return items if items[1]["media"]["id"] == "q1" else None

    items = await eventually(shown, "both purchases in the shadow")
    assert [i["media"]["id"] for i in items[:2]] == ["n1", "q1"]
    assert items[0]["kind"] == "pay"
    assert items[0]["pay"] == {
        "request_id": nexted,
        "paid_by": "alice",
        "tier": "playnext",
        "cost": 500,
        "status": "positioned",
        "owner_away_reason": None,
        "owner_away_since": None,
        "cancels_at": None,
    }
    assert await balance(service, "alice", alice) == 5000 - 250 - 500

    cancel = await service.http.delete(f"/api/v1/channels/lobby/pay-items/{nexted}", headers=admin)
    assert cancel.status_code == 202
    refunded = await settled(service, nexted, alice, want=("refunded",))
    assert refunded["status"] == "refunded" and refunded["refunded"] == 500
    assert await balance(service, "alice", alice) == 5000 - 250
    sim_ids = [i.media.id for i in service.services.cytube.simulator.playlist()]
    assert "n1" not in sim_ids and "q1" in sim_ids


async def test_who_may_do_what(service: Running) -> None:
    await caught_up(service)
    alice, bob = bearer(service, "alice", "viewer"), bearer(service, "bob", "viewer")
    assert (await service.http.get("/api/v1/channels/lobby/wallets/alice")).status_code == 401
    assert (
        await service.http.get("/api/v1/channels/lobby/wallets/alice", headers=bob)
    ).status_code == 403
    grant = await service.http.post(
        "/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 5}, headers=alice
    )
    assert grant.status_code == 403 and grant.json()["error"]["code"] == "insufficient_role"
    bad = {"authorization": "Bearer not.a-token"}
    r = await service.http.get("/api/v1/channels/lobby/wallets/alice", headers=bad)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


async def test_a_poor_viewer_is_declined_and_nothing_is_added(service: Running) -> None:
    await caught_up(service)
    pauper = bearer(service, "pauper", "viewer")
    rid = await buy(service, pauper, "poor1", "queue")
    status = await settled(service, rid, pauper)
    assert status["status"] == "declined" and status["decline_code"] == "insufficient_balance"
    assert "poor1" not in [i.media.id for i in service.services.cytube.simulator.playlist()]


async def test_a_failure_injected_in_the_simulator_ends_in_a_refund(service: Running) -> None:
    await caught_up(service)
    admin, carol = bearer(service, "boss", "admin"), bearer(service, "carol", "viewer")
    await service.http.post(
        "/api/v1/channels/lobby/wallets/carol/grants", json={"amount": 1000}, headers=admin
    )
    r = await service.sim.post(
        "/api/v1/sim/lobby/faults", json={"fail_adds": 1, "transient": False}
    )
    assert r.status_code == 204
    rid = await buy(service, carol, "fails1", "queue")
    status = await settled(service, rid, carol)
    assert status["status"] == "refunded" and status["cancel_reason"] == "add_failed"
    assert await balance(service, "carol", carol) == 1000


async def test_a_locked_queue_refuses_with_what_and_until_when(service: Running) -> None:
    await caught_up(service)
    admin, alice = bearer(service, "boss", "admin"), bearer(service, "alice", "viewer")
    r = await service.http.post(
        "/api/v1/channels/lobby/lock", json={"label": "Movie night"}, headers=admin
    )
    assert r.status_code == 201 and r.json()["locked"] is True
    body = {"media_type": "yt", "media_id": "l1", "duration_sec": 60}
    refused = await service.http.post("/api/v1/channels/lobby/pay-items", json=body, headers=alice)
    assert refused.status_code == 423
    assert refused.json()["error"] == {
        "code": "queue_locked",
        "message": 'Pay-to-play is closed: "Movie night" until an admin reopens it.',
        "kind": "manual",  # a scheduled event's lock says pre_fire or event
        "label": "Movie night",
        "until": None,
    }
    assert (await service.http.delete("/api/v1/channels/lobby/lock", headers=admin)).json()[
        "locked"
    ] is False


@pytest.fixture
async def nc(service: Running) -> AsyncIterator[Client]:
    client = await command_client(service)
    yield client
    await client.close()


async def ask(nc: Client, command: str, body: Any, raw: bytes | None = None) -> dict[str, Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    reply = await nc.request(f"wq.cmd.lobby.{command}", data, timeout=5)
    return dict(json.loads(reply.data))


async def test_the_same_over_nats_command_subjects(service: Running, nc: Client) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")["authorization"][7:]
    dave = bearer(service, "dave", "viewer")["authorization"][7:]
    await joins(service, "dave")
    granted = await ask(nc, "grant", {"token": admin, "user": "dave", "amount": 2000})
    assert granted == {"ok": True, "user": "dave", "balance": 2000}
    accepted = await ask(
        nc,
        "request_pay_item",
        {
            "token": dave,
            "media_type": "yt",
            "media_id": "nats1",
            "duration_sec": 300,
            "tier": "playnext",
        },
    )
    assert accepted["ok"] is True
    rid = accepted["request_id"]

    async def positioned() -> dict[str, Any] | None:
        got = await ask(nc, "get_pay_item", {"token": dave, "request_id": rid})
        return got if got["ok"] and got["status"] == "positioned" else None

    await eventually(positioned, "the NATS purchase in place")
    assert (await ask(nc, "get_wallet", {"token": dave, "user": "dave"}))["balance"] == 1750
    queue = await ask(nc, "get_queue", {})
    assert queue["items"][0]["media"]["id"] == "nats1"
    cancelled = await ask(nc, "cancel_pay_item", {"token": admin, "request_id": rid})
    assert cancelled == {"ok": True, "request_id": rid, "status": "cancelling"}

    async def refunded() -> bool:
        return (await ask(nc, "get_wallet", {"token": dave, "user": "dave"}))["balance"] == 2000

    await eventually(refunded, "the refund")


async def test_malformed_nats_commands_get_structured_errors_and_append_nothing(
    service: Running, nc: Client
) -> None:
    await caught_up(service)
    token = bearer(service, "eve", "viewer")["authorization"][7:]
    head = await service.services.kernel.log.events.head()
    cases: list[tuple[str, Any, bytes | None, str]] = [
        ("request_pay_item", None, b"{not json", "invalid_request"),
        ("request_pay_item", None, b"[]", "invalid_request"),
        (
            "request_pay_item",
            {"token": token, "media_type": "yt", "media_id": 5, "duration_sec": 60},
            None,
            "invalid_request",
        ),
        (
            "request_pay_item",
            {"token": token, "media_type": "yt", "media_id": "x" * 5000, "duration_sec": 60},
            None,
            "invalid_request",
        ),
        (
            "request_pay_item",
            {"token": token, "media_type": "yt", "media_id": "ok", "duration_sec": -1},
            None,
            "invalid_request",
        ),
        (
            "request_pay_item",
            {"media_type": "yt", "media_id": "ok", "duration_sec": 60},
            None,
            "invalid_request",
        ),
        (
            "request_pay_item",
            {"token": "garbage", "media_type": "yt", "media_id": "ok", "duration_sec": 60},
            None,
            "invalid_token",
        ),
        (
            "request_pay_item",
            {"token": token, "media_type": "yt", "media_id": "ok", "duration_sec": 60, "extra": 1},
            None,
            "invalid_request",
        ),
        ("grant", {"token": token, "user": "eve", "amount": 10}, None, "insufficient_role"),
        ("get_pay_item", {"token": token, "request_id": "nope-nope"}, None, "unknown_request"),
        ("self_destruct", {}, None, "unknown_command"),
        ("request_pay_item", None, "💥ünïcødé".encode() * 3000, "invalid_request"),
    ]
    for command, body, raw, code in cases:
        reply = await ask(nc, command, body, raw)
        assert reply["ok"] is False and reply["error"]["code"] == code, (command, body, reply)
        assert reply["error"]["message"]
    assert await service.services.kernel.log.events.head() == head
