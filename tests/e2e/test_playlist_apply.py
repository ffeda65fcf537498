"""Applying a saved playlist as its users meet it: over HTTP with progress by status and by
WebSocket, over NATS (`apply_playlist`, by name, through the service's own connection), a
second apply refused with the running one's id, and the modes a blessed user may use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import websockets

from application.playlists.apply import ApplyConfig
from tests.e2e.conftest import Running, serving
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_to_play import bearer, blessed
from tests.e2e.test_playlists_http import BASE, item


async def _saved(service: Running, who: dict[str, str], name: str, *ids: str) -> str:
    made = await service.http.post(
        f"{BASE}/playlists", json={"name": name, "items": [item(i, 120) for i in ids]}, headers=who
    )
    assert made.status_code == 201, made.text
    return str(made.json()["playlist_id"])


async def _queue_ids(service: Running) -> list[str]:
    """Now playing, then what follows, as the queue's JSON has them."""
    queue = (await service.http.get(f"{BASE}/queue")).json()
    playing = queue["now_playing"]
    first = [playing["item"]["media"]["id"]] if playing and playing["item"] else []
    return first + [i["media"]["id"] for i in queue["items"]]


async def _done(service: Running, who: dict[str, str], apply_id: str) -> dict[str, Any]:
    async def check() -> tuple[dict[str, Any]] | None:
        r = await service.http.get(f"{BASE}/playlist-applies/{apply_id}", headers=who)
        body = r.json()
        return (body,) if r.status_code == 200 and body["status"] != "running" else None

    (body,) = await eventually(check, f"apply {apply_id} to finish", within=20)
    return body


async def test_apply_over_http_with_progress_on_the_socket(service: Running) -> None:
    await caught_up(service)
    mod = await blessed(service, "mod")
    pid = await _saved(service, mod, "Night", "n1", "n2", "n3")
    modes = (await service.http.get(f"{BASE}/playlist-applies/modes", headers=mod)).json()
    assert [(m["mode"], m["allowed"]) for m in modes["modes"]] == [
        ("preserve_current", True),
        ("append", True),
        ("hard_replace", False),
    ]
    hard = await service.http.post(
        f"{BASE}/playlists/{pid}/apply", json={"mode": "hard_replace"}, headers=mod
    )
    assert hard.status_code == 403 and hard.json()["error"]["code"] == "mode_not_allowed"
    viewer = await service.http.post(
        f"{BASE}/playlists/{pid}/apply", json={}, headers=bearer(service, "ann", "viewer")
    )
    assert viewer.status_code == 403

    before = (await service.http.get(f"{BASE}/stats/", headers=mod)).json()["items_queued"]
    frames: list[dict[str, Any] | None] = []
    async with websockets.connect(f"{service.ws}{BASE}/playlist-applies/live") as ws:
        frames.append(json.loads(await ws.recv()))  # nothing applied yet: null
        started = await service.http.post(
            f"{BASE}/playlists/{pid}/apply", json={"mode": "append"}, headers=mod
        )
        assert started.status_code == 202, started.text
        apply_id = started.json()["apply_id"]
        again = await service.http.post(f"{BASE}/playlists/{pid}/apply", json={}, headers=mod)
        assert again.status_code == 409
        assert again.json()["error"]["running_apply_id"] == apply_id
        while True:
            frame = json.loads(await ws.recv())
            frames.append(frame)
            if frame and frame["apply_id"] == apply_id and frame["status"] == "done":
                break
    assert frames[0] is None
    progress = [f["queued"] for f in frames[1:] if f]
    assert progress == sorted(progress) and progress[-1] == 3 and len(set(progress)) > 1
    done = await _done(service, mod, apply_id)
    assert (done["queued"], done["failed"], done["mode"], done["by"]) == (3, 0, "append", "mod")

    async def in_order() -> tuple[list[str]] | None:
        # "queued" is CyTube's add reply; the queue shows an item once CyTube's own event for
        # it has been observed, a moment later.
        ids = await _queue_ids(service)
        at = ids.index("n1") if "n1" in ids else -1
        return (ids,) if at >= 0 and ids[at : at + 3] == ["n1", "n2", "n3"] else None

    await eventually(in_order, "the applied items in the queue, in order", within=10)

    async def counted() -> tuple[dict[str, Any]] | None:
        body = (await service.http.get(f"{BASE}/playlists/{pid}", headers=mod)).json()
        return (body,) if body["apply_count"] == 1 else None

    (stats,) = await eventually(counted, "the apply to be counted", within=10)
    assert stats["last_applied_at"]

    async def queued() -> tuple[int] | None:  # items an apply queued count as queued
        n = (await service.http.get(f"{BASE}/stats/", headers=mod)).json()["items_queued"]
        return (n,) if n >= before + 3 else None

    await eventually(queued, "the channel's stats to count the items queued", within=10)


async def test_apply_playlist_over_nats_by_name(service: Running) -> None:
    await caught_up(service)
    mod = await blessed(service, "mod")
    await _saved(service, mod, "Saturday Morning", "s1", "s2")
    token = bearer(service, "mod", "blessed")["authorization"].split()[1]
    nc = service.services.kernel.log.nc
    reply = await nc.request(
        "wq.cmd.lobby.apply_playlist",
        json.dumps({"token": token, "name": "saturday  MORNING", "mode": "append"}).encode(),
        timeout=10,
    )
    body = json.loads(reply.data)
    assert body["ok"] is True, body
    assert body["playlist_name"] == "Saturday Morning" and body["mode"] == "append"
    done = await _done(service, mod, body["apply_id"])
    assert done["queued"] == 2
    status = json.loads(
        (
            await nc.request(
                "wq.cmd.lobby.get_playlist_apply",
                json.dumps({"token": token, "apply_id": body["apply_id"]}).encode(),
                timeout=10,
            )
        ).data
    )
    assert status["ok"] and status["status"] == "done"
    for bad, code in (
        ({"token": token}, "invalid_request"),
        ({"token": token, "name": "nope"}, "unknown_playlist"),
        ({"token": token, "name": "Saturday Morning", "mode": "hard_replace"}, "mode_not_allowed"),
    ):
        answer = json.loads(
            (await nc.request("wq.cmd.lobby.apply_playlist", json.dumps(bad).encode())).data
        )
        assert answer["ok"] is False and answer["error"]["code"] == code, answer


async def test_hard_replace_for_blessed_only_with_the_flag(tmp_path: Path) -> None:
    config = ApplyConfig(playlist_bulk_add_delay_sec=0.1, hard_replace_for_blessed=True)
    async with serving(tmp_path / "data", sim_speed=1.0, playlists=config) as service:
        await caught_up(service)
        mod = await blessed(service, "mod")
        pid = await _saved(service, mod, "Takeover", "t1", "t2")
        started = await service.http.post(
            f"{BASE}/playlists/{pid}/apply", json={"mode": "hard_replace"}, headers=mod
        )
        assert started.status_code == 202, started.text
        done = await _done(service, mod, started.json()["apply_id"])
        assert done["queued"] == 2

        async def replaced() -> tuple[list[str]] | None:
            ids = await _queue_ids(service)
            return (ids,) if ids == ["t1", "t2"] else None

        await eventually(replaced, "the queue to be the playlist alone", within=10)
