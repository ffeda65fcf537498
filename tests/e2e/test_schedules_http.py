"""Scheduled events over HTTP against the running service: create in the channel's wall time,
list and the coming week, overlap refused (409, both named), bad input 4xx changing nothing,
fire now with the event lock refusing pay-to-play (423, kind event) and saying so in the
preview, the admin lifting it, and viewers kept out."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from tests.e2e.conftest import Running
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_to_play import bearer, joins
from tests.e2e.test_playlists_http import BASE, item

SCHEDULES = f"{BASE}/schedules"


async def _playlist(service: Running, admin: dict[str, str], name: str) -> str:
    for n in (1, 2):  # two: the event lock lifts when the last one begins
        service.services.cytube.simulator.know_media("yt", f"ev{n}", f"Event {n}", 300)
    made = await service.http.post(
        f"{BASE}/playlists",
        json={"name": name, "items": [item("ev1", 300), item("ev2", 300)]},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    return str(made.json()["playlist_id"])


async def test_schedules_over_http(service: Running) -> None:
    await caught_up(service)
    admin, viewer = bearer(service, "boss", "admin"), bearer(service, "alice", "viewer")
    pid = await _playlist(service, admin, "Movie night")
    start = service.services.kernel.clock.now() + timedelta(days=1)
    body: dict[str, Any] = {
        "playlist_id": pid,
        "label": "Movie night",
        "fire_at": start.strftime("%Y-%m-%dT%H:%M:%S"),  # no offset: the channel's zone (UTC)
        "rrule": "FREQ=WEEKLY",
    }
    assert (await service.http.post(SCHEDULES, json=body, headers=viewer)).status_code == 403
    made = await service.http.post(SCHEDULES, json=body, headers=admin)
    assert made.status_code == 201, made.text
    first = made.json()
    assert first["lock_minutes"] == 15 and first["duration_sec"] == 600
    assert first["next_at"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))

    clash = await service.http.post(
        SCHEDULES, json={**body, "label": "Quiz", "rrule": None}, headers=admin
    )
    assert clash.status_code == 409, clash.text
    error = clash.json()["error"]
    assert error["code"] == "schedule_overlap" and "Quiz" in error["message"]
    assert error["other"]["label"] == "Movie night"
    for bad in ({**body, "rrule": "FREQ=SOMETIMES"}, {**body, "fire_at": "soon-ish-later"}):
        r = await service.http.post(SCHEDULES, json={**bad, "label": "Other"}, headers=admin)
        assert r.status_code in (400, 422), r.text
    listed = (await service.http.get(SCHEDULES, headers=admin)).json()
    assert [s["label"] for s in listed["schedules"]] == ["Movie night"]
    week = (await service.http.get(f"{SCHEDULES}/upcoming", headers=admin)).json()
    assert len(week["occurrences"]) == 1
    assert (
        (await service.http.get(f"{SCHEDULES}/upcoming?days=15", headers=admin))
        .json()["occurrences"][1]["fire_at"]
        .startswith((start + timedelta(days=7)).strftime("%Y-%m-%d"))
    )

    sid = first["schedule_id"]
    fired = await service.http.post(f"{SCHEDULES}/{sid}/fire", headers=admin)
    assert fired.status_code == 202, fired.text
    assert fired.json()["manual"] is True

    await joins(service, "alice")

    async def locked() -> dict[str, Any] | None:
        r = await service.http.get(
            f"{BASE}/pay-items/preview",
            params={"media_type": "yt", "media_id": "zz1", "duration_sec": 60, "tier": "queue"},
            headers=viewer,
        )
        lock = r.json().get("lock")
        return lock if lock and lock.get("kind") == "event" else None

    lock = await eventually(locked, "the event lock", within=20)
    public = (await service.http.get(f"{SCHEDULES}/status")).json()  # anyone, for the banner
    assert public["lock"]["kind"] == "event" and public["lock"]["label"] == "Movie night"
    assert public["next"]["label"] == "Movie night"  # the weekly one is still armed
    assert lock["label"] == "Movie night" and lock["estimated_end_at"]
    bought = await service.http.post(
        f"{BASE}/pay-items",
        json={"media_type": "yt", "media_id": "zz1", "duration_sec": 60, "tier": "queue"},
        headers=viewer,
    )
    assert bought.status_code == 423, bought.text
    assert bought.json()["error"]["kind"] == "event"

    lifted = await service.http.post(f"{SCHEDULES}/lift", headers=admin)
    assert lifted.status_code == 201 and lifted.json()["finish_reason"] == "admin"

    async def open_again() -> bool | None:
        r = await service.http.get(
            f"{BASE}/pay-items/preview",
            params={"media_type": "yt", "media_id": "zz1", "duration_sec": 60, "tier": "queue"},
            headers=viewer,
        )
        lock = r.json().get("lock")
        return True if not lock or lock.get("kind") != "event" else None

    await eventually(open_again, "the lock lifted", within=20)
    off = await service.http.patch(f"{SCHEDULES}/{sid}", json={"active": False}, headers=admin)
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await service.http.delete(f"{SCHEDULES}/{sid}", headers=admin)).status_code == 204
    assert (await service.http.delete(f"{SCHEDULES}/{sid}", headers=admin)).status_code == 404


def asker(service: Running) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A schedule command over the service's NATS command subjects, and its reply."""
    nc = service.services.kernel.log.nc

    async def ask(command: str, **body: Any) -> dict[str, Any]:
        reply = await nc.request(f"wq.cmd.lobby.{command}", json.dumps(body).encode(), timeout=10)
        return dict(json.loads(reply.data))

    return ask


async def test_schedules_over_nats(service: Running) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    pid = await _playlist(service, admin, "Quiz night")
    token = admin["authorization"].split()[1]
    viewer = bearer(service, "ann", "viewer")["authorization"].split()[1]
    ask = asker(service)

    at = (service.services.kernel.clock.now() + timedelta(days=2)).isoformat()
    made = await ask("create_schedule", token=token, playlist_id=pid, label="Quiz", fire_at=at)
    assert made["ok"] is True and made["label"] == "Quiz", made
    again = await ask("create_schedule", token=token, playlist_id=pid, label="Two", fire_at=at)
    assert again["ok"] is False and again["error"]["code"] == "schedule_overlap"
    assert again["error"]["other"]["label"] == "Quiz"
    bad = await ask("create_schedule", token=token, playlist_id=pid, label="x", fire_at=at, no=1)
    assert bad["error"]["code"] == "invalid_request"
    refused = await ask("list_schedules", token=viewer)
    assert refused["ok"] is False
    listed = await ask("list_schedules", token=token)
    assert [s["label"] for s in listed["schedules"]] == ["Quiz"]
    week = await ask("upcoming_schedules", token=token, days=3)
    assert [o["label"] for o in week["occurrences"]] == ["Quiz"]
    off = await ask(
        "set_schedule_active", token=token, schedule_id=made["schedule_id"], active=False
    )
    assert off["active"] is False
    gone = await ask("delete_schedule", token=token, schedule_id=made["schedule_id"])
    assert gone == {"ok": True, "deleted": made["schedule_id"]}


async def test_editing_a_schedule_over_nats(service: Running) -> None:
    """`edit_schedule` changes the settings given and keeps the rest; an overlap, a stale
    version, a bad field or a viewer is refused with a structured error and appends nothing."""
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    pid = await _playlist(service, admin, "Quiz night")
    fallback = await _playlist(service, admin, "After party")
    token = admin["authorization"].split()[1]
    viewer = bearer(service, "ann", "viewer")["authorization"].split()[1]
    ask = asker(service)

    now = service.services.kernel.clock.now()
    made = await ask(
        "create_schedule",
        token=token,
        playlist_id=pid,
        label="Quiz",
        fire_at=(now + timedelta(days=2)).isoformat(),
    )
    other = await ask(
        "create_schedule",
        token=token,
        playlist_id=pid,
        label="Film",
        fire_at=(now + timedelta(days=4)).isoformat(),
    )
    assert made["ok"] and other["ok"], (made, other)
    sid = made["schedule_id"]
    wall = (now + timedelta(days=3)).replace(second=0, microsecond=0)
    edited = await ask(
        "edit_schedule",
        token=token,
        schedule_id=sid,
        expected_version=made["version"],
        label="Quiz, weekly",
        fire_at=wall.strftime("%Y-%m-%dT%H:%M"),  # no offset: the channel's zone (UTC)
        lock_minutes=30,
        fallback_playlist_id=fallback,
        rrule="FREQ=WEEKLY",
        immutable=False,
    )
    assert edited["ok"] is True, edited
    assert (edited["label"], edited["lock_minutes"], edited["rrule"]) == (
        "Quiz, weekly",
        30,
        "FREQ=WEEKLY",
    )
    assert edited["fallback_playlist_id"] == fallback and edited["immutable"] is False
    assert edited["next_at"].startswith(wall.strftime("%Y-%m-%dT%H:%M"))
    assert edited["playlist_id"] == pid and edited["version"] != made["version"]

    async def commits() -> int:
        return len([c async for c in service.services.kernel.log.events.read_all()])

    before = (await ask("list_schedules", token=token))["schedules"], await commits()
    refusals = {
        "schedule_overlap": {"fire_at": other["fire_at"]},
        "version_conflict": {"label": "Stale", "expected_version": made["version"]},
        "invalid_request": {"label": "x", "colour": "red"},
        "unknown_schedule": {"schedule_id": "nope", "label": "x"},
        "unknown_playlist": {"fallback_playlist_id": "nope"},
    }
    for code, change in refusals.items():
        refused = await ask("edit_schedule", **{"token": token, "schedule_id": sid, **change})
        assert refused["ok"] is False and refused["error"]["code"] == code, (code, refused)
        assert refused["error"]["message"], refused
    bad_rule = await ask("edit_schedule", token=token, schedule_id=sid, rrule="FREQ=SOMETIMES")
    assert bad_rule["ok"] is False and bad_rule["error"]["code"].startswith("invalid"), bad_rule
    overlap = (
        await ask("edit_schedule", token=token, schedule_id=sid, **refusals["schedule_overlap"])
    )["error"]
    assert overlap["other"]["label"] == "Film" and "Quiz, weekly" in overlap["message"]
    stale = await ask("edit_schedule", token=token, schedule_id=sid, expected_version="0" * 16)
    assert stale["error"]["current_version"] == edited["version"], stale
    assert (await ask("edit_schedule", token=viewer, schedule_id=sid, label="Mine"))["ok"] is False
    after = (await ask("list_schedules", token=token))["schedules"], await commits()
    assert after == before, "a refused edit changed nothing"
