"""A 4,100-character name once made nats-server drop our connection ("maximum control line
exceeded"); nats-py closed it for good and the service answered 503 until restarted. Names are
checked at the edge now, a closed connection is reopened, and a dead embedded nats-server is
started again, each by the service itself."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from adapters.nats.embedded_server import pid_alive
from tests.e2e.conftest import Running, serving
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_to_play import bearer

LONG = "a" * 4100


async def healthy(svc: Running) -> bool:
    r = await svc.http.get("/health")
    return r.status_code == 200 and r.json()["log_connected"]


async def granted(svc: Running, admin: dict[str, str], user: str = "alice") -> int:
    r = await svc.http.post(
        f"/api/v1/channels/lobby/wallets/{user}/grants", json={"amount": 10}, headers=admin
    )
    return r.status_code


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/api/v1/channels/{LONG}/wallets/alice/grants"),
        ("POST", f"/api/v1/channels/lobby/wallets/{LONG}/grants"),
        ("GET", f"/api/v1/channels/{LONG}/wallets/alice"),
        ("GET", f"/api/v1/channels/lobby/wallets/{LONG}"),
        ("GET", f"/api/v1/channels/{LONG}/queue"),
        ("GET", f"/api/v1/channels/{LONG}/pay-items/abcdefgh1"),
        ("DELETE", f"/api/v1/channels/{LONG}/pay-items/abcdefgh1"),
        ("DELETE", f"/api/v1/channels/{LONG}/lock"),
    ],
    ids=lambda v: v if len(v) < 10 else f"{v[:22]}...{v[-18:]}",
)
async def test_a_4100_character_name_is_refused_and_the_connection_lives_on(
    service: Running, method: str, path: str
) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    r = await service.http.request(method, path, headers=admin, json={"amount": 10})
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"]["code"] in ("invalid_channel", "invalid_user")
    assert service.services.kernel.log.nc.is_connected
    assert await granted(service, admin) == 201


@pytest.mark.parametrize("channel", ["LOBBY", "Lobby"])
async def test_a_channel_name_in_other_case_is_the_same_channel(
    service: Running, channel: str
) -> None:
    await caught_up(service)
    admin = bearer(service, "boss", "admin")
    r = await service.http.post(
        f"/api/v1/channels/{channel}/wallets/carol/grants", json={"amount": 7}, headers=admin
    )
    assert r.status_code == 201, r.text[:300]
    same = await service.http.get("/api/v1/channels/lobby/wallets/carol", headers=admin)
    assert same.json()["balance"] >= 7


@pytest.mark.parametrize("channel", ["lob.by", "lobby.*", "lobby.>", "lob by", "lob%2Eby"])
async def test_names_that_would_alias_a_channel_are_refused(service: Running, channel: str) -> None:
    admin = bearer(service, "boss", "admin")
    r = await service.http.post(
        f"/api/v1/channels/{channel}/wallets/dave/grants", json={"amount": 7}, headers=admin
    )
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"]["code"] == "invalid_channel"
    dave = await service.http.get("/api/v1/channels/lobby/wallets/dave", headers=admin)
    assert dave.json()["balance"] == 0


async def test_a_connection_closed_for_good_is_reopened(service: Running) -> None:
    """nats-py gives up on a connection the server ended with an error; the service does not."""
    await caught_up(service)
    nc = service.services.kernel.log.nc
    await nc.publish("wq.probe." + LONG, b"")  # the server ends the connection for this
    await eventually(lambda: _closed_once(service), "the connection to be closed by the server")
    await eventually(lambda: healthy(service), "the log to be connected again", within=20)
    admin = bearer(service, "boss", "admin")

    async def accepted() -> bool:
        return await granted(service, admin) == 201

    await eventually(accepted, "a grant to be accepted again", within=20)


async def _closed_once(svc: Running) -> bool:
    return svc.services.kernel.log.connection.reopened >= 1


async def test_a_dead_embedded_nats_server_is_started_again(service: Running) -> None:
    await caught_up(service)
    server = service.services.kernel.log.server
    assert server is not None and server.pid is not None
    first = server.pid
    os.kill(first, signal.SIGKILL)

    async def replaced() -> bool:
        return server.pid not in (None, first) and await healthy(service)

    await eventually(replaced, "a new nats-server and the log connected", within=30)
    admin = bearer(service, "boss", "admin")

    async def accepted() -> bool:
        return await granted(service, admin) == 201

    await eventually(accepted, "a grant to be accepted again", within=20)


async def test_a_service_whose_connection_was_closed_still_stops_its_nats_server(
    tmp_path: Path,
) -> None:
    """Seen: after the connection died, SIGTERM crashed the shutdown and orphaned nats-server."""
    async with serving(tmp_path / "data", sim_speed=1.0) as svc:
        await caught_up(svc)
        server = svc.services.kernel.log.server
        assert server is not None and server.pid is not None
        pid = server.pid
        await svc.services.kernel.log.nc.publish("wq.probe." + LONG, b"")
        await eventually(lambda: _is_closed(svc), "the server to close the connection")
    # The shutdown ran to its end: the embedded server is stopped, its state file gone.
    assert not pid_alive(pid)
    assert not (tmp_path / "data" / "nats" / "server.json").exists()


async def _is_closed(svc: Running) -> bool:
    return svc.services.kernel.log.nc.is_closed or svc.services.kernel.log.connection.reopened > 0
