"""`/metrics` on the running service: real Prometheus text whose numbers move with the work."""

from __future__ import annotations

import asyncio

import websockets
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Running
from tests.e2e.test_http_and_live import caught_up, eventually
from tests.e2e.test_pay_to_play import bearer, buy, joins, settled

FAMILIES = {
    # family (as the parser names it): its labels
    "webqueue_commands": {"aggregate", "command", "outcome"},
    "webqueue_command_duration_seconds": {"aggregate", "outcome"},
    "webqueue_event_append_duration_seconds": set(),
    "webqueue_command_conflicts": {"aggregate"},
    "webqueue_pay_outcomes": {"outcome"},
    "webqueue_pay_refunds": {"reason"},
    "webqueue_promo_inserts": {"promo_type"},
    "webqueue_projection_lag_commits": {"projection"},
    "webqueue_websocket_connections": set(),
    "webqueue_nats_connected": set(),
    "webqueue_pay_purchases_in_flight": set(),
    "webqueue_metrics_refresh_errors": {"source"},
    "webqueue_lease_acquisitions": {"lease", "how"},
    "webqueue_lease_losses": {"lease", "why"},
    "webqueue_lease_takeover_seconds": set(),
}


async def scrape(svc: Running) -> dict[str, Metric]:
    response = await svc.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {f.name: f for f in text_string_to_metric_families(response.text)}


def total(families: dict[str, Metric], name: str, sample: str, **labels: str) -> float:
    return sum(
        s.value
        for s in families[name].samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def gauge(families: dict[str, Metric], name: str) -> float:
    (sample,) = families[name].samples
    return sample.value


async def test_metrics_are_prometheus_text_with_every_family(service: Running) -> None:
    await caught_up(service)
    families = await scrape(service)
    assert FAMILIES.keys() <= families.keys()
    for name, labels in FAMILIES.items():
        assert families[name].documentation, name
        for sample in families[name].samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample)
    assert families["webqueue_commands"].type == "counter"
    assert families["webqueue_command_duration_seconds"].type == "histogram"
    assert families["webqueue_projection_lag_commits"].type == "gauge"
    lag = {
        s.labels["projection"]: s.value for s in families["webqueue_projection_lag_commits"].samples
    }
    assert set(lag) == {runner.projection.name for runner in service.services.runners}
    assert all(v >= 0 for v in lag.values())
    assert gauge(families, "webqueue_nats_connected") == 1
    # The demo channel was seeded through the handler: commands were handled and appended.
    assert total(families, "webqueue_commands", "webqueue_commands_total", outcome="ok") > 0
    assert (
        total(
            families,
            "webqueue_event_append_duration_seconds",
            "webqueue_event_append_duration_seconds_count",
        )
        > 0
    )


async def test_handled_commands_and_appends_move_when_media_is_added(service: Running) -> None:
    await caught_up(service)
    before = await scrape(service)
    body = {"media_type": "yt", "media_id": "metrics01", "title": "Counted", "duration_sec": 90}
    response = await service.sim.post("/api/v1/sim/lobby/media", json=body)
    assert response.status_code == 201

    def queued(families: dict[str, Metric]) -> float:
        return total(
            families,
            "webqueue_commands",
            "webqueue_commands_total",
            aggregate="queue",
            command="ObserveItemQueued",
            outcome="ok",
        )

    async def moved() -> dict[str, Metric] | None:
        after = await scrape(service)
        return after if queued(after) == queued(before) + 1 else None

    after = await eventually(moved, "the queued observation to be counted")
    appends = "webqueue_event_append_duration_seconds"
    count = f"{appends}_count"
    assert total(after, appends, count) > total(before, appends, count)

    async def projected() -> bool:
        lag = (await scrape(service))["webqueue_projection_lag_commits"]
        return all(s.value == 0 for s in lag.samples)

    await eventually(projected, "every projection to catch up with the new commit")


async def test_the_websocket_gauge_follows_live_clients(service: Running) -> None:
    await caught_up(service)
    idle = gauge(await scrape(service), "webqueue_websocket_connections")
    async with websockets.connect(f"{service.ws}/api/v1/channels/lobby/live") as ws:
        await asyncio.wait_for(ws.recv(), 5)  # watching once the first state arrives
        assert gauge(await scrape(service), "webqueue_websocket_connections") == idle + 1

    async def gone() -> bool:
        return gauge(await scrape(service), "webqueue_websocket_connections") == idle

    await eventually(gone, "the closed socket to be forgotten")


async def test_a_purchase_moves_the_pay_outcomes(service: Running) -> None:
    await caught_up(service)
    before = await scrape(service)
    admin, alice = bearer(service, "boss", "admin"), bearer(service, "alice", "viewer")
    await joins(service, "alice")
    grant = await service.http.post(
        "/api/v1/channels/lobby/wallets/alice/grants", json={"amount": 5000}, headers=admin
    )
    assert grant.status_code == 201
    rid = await buy(service, alice, "metricsBuy1", "queue")
    await settled(service, rid, alice)

    def captured(families: dict[str, Metric]) -> float:
        return total(
            families, "webqueue_pay_outcomes", "webqueue_pay_outcomes_total", outcome="captured"
        )

    async def counted() -> bool:
        return captured(await scrape(service)) == captured(before) + 1

    await eventually(counted, "the captured payment to be counted")


async def test_the_leases_a_lone_instance_took_are_counted(service: Running) -> None:
    families = await scrape(service)
    taken = {
        s.labels["lease"]: s.value
        for s in families["webqueue_lease_acquisitions"].samples
        if s.name == "webqueue_lease_acquisitions_total" and s.labels["how"] == "free"
    }
    assert taken.get("channel:lobby") == 1
    assert sum(1 for name in taken if name.startswith("projections:")) == 1
    assert total(families, "webqueue_lease_losses", "webqueue_lease_losses_total") == 0
