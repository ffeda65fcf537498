"""NATS is the trust boundary: the service will not run on a server that lets anyone in.

Seen on an open embedded server: any local process appended a `CreditGranted` of 1,000,000
signed as an admin, copied every admin token off `wq.cmd.>`, purged the stream (health still
said ok), or answered `kryten.economy.command` first. Here the same attempts meet the service's
own embedded server, and the service refuses to start on an open one unless told it may.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats
import pytest

from adapters.nats.connection import OpenServer
from adapters.nats.credentials import CredentialsError
from adapters.nats.embedded_server import COMMANDS_INBOX, COMMANDS_USER
from entrypoints.cli.main import main
from entrypoints.config.settings import Settings
from entrypoints.serve import running
from tests.e2e.conftest import Running, command_client
from tests.e2e.test_http_and_live import caught_up
from tests.e2e.test_pay_to_play import bearer


async def test_the_service_refuses_an_open_nats_server(tmp_path: Path, open_broker: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", nats_url=open_broker, cytube="sim")
    with pytest.raises(OpenServer, match="without credentials"):
        async with running(settings):
            pass


async def test_told_it_may_the_service_runs_on_an_open_test_server(
    tmp_path: Path, open_broker: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        nats_url=open_broker,
        cytube="sim",
        economy="local",
        stream="OPENOK",
        allow_open_nats=True,
    )
    async with running(settings) as served:
        assert served.services.kernel.log.nc.is_connected


def test_the_cli_says_why_it_will_not_serve_on_an_open_server(
    tmp_path: Path, open_broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "--data-dir", str(tmp_path / "d"), "--nats-url", open_broker])
    assert code == 1
    assert "--allow-open-nats" in capsys.readouterr().err


async def test_credentials_in_the_url_are_refused(tmp_path: Path, open_broker: str) -> None:
    url = open_broker.replace("nats://", "nats://webqueue:hunter2@")
    settings = Settings(data_dir=tmp_path / "data", nats_url=url, allow_open_nats=True)
    with pytest.raises(CredentialsError, match="command line"):
        async with running(settings):
            pass


async def test_outsiders_and_command_clients_cannot_do_what_was_seen(service: Running) -> None:
    await caught_up(service)
    kernel = service.services.kernel
    url = kernel.log.url
    # No credentials: not even a connection.
    with pytest.raises(Exception, match="Authorization Violation"):
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0)

    denied: list[str] = []

    async def noted(exc: Exception) -> None:
        denied.append(str(exc))

    server = kernel.log.server
    assert server is not None
    guest = await nats.connect(
        url,
        inbox_prefix=COMMANDS_INBOX,
        error_cb=noted,
        **server.credentials(COMMANDS_USER).connect_options(),
    )
    head = await kernel.log.events.head()
    try:
        tokens = await guest.subscribe("wq.cmd.>")
        rogue = await guest.subscribe("kryten.economy.command")
        credit = {"type": "CreditGranted", "v": 1, "data": {"amount": 1_000_000}}
        await guest.publish("wq.ev.lobby.wallet.mallory", json.dumps(credit).encode())
        await guest.publish(f"$JS.API.STREAM.PURGE.{kernel.settings.stream}", b"")
        await guest.flush()
        # An admin's command, with its token, goes by: the guest must not see it.
        client = await command_client(service)
        try:
            admin = bearer(service, "boss", "admin")["authorization"].split()[1]
            reply = await client.request(
                "wq.cmd.lobby.get_queue", json.dumps({"token": admin}).encode(), timeout=5
            )
            assert json.loads(reply.data)["ok"] is True  # commands themselves still work
        finally:
            await client.close()
        for _ in range(100):
            if len(denied) >= 4:
                break
            await asyncio.sleep(0.05)
        for subject in ("wq.cmd.>", "kryten.economy.command", "wq.ev.lobby.wallet.mallory"):
            assert any(subject in d for d in denied), (subject, denied)
        assert any("purge" in d.lower() for d in denied), denied
        with pytest.raises(nats.errors.TimeoutError):
            await tokens.next_msg(timeout=0.2)
        with pytest.raises(nats.errors.TimeoutError):
            await rogue.next_msg(timeout=0.1)
    finally:
        await guest.close()
    assert await kernel.log.events.head() >= head  # nothing purged
    commits = [s async for s in kernel.log.events.read_all(after=0, channel="lobby")]
    assert not any(s.commit.stream.id == "mallory" for s in commits)
    assert commits and commits[0].position == 1  # the log starts where it started
    r = await service.http.get(
        "/api/v1/channels/lobby/wallets/mallory", headers=bearer(service, "boss", "admin")
    )
    assert r.json()["balance"] == 0


def test_the_data_dir_is_private(service: Running) -> None:
    data_dir = service.services.kernel.settings.data_dir
    assert data_dir.stat().st_mode & 0o077 == 0


async def test_health_says_so_when_the_log_was_purged(tmp_path: Path, open_broker: str) -> None:
    """On an open server (where anyone could) the stream was purged and /health said ok."""
    from tests.e2e.conftest import serving
    from tests.e2e.test_http_and_live import eventually

    async with serving(
        tmp_path / "data",
        nats_url=open_broker,
        cytube="sim",
        economy="local",
        allow_open_nats=True,
    ) as svc:
        await caught_up(svc)
        outsider = await nats.connect(open_broker)
        try:
            await outsider.jetstream().purge_stream(svc.services.kernel.settings.stream)
        finally:
            await outsider.close()

        async def flagged() -> dict[str, str] | None:
            body = (await svc.http.get("/health")).json()
            return body["parts"].get("log") if body["status"] != "ok" else None

        part = await eventually(flagged, "health to report the purged log", within=10)
        assert part["status"] == "down" and "purged" in part["detail"]
