"""The composition root: the one place that builds adapters and wires them to the application."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from attrs import define, field
from nats.aio.client import Client

from adapters.clock import VirtualClock, WallClock
from adapters.identity.tokens import TokenSigner, load_secret
from adapters.log.codec import Codec
from adapters.log.jetstream_snapshots import JetStreamSnapshotStore
from adapters.log.jetstream_store import JetStreamEventStore
from adapters.nats.embedded_server import EmbeddedNatsServer
from adapters.service_lock import ServiceLock
from adapters.sql.projection_store import SqlProjectionStore
from adapters.telemetry.prometheus import PrometheusMetrics, StateSources
from application.admin.viewer import Admin
from application.clock import Clock
from application.log.command_handler import CommandHandler
from application.log.intake import Intake, PacedObservations
from application.log.tail import LogTail
from application.pay.flow import PayFlow
from application.pay.service import PayService
from application.playlists.projection import PlaylistsProjection
from application.playlists.service import PlaylistService
from application.presence.monitor import PresenceMonitor
from application.projections.base import Projection
from application.projections.runner import ProjectionRunner
from application.promos.director import PromoDirector
from application.promos.service import PromoService
from application.queue.live import LiveQueues
from application.queue.observing import Observer
from application.queue.pacing import AddPacer
from application.queue.shadow import QueueShadowProjection
from application.queue.view import QueueQueries
from application.stats.projection import StatsProjection
from application.stats.queries import StatsQueries
from application.tasks import cancel_and_wait
from domain.media import Media
from domain.promos.kinds import PromoType
from domain.queue.commands import ObservePlaylist
from entrypoints.settings import Settings

log = logging.getLogger("webqueue")


@define
class Log:
    """A connection to the event log, and the embedded server behind it when there is one."""

    nc: Client
    events: JetStreamEventStore
    server: EmbeddedNatsServer | None
    url: str
    codec: Codec  # the log's own wire format, for every reader that shows events as JSON

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.nc.drain()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)


async def _connect(url: str, on_lost: list[Callable[[], None]]) -> Client:
    nc = Client()

    async def on_error(exc: Exception) -> None:
        log.warning("NATS: %s", exc)

    async def on_disconnect() -> None:
        for lost in on_lost:
            lost()
        if not (nc.is_closed or nc.is_draining):
            log.warning("NATS disconnected; reconnecting")

    async def on_reconnect() -> None:
        log.info("NATS reconnected")

    await nc.connect(
        url,
        name="webqueue",
        connect_timeout=3,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        allow_reconnect=True,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )
    return nc


async def open_log(settings: Settings) -> Log:
    """Connect to `--nats-url`, or to the data dir's embedded server (reusing a running one)."""
    server = None
    url = settings.nats_url
    if url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        server = EmbeddedNatsServer(settings.data_dir)
        url = await asyncio.to_thread(server.start)
    try:
        on_lost: list[Callable[[], None]] = []
        nc = await _connect(url, on_lost)
        codec = Codec()
        events = JetStreamEventStore(nc, stream=settings.stream, codec=codec)
        on_lost.append(events.connection_lost)
        await events.ensure_stream()
    except BaseException:
        if server is not None:
            await asyncio.to_thread(server.stop)
        raise
    return Log(nc, events, server, url, codec)


async def open_read_models(settings: Settings) -> SqlProjectionStore:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqlProjectionStore(settings.database_url)
    await store.prepare()
    return store


def _event_json(codec: Codec) -> Callable[[object], dict[str, Any]]:
    def as_json(event: object) -> dict[str, Any]:
        wire = codec.encode_event(event)
        return {"type": wire.type, "v": wire.v, "data": msgspec.json.decode(wire.data)}

    return as_json


def token_signer(data_dir: Path) -> TokenSigner:
    """The signer of bearer tokens: the data dir's secret, or WEBQUEUE_SECRET."""
    return TokenSigner(load_secret(data_dir, os.environ))


def projections() -> list[Projection]:
    """Every read model, for the service and for `webqueue rebuild` alike."""
    return [QueueShadowProjection(), PlaylistsProjection(), StatsProjection()]


@define
class Services:
    settings: Settings
    log: Log
    read_models: SqlProjectionStore
    clock: Clock
    handler: CommandHandler
    observer: Observer
    tail: LogTail
    intake: Intake
    queries: QueueQueries
    stats: StatsQueries
    live: LiveQueues
    runners: list[ProjectionRunner]
    signer: TokenSigner
    pay: PayService
    pay_flow: PayFlow
    presence: PresenceMonitor
    playlists: PlaylistService
    promos: PromoService
    director: PromoDirector
    admin: Admin
    cytube: Any
    wall_clock: Clock = field(factory=WallClock)
    metrics: PrometheusMetrics = field(factory=PrometheusMetrics)
    simulator: Any = None
    commands: Any = None
    inbound: Any = None
    lock: ServiceLock | None = None
    tasks: list[asyncio.Task[Any]] = field(factory=list)

    async def start(self) -> None:
        for runner in self.runners:
            self._spawn(runner.run(), f"projection:{runner.projection.name}")
        if self.simulator is not None:
            self._spawn(self.simulator.run(), "simulator")
        if self.inbound is not None:
            await self.inbound.start()
        self._spawn(self.pay_flow.run(), "pay-flow")
        self._spawn(self.presence.run(), "presence-refunds")
        self._spawn(self.director.run(), "promo-director")
        from entrypoints.nats_commands import NatsCommands

        self.commands = NatsCommands(self.log.nc, self, self.settings.channel)
        await self.commands.start()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_report_crash)
        self.tasks.append(task)

    async def close(self) -> None:
        if self.commands is not None:
            await self.commands.stop()
        if self.inbound is not None:
            await self.inbound.stop()
        await cancel_and_wait(self.tasks)  # not one cancel and a gather: see application.tasks
        await self.pay_flow.stop()
        await self.tail.close()
        await self.observer.close()
        await self.read_models.close()
        await self.log.close()
        if self.lock is not None:
            self.lock.release()


def _report_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s stopped", task.get_name(), exc_info=task.exception())


def _sim_state_path(settings: Settings) -> Path:
    return settings.data_dir / f"sim-{settings.channel}.json"


def _clock_for(settings: Settings) -> Clock:
    """Wall time against real CyTube; the simulator's virtual time resumes where it stopped."""
    if settings.cytube != "sim":
        return WallClock()
    from adapters.sim.channel import SimulatedChannel

    start = SimulatedChannel.saved_time(_sim_state_path(settings)) or datetime.now(UTC)
    return VirtualClock(start, speed=settings.sim_speed)


async def _simulated_cytube(settings: Settings, clock: Clock, observer: Observer) -> Any:
    from adapters.sim.channel import SimulatedChannel
    from adapters.sim.demo import seed_demo

    state_path = _sim_state_path(settings)
    fresh = not state_path.exists()
    sim = await SimulatedChannel.load(settings.channel, clock, observer, state_path)
    if fresh and settings.sim_seed_demo:
        await seed_demo(sim)
    observer.set_desync_hook(lambda _channel: sim.snapshot())
    return sim


async def _kryten_resync(cytube: Any, observer: Observer, channel: str) -> None:
    """Ask the robot for the playlist; an unreadable one (it answers [] then) changes nothing."""
    items = await cytube.playlist(channel)
    if items is not None:
        await observer.observe(channel, ObservePlaylist(items))


def _economy(settings: Settings, nc: Client, handler: CommandHandler) -> tuple[Any, Any]:
    """The economy, and the grant function when it is our own ledger."""
    if settings.economy == "kryten":
        from adapters.kryten.economy import KrytenEconomy

        return KrytenEconomy(nc), None
    from adapters.ledger.local_ledger import LocalLedger

    ledger = LocalLedger(handler)

    async def grant(channel: str, user: str, amount: int, by: str) -> int:
        return await ledger.grant(channel, user, amount, by)

    return ledger, grant


async def build_services(settings: Settings) -> Services:
    """Everything `webqueue serve` runs, wired; call start() to set it moving."""
    lock = ServiceLock(settings.data_dir)
    lock.acquire()
    try:
        log_ = await open_log(settings)
    except BaseException:
        lock.release()
        raise
    try:
        read_models = await open_read_models(settings)
    except BaseException:
        await log_.close()
        lock.release()
        raise
    clock = _clock_for(settings)
    metrics = PrometheusMetrics()
    telemetry = metrics.telemetry
    # Aggregate snapshots (WEBQUEUE_SNAPSHOTS for the default stream); the bucket binds lazily.
    snapshots = JetStreamSnapshotStore(log_.nc, bucket=f"{settings.stream}_SNAPSHOTS")
    # One reader of the log for every follower in the process; it also tells intake how far
    # behind they are (application.log.tail, application.log.intake).
    tail = LogTail(log_.events)
    intake = Intake(tail, settings.intake)
    handler = CommandHandler(
        tail, clock, random=random.Random(), telemetry=telemetry, snapshots=snapshots
    )
    observer = Observer(handler)
    simulator = inbound = None
    if settings.cytube == "sim":
        from adapters.sim.cytube import SimCytube

        simulator = await _simulated_cytube(settings, clock, observer)
        cytube: Any = SimCytube({settings.channel: simulator})
    else:
        from adapters.kryten.inbound import KrytenInbound
        from adapters.kryten.robot import KrytenRobot

        inbound = KrytenInbound(
            log_.nc, settings.channel, PacedObservations(observer, intake), domain=settings.domain
        )
        cytube = KrytenRobot(log_.nc, domain=settings.domain)
        observer.set_desync_hook(lambda channel: _kryten_resync(cytube, observer, channel))
    economy, granter = _economy(settings, log_.nc, handler)
    queries = QueueQueries(read_models, clock)
    read_sides = projections()
    shadow = next(p for p in read_sides if isinstance(p, QueueShadowProjection))
    live = LiveQueues(queries, shadow)  # fans out from the shadow's memory, not its rows in SQL
    playlists = PlaylistService(handler, read_models, clock, cache_pools=True)
    runners = [
        ProjectionRunner(
            tail,
            read_models,
            projection,
            # Only the queue shadow's changes are what live watchers see.
            on_change=live.changed if projection is shadow else None,
            # Pools and non-payable media stay cached until their rows change.
            on_stored=playlists.rows_changed
            if projection.name == PlaylistsProjection.name
            else None,
        )
        for projection in read_sides
    ]
    pacer = AddPacer(clock, settings.pay_flow.add_delay_sec)

    async def pools(channel: str) -> dict[PromoType, tuple[Media, ...]]:
        return {kind: tuple(items) for kind, items in (await playlists.pools(channel)).items()}

    director = PromoDirector(
        handler,
        tail,
        cytube,
        observer,
        clock,
        pools,
        channels=[settings.channel],
        pacer=pacer,
        add_retries=settings.pay_flow.add_retries,
        confirm_timeout_sec=settings.pay_flow.confirm_timeout_sec,
        telemetry=telemetry,
    )
    pay_flow = PayFlow(
        handler,  # shared: its per-stream lock serialises our own writers, no self-conflicts
        tail,
        economy,
        cytube,
        observer,
        clock,
        channels=[settings.channel],
        config=settings.pay_flow,
        pacer=pacer,
        telemetry=telemetry,
    )

    async def checkpoints() -> dict[str, int]:
        names = [runner.projection.name for runner in runners]
        return {name: await read_models.checkpoint(name) for name in names}

    metrics.watch(
        StateSources(
            log_head=log_.events.head,
            checkpoints=checkpoints,
            websocket_connections=lambda: live.connections,
            nats_connected=lambda: log_.nc.is_connected,
            purchases_in_flight=lambda: pay_flow.in_flight,
        )
    )
    presence = PresenceMonitor(
        handler,
        tail,
        cytube,
        observer,
        clock,
        channels=[settings.channel],
        config=settings.presence_refund,
    )
    return Services(
        settings=settings,
        log=log_,
        read_models=read_models,
        clock=clock,
        handler=handler,
        observer=observer,
        tail=tail,
        intake=intake,
        queries=queries,
        stats=StatsQueries(read_models, clock),
        live=live,
        runners=runners,
        signer=token_signer(settings.data_dir),
        pay=PayService(
            handler,
            economy,
            read_models,
            clock,
            granter=granter,
            non_payable=playlists.non_payable,
        ),
        playlists=playlists,
        promos=PromoService(handler),
        director=director,
        admin=Admin(
            log_.events, read_models, projections, WallClock().now, _event_json(log_.codec)
        ),
        pay_flow=pay_flow,
        presence=presence,
        cytube=cytube,
        simulator=simulator,
        inbound=inbound,
        lock=lock,
        metrics=metrics,
    )


def settle_heap() -> None:
    """For a process that is now a long-running service: what startup built stays for good,
    so it leaves the cyclic collector's view (gc.freeze), and young objects are collected
    less often. Measured with 1,000 live sockets: full collections of 56-156 ms were the
    main cause of the fan-out's tail (docs/performance.md). Not for tests, which start many
    services in one process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Services]:
    services = await build_services(settings)
    try:
        await services.start()
        yield services
    finally:
        await services.close()
