"""HTTP and WebSocket against a running service on the embedded default."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import websockets

from adapters.sim.demo import DEMO_PLAYLIST
from tests.e2e.conftest import Running


async def eventually(check: Callable[[], Awaitable[Any]], what: str, within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def queue(svc: Running) -> dict[str, Any]:
    response = await svc.http.get("/api/v1/channels/lobby/queue")
    assert response.status_code == 200
    return dict(response.json())


async def caught_up(svc: Running) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        health = (await svc.http.get("/health")).json()
        lag = health["projections"]["queue_shadow"]["lag"]
        return health if lag == 0 and health["log_head"] > 0 else None

    return dict(await eventually(check, "the projection to catch up"))


async def test_health_reports_the_log_and_projection_lag(service: Running) -> None:
    health = await caught_up(service)
    assert health["status"] == "ok" and health["log_connected"] is True
    assert health["version"] == "0.1.0"


async def test_the_demo_channel_queue_is_served_from_the_projection(service: Running) -> None:
    await caught_up(service)
    q = await queue(service)
    playing = q["now_playing"]["item"]
    titles = [playing["title"]] + [i["title"] for i in q["items"]]
    assert titles == [m.title for m in DEMO_PLAYLIST]
    # CyTube moves on 2 s after an item ends and starts the next at -3 s: 5 s between items.
    assert q["items"][0]["eta_sec"] == q["now_playing"]["remaining_sec"] + 5
    assert q["position"] == (await service.http.get("/health")).json()["log_head"]


async def test_media_queued_in_cytube_appears_in_the_shadow(service: Running) -> None:
    await caught_up(service)
    body = {"media_type": "yt", "media_id": "fakeNew01", "title": "New clip", "duration_sec": 90}
    response = await service.sim.post("/api/v1/sim/lobby/media", json=body)
    assert response.status_code == 201
    uid = response.json()["uid"]

    async def shown() -> bool:
        return any(i["uid"] == uid for i in (await queue(service))["items"])

    await eventually(shown, "the new item in the queue")
    last = (await queue(service))["items"][-1]
    assert (last["title"], last["kind"], last["media"]) == (
        "New clip",
        "content",
        {"type": "yt", "id": "fakeNew01"},
    )


async def test_the_live_socket_sends_the_queue_then_every_change(service: Running) -> None:
    await caught_up(service)
    async with websockets.connect(f"{service.ws}/api/v1/channels/lobby/live") as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert first["now_playing"]["item"]["title"] == DEMO_PLAYLIST[0].title
        advance = DEMO_PLAYLIST[0].duration_sec + 10
        sent = time.monotonic()
        response = await service.sim.post(
            "/api/v1/sim/lobby/clock/advance", json={"seconds": advance}
        )
        assert response.status_code == 204
        while True:
            state = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if state["now_playing"]["item"]["title"] == DEMO_PLAYLIST[1].title:
                break
        print(f"observation to screen: {1000 * (time.monotonic() - sent):.1f} ms")
        assert state["position"] > first["position"]


async def test_bad_input_is_refused_clearly_and_changes_nothing(service: Running) -> None:
    await caught_up(service)
    head = (await service.http.get("/health")).json()["log_head"]
    bad = [
        {"media_type": "yt", "title": "no id"},
        {"media_type": "yt", "media_id": "x", "duration_sec": -5},
        {"media_type": "YT!", "media_id": "x"},
        {"media_type": "yt", "media_id": "x", "pos": "middle"},
        {"media_type": "yt", "media_id": "x", "surprise": 1},
    ]
    for body in bad:
        response = await service.sim.post("/api/v1/sim/lobby/media", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_request"
    not_json = await service.sim.post(
        "/api/v1/sim/lobby/media", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    missing = await service.http.get("/api/v1/channels/nowhere/queue")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_channel"
    gone = await service.sim.delete("/api/v1/sim/lobby/media/9999")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "unknown_item"
    again = DEMO_PLAYLIST[3]
    duplicate = await service.sim.post(
        "/api/v1/sim/lobby/media", json={"media_type": again.type, "media_id": again.id}
    )
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "queue_fail"
    assert (await service.http.get("/health")).json()["log_head"] == head


async def test_openapi_schema_lists_the_api(service: Running) -> None:
    schema = (await service.http.get("/schema/openapi.json")).json()
    assert "/api/v1/channels/{channel}/queue" in schema["paths"]
    assert "/api/v1/sim/{channel}/media" in schema["paths"]


async def test_the_live_page_is_served(service: Running) -> None:
    page = await service.http.get("/")
    assert page.status_code == 200 and "/api/v1/channels/" in page.text and "lobby" in page.text
