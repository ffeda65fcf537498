"""The service's connection to NATS is cut in the middle of a burst; it carries on by itself.

This is what nats-server does to a client it judges a slow consumer, and what a dropped line
does: the server stays up, our connection goes. The service reaches the session's nats-server
through a TCP relay of the test's own, which cuts every connection through it mid-burst.
Afterwards, with nobody's help: /health is ok, every projection follows the log to its head
again, a command is accepted, and a change in CyTube after the cut reaches the queue.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from application.log.ports import StoreUnavailable
from domain.media import Media
from domain.queue.commands import ObserveItemDeleted, ObserveItemQueued
from tests.e2e.conftest import Running, serving
from tests.e2e.test_http_and_live import eventually, queue
from tests.e2e.test_pay_to_play import bearer
from tests.relay import Relay

BURST = 300


@pytest.fixture
async def relay(nats_url: str) -> AsyncIterator[Relay]:
    relay = Relay(nats_url)
    await relay.start()
    yield relay
    await relay.close()


async def burst(svc: Running, channel: str, count: int) -> tuple[int, int]:
    """Queue and delete items on `channel` as fast as they are accepted: (recorded, refused)."""
    recorded = refused = 0
    for n in range(count):
        uid = 10_000 + n
        media = Media("yt", f"cut{n}", "clip", 60)
        for observation in (ObserveItemQueued(uid, media), ObserveItemDeleted(uid)):
            try:
                await svc.services.cytube.observer.record(channel, observation)
                recorded += 1
            except StoreUnavailable:
                refused += 1
                await asyncio.sleep(0.01)
    return recorded, refused


async def test_the_service_carries_on_by_itself_after_its_connection_is_cut(
    tmp_path: Path, relay: Relay
) -> None:
    async with serving(
        tmp_path / "data",
        nats_url=relay.url,
        cytube="sim",
        economy="local",
        stream=f"CUT{uuid.uuid4().hex[:10].upper()}",
        sim_speed=0.001,
    ) as svc:
        flooding = asyncio.create_task(burst(svc, "other", BURST))
        await asyncio.sleep(0.3)
        relay.cut()
        recorded, refused = await asyncio.wait_for(flooding, 60)
        assert recorded > 0 and svc.services.kernel.log.nc.stats["reconnects"] >= 1

        async def healthy() -> bool:
            r = await svc.http.get("/health")
            return r.status_code == 200 and r.json()["status"] == "ok"

        await eventually(healthy, "health to be ok again", within=20)
        admin = bearer(svc, "boss", "admin")
        grant = await svc.http.post(
            "/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 10}, headers=admin
        )
        assert grant.status_code == 201, grant.text

        head = await svc.services.kernel.log.events.head()

        async def followed() -> bool:
            return all(r.position >= head for r in svc.services.runners)

        await eventually(followed, "every projection to reach the log's head", within=20)
        body = {"media_type": "yt", "media_id": "afterCut1", "title": "After", "duration_sec": 90}
        added = await svc.http.post("/api/v1/sim/lobby/media", json=body)
        assert added.status_code == 201, added.text
        uid = added.json()["uid"]

        async def shown() -> bool:
            return any(i["uid"] == uid for i in (await queue(svc))["items"])

        await eventually(shown, "the item queued after the cut in the queue", within=20)
        print(f"burst: {recorded} recorded, {refused} refused while cut")
