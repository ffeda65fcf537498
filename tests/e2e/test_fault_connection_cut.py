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
from collections.abc import AsyncIterator, Callable
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


DISCONNECTED = {
    "not connected to NATS (reconnecting)",
    "the connection to NATS dropped before the append was acked",
}


class Burst:
    """Queue and delete items on a channel as fast as they are accepted, and cut the connection
    itself once `cut_at` observations are in: mid-burst by count, not by a guess of time."""

    def __init__(
        self, svc: Running, channel: str, count: int, cut_at: int, cut: Callable[[], None]
    ):
        self.svc, self.channel, self.count, self.cut_at, self._cut = (
            svc,
            channel,
            count,
            cut_at,
            cut,
        )
        self.outcomes: list[str] = []  # "recorded" or "refused", in order
        self.reasons: list[str] = []  # what each refusal said
        self.cut_after: int | None = None  # how many outcomes there were when it was cut

    async def run(self) -> None:
        for n in range(self.count):
            uid = 10_000 + n
            media = Media("yt", f"cut{n}", "clip", 60)
            for observation in (ObserveItemQueued(uid, media), ObserveItemDeleted(uid)):
                if self.cut_after is None and self.outcomes.count("recorded") >= self.cut_at:
                    self.cut_after = len(self.outcomes)
                    self._cut()
                try:
                    await self.svc.services.cytube.observer.record(self.channel, observation)
                    self.outcomes.append("recorded")
                except StoreUnavailable as exc:
                    self.outcomes.append("refused")
                    self.reasons.append(str(exc))
                    await asyncio.sleep(0.01)

    @property
    def recorded(self) -> int:
        return self.outcomes.count("recorded")

    @property
    def refused(self) -> int:
        return self.outcomes.count("refused")


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
        allow_open_nats=True,  # the session's test server has no users
    ) as svc:
        head_before = await svc.services.kernel.log.events.head()
        burst = Burst(svc, "other", BURST, cut_at=BURST // 3, cut=relay.cut)
        await asyncio.wait_for(burst.run(), 60)
        assert burst.cut_after is not None, "the burst ended before it was cut"
        before, after = burst.outcomes[: burst.cut_after], burst.outcomes[burst.cut_after :]
        # Mid-burst: all went in before the cut; some were refused after it (and said so:
        # StoreUnavailable, nothing else); and the burst went on recording once reconnected.
        assert set(before) == {"recorded"} and len(before) >= BURST // 3
        assert "refused" in after, "nothing was refused: the cut came too late to matter"
        assert after[-1] == "recorded" and after.count("recorded") > 0
        # Refused because the connection was down, said at once: never left to time out.
        assert burst.reasons and all(r in DISCONNECTED for r in burst.reasons), burst.reasons
        assert svc.services.kernel.log.nc.stats["reconnects"] >= 1
        # What was refused may or may not have landed (as after a timeout); what was recorded
        # did, once each, except a delete whose add was refused and did not land (a no-op).
        log = svc.services.kernel.log.events
        appended = [c async for c in log.read_all(head_before, "other")]
        low, high = burst.recorded - burst.refused, burst.recorded + burst.refused
        assert low <= len(appended) <= high, (burst.recorded, burst.refused, len(appended))

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
        added = await svc.sim.post("/api/v1/sim/lobby/media", json=body)
        assert added.status_code == 201, added.text
        uid = added.json()["uid"]

        async def shown() -> bool:
            return any(i["uid"] == uid for i in (await queue(svc))["items"])

        await eventually(shown, "the item queued after the cut in the queue", within=20)
        print(f"burst: {burst.recorded} recorded, {burst.refused} refused after the cut")
