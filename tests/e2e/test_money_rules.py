"""The money rules of issue 12, each as it was broken: an old request id reused, a length lied
about, a purchase cancelled before it was paid for; and the audit that sees all of them."""

from __future__ import annotations

from typing import Any

import pytest

from domain.queue import pay_evolve
from tests.e2e.conftest import Running
from tests.e2e.test_http_and_live import caught_up
from tests.e2e.test_pay_to_play import balance, bearer, joins, settled

PAY = "/api/v1/channels/lobby/pay-items"


async def granted(svc: Running, user: str, amount: int) -> dict[str, str]:
    await joins(svc, user)
    r = await svc.http.post(
        f"/api/v1/channels/lobby/wallets/{user}/grants",
        json={"amount": amount},
        headers=bearer(svc, "boss", "admin"),
    )
    assert r.status_code == 201, r.text
    return bearer(svc, user, "viewer")


def body(media_id: str, **extra: Any) -> dict[str, Any]:
    return {"media_type": "yt", "media_id": media_id, "duration_sec": 300, **extra}


async def test_a_request_id_is_used_once_for_ever_however_long_ago(
    service: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The queue forgets finished purchases beyond its latest few; here beyond the latest one.
    monkeypatch.setattr(pay_evolve, "KEEP_FINISHED", 1)
    await caught_up(service)
    ann = await granted(service, "ann", 1000)
    admin = bearer(service, "boss", "admin")
    for n, rid in enumerate(("old-purchase-1", "later-purchase-2")):
        r = await service.http.post(PAY, json=body(f"reuse{n}", request_id=rid), headers=ann)
        assert r.status_code == 202, r.text
        await settled(service, rid, ann)
        r = await service.http.delete(f"{PAY}/{rid}", headers=admin)
        assert r.status_code == 202, r.text
        await settled(service, rid, ann, want=("refunded",))
    assert await balance(service, "ann", ann) == 1000
    queue = await service.services.pay.service._state("lobby")
    assert queue.pay_item("old-purchase-1") is None, "the queue still remembers it"

    # A 1,000-coin feature with a refunded purchase's id: refused, nothing taken.
    feature = body("feature1", request_id="old-purchase-1", duration_sec=97 * 60)
    r = await service.http.post(PAY, json=feature, headers=ann)
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "request_id_used" and error["status"] == "refunded", error
    assert error["status_url"].endswith("/old-purchase-1")
    # The same purchase again, and the later one, the same way; and over NATS alike.
    for rid, media in (("old-purchase-1", "reuse0"), ("later-purchase-2", "reuse1")):
        r = await service.http.post(PAY, json=body(media, request_id=rid), headers=ann)
        assert r.status_code == 409 and r.json()["error"]["status"] == "refunded", r.text
    assert await balance(service, "ann", ann) == 1000
    status = await service.http.get(f"{PAY}/old-purchase-1", headers=ann)
    assert status.json()["media_id"] == "reuse0" and status.json()["status"] == "refunded"


async def test_a_reuse_by_someone_else_or_while_in_flight_is_refused_with_its_status(
    service: Running,
) -> None:
    await caught_up(service)
    ann = await granted(service, "ann", 1000)
    bob = await granted(service, "bob", 1000)
    r = await service.http.post(PAY, json=body("inflight1", request_id="shared-id-1"), headers=ann)
    assert r.status_code == 202, r.text
    r = await service.http.post(PAY, json=body("inflight2", request_id="shared-id-1"), headers=bob)
    assert r.status_code == 409 and r.json()["error"]["code"] == "request_id_used", r.text
    await settled(service, "shared-id-1", ann)
    r = await service.http.post(PAY, json=body("inflight1", request_id="shared-id-1"), headers=ann)
    assert r.status_code == 409 and r.json()["error"]["status"] == "positioned", r.text
    assert await balance(service, "bob", bob) == 1000
    assert await balance(service, "ann", ann) == 750


async def test_the_buyer_names_the_media_only(service: Running) -> None:
    await caught_up(service)
    ann = await granted(service, "ann", 1000)
    r = await service.http.post(PAY, json=body("titled1", title="Mine now"), headers=ann)
    assert r.status_code == 400 and r.json()["error"]["code"] == "title_not_accepted", r.text
    service.services.cytube.simulator.know_media("yt", "named1", "The real title", 240)
    r = await service.http.post(PAY, json=body("named1"), headers=ann)
    assert r.status_code == 202, r.text
    status = await settled(service, r.json()["request_id"], ann)
    assert status["title"] == "The real title" and status["duration_sec"] == 240, status
    assert await balance(service, "ann", ann) == 750


async def test_a_length_lied_about_is_charged_in_full_or_undone(service: Running) -> None:
    await caught_up(service)
    sim = service.services.cytube.simulator
    sim.know_media("yt", "long1", "A long one", 1800)  # 30 min: 500, not 250
    sim.know_media("yt", "long2", "Another long one", 1800)
    ann = await granted(service, "ann", 800)
    r = await service.http.post(PAY, json=body("long1", duration_sec=60), headers=ann)
    assert r.status_code == 202, r.text
    first = await settled(service, r.json()["request_id"], ann)
    assert first["status"] == "positioned" and first["cost"] == 500, first
    assert "PaymentToppedUp" in [h["type"] for h in first["history"]]
    assert await balance(service, "ann", ann) == 300

    # 300 left: the 250 of the lie is taken, the 250 more is not there: undone in full.
    r = await service.http.post(PAY, json=body("long2", duration_sec=60), headers=ann)
    assert r.status_code == 202, r.text
    second = await settled(service, r.json()["request_id"], ann, want=("refunded",))
    assert second["cancel_reason"] == "underpaid" and second["refunded"] == 250, second
    assert "30:00" in (second["cancel_detail"] or ""), second
    assert await balance(service, "ann", ann) == 300
    ids = [i.media.id for i in sim.playlist()]
    assert "long1" in ids and "long2" not in ids

    audit = await service.http.get("/api/v1/admin/audit", headers=bearer(service, "boss", "admin"))
    assert audit.status_code == 200, audit.text
    report = audit.json()
    assert report["ok"] is True, report["findings"]
    by_id = {p["request_id"]: p for p in report["purchases"]}
    assert by_id[first["request_id"]]["captured"] == 500
    assert by_id[first["request_id"]]["wallet_debited"] == 500
    assert by_id[second["request_id"]]["kept"] == 0
