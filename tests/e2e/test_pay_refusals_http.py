"""What pay-to-play refuses over HTTP, and that a refusal changes nothing: another viewer's
purchase (`not_yours`), a lock that cannot be (`invalid_lock`), a purchase that has played
(`already_played`). "Nothing changed" is read from the log: no commit after the refusals is
the refused caller's, nor about the purchase (the channel itself plays on meanwhile)."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Running
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_to_play import balance, bearer, buy, joins, settled

C = "/api/v1/channels/lobby"


async def head(svc: Running) -> int:
    return await svc.services.kernel.log.events.head()


async def since(svc: Running, position: int, *actors: str, about: str = "") -> list[str]:
    """Commits after `position` made by one of `actors`, or with an event about `about`."""
    found = []
    async for stored in svc.services.kernel.log.events.read_all(position):
        commit = stored.commit
        mentions = about and any(getattr(e, "request_id", None) == about for e in commit.events)
        if commit.actor in actors or mentions:
            found.append(
                f"{stored.position} {commit.actor} {[type(e).__name__ for e in commit.events]}"
            )
    return found


def code(r: Any) -> str | None:
    body = r.json() if r.content else None
    return (body.get("error") or {}).get("code") if isinstance(body, dict) else None


async def test_a_viewer_can_neither_read_nor_cancel_another_viewers_purchase(
    service: Running,
) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    alice, vic = bearer(service, "alice", "viewer"), bearer(service, "vic", "viewer")
    await joins(service, "alice")
    granted = await service.http.post(
        f"{C}/wallets/alice/grants", json={"amount": 5000}, headers=admin
    )
    assert granted.status_code == 201, granted.text
    rid = await buy(service, alice, "notYours1", "queue")
    mine = await settled(service, rid, alice, ("positioned",))
    paid = await balance(service, "alice", alice)
    before = await head(service)

    read = await service.http.get(f"{C}/pay-items/{rid}", headers=vic)
    assert (read.status_code, code(read)) == (403, "not_yours"), read.text
    assert "notYours1" not in read.text and "alice" not in read.text  # nothing of it shown
    cancel = await service.http.delete(f"{C}/pay-items/{rid}", headers=vic)
    assert (cancel.status_code, code(cancel)) == (403, "not_yours"), cancel.text

    assert await since(service, before, "vic", about=rid) == []  # the refusals changed nothing
    own = await service.http.get(f"{C}/pay-items/{rid}", headers=alice)
    assert own.status_code == 200 and own.json()["status"] == mine["status"] == "positioned"
    as_admin = await service.http.get(f"{C}/pay-items/{rid}", headers=admin)
    assert as_admin.status_code == 200 and as_admin.json()["user"] == "alice"
    assert await balance(service, "alice", alice) == paid


async def test_a_lock_without_a_label_or_ending_in_the_past_is_refused(service: Running) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    before = await head(service)
    for body in (
        {"label": "   "},
        {"label": "Movie night", "until": "2000-01-01T00:00:00Z"},
    ):
        r = await service.http.post(f"{C}/lock", json=body, headers=admin)
        assert (r.status_code, code(r)) == (422, "invalid_lock"), (body, r.text)
    assert await since(service, before, "boss") == []
    queue = (await service.http.get(f"{C}/queue")).json()
    assert not queue.get("lock"), queue


async def test_a_purchase_that_has_played_is_neither_cancelled_nor_refunded(
    service: Running,
) -> None:
    await caught_up(service)
    admin, ann = bearer(service, "boss", "admin"), bearer(service, "ann", "viewer")
    await joins(service, "ann")
    granted = await service.http.post(
        f"{C}/wallets/ann/grants", json={"amount": 5000}, headers=admin
    )
    assert granted.status_code == 201, granted.text
    rid = await buy(service, ann, "playedOne", "playnext")
    await settled(service, rid, ann, ("positioned",))
    skipped = await service.sim.post("/api/v1/sim/lobby/skip")  # it plays next ...
    assert skipped.status_code == 204, skipped.text
    await settled(service, rid, ann, ("playing",))
    skipped = await service.sim.post("/api/v1/sim/lobby/skip")  # ... and is skipped past
    assert skipped.status_code == 204, skipped.text
    await settled(service, rid, ann, ("played",))
    kept = await balance(service, "ann", ann)
    assert kept == 5000 - 250

    async def quiet() -> bool:
        return service.services.pay.flow.in_flight == 0

    await eventually(quiet, "the pay flow to be done with it")
    before = await head(service)
    for who in (ann, admin):
        r = await service.http.delete(f"{C}/pay-items/{rid}", headers=who)
        assert (r.status_code, code(r)) == (409, "already_played"), r.text
    assert await since(service, before, "ann", "boss", about=rid) == []
    status = (await service.http.get(f"{C}/pay-items/{rid}", headers=ann)).json()
    assert (status["status"], status["refunded"]) == ("played", 0)
    assert await balance(service, "ann", ann) == kept
