"""Back pressure: while a follower of the log lags, new commands wait, then are refused as busy.

A flood of commands once built a backlog of tens of thousands of commits behind the
projections (every live view stale by seconds) and then lost the NATS connection
(docs/performance.md). Now intake waits while the slowest follower is more than `max_lag`
commits behind, and refuses a command as busy (HTTP 503, NATS `busy`) if that lasts. Here a
follower of the service's own log tail stops taking commits, as an overwhelmed projection would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

from application.log.intake import IntakeConfig
from application.log.ports import StoredCommit
from tests.e2e.conftest import Running, serving
from tests.e2e.test_pay_to_play import balance, bearer

GRANTS = "/api/v1/channels/lobby/wallets/alice/grants"


async def test_commands_wait_for_a_lagging_follower_then_are_busy_and_change_nothing(
    tmp_path: Path,
) -> None:
    config = IntakeConfig(max_lag=3, wait_sec=0.3)
    async with serving(tmp_path / "data", sim_speed=0.001, intake=config) as svc:
        admin = bearer(svc, "boss", "admin")
        stuck = svc.services.kernel.tail.subscribe(
            after=await svc.services.kernel.log.events.head()
        )
        first = asyncio.ensure_future(anext(stuck))  # follows, takes one commit, then stops
        await asyncio.sleep(0.05)
        granted = 0
        for _ in range(20):  # each grant is a commit the stuck follower has yet to take
            r = await svc.http.post(GRANTS, json={"amount": 10}, headers=admin)
            if r.status_code != 201:
                break
            granted += 10
        await first
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        assert r.json()["error"]["code"] == "busy"
        assert granted >= 10 and svc.services.kernel.tail.lag() > config.max_lag
        reply = json.loads(
            await svc.commands.handle(
                "wq.cmd.lobby.grant",
                json.dumps({"token": admin_token(admin), "user": "alice", "amount": 10}).encode(),
            )
        )
        assert reply["ok"] is False and reply["error"]["code"] == "busy"
        # Reading never waits, and the refused grants changed nothing.
        assert (await svc.http.get("/api/v1/channels/lobby/queue")).status_code == 200
        assert await balance(svc, "alice", admin) == granted

        # The follower catches up: commands go through again.
        catching_up = asyncio.create_task(drain(stuck, svc))
        r = await svc.http.post(GRANTS, json={"amount": 10}, headers=admin)
        assert r.status_code == 201, r.text
        assert await balance(svc, "alice", admin) == granted + 10
        catching_up.cancel()
        await asyncio.gather(catching_up, return_exceptions=True)
        await stuck.aclose()  # type: ignore[attr-defined]


def admin_token(headers: dict[str, str]) -> str:
    return headers["authorization"].removeprefix("Bearer ")


async def drain(follower: AsyncIterator[StoredCommit], svc: Running) -> None:
    async for _ in follower:
        pass
