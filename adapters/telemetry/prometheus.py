"""Prometheus metrics: the `Telemetry` port as counters and histograms, plus gauges read at scrape.

Everything is registered on the `CollectorRegistry` it is given, never on prometheus_client's
global one, so two services (or two tests) in one process never share a number.

Counters and histograms move as the application reports its work (`PrometheusTelemetry`).
Gauges describe state that already lives elsewhere and are read when Prometheus scrapes
(`StateCollector`): WebSocket watchers, the NATS connection and purchases in flight are cheap
synchronous reads; projection lag needs the log head and the stored checkpoints, which are async,
so the endpoint awaits `refresh()` before rendering and `collect()` reports the cached values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TypeVar

from attrs import define
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from application.telemetry import CommandOutcome, PayOutcome

log = logging.getLogger(__name__)
T = TypeVar("T")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The text exposition format `generate_latest` writes."""

# Appends to a local JetStream take about a millisecond; a struggling one, seconds.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

PAY_OUTCOMES: tuple[PayOutcome, ...] = ("captured", "declined", "refunded")


class PrometheusTelemetry:
    """The application's reports as prometheus_client metrics on one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.commands = Counter(
            "webqueue_commands_total",
            "Commands handled, by aggregate, command type and outcome "
            "(ok, noop, rejected, conflict_exhausted, unavailable, error).",
            ["aggregate", "command", "outcome"],
            registry=registry,
        )
        self.command_duration = Histogram(
            "webqueue_command_duration_seconds",
            "Time to handle a command, from the call to its answer "
            "(waiting for the stream's lock and conflict retries included).",
            ["aggregate", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.append_duration = Histogram(
            "webqueue_event_append_duration_seconds",
            "Time of one append to the event log, however it ended.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.conflicts = Counter(
            "webqueue_command_conflicts_total",
            "Appends refused because the stream moved (optimistic concurrency); each is caught "
            "up and decided again while the retry budget lasts.",
            ["aggregate"],
            registry=registry,
        )
        self.pay_outcomes = Counter(
            "webqueue_pay_outcomes_total",
            "Payment outcomes the pay flow recorded: captured, declined, refunded.",
            ["outcome"],
            registry=registry,
        )
        self.refunds = Counter(
            "webqueue_pay_refunds_total",
            "Refunds the pay flow made, by why the purchase was cancelled.",
            ["reason"],
            registry=registry,
        )
        self.promo_inserts = Counter(
            "webqueue_promo_inserts_total",
            "Promo clips the promo director added to CyTube, by promo type.",
            ["promo_type"],
            registry=registry,
        )
        self.lease_acquisitions = Counter(
            "webqueue_lease_acquisitions_total",
            "Leases this instance took (a channel's owner-only work, a read-model database's "
            "projections), by lease and how: free (nobody held it) or takeover (it lapsed).",
            ["lease", "how"],
            registry=registry,
        )
        self.lease_losses = Counter(
            "webqueue_lease_losses_total",
            "Leases this instance lost, by lease and why: taken (another instance holds it) or "
            "expired (it could not renew in time); the work it guards stopped at once.",
            ["lease", "why"],
            registry=registry,
        )
        self.lease_takeover = Histogram(
            "webqueue_lease_takeover_seconds",
            "How long a lease this instance took over lay unrenewed: from its last holder's "
            "last renewal to this instance's acquisition (the TTL plus at most one retry).",
            buckets=(0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120),
            registry=registry,
        )
        for outcome in PAY_OUTCOMES:  # known label values start at 0, so rate() sees the first
            self.pay_outcomes.labels(outcome)

    def command_handled(
        self, aggregate: str, command_type: str, outcome: CommandOutcome, seconds: float
    ) -> None:
        self.commands.labels(aggregate, command_type, outcome).inc()
        self.command_duration.labels(aggregate, outcome).observe(seconds)

    def append_latency(self, seconds: float) -> None:
        self.append_duration.observe(seconds)

    def conflict_retry(self, aggregate: str) -> None:
        self.conflicts.labels(aggregate).inc()

    def pay_outcome(self, outcome: PayOutcome) -> None:
        self.pay_outcomes.labels(outcome).inc()

    def refund(self, reason: str) -> None:
        self.refunds.labels(reason).inc()

    def promo_inserted(self, promo_type: str) -> None:
        self.promo_inserts.labels(promo_type).inc()

    def lease_acquired(self, lease: str, takeover_seconds: float | None) -> None:
        how = "free" if takeover_seconds is None else "takeover"
        self.lease_acquisitions.labels(lease, how).inc()
        if takeover_seconds is not None:
            self.lease_takeover.observe(takeover_seconds)

    def lease_lost(self, lease: str, why: str) -> None:
        self.lease_losses.labels(lease, why).inc()


@define
class StateSources:
    """Where the scrape-time gauges come from, as plain callables (the composition root binds
    them), so this adapter knows nothing of the services it reports on."""

    log_head: Callable[[], Awaitable[int]]
    """The log's last position."""
    checkpoints: Callable[[], Awaitable[Mapping[str, int]]]
    """Each projection's stored checkpoint, by projection name."""
    websocket_connections: Callable[[], int]
    nats_connected: Callable[[], bool]
    purchases_in_flight: Callable[[], int]


class StateCollector(Collector):
    """Gauges read at scrape time. Call (and await) `refresh()` before rendering: it reads what
    needs async I/O; `collect()` itself never waits and never raises."""

    def __init__(self, sources: StateSources, *, timeout_sec: float = 2.0) -> None:
        self.sources = sources
        self.timeout_sec = timeout_sec
        self._head: int | None = None
        self._checkpoints: dict[str, int] = {}
        self._errors: dict[str, int] = {"log_head": 0, "checkpoints": 0}

    async def refresh(self) -> None:
        """Read the log head and the checkpoints. A read that fails keeps the last values (the
        head only grows, so lag stays a lower bound) and counts a refresh error."""
        try:
            self._checkpoints = dict(
                await asyncio.wait_for(self.sources.checkpoints(), self.timeout_sec)
            )
        except Exception:
            log.warning("metrics: projection checkpoints unreadable", exc_info=True)
            self._errors["checkpoints"] += 1
        if not self._read(self.sources.nats_connected, False):
            self._errors["log_head"] += 1
            return  # no log to ask: do not make the scrape wait for a timeout
        try:
            self._head = await asyncio.wait_for(self.sources.log_head(), self.timeout_sec)
        except Exception:
            log.warning("metrics: log head unreadable", exc_info=True)
            self._errors["log_head"] += 1

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        return list(self._families(with_samples=True))

    def _families(self, with_samples: bool = False) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "webqueue_projection_lag_commits",
            "Log positions (commits) a projection's stored checkpoint is behind the log head.",
            labels=["projection"],
        )
        connections = GaugeMetricFamily(
            "webqueue_websocket_connections",
            "Live queue WebSockets connected now.",
        )
        connected = GaugeMetricFamily(
            "webqueue_nats_connected",
            "1 while the connection to NATS is up, 0 otherwise.",
        )
        in_flight = GaugeMetricFamily(
            "webqueue_pay_purchases_in_flight",
            "Purchases the pay flow is driving now (payment, placement or refund under way).",
        )
        errors = CounterMetricFamily(
            "webqueue_metrics_refresh_errors",
            "Scrape-time reads that failed (the gauges they feed keep their last values).",
            labels=["source"],
        )
        if with_samples:
            if self._head is not None:
                for name, position in sorted(self._checkpoints.items()):
                    lag.add_metric([name], max(self._head - position, 0))
            connections.add_metric([], self._read(self.sources.websocket_connections, 0))
            connected.add_metric([], 1 if self._read(self.sources.nats_connected, False) else 0)
            in_flight.add_metric([], self._read(self.sources.purchases_in_flight, 0))
            for source, count in sorted(self._errors.items()):
                errors.add_metric([source], count)
        yield from (lag, connections, connected, in_flight, errors)

    @staticmethod
    def _read(source: Callable[[], T], fallback: T) -> T:
        try:
            return source()
        except Exception:
            log.warning("metrics: a gauge source failed", exc_info=True)
            return fallback


class PrometheusMetrics:
    """One registry with the telemetry on it, and the state gauges once `watch` binds them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.telemetry = PrometheusTelemetry(self.registry)
        self.state: StateCollector | None = None

    def watch(self, sources: StateSources) -> StateCollector:
        self.state = StateCollector(sources)
        self.registry.register(self.state)
        return self.state

    async def refresh(self) -> None:
        if self.state is not None:
            await self.state.refresh()

    def render(self) -> bytes:
        return generate_latest(self.registry)
