"""One webqueue instance versus several (three by default) on one log and one read-model
database: commands per second and their latency through HTTP, against a bare JetStream
publish-ack on the same log in the same run; then the takeover time when the channel's owner
is killed with SIGKILL.

Each instance is a real `webqueue serve` subprocess (the simulated channel, the local ledger),
with its own data dir, on the same log, stream and read-model database, and the same token
secret. The log is one nats-server, or with `--cluster` a three-node JetStream cluster on
loopback with every stream and bucket kept in three copies (the raw stream too); the database
is a SQLite file, or with `--db` a PostgreSQL URL (a throw-away database is made on it and
dropped afterwards). The command is an admin's wallet grant (`POST .../wallets/{user}/grants`):
one decision and one append on the user's wallet stream, each client its own user, so writers
do not contend on one stream. Rows:

* `1 instance`: `clients` clients, all on the first instance;
* `N instances`: the same clients, spread over every instance (any instance serves commands);
* `raw publish-ack`: a bare `js.publish` at the same concurrency on a second stream.

Takeover: the owner is killed `--kills` times (a survivor takes over, the dead one is started
again as a new standby); each time from the kill until a survivor's /health lists the
channel's lease, with `--lease-ttl` (3 s by default). The bound is the TTL plus a retry (a
quarter of the TTL) after the owner's last renewal, which was up to a third of a TTL before the
kill.

    python bench/bench_instances.py
    python bench/bench_instances.py --cluster --db postgresql+asyncpg://postgres@127.0.0.1/test
    python bench/bench_instances.py --instances 2 --ops 300 --clients 8 --kills 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import common
import httpx
import nats
from attrs import frozen
from common import closed_loop, free_port, fresh_nats_server, raw_stream, summary, table, write_json

from adapters.nats.servers import server_urls

NAME = "instances"
CLI = [sys.executable, "-m", "entrypoints.cli.main"]


class Instance:
    def __init__(self, name: str, root: Path, log: Log, db: str, ttl: float, env: dict[str, str]):
        self.name = name
        self.port = free_port()
        self.log = root / f"{name}-{self.port}.log"
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--data-dir", str(root / name), "--port", str(self.port),
             "--nats-url", log.url, "--replicas", str(log.replicas), "--allow-open-nats",
             "--cytube", "sim", "--economy", "local", "--db", db, "--lease-ttl", str(ttl),
             "--log-level", "warning", "--admin", "boss"],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        self.http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}",
            timeout=10,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    async def leases(self) -> list[str]:
        with contextlib.suppress(httpx.TransportError, ValueError):
            got = (await self.http.get("/health")).json()
            if got.get("instance"):
                return list(got.get("leases", []))
        return []

    async def up(self, within: float = 120) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError, ValueError):
                if (await self.http.get("/health")).json().get("instance"):
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} not up:\n{self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(15)

    async def close(self) -> None:
        self.kill()
        await self.http.aclose()


def admin(secret: str) -> dict[str, str]:
    from adapters.clock import WallClock
    from adapters.identity.tokens import TokenSigner

    token, _ = TokenSigner(secret.encode()).issue(
        "boss", "admin", ttl_sec=3600, now=WallClock().now()
    )
    return {"authorization": f"Bearer {token}"}


async def grants(
    instances: list[Instance], headers: dict[str, str], clients: int, ops: int, tag: str
) -> dict[str, Any]:
    async def op(c: int, k: int) -> None:
        via = instances[c % len(instances)]
        r = await via.http.post(
            f"/api/v1/channels/lobby/wallets/{tag}{c}/grants", json={"amount": 1}, headers=headers
        )
        if r.status_code != 201:
            raise RuntimeError(f"{r.status_code} {r.text[:100]}")

    return await closed_loop(clients, ops, op, max_seconds=120, warmup=5)


async def raw(log: Log, clients: int, ops: int) -> dict[str, Any]:
    nc = await nats.connect(server_urls(log.url))
    js = nc.jetstream()
    await raw_stream(js, replicas=log.replicas)
    payload = b"x" * 400  # about a grant's commit

    async def op(c: int, k: int) -> None:
        await js.publish(f"raw.{c}.{k}", payload)

    try:
        return await closed_loop(clients, ops, op, max_seconds=60, warmup=5)
    finally:
        await nc.close()


@frozen
class Log:
    url: str  # every node, comma-separated, as --nats-url takes it
    replicas: int
    root: Path


@contextlib.contextmanager
def the_log(cluster: bool) -> Iterator[Log]:
    if not cluster:
        with fresh_nats_server() as (url, root, _pid):
            yield Log(url, 1, root)
        return
    from tests.nats_cluster import NatsCluster

    with tempfile.TemporaryDirectory(prefix="wq-bench-") as tmp, NatsCluster(Path(tmp)) as nodes:
        yield Log(nodes.url, 3, Path(tmp))


@contextlib.asynccontextmanager
async def the_database(url: str | None, root: Path) -> AsyncIterator[tuple[str, str]]:
    """(URL, what it is): a SQLite file, or a throw-away database on the PostgreSQL at `url`."""
    if url is None:
        yield f"sqlite+aiosqlite:///{root / 'shared-read.db'}", "SQLite file"
        return
    import asyncpg

    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain, timeout=5)
    name = f"wq_bench_{secrets.token_hex(5)}"
    await conn.execute(f"CREATE DATABASE {name}")
    try:
        yield url.rsplit("/", 1)[0] + "/" + name, "PostgreSQL"
    finally:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.close()


async def run(args: argparse.Namespace) -> None:
    common.quiet_logs()
    record = common.started_record(NAME, vars(args))
    secret = secrets.token_hex(32)
    env = {**os.environ, "WEBQUEUE_SECRET": secret, "PYTHONPATH": str(common.REPO)}
    headers = admin(secret)
    rows: list[list[Any]] = []
    results: dict[str, Any] = {}
    many = f"{args.instances} instances"
    with the_log(args.cluster) as log:
        async with the_database(args.db, log.root) as (db, db_kind):
            root = log.root
            everyone = [Instance(n, root, log, db, args.lease_ttl, env) for n in "abcdefgh"[:1]]
            await everyone[0].up()  # the first takes every lease
            for n in "abcdefgh"[1 : args.instances]:
                everyone.append(Instance(n, root, log, db, args.lease_ttl, env))
                await everyone[-1].up()
            started = list(everyone)
            try:
                first_raw = await raw(log, args.clients, args.ops)
                one = await grants(everyone[:1], headers, args.clients, args.ops, "one")
                spread = await grants(everyone, headers, args.clients, args.ops, "many")
                second_raw = await raw(log, args.clients, args.ops)
                pooled = first_raw["latencies_ms"] + second_raw["latencies_ms"]
                raw_rate = (first_raw["rate_per_sec"] + second_raw["rate_per_sec"]) / 2
                for label, res in (("1 instance", one), (many, spread)):
                    s = summary(res["latencies_ms"])
                    results[label] = {**s, "rate_per_sec": res["rate_per_sec"],
                                      "errors": res["errors"],
                                      "error_samples": res["error_samples"]}  # fmt: skip
                    rows.append(
                        [label, f"{res['rate_per_sec']:.0f}", s["p50"], s["p99"], res["errors"]]
                    )
                s = summary(pooled)
                results["raw publish-ack"] = {**s, "rate_per_sec": raw_rate}
                rows.append(["raw publish-ack", f"{raw_rate:.0f}", s["p50"], s["p99"], 0])

                # Takeover: kill whoever holds the channel; a survivor must take it.
                lease = "channel:lobby"
                takeovers: list[float] = []
                live = list(everyone)
                for n in range(args.kills):
                    holding = [i for i in live if lease in await i.leases()]
                    while not holding:  # a lease between holders: the owner renews on
                        await asyncio.sleep(0.05)
                        holding = [i for i in live if lease in await i.leases()]
                    owner = holding[0]
                    others = [i for i in live if i is not owner]
                    killed = time.monotonic()
                    owner.kill()
                    while not [i for i in others if lease in await i.leases()]:
                        if time.monotonic() - killed > 20 * args.lease_ttl:
                            raise RuntimeError("no takeover")
                        await asyncio.sleep(0.02)
                    takeovers.append(time.monotonic() - killed)
                    await owner.http.aclose()
                    spare = Instance(f"{owner.name}{n}", root, log, db, args.lease_ttl, env)
                    started.append(spare)
                    await spare.up()
                    live = [*others, spare]
                results["takeover_sec"] = takeovers
                results["lease_ttl_sec"] = args.lease_ttl
            finally:
                for inst in started:
                    await inst.close()
    where = f"{'three-node cluster, 3 copies' if args.cluster else 'one nats-server'}, {db_kind}"
    title = f"Wallet grants over HTTP, {args.clients} clients, {args.ops} ops ({where})"
    print(table(["row", "ops/s", "p50 ms", "p99 ms", "errors"], rows, title=title))
    print(
        f"takeover after kill -9 (TTL {args.lease_ttl}s): "
        + ", ".join(f"{t:.2f}s" for t in results["takeover_sec"])
    )
    record["results"] = results
    record["setup"] = where
    record["load_average_after"] = common.load_average()
    path = write_json(NAME, record)
    print(f"written to {path.relative_to(common.REPO)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--lease-ttl", type=float, default=3.0)
    parser.add_argument("--instances", type=int, default=3, help="2 to 8 (default 3)")
    parser.add_argument("--cluster", action="store_true", help="a three-node JetStream cluster")
    parser.add_argument("--db", help="a PostgreSQL URL (default: a SQLite file)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
