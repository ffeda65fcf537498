"""Two or three webqueue instances on one nats-server (or a three-node cluster) and one
read-model database (SQLite, or PostgreSQL as deployed); kill -9 the channel's owner in the
middle of a burst of purchases.

Both run as real subprocesses in Kryten mode against robot- and economy-shaped peers on the
wire (tests/kryten_wire.py), with the same config file, the same token secret and one shared
read-model database; each has its own data dir. The first started holds the channel's lease and
the projections' lease; purchases go to both (any instance serves HTTP). After the first few are
taken, the owner is killed with SIGKILL; purchases the dead one did not answer are sent again,
with the same request id, to the survivor. Then the survivor must have taken both leases (within
a bound that only catches a hang), every purchase must end in place or refunded, CyTube must
have been asked to add each purchase's media once and only once, and `webqueue audit` over the
log must find nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.js.errors
import pytest
from nats.aio.client import Client
from prometheus_client.parser import text_string_to_metric_families

from adapters.clock import WallClock
from adapters.identity.tokens import TokenSigner
from adapters.nats.embedded_server import EmbeddedNatsServer
from adapters.nats.servers import server_urls
from tests.conftest import postgres_database
from tests.e2e.conftest import free_port
from tests.e2e.test_cli import CLI
from tests.e2e.test_kryten_mode import DOMAIN, Peers
from tests.relay import Relay

TTL = 3.0
PURCHASES = 30
KILL_AFTER = 8
BUYERS = [f"buyer{i}" for i in range(6)]
AT_REST = ("positioned", "playing", "played", "refunded")
HANG = 120.0  # a hang detector, not a speed requirement


def config(peers: Peers, path: Path, replicas: int = 1) -> Path:
    kr = peers.kryten
    path.write_text(
        f"replicas = {replicas}\n"
        f'channel = "{peers.channel}"\n'
        f'domain = "{DOMAIN}"\n'
        f'stream = "{peers.stream}"\n'
        'cytube = "kryten"\neconomy = "kryten"\n'
        f"lease_ttl = {TTL}\n"
        '[identity]\nadmins = ["boss"]\n'
        "[rules]\nmax_pending_per_viewer = 100\n"
        "[resync]\nretry_sec = 0.1\nretry_max_sec = 0.5\nsettle_sec = 0.1\n"
        "[pay_flow]\nadd_delay_sec = 0.05\nconfirm_timeout_sec = 3\n"
        "retry_delay_sec = 0.1\nretry_delay_max_sec = 1\n"
        f'[kryten]\nevents_prefix = "{kr.events_prefix}"\nrobot_subject = "{kr.robot_subject}"\n'
        f'robot_lifecycle = "{kr.robot_lifecycle}"\neconomy_subject = "{kr.economy_subject}"\n'
        f'economy_lifecycle = "{kr.economy_lifecycle}"\nrobot_timeout_sec = 3.0\n'
        "probe_interval_sec = 0.2\nprobe_timeout_sec = 0.3\n"
    )
    return path


class Instance:
    def __init__(
        self,
        name: str,
        root: Path,
        cfg: Path,
        nats_url: str,
        db: str | None,
        env: dict[str, str],
        extra: Sequence[str] = (),
    ) -> None:
        """`db` None: the data dir's own SQLite file (the default)."""
        self.name = name
        self.port = free_port()
        self.log = root / f"{name}.log"
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--config", str(cfg), "--data-dir", str(root / name),
             "--port", str(self.port), "--nats-url", nats_url, "--allow-open-nats",
             *(["--db", db] if db else []), *extra],
            stdout=self.log.open("ab"),  # a restart on the same name appends: one story
            stderr=subprocess.STDOUT,
            env=env,
        )  # fmt: skip
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    async def health(self) -> dict[str, Any]:
        got: dict[str, Any] = (await self.http.get("/health")).json()
        return got

    async def up(self) -> dict[str, Any]:
        deadline = time.monotonic() + HANG
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            with contextlib.suppress(httpx.TransportError, ValueError):
                health = await self.health()
                if health.get("instance"):
                    return health
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not up:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(15)

    async def stop(self) -> int:
        """A clean stop (systemctl stop): SIGTERM, and wait for it to end."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.proc.wait, 60)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} did not stop within 60 s of SIGTERM:\n{self.log.read_text()[-4000:]}"
            ) from None


@pytest.fixture(params=["one-server", "three-node-cluster"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The NATS URL the instances are given, and the replicas they keep (3 on the cluster)."""
    if request.param == "one-server":
        with EmbeddedNatsServer(tmp_path / "broker", auth=False) as server:
            yield server.url, 1
        return
    from tests.nats_cluster import NatsCluster

    with NatsCluster(tmp_path / "cluster") as cluster:
        yield cluster.url, 3


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Any]:
    from tests.nats_cluster import NatsCluster

    with NatsCluster(tmp_path / "cluster") as running:
        yield running


@pytest.fixture(params=["sqlite", "postgresql"])
async def read_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The read-model database every instance shares: a SQLite file, or a throw-away database
    on the test PostgreSQL (the deployment page's shape)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'shared-read.db'}"
        return
    async with postgres_database() as url:
        yield url


@pytest.fixture
async def nc(broker: tuple[str, int]) -> AsyncIterator[Client]:
    client = await nats.connect(server_urls(broker[0]))
    yield client
    await client.close()


async def until(check: Any, what: str, within: float = HANG) -> Any:
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(httpx.TransportError):
            found = await check()
            if found:
                return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


class World:
    """The channel behind its robot and economy (adds counted per media), and what every
    instance is started with: the config file, the shared database, the token secret."""

    def __init__(self, tmp_path: Path, url: str, replicas: int, peers: Peers, db: str) -> None:
        self.root, self.url, self.peers, self.db = tmp_path, url, peers, db
        self.adds: Counter[str] = Counter()
        secret = secrets.token_hex(32)
        self.env = {**os.environ, "WEBQUEUE_SECRET": secret}
        self.cfg = config(peers, tmp_path / "webqueue.toml", replicas)
        self._signer = TokenSigner(secret.encode())
        self.tokens = {b: self.token(b, "viewer") for b in BUYERS}

    def token(self, user: str, role: str) -> dict[str, str]:
        """Headers carrying a token every instance accepts (they share the secret)."""
        token, _ = self._signer.issue(user, role, ttl_sec=3600, now=WallClock().now())
        return {"authorization": f"Bearer {token}"}

    def instance(self, name: str, url: str | None = None, *, extra: Sequence[str] = ()) -> Instance:
        """`url`: another way to the log (a relay the test can cut), else the broker's; `extra`:
        more flags for `serve`. A World made with no database lets each use its default."""
        return Instance(
            name, self.root, self.cfg, url or self.url, self.db or None, self.env, extra
        )

    async def start(self) -> None:
        peers, command = self.peers, self.peers.robot._command

        async def counted(name: str | None, args: dict[str, Any]) -> Any:
            if name == "addvideo":
                self.adds[args["id"]] += 1
            return await command(name, args)

        peers.robot._command = counted  # type: ignore[method-assign]
        for n, seconds in enumerate((900, 900, 900)):
            await peers.robot.add(f"content-{n}-{seconds}", seconds)
        await peers.robot.start()
        await peers.economy.start()
        for buyer in BUYERS:
            await peers.robot.join(buyer)
            peers.economy.balances[buyer] = 1_000_000

    async def buy(self, n: int, via: Instance) -> httpx.Response | None:
        """None: no answer (the instance died with it, or before)."""
        buyer = BUYERS[n % len(BUYERS)]
        body = {"media_type": "cm", "media_id": f"paid{n}-200", "duration_sec": 200,
                "tier": "queue", "request_id": f"burst-req-{n:03d}"}  # fmt: skip
        try:
            return await via.http.post(
                f"/api/v1/channels/{self.peers.channel}/pay-items",
                json=body,
                headers=self.tokens[buyer],
            )
        except httpx.TransportError:
            return None

    def took(self, taken: dict[str, tuple[str, str]], n: int, r: httpx.Response) -> None:
        body = r.json()
        if r.status_code == 202:
            status = body["status_url"]
        else:  # taken before, by an instance that died or stopped: the same purchase
            assert r.status_code == 409, r.text
            assert body["error"]["code"] == "request_id_used", r.text
            status = body["error"]["status_url"]
        taken[f"burst-req-{n:03d}"] = (BUYERS[n % len(BUYERS)], status)

    async def at_rest(self, via: Instance, taken: dict[str, tuple[str, str]]) -> dict[str, str]:
        statuses: dict[str, str] = {}

        async def all_at_rest() -> bool:
            for rid, (buyer, status) in taken.items():
                if statuses.get(rid) in AT_REST:
                    continue
                got = (await via.http.get(status, headers=self.tokens[buyer])).json()
                if "status" not in got:  # refused for now (503 while the log elects a leader)
                    return False
                statuses[rid] = got["status"]
            return all(s in AT_REST for s in statuses.values())

        try:
            await until(all_at_rest, "every purchase at rest")
        except AssertionError:
            stuck = {rid: statuses.get(rid) for rid in taken if statuses.get(rid) not in AT_REST}
            raise AssertionError(f"not at rest: {stuck}") from None
        return statuses

    async def audit(self, purchases: int) -> None:
        audit = await asyncio.to_thread(
            subprocess.run,
            [*CLI, "audit", "--config", str(self.cfg), "--nats-url", self.url,
             "--allow-open-nats", "--data-dir", str(self.root / "auditor"), "--format", "json"],
            capture_output=True, text=True, timeout=120, env=self.env,
        )  # fmt: skip
        report = json.loads(audit.stdout)
        assert audit.returncode == 0 and report["ok"], report["findings"][:10]
        assert report["totals"]["purchases"] == purchases

    async def playing(self, via: Instance) -> None:
        """Until the owner has read the channel in (its snapshot names what plays)."""

        async def now_playing() -> bool:
            q = (await via.http.get(f"/api/v1/channels/{self.peers.channel}/queue")).json()
            return bool(q.get("now_playing"))

        await until(now_playing, "the channel read in, something playing")

    def added_once(self) -> None:
        twice = {media: n for media, n in self.adds.items() if n > 1}
        assert twice == {}, f"CyTube was asked to add these more than once: {twice}"


@pytest.mark.parametrize(
    ("broker", "read_db", "instances"),
    [
        ("one-server", "sqlite", 2),
        ("three-node-cluster", "sqlite", 2),
        ("three-node-cluster", "postgresql", 3),  # as docs/deployment.md sets it up
    ],
    indirect=["broker", "read_db"],
    ids=["one-server-sqlite-2", "cluster-sqlite-2", "cluster-postgresql-3"],
)
async def test_kill_9_of_the_channel_owner_during_purchases_hands_over_losing_nothing(
    tmp_path: Path, broker: tuple[str, int], read_db: str, instances: int, nc: Client
) -> None:
    url, replicas = broker
    w = World(tmp_path, url, replicas, Peers(nc), read_db)
    peers, adds = w.peers, w.adds
    await w.start()
    first = w.instance("a")
    standbys: list[Instance] = []
    try:
        await first.up()
        channel_lease = f"channel:{peers.channel}"
        await until(lambda: _holds(first, channel_lease), "the first instance to hold the channel")
        await w.playing(first)
        info = await nc.jetstream().stream_info(f"KV_{peers.stream}_LEASES")
        assert info.config.num_replicas == replicas
        for name in "bc"[: instances - 1]:
            standbys.append(w.instance(name))
            health = await standbys[-1].up()
            assert health["leases"] == [], f"{name} took a lease it should not hold"
            inbound = health["parts"]["kryten-inbound"]  # a standby's silence is no fault
            assert inbound["status"] == "ok" and "standby" in inbound["detail"], inbound
        health_a = await first.health()
        assert len(health_a["leases"]) == 2 and channel_lease in health_a["leases"]
        everyone = [first, *standbys]

        # Every instance is seen alive from any instance, standbys with no lease.
        boss = w.token("boss", "admin")
        roster = (await first.http.get("/api/v1/admin/instances", headers=boss)).json()
        alive = {i["instance"]: i["leases"] for i in roster["alive"]}
        assert len(alive) == instances, roster
        copies = roster["log_copies"]
        assert copies["status"] == "ok", copies
        assert copies["detail"].startswith("3 copies, leader" if replicas == 3 else "1 copy")
        assert sorted(alive[health_a["instance"]]) == sorted(health_a["leases"])
        assert sorted(len(held) for held in alive.values()) == [0] * (instances - 1) + [2]

        # A rebuild is refused where the read models are not written, naming the writer.
        refused = await standbys[0].http.post(
            "/api/v1/admin/projections/queue_shadow/rebuild", headers=boss
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "not_the_writer"
        assert health_a["instance"] in refused.json()["error"]["message"]

        taken: dict[str, tuple[str, str]] = {}  # request id -> buyer, status url
        buy = w.buy

        def took(n: int, r: httpx.Response) -> None:
            w.took(taken, n, r)

        for n in range(KILL_AFTER):
            r = await buy(n, everyone[n % instances])
            assert r is not None and r.status_code == 202, r and r.text
            took(n, r)
        # Only the owner did the owner's work: the others took no payment of them (any instance
        # takes the purchase itself; the pay flow that captures it runs on the owner).
        await until(lambda: _captured(first), "the owner to capture the first payments")
        for standby in standbys:
            assert await _captured(standby) == 0, "an instance without the lease ran the pay flow"
        # The owner dies while the next purchases are on their way to every instance.
        later = range(KILL_AFTER, PURCHASES)
        pending = [asyncio.create_task(buy(n, everyone[n % instances])) for n in later]
        await asyncio.sleep(0)
        killed_at = time.monotonic()
        first.kill()
        resent = 0
        for n, task in zip(later, pending, strict=True):
            r = await task
            while r is None or r.status_code in (502, 503):  # sent again, to a survivor
                resent += 1
                r = await buy(n, standbys[(n + resent) % len(standbys)])
            took(n, r)

        async def owner() -> Instance | None:
            holders = [i for i in standbys if await _holds(i, channel_lease)]
            assert len(holders) <= 1, "two instances hold the channel"
            return holders[0] if holders else None

        new_owner: Instance = await until(owner, "a survivor to take the channel")
        takeover = time.monotonic() - killed_at
        await until(lambda: _captured(new_owner), "the new owner's pay flow to capture payments")

        async def writer() -> bool:  # and the projections' lease (each lapses on its own)
            held = [len((await i.health())["leases"]) for i in standbys]
            return sum(held) == 2

        await until(writer, "the survivors to take the projections' lease too")

        statuses = await w.at_rest(new_owner, taken)
        assert len(taken) == PURCHASES
        w.added_once()
        placed = [r for r, s in statuses.items() if s != "refunded"]
        paid_adds = {m for m in adds if m.startswith("paid")}
        assert len(paid_adds) >= len(placed)
        await w.audit(PURCHASES)
        print(
            f"\n{PURCHASES} purchases over {instances} instances, killed the owner after "
            f"{KILL_AFTER}; resent {resent}; takeover {takeover:.1f}s after the kill "
            f"(TTL {TTL}s); statuses {dict(Counter(statuses.values()))}; "
            f"adds {sum(adds.values())}"
        )
    finally:
        for inst in [first, *standbys]:
            inst.kill()
            await inst.http.aclose()
        await peers.robot.close()
        await peers.economy.close()


@pytest.mark.parametrize(
    ("broker", "read_db"),
    [("one-server", "sqlite"), ("three-node-cluster", "postgresql")],
    indirect=True,
    ids=["one-server-sqlite", "cluster-postgresql"],
)
async def test_a_rolling_restart_of_every_instance_keeps_every_purchase_right(
    tmp_path: Path, broker: tuple[str, int], read_db: str, nc: Client
) -> None:
    """Each instance in turn stopped cleanly (its leases given back) and started again on its
    data dir while purchases go to the other; the owner's work moves with the lease."""
    url, replicas = broker
    w = World(tmp_path, url, replicas, Peers(nc), read_db)
    await w.start()
    live = {"a": w.instance("a")}
    taken: dict[str, tuple[str, str]] = {}
    handovers: list[float] = []
    next_n = 0

    async def burst(count: int, via: Instance) -> None:
        nonlocal next_n
        sent = [(k, asyncio.create_task(w.buy(k, via))) for k in range(next_n, next_n + count)]
        next_n += count
        for k, task in sent:
            r = await task
            while r is None or r.status_code in (502, 503):
                r = await w.buy(k, via)
            w.took(taken, k, r)

    try:
        await live["a"].up()
        lease = f"channel:{w.peers.channel}"
        await until(lambda: _holds(live["a"], lease), "the first instance to hold the channel")
        await w.playing(live["a"])
        live["b"] = w.instance("b")
        await live["b"].up()
        await burst(6, live["b"])
        for name, other_name in (("a", "b"), ("b", "a")):
            victim, other = live[name], live[other_name]
            assert await _holds(victim, lease), f"{name} should own the channel now"
            during = asyncio.create_task(burst(6, other))
            stopped = time.monotonic()
            assert await victim.stop() == 0, victim.log.read_text()[-2000:]
            await until(lambda o=other: _holds(o, lease), f"{other_name} to take the channel")
            handovers.append(time.monotonic() - stopped)
            await during
            await victim.http.aclose()
            live[name] = w.instance(name)  # the same data dir: the same service, restarted
            await live[name].up()
            await burst(6, live[name])
            # Back as the standby: it takes purchases, the owner's pay flow settles them.
            await until(lambda o=other: _captured(o), "the owner to capture payments")
            assert not await _holds(live[name], lease)
            assert await _captured(live[name]) == 0, f"{name} ran the pay flow without the lease"
        assert await _holds(live["a"], lease)  # where it ended up after the second restart
        statuses = await w.at_rest(live["a"], taken)
        assert len(taken) == next_n
        w.added_once()
        await w.audit(next_n)
        print(
            f"\n{next_n} purchases over a rolling restart; handovers after a clean stop "
            + ", ".join(f"{h:.1f}s" for h in handovers)
            + f" (TTL {TTL}s); statuses {dict(Counter(statuses.values()))}"
        )
    finally:
        for inst in live.values():
            inst.kill()
            await inst.http.aclose()
        await w.peers.robot.close()
        await w.peers.economy.close()


@pytest.mark.parametrize("read_db", ["postgresql"], indirect=True)
async def test_kill_9_of_the_streams_leading_node_under_two_instances_loses_nothing(
    tmp_path: Path, cluster: Any, read_db: str
) -> None:
    """Three nodes, two instances; the node leading the log's stream is killed in the middle of
    the purchases: appends go on on the two left (after an election, refused 503 meanwhile and
    sent again), the leases are kept or taken again, and nothing is lost or done twice."""
    nc = await nats.connect(server_urls(cluster.url))
    w = World(tmp_path, cluster.url, 3, Peers(nc), read_db)
    w.peers.robot.replicas = 3  # its playlist bucket, on the cluster, keeps three copies too
    await w.start()
    live = [w.instance("a")]
    taken: dict[str, tuple[str, str]] = {}
    lease = f"channel:{w.peers.channel}"
    try:
        await live[0].up()
        await until(lambda: _holds(live[0], lease), "the first instance to hold the channel")
        await w.playing(live[0])
        live.append(w.instance("b"))
        await live[1].up()

        async def buy(k: int) -> None:
            r = await w.buy(k, live[k % 2])
            while r is None or r.status_code in (502, 503):  # the election: sent again
                await asyncio.sleep(0.2)
                r = await w.buy(k, live[k % 2])
            w.took(taken, k, r)

        for k in range(8):
            await buy(k)
        js = nc.jetstream()

        async def stats_bucket() -> Any:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                return await js.stream_info(f"KV_{w.peers.stream}_STATS")
            return None

        stats = await until(stats_bucket, "the stats bucket")
        assert stats.config.num_replicas == 3  # every bucket keeps three copies on the cluster
        info = await js.stream_info(w.peers.stream)
        assert info.cluster is not None and info.cluster.leader is not None
        rest = [asyncio.create_task(buy(k)) for k in range(8, PURCHASES)]
        await asyncio.sleep(0)
        cluster.kill(int(info.cluster.leader.removeprefix("n")))
        await asyncio.gather(*rest)

        async def one_owner() -> bool:
            held = [lease in (await i.health())["leases"] for i in live]
            return held.count(True) == 1

        await until(one_owner, "one instance to own the channel")
        owner = live[0] if await _holds(live[0], lease) else live[1]
        statuses = await w.at_rest(owner, taken)
        assert len(taken) == PURCHASES
        w.added_once()
        await w.audit(PURCHASES)
        counted = dict(Counter(statuses.values()))
        print(f"\n{PURCHASES} purchases through a lost node; statuses {counted}")
    finally:
        for inst in live:
            inst.kill()
            await inst.http.aclose()
        await w.peers.robot.close()
        await w.peers.economy.close()
        await nc.close()


@pytest.mark.parametrize(
    ("broker", "read_db"), [("one-server", "sqlite")], indirect=True, ids=["one-server-sqlite"]
)
async def test_an_owner_partitioned_from_nats_is_deposed_and_comes_back_a_standby(
    tmp_path: Path, broker: tuple[str, int], read_db: str, nc: Client
) -> None:
    """The owner reaches NATS through a relay that then partitions it off (its connections cut
    and every new one refused) while purchases go on through the other instance: the other
    takes the channel after the TTL, the cut-off owner does no owner's work meanwhile, and once
    the partition heals it reconnects as a standby, not a second owner; nothing is lost or
    added twice."""
    url, replicas = broker
    w = World(tmp_path, url, replicas, Peers(nc), read_db)
    await w.start()
    relay = Relay(url)
    await relay.start()
    a = w.instance("a", relay.url)
    b: Instance | None = None
    taken: dict[str, tuple[str, str]] = {}
    lease = f"channel:{w.peers.channel}"
    try:
        await a.up()
        await until(lambda: _holds(a, lease), "the first instance to hold the channel")
        await w.playing(a)
        b = w.instance("b")
        await b.up()
        survivor: Instance = b

        async def buy(k: int, via: Instance) -> None:
            r = await w.buy(k, via)
            while r is None or r.status_code in (502, 503):
                await asyncio.sleep(0.1)
                r = await w.buy(k, survivor)
            w.took(taken, k, r)

        for k in range(KILL_AFTER):
            await buy(k, a if k % 2 else b)
        await until(lambda: _captured(a), "the owner to capture the first payments")
        captured_before = await _captured(a)

        relay.partition()
        cut_at = time.monotonic()
        during = [asyncio.create_task(buy(k, b)) for k in range(KILL_AFTER, PURCHASES - 6)]
        await until(lambda: _holds(b, lease), "the other instance to take the channel")
        takeover = time.monotonic() - cut_at
        await asyncio.gather(*during)
        # Cut off, it holds nothing and did none of the owner's work (its /health still
        # answers over HTTP: the partition is between it and NATS only).
        assert not await _holds(a, lease)
        assert await _captured(a) == captured_before, "the cut-off owner ran the pay flow"

        relay.heal()

        async def reconnected() -> bool:
            health = await a.health()
            return bool(health.get("log_connected")) and health.get("leases") == []

        await until(reconnected, "the healed instance to reconnect as a standby")
        for k in range(PURCHASES - 6, PURCHASES):
            await buy(k, a if k % 2 else b)  # through both again
        statuses = await w.at_rest(b, taken)
        assert len(taken) == PURCHASES
        assert await _holds(b, lease) and not await _holds(a, lease)
        assert await _captured(a) == captured_before, "the healed standby ran the pay flow"
        w.added_once()
        await w.audit(PURCHASES)
        print(
            f"\n{PURCHASES} purchases through a partition of the owner; takeover "
            f"{takeover:.1f}s after the cut (TTL {TTL}s); "
            f"statuses {dict(Counter(statuses.values()))}"
        )
    finally:
        a.kill()
        await a.http.aclose()
        if b is not None:
            b.kill()
            await b.http.aclose()
        await relay.close()
        await w.peers.robot.close()
        await w.peers.economy.close()


async def _holds(instance: Instance, lease: str) -> bool:
    return lease in (await instance.health()).get("leases", [])


async def _captured(instance: Instance) -> float:
    """Payments this instance's pay flow captured, from its /metrics."""
    text = (await instance.http.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "webqueue_pay_outcomes_total" and sample.labels["outcome"] == "captured"
    )
