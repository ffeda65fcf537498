"""The service on a three-node JetStream cluster (`--nats-url a,b,c --replicas 3`).

Its stream and KV buckets keep three copies, and losing a node (kill -9) while people buy
changes nothing they can see: purchases go on being taken and settled.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import serving
from tests.e2e.test_http_and_live import caught_up
from tests.e2e.test_pay_to_play import bearer, blessed, buy, joins, settled
from tests.nats_cluster import NatsCluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path / "cluster") as running:
        yield running


async def test_on_a_cluster_three_copies_and_a_lost_node_changes_nothing_for_buyers(
    tmp_path: Path, cluster: NatsCluster
) -> None:
    stream = f"CL{uuid.uuid4().hex[:10].upper()}"
    async with serving(
        tmp_path / "data",
        nats_url=cluster.url,
        replicas=3,
        stream=stream,
        allow_open_nats=True,  # the test cluster has no users
    ) as svc:
        await caught_up(svc)
        admin, alice = bearer(svc, "boss", "admin"), bearer(svc, "alice", "viewer")
        await joins(svc, "alice")
        await blessed(svc, "carol")  # the blessed list's KV bucket comes into being
        grant = await svc.http.post(
            "/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 5000}, headers=admin
        )
        assert grant.status_code == 201, grant.text
        first = await settled(svc, await buy(svc, alice, "before-loss", "queue"), alice)
        assert first["status"] in ("positioned", "playing")

        js = svc.services.kernel.log.nc.jetstream()
        info = await js.stream_info(stream)
        assert info.config.num_replicas == 3
        assert info.cluster is not None and len(info.cluster.replicas or []) == 2
        blessed_kv = await js.stream_info(f"KV_{stream}_BLESSED")
        assert blessed_kv.config.num_replicas == 3

        copies = (await svc.http.get("/health")).json()["parts"]["log:copies"]
        assert copies["status"] == "ok" and copies["detail"].startswith("3 copies, leader n")

        # Lose the node that leads the stream, while buying goes on.
        assert info.cluster.leader is not None
        lost = info.cluster.leader
        cluster.kill(int(lost.removeprefix("n")))
        # Until the client has moved to another node and the two left have elected a leader
        # (a second or two), a purchase is refused with 503 and nothing changed, and a buyer
        # tries again; then it is taken as before.
        loop = asyncio.get_running_loop()
        started, refused = loop.time(), 0
        while True:
            r = await svc.http.post(
                "/api/v1/channels/lobby/pay-items",
                json={"media_type": "yt", "media_id": "after-loss", "tier": "queue",
                      "duration_sec": 300},
                headers=alice,
            )  # fmt: skip
            if r.status_code == 202:
                break
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "log_unavailable"
            refused += 1
            assert loop.time() - started < 20, "no purchase taken 20 s after losing a node"
            await asyncio.sleep(0.2)
        print(f"lost a node: {refused} refusals over {loop.time() - started:.1f} s")
        second = await settled(svc, r.json()["request_id"], alice)
        assert second["status"] in ("positioned", "playing")
        # /health says a copy is gone (the status is degraded, not down: the log works).
        health = (await svc.http.get("/health")).json()
        assert health["parts"]["log:copies"]["status"] == "degraded", health["parts"]
        detail = health["parts"]["log:copies"]["detail"]  # "…; n1 offline" or "n1 31 behind"
        assert f"{lost} current" not in detail and lost in detail, detail
        queue = (await svc.http.get("/api/v1/channels/lobby/queue")).json()
        assert {"before-loss", "after-loss"} <= {i["media"]["id"] for i in queue["items"]}
