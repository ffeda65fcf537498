"""The service as a user meets it: the real composition root behind a real HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from attrs import frozen
from nats.aio.client import Client

from adapters.nats.embedded_server import COMMANDS_INBOX, COMMANDS_USER, pid_alive
from application.identity.rules import IdentityConfig
from domain.rules.config import RulesConfig
from entrypoints.config.settings import Settings
from entrypoints.http.server import http_server
from entrypoints.nats_commands import NatsCommands
from entrypoints.serve import running
from entrypoints.services import Services


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@frozen
class Running:
    services: Services
    commands: NatsCommands
    base: str
    http: httpx.AsyncClient
    sim: httpx.AsyncClient  # the same server, as an admin: the simulator's controls need one

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://")


#: What the audit after a test may find without it being a fault of the service: a purchase
#: "stuck" by a clock a test jumped far ahead, and a refund an economy was made to refuse.
AUDIT_ALLOWS = frozenset({"stuck", "refund_refused"})


async def audit_after(services: Services, channel: str) -> None:
    """The money audit over the whole log the test left (issue 12: "the audit run over every
    test's log"): whatever a test did, no purchase was paid or refunded twice, none played for
    less than its price, none kept money without playing, every debit is a purchase's."""
    from application.pay.audit import audit_log

    try:
        commits = services.kernel.log.events.read_all(channel=channel)
        report = await asyncio.wait_for(
            audit_log(channel, commits, services.kernel.clock.now()), 60
        )
    except Exception:  # the log gone (a test that stopped it): nothing to audit
        return
    wrong = [f for f in report.findings if f.kind not in AUDIT_ALLOWS]
    assert not wrong, f"the money audit of {channel} after the test: " + "; ".join(
        f"{f.kind} {f.request_id or f.user}: {f.detail}" for f in wrong[:10]
    )


@contextlib.asynccontextmanager
async def serving(
    data_dir: Path, *, audit: bool = True, **overrides: Any
) -> AsyncIterator[Running]:
    """The service on `data_dir` behind a real HTTP server on a free port; when the test is
    done, the money audit over its log (`audit=False` for a test that breaks the books on
    purpose, to show the audit finding it)."""
    # "boss" is the admin every test's admin token names: roles come from the facts now, and a
    # token's role is only a ceiling (application.identity.credentials).
    overrides.setdefault("identity", IdentityConfig(admins=("boss",)))
    # The tests written before the request rules buy many items per viewer: the harness runs
    # without the rules unless a test asks for them (test_rules_http.py runs the defaults).
    overrides.setdefault("rules", RulesConfig(max_pending_per_viewer=None))
    # The HTTP port is held (bound, not listening) while the service starts, and let go just
    # before uvicorn binds it: the embedded nats-server starting meanwhile picks its own free
    # ports, and once took this one (every test on that service then errored).
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    settings = Settings(data_dir=data_dir, port=held.getsockname()[1], **overrides)
    async with running(settings) as served:
        services = served.services
        server = http_server(services, log_level="warning")
        held.close()
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()  # uvicorn exits (SystemExit) when it cannot bind: say so now
                raise AssertionError(f"the HTTP server on port {settings.port} did not start")
            await asyncio.sleep(0.02)
        # The catalog's start-up refresh (the demo catalog) appends to the log: let it end
        # first, so a test that watches the log sees only what it does itself.
        await asyncio.wait_for(services.catalog.refresher.started_up.wait(), 30)
        base = f"http://127.0.0.1:{settings.port}"
        token, _ = services.identity.signer.issue(
            "boss", "admin", ttl_sec=24 * 3600, now=services.kernel.wall_clock.now()
        )
        admin = {"authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=base, timeout=10) as http,
            httpx.AsyncClient(base_url=base, timeout=10, headers=admin) as sim,
        ):
            yield Running(services, served.commands, base, http, sim)
        server.should_exit = True
        await task
        if audit:
            await audit_after(services, settings.channel)


async def command_client(svc: Running) -> Client:
    """A client of the command subjects as another program would be one: signed in as the
    embedded server's `commands` user (send commands, read its own replies, nothing else)."""
    server = svc.services.kernel.log.server
    assert server is not None, "the service runs on its embedded nats-server"
    return await nats.connect(
        svc.services.kernel.log.url,
        inbox_prefix=COMMANDS_INBOX,
        **server.credentials(COMMANDS_USER).connect_options(),
    )


@pytest.fixture
def open_broker(tmp_path: Path) -> Iterator[str]:
    """A nats-server of the test's own, without users (an open one, as a test server is): a
    service on it needs `allow_open_nats=True`. Its own, so its `wq.ev.>` stream overlaps no
    other test's."""
    from adapters.nats.embedded_server import EmbeddedNatsServer

    with EmbeddedNatsServer(tmp_path / "broker", auth=False) as server:
        yield server.url


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Any]:
    """A nats-server of the test's own, without users, on a fixed port so that a test can
    stop it (an outage) and start it again at the same URL."""
    from adapters.nats.embedded_server import EmbeddedNatsServer

    server = EmbeddedNatsServer(tmp_path / "broker", port=free_port(), auth=False)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)  # a no-op once the test stopped it


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data dir for a service run as a process; its nats-server is stopped afterwards."""
    path = tmp_path / "data"
    yield path
    state = path / "nats" / "server.json"
    if state.exists():  # never leave a server behind, whatever the test did
        pid = json.loads(state.read_text())["pid"]
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Running]:
    async with serving(tmp_path / "data", sim_speed=1.0) as svc:
        yield svc
