"""The sample nats-server config of docs/security.md, run as written (passwords and the store
replaced): the real service signs in as `webqueue` with `--nats-creds`, robot- and
economy-shaped peers as their own users, and every row of the doc's table of what each
credential may and may not do is checked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from adapters.kryten.economy import KrytenEconomy
from adapters.nats.embedded_server import find_nats_server_binary
from entrypoints.config.settings import Settings
from entrypoints.serve import Served, running
from tests.e2e.conftest import free_port
from tests.integration.kryten.test_kryten_inbound import body, packed

DOC = Path(__file__).resolve().parents[3] / "docs" / "security.md"
USERS = ("webqueue", "commands", "robot", "economy")
NAMES = {"robot": "kryten-robot", "economy": "kryten-economy"}


def sample_config() -> str:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"<!-- sample-config: begin -->\s*```\n(.*?)```", text, re.S)
    assert found, "docs/security.md lost its sample config"
    return found.group(1)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    passwords = {user: secrets.token_urlsafe(16) for user in USERS}
    config = sample_config()
    for user, password in passwords.items():
        config = config.replace(f"CHANGE-ME-{user}", password)
    assert "CHANGE-ME" not in config
    config = config.replace('"/var/lib/nats"', json.dumps(str(tmp_path / "js")))
    conf = tmp_path / "nats.conf"
    conf.write_text(config)
    port = free_port()
    server = subprocess.Popen(
        [find_nats_server_binary(), "-c", str(conf), "-a", "127.0.0.1", "-p", str(port)],
        stdout=(tmp_path / "nats.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"nats://127.0.0.1:{port}", passwords
    finally:
        server.terminate()
        server.wait(10)


class Peer:
    """A connection as one user, noting what the server refuses it."""

    def __init__(self) -> None:
        self.denied: list[str] = []
        self.nc: Client | None = None

    async def connect(self, url: str, user: str, password: str, **kw: Any) -> Client:
        async def noted(exc: Exception) -> None:
            self.denied.append(str(exc))

        self.nc = await nats.connect(
            url, user=user, password=password, error_cb=noted, connect_timeout=5, **kw
        )
        return self.nc

    async def refused(self, what: str) -> bool:
        for _ in range(100):
            if any(what.lower() in d.lower() for d in self.denied):
                return True
            await asyncio.sleep(0.02)
        return False


@contextlib.asynccontextmanager
async def peers(url: str, passwords: dict[str, str]) -> AsyncIterator[dict[str, Peer]]:
    made = {user: Peer() for user in ("commands", "robot", "economy")}
    await made["commands"].connect(
        url, "commands", passwords["commands"], inbox_prefix="_INBOX_commands"
    )
    for user in ("robot", "economy"):
        await made[user].connect(url, NAMES[user], passwords[user])
    try:
        yield made
    finally:
        for peer in made.values():
            if peer.nc is not None:
                await peer.nc.close()


@contextlib.asynccontextmanager
async def service(tmp_path: Path, url: str, passwords: dict[str, str]) -> AsyncIterator[Served]:
    creds = tmp_path / "webqueue.json"
    creds.write_text(json.dumps({"user": "webqueue", "password": passwords["webqueue"]}))
    creds.chmod(0o600)
    settings = Settings(
        data_dir=tmp_path / "data",
        nats_url=url,
        nats_creds=creds,
        cytube="kryten",
        economy="kryten",
        channel="lobby",
    )
    async with running(settings) as served:
        yield served


async def test_the_sample_config_lets_each_user_do_its_part_and_nothing_more(
    tmp_path: Path, deployment: tuple[str, dict[str, str]]
) -> None:
    url, passwords = deployment
    with pytest.raises(Exception, match="Authorization Violation"):
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0)

    async with service(tmp_path, url, passwords) as served, peers(url, passwords) as p:
        services = served.services
        robot, economy, commands = p["robot"].nc, p["economy"].nc, p["commands"].nc
        assert robot and economy and commands
        head = await services.kernel.log.events.head()

        # The economy answers its subject across the accounts; webqueue asks it.
        async def balance(msg: Any) -> None:
            ask = json.loads(msg.data)
            data = {"balance": 1234, "username": ask.get("username")}
            reply = {"service": "economy", "command": ask["command"], "success": True, "data": data}
            await msg.respond(json.dumps(reply).encode())

        await economy.subscribe("kryten.economy.command", cb=balance)
        await economy.flush()
        ours = KrytenEconomy(services.kernel.log.nc)
        assert await ours.balance("lobby", "alice") == 1234

        # The robot's events reach the service across the accounts, and are recorded.
        event = body("queue", {"item": packed(5, "fromRobot"), "after": "prepend"}, channel="lobby")
        await robot.publish("kryten.events.cytube.lobby.queue", event)
        await robot.flush()
        for _ in range(200):
            if await services.kernel.log.events.head() > head:
                break
            await asyncio.sleep(0.02)
        assert await services.kernel.log.events.head() > head, "the robot's event was not heard"

        # Both Kryten services' lifecycle messages reach the service's user across the
        # accounts (the service watches them; without them it logged a permissions violation
        # at every start and never heard a robot restart announced).
        heard: list[str] = []
        listener = Peer()
        ear = await listener.connect(url, "webqueue", passwords["webqueue"])
        try:

            async def note(msg: Any) -> None:
                heard.append(msg.subject)

            await ear.subscribe("kryten.lifecycle.>", cb=note)
            await ear.flush()
            await robot.publish("kryten.lifecycle.robot.startup", b"{}")
            await economy.publish("kryten.lifecycle.economy.heartbeat", b"{}")
            for nc in (robot, economy):
                await nc.flush()
            for _ in range(100):
                if len(heard) == 2:
                    break
                await asyncio.sleep(0.02)
            assert sorted(heard) == [
                "kryten.lifecycle.economy.heartbeat",
                "kryten.lifecycle.robot.startup",
            ], listener.denied
            assert listener.denied == []
        finally:
            await ear.close()

        # A command client calls the command subjects, and reads its own reply.
        reply = await commands.request("wq.cmd.lobby.get_queue", b"{}", timeout=5)
        assert json.loads(reply.data)["ok"] is True

        # And no one does more than that.
        head = await services.kernel.log.events.head()
        await robot.subscribe("wq.cmd.>")
        await robot.subscribe("kryten.economy.command")
        await robot.publish("wq.ev.lobby.wallet.mallory", b'{"type": "CreditGranted"}')
        await economy.subscribe("kryten.robot.command")
        await commands.subscribe("kryten.economy.command")
        await commands.subscribe("wq.cmd.>")
        await commands.publish("wq.ev.lobby.wallet.mallory", b'{"type": "CreditGranted"}')
        await commands.publish("$JS.API.STREAM.PURGE.WEBQUEUE", b"")
        for nc in (robot, economy, commands):
            await nc.flush()
        assert await p["robot"].refused('subscription to "wq.cmd.>"')
        assert await p["robot"].refused('subscription to "kryten.economy.command"')
        assert await p["robot"].refused('publish to "wq.ev.lobby.wallet.mallory"')
        assert await p["economy"].refused('subscription to "kryten.robot.command"')
        assert await p["commands"].refused('subscription to "kryten.economy.command"')
        assert await p["commands"].refused('subscription to "wq.cmd.>"')
        assert await p["commands"].refused("$js.api.stream.purge.webqueue")

        # A Kryten user with JetStream makes a stream on the command subjects: in its own
        # account it captures nothing of WEBQUEUE's (the reason for two accounts).
        js = robot.jetstream(timeout=5)
        await js.add_stream(name="SNOOP", subjects=["wq.cmd.>"])
        await commands.request("wq.cmd.lobby.get_queue", b'{"token": "secret"}', timeout=5)
        assert (await js.stream_info("SNOOP")).state.messages == 0

        # Even the service's own user cannot purge or delete its log.
        own = services.kernel.log.nc.jetstream(timeout=1)
        for destroy in (own.purge_stream("WEBQUEUE"), own.delete_stream("WEBQUEUE")):
            with pytest.raises(nats.errors.TimeoutError):
                await destroy
        assert await services.kernel.log.events.head() == head
