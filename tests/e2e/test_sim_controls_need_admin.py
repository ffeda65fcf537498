"""The simulator's controls are writes: anyone could once make a buyer "leave" (and so be
refunded), skip a paid item, or jump the clock a week (2,832 commits). Now they need an admin's
token; reading the simulated channel stays open, like the queue."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Running
from tests.e2e.test_http_and_live import caught_up
from tests.e2e.test_pay_to_play import bearer

CONTROLS = [
    ("POST", "/api/v1/sim/lobby/media", {"media_type": "yt", "media_id": "x1", "title": "x"}),
    ("DELETE", "/api/v1/sim/lobby/media/1", None),
    ("POST", "/api/v1/sim/lobby/media/1/move", {"after": "append"}),
    ("POST", "/api/v1/sim/lobby/skip", None),
    ("POST", "/api/v1/sim/lobby/users", {"name": "mallory"}),
    ("DELETE", "/api/v1/sim/lobby/users/alice", None),
    ("PUT", "/api/v1/sim/lobby/users/alice/afk", {"afk": True}),
    ("POST", "/api/v1/sim/lobby/clock/advance", {"seconds": 604800}),
    ("POST", "/api/v1/sim/lobby/faults", {"unavailable": 3}),
]


@pytest.mark.parametrize(("method", "path", "body"), CONTROLS, ids=[c[1][18:] for c in CONTROLS])
@pytest.mark.parametrize("who", ["nobody", "viewer", "blessed"])
async def test_a_control_without_an_admin_token_is_refused_and_changes_nothing(
    service: Running, method: str, path: str, body: object, who: str
) -> None:
    await caught_up(service)
    headers = {} if who == "nobody" else bearer(service, who, who)
    before = await service.services.kernel.log.events.head()
    clock = service.services.kernel.clock.now()
    r = await service.http.request(method, path, json=body, headers=headers)
    assert r.status_code == (401 if who == "nobody" else 403), r.text
    assert r.json()["error"]["code"] in ("missing_token", "insufficient_role")
    assert await service.services.kernel.log.events.head() == before
    assert (service.services.kernel.clock.now() - clock).total_seconds() < 3600


async def test_an_admin_may_and_anyone_may_look(service: Running) -> None:
    await caught_up(service)
    assert (await service.http.get("/api/v1/sim/lobby")).status_code == 200
    r = await service.http.post(
        "/api/v1/sim/lobby/users", json={"name": "alice"}, headers=bearer(service, "boss", "admin")
    )
    assert r.status_code == 204, r.text
