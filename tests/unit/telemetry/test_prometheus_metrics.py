"""Prometheus telemetry: each report moves its own number, on its own registry only."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from adapters.clock import VirtualClock
from adapters.log.memory_store import InMemoryEventStore
from adapters.telemetry.prometheus import (
    PrometheusMetrics,
    PrometheusTelemetry,
    StateCollector,
    StateSources,
)
from application.log.command_handler import CommandHandler, CommandMeta
from application.log.ports import AppendResult, Commit, ConcurrencyConflict, StoreUnavailable
from application.log.streams import queue_stream
from domain.errors import Rejected
from domain.media import Media
from domain.queue.commands import ObserveItemMoved, ObserveItemQueued
from domain.queue.decider import queue_decider

START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
LOBBY = queue_stream("lobby")


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def queued(uid: int) -> ObserveItemQueued:
    return ObserveItemQueued(uid, Media("yt", f"m{uid}", f"Clip {uid}", 60))


def commands(
    registry: CollectorRegistry, outcome: str, command: str = "ObserveItemQueued"
) -> float:
    return value(
        registry, "webqueue_commands_total", aggregate="queue", command=command, outcome=outcome
    )


def test_each_report_moves_its_own_counter_on_the_given_registry_only() -> None:
    registry = CollectorRegistry()
    telemetry = PrometheusTelemetry(registry)

    telemetry.command_handled("queue", "ObservePlaylist", "ok", 0.004)
    telemetry.command_handled("queue", "ObservePlaylist", "ok", 0.002)
    telemetry.command_handled("wallet", "Spend", "rejected", 0.001)
    telemetry.append_latency(0.003)
    telemetry.conflict_retry("queue")
    telemetry.pay_outcome("captured")
    telemetry.pay_outcome("refunded")
    telemetry.refund("owner_left")
    telemetry.promo_inserted("viewers_choice")

    labels = {"aggregate": "queue", "command": "ObservePlaylist", "outcome": "ok"}
    assert value(registry, "webqueue_commands_total", **labels) == 2
    assert (
        value(
            registry,
            "webqueue_commands_total",
            aggregate="wallet",
            command="Spend",
            outcome="rejected",
        )
        == 1
    )
    duration = {"aggregate": "queue", "outcome": "ok"}
    assert value(registry, "webqueue_command_duration_seconds_count", **duration) == 2
    assert value(registry, "webqueue_command_duration_seconds_sum", **duration) == pytest.approx(
        0.006
    )
    assert value(registry, "webqueue_event_append_duration_seconds_count") == 1
    assert value(registry, "webqueue_command_conflicts_total", aggregate="queue") == 1
    assert value(registry, "webqueue_pay_outcomes_total", outcome="captured") == 1
    assert value(registry, "webqueue_pay_outcomes_total", outcome="refunded") == 1
    assert registry.get_sample_value("webqueue_pay_outcomes_total", {"outcome": "declined"}) == 0
    assert value(registry, "webqueue_pay_refunds_total", reason="owner_left") == 1
    assert value(registry, "webqueue_promo_inserts_total", promo_type="viewers_choice") == 1
    # Nothing leaked onto prometheus_client's process-wide registry.
    assert not [m for m in REGISTRY.collect() if m.name.startswith("webqueue_")]


def test_two_services_in_one_process_keep_their_own_numbers() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    first.telemetry.promo_inserted("event")
    assert value(first.registry, "webqueue_promo_inserts_total", promo_type="event") == 1
    assert value(second.registry, "webqueue_promo_inserts_total", promo_type="event") == 0


async def test_the_command_handler_reports_ok_noop_and_rejected_with_append_latency() -> None:
    registry = CollectorRegistry()
    store = InMemoryEventStore()
    handler = CommandHandler(store, VirtualClock(START), telemetry=PrometheusTelemetry(registry))

    await handler.handle(queue_decider, LOBBY, queued(1), CommandMeta("obs-1"))
    # The same command id again: JetStream (and the memory store) drop the repeat.
    await handler.handle(queue_decider, LOBBY, queued(2), CommandMeta("obs-1"))
    with pytest.raises(Rejected):
        await handler.handle(
            queue_decider, LOBBY, ObserveItemMoved(99, "prepend"), CommandMeta.new()
        )

    assert commands(registry, "ok") == 1
    assert commands(registry, "noop") == 1
    assert commands(registry, "rejected", "ObserveItemMoved") == 1
    assert value(registry, "webqueue_event_append_duration_seconds_count") == 2
    assert (
        value(registry, "webqueue_command_duration_seconds_count", aggregate="queue", outcome="ok")
        == 1
    )


async def test_a_conflict_is_counted_and_an_exhausted_budget_is_an_outcome() -> None:
    registry = CollectorRegistry()
    store = InMemoryEventStore()
    clock = VirtualClock(START)
    ours = CommandHandler(store, clock, telemetry=PrometheusTelemetry(registry), max_retries=0)
    theirs = CommandHandler(store, clock)
    await ours.handle(queue_decider, LOBBY, queued(1), CommandMeta.new())
    await theirs.handle(queue_decider, LOBBY, queued(2), CommandMeta.new())  # ours is now stale

    with pytest.raises(ConcurrencyConflict):
        await ours.handle(queue_decider, LOBBY, queued(3), CommandMeta.new())
    assert value(registry, "webqueue_command_conflicts_total", aggregate="queue") == 1
    assert commands(registry, "conflict_exhausted") == 1

    retrying = CommandHandler(store, clock, telemetry=PrometheusTelemetry(CollectorRegistry()))
    await retrying.handle(queue_decider, LOBBY, queued(4), CommandMeta.new())
    await theirs.handle(queue_decider, LOBBY, queued(5), CommandMeta.new())
    await retrying.handle(queue_decider, LOBBY, queued(6), CommandMeta.new())
    assert retrying.conflicts == 1


class DownStore(InMemoryEventStore):
    async def append(self, commit: Commit, expected_position: int) -> AppendResult:
        raise StoreUnavailable("the log is down")


async def test_an_unreachable_log_is_reported_as_unavailable() -> None:
    registry = CollectorRegistry()
    handler = CommandHandler(
        DownStore(), VirtualClock(START), telemetry=PrometheusTelemetry(registry)
    )
    with pytest.raises(StoreUnavailable):
        await handler.handle(queue_decider, LOBBY, queued(1), CommandMeta.new())
    assert commands(registry, "unavailable") == 1
    assert value(registry, "webqueue_event_append_duration_seconds_count") == 1


class FakeWorld:
    def __init__(self) -> None:
        self.head = 10
        self.positions = {"queue_shadow": 7, "playlists": 10}
        self.sockets = 2
        self.connected = True
        self.paying = 1
        self.head_reads = 0

    async def log_head(self) -> int:
        self.head_reads += 1
        return self.head

    async def checkpoints(self) -> Mapping[str, int]:
        return dict(self.positions)

    def sources(self) -> StateSources:
        return StateSources(
            log_head=self.log_head,
            checkpoints=self.checkpoints,
            websocket_connections=lambda: self.sockets,
            nats_connected=lambda: self.connected,
            purchases_in_flight=lambda: self.paying,
        )


async def test_state_gauges_are_read_at_scrape_with_lag_from_the_last_refresh() -> None:
    world = FakeWorld()
    metrics = PrometheusMetrics()
    metrics.watch(world.sources())

    def lag(projection: str) -> float | None:
        return metrics.registry.get_sample_value(
            "webqueue_projection_lag_commits", {"projection": projection}
        )

    assert lag("queue_shadow") is None  # nothing known before the first refresh
    await metrics.refresh()
    assert lag("queue_shadow") == 3 and lag("playlists") == 0
    assert value(metrics.registry, "webqueue_websocket_connections") == 2
    assert value(metrics.registry, "webqueue_nats_connected") == 1
    assert value(metrics.registry, "webqueue_pay_purchases_in_flight") == 1

    world.head, world.sockets, world.paying = 12, 3, 0
    assert lag("queue_shadow") == 3  # async reads wait for the next refresh...
    assert value(metrics.registry, "webqueue_websocket_connections") == 3  # ...sync ones do not
    assert value(metrics.registry, "webqueue_pay_purchases_in_flight") == 0
    await metrics.refresh()
    assert lag("queue_shadow") == 5


async def test_a_disconnected_log_is_not_asked_and_keeps_the_last_head() -> None:
    world = FakeWorld()
    collector = StateCollector(world.sources())
    registry = CollectorRegistry()
    registry.register(collector)
    await collector.refresh()
    world.connected = False
    world.positions["queue_shadow"] = 9
    await collector.refresh()
    assert world.head_reads == 1
    assert registry.get_sample_value("webqueue_nats_connected") == 0
    assert (
        registry.get_sample_value("webqueue_projection_lag_commits", {"projection": "queue_shadow"})
        == 1
    )
    assert (
        registry.get_sample_value("webqueue_metrics_refresh_errors_total", {"source": "log_head"})
        == 1
    )


async def test_failing_sources_never_break_the_scrape() -> None:
    async def broken_head() -> int:
        raise StoreUnavailable("down")

    async def broken_checkpoints() -> Mapping[str, int]:
        raise RuntimeError("database gone")

    def broken() -> int:
        raise RuntimeError("boom")

    metrics = PrometheusMetrics()
    metrics.watch(StateSources(broken_head, broken_checkpoints, broken, lambda: True, broken))
    await metrics.refresh()
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    assert families["webqueue_websocket_connections"].samples[0].value == 0
    errors = {
        s.labels["source"]: s.value for s in families["webqueue_metrics_refresh_errors"].samples
    }
    assert errors == {"checkpoints": 1, "log_head": 1}
