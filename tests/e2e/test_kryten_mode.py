"""The service in Kryten mode (`--cytube kryten --economy kryten`) as an operator runs it,
against robot- and economy-shaped peers on a real nats-server (tests/kryten_wire.py, built from
the recordings of the real CyTube 3.86.0, Kryten-Robot 1.12.6, kryten-economy 0.16.1). The
server is this module's own: the log's stream takes `wq.ev.>`, which a shared server may hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import pytest
from attrs import evolve
from nats.aio.client import Client

from adapters.kryten.config import KrytenConfig
from adapters.nats.embedded_server import EmbeddedNatsServer
from application.cytube.resync import ResyncConfig
from application.pay.flow import PayFlowConfig
from tests.e2e.conftest import Running, serving
from tests.kryten_wire import WireEconomy, WireRobot

DOMAIN = "127.0.0.1:18443"
WAIT = 15.0


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A broker without users, like a loopback deployment beside the robot: the service is
    # told so (allow_open_nats) rather than refusing to start on it.
    with EmbeddedNatsServer(tmp_path_factory.mktemp("nats-kryten-mode"), auth=False) as server:
        yield server.url


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


class Peers:
    def __init__(self, nc: Client) -> None:
        tag = uuid.uuid4().hex[:8]
        self.channel = f"kc_{tag}"
        self.stream = f"WQ{tag.upper()}"
        self.kryten = KrytenConfig(
            events_prefix=f"t{tag}.events.cytube",
            robot_subject=f"t{tag}.robot.command",
            robot_lifecycle=f"t{tag}.lifecycle.robot",
            economy_subject=f"t{tag}.economy.command",
            economy_lifecycle=f"t{tag}.lifecycle.economy",
            robot_timeout_sec=3.0,
            probe_interval_sec=0.2,
            probe_timeout_sec=0.3,
        )
        self.robot = WireRobot(
            nc,
            channel=self.channel,
            domain=DOMAIN,
            events_prefix=self.kryten.events_prefix,
            command_subject=self.kryten.robot_subject,
            lifecycle=self.kryten.robot_lifecycle,
        )
        self.economy = WireEconomy(
            nc, subject=self.kryten.economy_subject, lifecycle=self.kryten.economy_lifecycle
        )


@pytest.fixture
async def peers(nc: Client) -> AsyncIterator[Peers]:
    p = Peers(nc)
    yield p
    await p.robot.close()
    await p.economy.close()
    js = nc.jetstream()  # the session's server is shared: one `wq.ev.>` stream at a time
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream(p.stream)
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_key_value(f"{p.stream}_SNAPSHOTS")


def settings_for(peers: Peers, nats_url: str) -> dict[str, Any]:
    return {
        "nats_url": nats_url,
        "allow_open_nats": True,
        "cytube": "kryten",
        "economy": "kryten",
        "channel": peers.channel,
        "domain": DOMAIN,
        "stream": peers.stream,
        "kryten": peers.kryten,
        "resync": ResyncConfig(retry_sec=0.1, retry_max_sec=0.5, settle_sec=0.1),
        "pay_flow": PayFlowConfig(
            add_delay_sec=0.05, confirm_timeout_sec=3, retry_delay_sec=0.1, retry_delay_max_sec=1
        ),
    }


async def eventually(check: Callable[[], Any], what: str, within: float = WAIT) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


def bearer(svc: Running, user: str, role: str = "viewer") -> dict[str, str]:
    token, _ = svc.services.identity.signer.issue(
        user, role, ttl_sec=3600, now=svc.services.kernel.wall_clock.now()
    )
    return {"authorization": f"Bearer {token}"}


async def queue(svc: Running, channel: str) -> dict[str, Any]:
    result: dict[str, Any] = (await svc.http.get(f"/api/v1/channels/{channel}/queue")).json()
    return result


def uids(q: dict[str, Any]) -> list[int]:
    playing = (
        [q["now_playing"]["item"]["uid"]] if q["now_playing"] and q["now_playing"]["item"] else []
    )
    return playing + [i["uid"] for i in q["items"]]


async def buyer(
    svc: Running, peers: Peers, user: str, media_id: str
) -> Callable[[], Awaitable[dict[str, Any]]]:
    """`user` joins the channel with 20,000 coins and buys `media_id` (300 s, tier queue):
    its purchase's status, asked for on each call."""
    await peers.robot.join(user)
    peers.economy.balances[user] = 20_000
    headers = bearer(svc, user)
    body = {"media_type": "cm", "media_id": media_id, "duration_sec": 300, "tier": "queue"}
    r = await svc.http.post(
        f"/api/v1/channels/{peers.channel}/pay-items", json=body, headers=headers
    )
    assert r.status_code == 202, r.text
    status_url = r.json()["status_url"]

    async def status() -> dict[str, Any]:
        got: dict[str, Any] = (await svc.http.get(status_url, headers=headers)).json()
        return got

    return status


async def busy_channel(peers: Peers) -> None:
    """Three items, the first playing, before webqueue starts (their events are long gone)."""
    for n, seconds in enumerate((600, 700, 800)):
        await peers.robot.add(f"content-{n}-{seconds}", seconds)
    await peers.robot.start()
    await peers.economy.start()


async def test_started_against_a_busy_channel_then_a_clear_in_cytube_refunds_the_paid_item(
    tmp_path: Path, peers: Peers, nats_url: str
) -> None:
    await busy_channel(peers)
    async with serving(tmp_path / "data", **settings_for(peers, nats_url)) as svc:
        ch = peers.channel

        async def started() -> bool:
            q = await queue(svc, ch)
            return uids(q) == [0, 1, 2] and q["now_playing"]["item"] is not None

        await eventually(started, "the channel as it was when webqueue started")
        q = await queue(svc, ch)
        assert all(i["eta_sec"] is not None for i in q["items"])

        status = await buyer(svc, peers, "alice", "paid-300")

        await eventually(lambda: _is(status, "positioned"), "the paid item in place")
        assert peers.economy.balances["alice"] == 20_000 - 2500

        await peers.robot.clear()  # a moderator's clearPlaylist: playlist [] + count 0
        await eventually(lambda: _is(status, "refunded"), "the refund")
        assert peers.economy.balances["alice"] == 20_000
        q = await queue(svc, ch)
        assert q["items"] == [] and q["now_playing"] is None
        health = (await svc.http.get("/health")).json()
        assert health["parts"]["cytube"]["status"] == "ok", health
        assert health["parts"]["economy"]["status"] == "ok", health


async def _is(status: Callable[[], Any], expected: str) -> bool:
    return bool((await status()).get("status") == expected)


async def test_with_a_peer_down_health_says_so_and_its_endpoints_answer_503(
    tmp_path: Path, peers: Peers, nats_url: str
) -> None:
    await busy_channel(peers)
    async with serving(tmp_path / "data", **settings_for(peers, nats_url)) as svc:
        ch = peers.channel
        admin = bearer(svc, "boss", "admin")

        async def parts() -> dict[str, Any]:
            got: dict[str, Any] = (await svc.http.get("/health")).json()["parts"]
            return got

        async def part_is(name: str, status: str) -> bool:
            return bool((await parts())[name]["status"] == status)

        await eventually(lambda: part_is("cytube", "ok"), "the robot seen")
        await eventually(lambda: part_is("economy", "ok"), "the economy seen")
        peers.economy.balances["boss"] = 500
        r = await svc.http.get(f"/api/v1/channels/{ch}/wallets/boss", headers=admin)
        assert r.status_code == 200 and r.json()["balance"] == 500

        peers.economy.answering = False  # stopped: kryten-economy announces nothing
        await eventually(lambda: part_is("economy", "down"), "the economy down in /health")
        r = await svc.http.get(f"/api/v1/channels/{ch}/wallets/boss", headers=admin)
        assert r.status_code == 503 and r.json()["error"]["code"] == "economy_unavailable"
        assert (await svc.http.get("/health")).json()["status"] == "degraded"

        await peers.robot.stop()  # disconnected + shutdown, then silence
        await eventually(lambda: part_is("cytube", "down"), "the robot down in /health")
        body = {"media_type": "cm", "media_id": "x-300", "duration_sec": 300}
        r = await svc.http.post(f"/api/v1/channels/{ch}/pay-items", json=body, headers=admin)
        assert r.status_code == 503 and r.json()["error"]["code"] == "cytube_unavailable"

        await peers.economy.start()
        await peers.robot.start(burst=False)
        await eventually(lambda: part_is("cytube", "ok"), "the robot back")
        await eventually(lambda: part_is("economy", "ok"), "the economy back")


async def test_a_quiet_buyer_cytube_marks_afk_keeps_the_slot(
    tmp_path: Path, peers: Peers, nats_url: str
) -> None:
    """CyTube marks a viewer AFK after 10 minutes without chat; by default that cancels
    nothing (the issue: cancelled and refunded 70 ms after the 202)."""
    await busy_channel(peers)
    async with serving(tmp_path / "data", **settings_for(peers, nats_url)) as svc:
        ch = peers.channel
        await eventually(lambda: _has_items(svc, ch), "the channel")
        status = await buyer(svc, peers, "quiet", "mine-300")

        await eventually(lambda: _is(status, "positioned"), "in place")
        await peers.robot.set_afk("quiet", True)
        monitor = svc.services.presence.monitor
        seen = monitor.evaluations
        await eventually(lambda: _after(monitor, seen + 2), "the monitor to look twice")
        item = next(i for i in (await queue(svc, ch))["items"] if i["pay"])
        assert item["pay"]["status"] == "positioned"
        assert item["pay"]["owner_away_reason"] is None and item["pay"]["cancels_at"] is None
        assert item["pay"]["paid_by"] == "quiet"


async def test_a_lookup_that_fails_after_the_robots_wait_refunds_with_cytubes_reason(
    tmp_path: Path, peers: Peers, nats_url: str
) -> None:
    """The robot answers a slow add with uid null; CyTube's queueFail comes later, as an event
    only. The purchase is refunded at once with CyTube's words, not after the add retries run
    out with no reason."""
    await busy_channel(peers)
    reason = "Expected HTTP 200 OK, not 404 Not Found"
    peers.robot.slow_failures["gone-300"] = reason
    async with serving(tmp_path / "data", **settings_for(peers, nats_url)) as svc:
        ch = peers.channel
        await eventually(lambda: _has_items(svc, ch), "the channel")
        status = await buyer(svc, peers, "ann", "gone-300")

        await eventually(lambda: _is(status, "refunded"), "the refund")
        final = await status()
        assert final["cancel_reason"] == "add_failed" and final["cancel_detail"] == reason
        adds = [c for c in peers.robot.commands if c.get("command") == "addvideo"]
        assert len(adds) == 1  # a permanent reason: not tried again
        assert peers.economy.balances["ann"] == 20_000


async def _has_items(svc: Running, channel: str) -> bool:
    return bool(uids(await queue(svc, channel)))


async def _after(monitor: Any, evaluations: int) -> bool:
    monitor.poke()
    return bool(monitor.evaluations >= evaluations)


async def test_the_config_file_runs_the_same_service(tmp_path: Path, peers: Peers) -> None:
    """Settings from TOML reach the running service: subjects, timeouts, presence triggers."""
    from entrypoints.config.loader import load

    path = tmp_path / "webqueue.toml"
    path.write_text(
        f'channel = "{peers.channel}"\n'
        f'domain = "{DOMAIN}"\n'
        "[presence_refund]\non_afk = true\nafk_grace_seconds = 900\n"
        f'[kryten]\nrobot_subject = "{peers.kryten.robot_subject}"\nprobe_interval_sec = 0.2\n'
    )
    settings = load(path, env={"WEBQUEUE_NATS_URL": "nats://127.0.0.1:1"})
    assert settings.cytube == "kryten" and settings.economy == "kryten"
    assert settings.presence_refund.on_afk and settings.presence_refund.afk_grace_seconds == 900
    assert settings.kryten.robot_subject == peers.kryten.robot_subject
    assert evolve(settings, nats_url=None).embedded


async def test_after_a_nats_reconnect_what_changed_meanwhile_is_read_again(
    tmp_path: Path, peers: Peers, nats_url: str
) -> None:
    """Core NATS keeps nothing: an add published while our connection was down is gone, so
    the reconnect itself asks for a snapshot."""
    await busy_channel(peers)
    async with serving(tmp_path / "data", **settings_for(peers, nats_url)) as svc:
        ch = peers.channel
        await eventually(lambda: _has_items(svc, ch), "the channel")
        peers.robot.emit = _lost  # type: ignore[method-assign]  # while we are disconnected
        await peers.robot.add("added-while-away-240", 240)
        assert uids(await queue(svc, ch)) == [0, 1, 2]
        await svc.services.kernel.log.connection._on_reconnect()  # what nats-py calls back

        async def healed() -> bool:
            return uids(await queue(svc, ch)) == [0, 1, 2, 3]

        await eventually(healed, "the add made while we were away")


async def _lost(event: str, payload: Any) -> None:
    return None
