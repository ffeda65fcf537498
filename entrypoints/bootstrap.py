"""The composition root: the one place that builds adapters; it composes the capabilities
(`entrypoints.wiring`) over them. Adding a capability: its wiring module, its construction
here, its place in `Services.capabilities`, and in `projections()` if it has a read model
(docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.clock import VirtualClock, WallClock
from adapters.identity.hashing import HmacCodeHasher, HmacCsrf
from adapters.identity.kv_mirror import NatsKvBlessedMirror
from adapters.identity.tokens import TokenSigner, load_previous_secrets, load_secret
from adapters.leases.jetstream_kv import NatsKvLeaseStore
from adapters.log.codec import Codec
from adapters.log.jetstream_snapshots import JetStreamSnapshotStore
from adapters.log.jetstream_store import JetStreamEventStore
from adapters.nats.connection import NatsConnection, check_not_open
from adapters.nats.credentials import (
    NatsCredentials,
    credentials_from_env,
    reject_url_credentials,
)
from adapters.nats.embedded_server import SERVICE_USER, EmbeddedNatsServer
from adapters.private_dir import make_private
from adapters.service_lock import ServiceLock
from adapters.sql.catalog_index import SqlCatalogIndex
from adapters.sql.projection_store import SqlProjectionStore
from adapters.stats.kv_mirror import NatsKvStatsBucket
from adapters.telemetry.prometheus import PrometheusMetrics, StateSources
from application.clock import Clock
from application.cytube.observations import PacedObservations
from application.cytube.observing import Observer
from application.cytube.resync import Resync
from application.leases.projection_store import LeasedProjectionStore
from application.log.command_handler import CommandHandler
from application.log.intake import Intake
from application.log.tail import LogTail
from application.projections.base import Projection
from application.projections.runner import ProjectionRunner
from entrypoints import wiring
from entrypoints.config.settings import Settings
from entrypoints.services import Services
from entrypoints.wiring.admin import wire_admin
from entrypoints.wiring.catalog import wire_catalog
from entrypoints.wiring.cytube import Cytube, wire_cytube
from entrypoints.wiring.identity import wire_identity
from entrypoints.wiring.kernel import Kernel, Log
from entrypoints.wiring.leases import Leases, wire_leases
from entrypoints.wiring.likes import wire_likes
from entrypoints.wiring.pay import wire_pay
from entrypoints.wiring.playlists import wire_playlists
from entrypoints.wiring.presence import wire_presence
from entrypoints.wiring.promos import wire_promos
from entrypoints.wiring.queue import wire_queue
from entrypoints.wiring.rules import wire_rules
from entrypoints.wiring.schedules import wire_schedules
from entrypoints.wiring.stats import wire_stats

log = logging.getLogger("webqueue")


def _credentials(settings: Settings, server: EmbeddedNatsServer | None) -> NatsCredentials:
    """The embedded server's own user; for `--nats-url`, `--nats-creds` or the environment."""
    if server is not None:
        return server.credentials(SERVICE_USER)
    assert settings.nats_url is not None
    reject_url_credentials(settings.nats_url)
    return credentials_from_env(os.environ, settings.nats_creds)


async def open_log(settings: Settings) -> Log:
    """Connect to `--nats-url`, or to the data dir's embedded server (reusing a running one).

    Refuses a server that lets clients in without credentials, unless `allow_open_nats`."""
    server = None
    url = settings.nats_url
    if url is None:
        make_private(settings.data_dir)
        server = EmbeddedNatsServer(settings.data_dir)
        url = await asyncio.to_thread(server.start)
    connection: NatsConnection | None = None
    try:
        credentials = _credentials(settings, server)
        if not settings.allow_open_nats:
            await check_not_open(url)
        connection = NatsConnection(url, credentials, server=server)
        nc = await connection.open()
        codec = Codec()
        events = JetStreamEventStore(
            nc, stream=settings.stream, codec=codec, replicas=settings.replicas
        )
        connection.on_lost.append(events.connection_lost)
        await events.ensure_stream()
    except BaseException:
        if connection is not None:
            await connection.close()
        if server is not None:
            await asyncio.to_thread(server.stop)
        raise
    return Log(nc, events, server, url, codec, connection, credentials)


async def open_read_models(settings: Settings) -> SqlProjectionStore:
    make_private(settings.data_dir)
    store = SqlProjectionStore(settings.database_url)
    await store.prepare()
    await SqlCatalogIndex(store.engine).prepare()  # the search structures over its tables
    return store


def token_signer(data_dir: Path) -> TokenSigner:
    """The signer of bearer tokens: the data dir's secret, or WEBQUEUE_SECRET (and the
    previous ones, which still verify after a rotation)."""
    return TokenSigner(
        load_secret(data_dir, os.environ), previous=load_previous_secrets(data_dir, os.environ)
    )


def _identity(settings: Settings, kernel: Kernel, cytube: Cytube) -> Any:
    secret = load_secret(settings.data_dir, os.environ)
    previous = load_previous_secrets(settings.data_dir, os.environ)
    return wire_identity(
        kernel,
        cytube.port,
        TokenSigner(secret, previous=previous),
        HmacCodeHasher(secret, previous),
        HmacCsrf(secret, previous),
        NatsKvBlessedMirror(
            kernel.log.nc, f"{settings.stream}_BLESSED", replicas=settings.replicas
        ),
    )


def projections() -> list[Projection]:
    """Every read model, for the service and for `webqueue rebuild` alike."""
    made: list[Projection] = []
    for capability in (wiring.queue, wiring.playlists, wiring.stats, wiring.likes, wiring.catalog):
        made.extend(capability.projections())
    return made


def catalog_source(settings: Settings) -> Any:
    """Where the catalog comes from ([catalog] source): the demo file shipped with webqueue, a
    file of the operator's, MediaCMS, or nothing."""
    from adapters.catalog_file.source import FileCatalogSource

    config = settings.catalog
    if config.source == "demo":
        return FileCatalogSource(None, config.manifest_template)
    if config.source == "file":
        if config.file is None:
            raise RuntimeError('[catalog] source = "file" needs [catalog] file')
        return FileCatalogSource(config.file, config.manifest_template)
    if config.source == "mediacms":
        from adapters.mediacms.source import MediaCmsSource

        if not config.mediacms_url:
            raise RuntimeError('[catalog] source = "mediacms" needs [catalog] mediacms_url')
        return MediaCmsSource(
            config.mediacms_url,
            config.manifest_template,
            token=config.mediacms_token,
            timeout_sec=config.timeout_sec,
            retries=config.retries,
            detail_concurrency=config.detail_concurrency,
            facets_endpoint=config.facets_endpoint,
        )
    return None


def instance_id() -> str:
    """This process among the instances: host, pid and a random part (never reused)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def database_label(url: str) -> str:
    """The read-model database as a lease names it: its kind and a digest of where it is
    (host, port, database; never the password), alike on every instance that shares it."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    kind = parsed.drivername.split("+")[0]
    where = f"{parsed.host}:{parsed.port}/{parsed.database}"
    return f"{kind}-{hashlib.sha256(where.encode()).hexdigest()[:12]}"


def _leases(settings: Settings, kernel: Kernel) -> Leases:
    store = NatsKvLeaseStore(
        kernel.log.nc,
        f"{settings.stream}_LEASES",
        ttl_sec=settings.lease_ttl,
        replicas=settings.replicas,
    )
    return wire_leases(
        kernel,
        store,
        holder=instance_id(),
        node=node_name(settings),
        database=database_label(settings.database_url),
    )


def node_name(settings: Settings) -> str:
    """A name for this service that stays the same across its restarts (one per data dir):
    a refresh it left running is recognised as interrupted when it starts again."""
    digest = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:10]
    return f"{socket.gethostname()}:{digest}"


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


def _economy(settings: Settings, kernel: Kernel) -> tuple[Any, Any, Any]:
    """The economy, the grant function when it is our own ledger, and who watches it."""
    handler, nc = kernel.handler, kernel.log.nc
    if settings.economy == "kryten":
        from adapters.kryten.economy import KrytenEconomy
        from adapters.kryten.peers import economy_watch

        kr = settings.kryten
        economy = KrytenEconomy(nc, timeout=kr.economy_timeout_sec, subject=kr.economy_subject)
        watch = economy_watch(
            nc,
            kernel.wall_clock,
            channel=settings.channel,
            subject=kr.economy_subject,
            timeout=kr.probe_timeout_sec,
            probe_interval_sec=kr.probe_interval_sec,
            lifecycle=kr.economy_lifecycle,
        )
        return economy, None, watch
    from adapters.ledger.local_ledger import LocalLedger

    ledger = LocalLedger(handler, pricing=settings.ledger)

    async def grant(channel: str, user: str, amount: int, by: str) -> int:
        return await ledger.grant(channel, user, amount, by)

    return ledger, grant, None


async def _cytube(
    settings: Settings, kernel: Kernel, owns: Callable[[], bool], followed: Any = None
) -> Cytube:
    """The simulated channel (in this process, or in the front `followed` is the clock of),
    or Kryten-Robot's commands and events (listened to, and snapshots taken, only while
    `owns()`: this instance holds the channel's lease)."""
    observer = Observer(kernel.handler)
    if settings.cytube == "sim" and followed is not None:
        from adapters.sim.remote import RemoteSimCytube

        remote = RemoteSimCytube(kernel.log.nc, stream=settings.stream, channel=settings.channel)
        observer.set_desync_hook(remote.snapshot)
        return wire_cytube(kernel, observer, remote, leased=True, followed_clock=followed)
    if settings.cytube == "sim":
        from adapters.sim.bridge import SimBridge
        from adapters.sim.browsers import DemoBrowsers
        from adapters.sim.cytube import SimCytube

        simulator = await _simulated_cytube(settings, kernel.clock, observer)
        browsers = DemoBrowsers(settings.data_dir / f"sim-{settings.channel}-browsers.json")
        port = SimCytube({settings.channel: simulator}, browsers=browsers)
        bridge = None
        if settings.workers > 0:
            assert isinstance(kernel.clock, VirtualClock)
            bridge = SimBridge(
                kernel.log.nc,
                stream=settings.stream,
                channel=settings.channel,
                port=port,
                simulator=simulator,
                clock=kernel.clock,
            )
        return wire_cytube(kernel, observer, port, simulator=simulator, leased=True, bridge=bridge)
    from adapters.kryten.inbound import KrytenInbound
    from adapters.kryten.peers import robot_watch
    from adapters.kryten.robot import KrytenRobot

    nc = kernel.log.nc
    kr = settings.kryten
    channel = settings.channel
    sink = PacedObservations(observer, kernel.intake)
    inbound = KrytenInbound(nc, channel, sink, domain=settings.domain, prefix=kr.events_prefix)
    robot = KrytenRobot(
        nc,
        domain=settings.domain,
        timeout=kr.robot_timeout_sec,
        subject=kr.robot_subject,
        probe_timeout=kr.probe_timeout_sec,
        events_prefix=kr.events_prefix,
    )
    # Snapshots at start, after every gap, and on every desync (application.cytube.resync).
    resync = Resync(robot, observer, kernel.clock, config=settings.resync)
    observer.set_desync_hook(resync.hook)
    connection = kernel.log.connection

    def reconnected() -> None:
        if owns():
            resync.request(channel, "NATS reconnected")

    def back(why: str) -> None:
        if owns():
            resync.request(channel, why, delay=settings.resync.settle_sec)

    connection.on_reconnected.append(reconnected)
    connection.on_reopened.append(inbound.resubscribe)
    watch = robot_watch(
        nc,
        kernel.wall_clock,
        robot,
        channel=channel,
        domain=settings.domain,
        probe_interval_sec=kr.probe_interval_sec,
        lifecycle=kr.robot_lifecycle,
        on_back=back,
    )
    return wire_cytube(
        kernel,
        observer,
        robot,
        inbound=inbound,
        resync=resync,
        watch=watch,
        leased=True,
        owns=owns,
    )


async def _kernel(
    settings: Settings, log_: Log, read_models: SqlProjectionStore, clock: Clock
) -> Kernel:
    metrics = PrometheusMetrics()
    # Aggregate snapshots (WEBQUEUE_SNAPSHOTS for the default stream); the bucket binds lazily.
    snapshots = JetStreamSnapshotStore(
        log_.nc, bucket=f"{settings.stream}_SNAPSHOTS", replicas=settings.replicas
    )
    # One reader of the log for every follower in the process; it also tells intake how far
    # behind they are (application.log.tail, application.log.intake).
    tail = LogTail(log_.events)
    handler = CommandHandler(
        tail, clock, random=random.Random(), telemetry=metrics.telemetry, snapshots=snapshots
    )
    return Kernel(
        settings=settings,
        log=log_,
        read_models=read_models,
        clock=clock,
        wall_clock=WallClock(),
        metrics=metrics,
        handler=handler,
        tail=tail,
        intake=Intake(tail, settings.intake),
    )


async def build_services(settings: Settings, *, sim_in_front: bool = False) -> Services:
    """Everything `webqueue serve` runs, wired; call start() to set it moving.

    `sim_in_front`: this is a worker of a `--workers` front on the simulator, whose channel
    and clock it uses over NATS (entrypoints.workers)."""
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
    followed = None
    try:
        if sim_in_front:
            from adapters.sim.remote import FollowedClock

            followed = FollowedClock(log_.nc, stream=settings.stream, channel=settings.channel)
            clock: Clock = await followed.start()
        else:
            clock = _clock_for(settings)
    except BaseException:
        await read_models.close()
        await log_.close()
        lock.release()
        raise
    kernel = await _kernel(settings, log_, read_models, clock)
    leases = _leases(settings, kernel)
    cytube = await _cytube(settings, kernel, leases.owns_channel, followed)
    queue = wire_queue(kernel)
    economy, granter, economy_watch = _economy(settings, kernel)
    playlists = wire_playlists(kernel, cytube)
    pay = wire_pay(kernel, cytube, playlists, economy, granter, economy_watch=economy_watch)
    promos = wire_promos(kernel, cytube, playlists)
    identity = _identity(settings, kernel, cytube)
    rules = wire_rules(kernel, pay, identity.facts.rank, identity.authenticator.role_of)
    presence = wire_presence(kernel, cytube)
    stats = wire_stats(kernel)
    likes = wire_likes(
        kernel,
        queue,
        NatsKvStatsBucket(
            log_.nc, f"{settings.stream}_STATS", settings.channel, replicas=settings.replicas
        ),
    )
    # Every instance folds the log for its own live views; the lease's holder writes the rows.
    shared = LeasedProjectionStore(read_models, leases.keeper, leases.projections)
    admin = wire_admin(kernel, shared, projections)
    catalog = wire_catalog(
        kernel,
        playlists,
        pay,
        SqlCatalogIndex(read_models.engine),
        catalog_source(settings),
        owner=node_name(settings),
    )
    services = Services(
        kernel=kernel,
        identity=identity,
        cytube=cytube,
        queue=queue,
        playlists=playlists,
        pay=pay,
        promos=promos,
        presence=presence,
        stats=stats,
        likes=likes,
        admin=admin,
        catalog=catalog,
        runners=[],
        schedules=wire_schedules(kernel, playlists),
        lock=lock,
        rules=rules,
        leases=leases,
    )
    services.runners = [
        ProjectionRunner(
            kernel.tail,
            shared,
            part.projection,
            on_change=part.on_change,
            on_stored=part.on_stored,
        )
        for capability in services.capabilities
        for part in capability.projections()
        # An instance that never takes a lease never writes rows: it folds only what its own
        # live views and caches hear of (a `--workers` front leaves the rest to its worker).
        if settings.take_leases or part.on_change or part.on_stored
    ]
    _watch(services)
    return services


def _watch(services: Services) -> None:
    """What /metrics samples when it is scraped."""
    kernel = services.kernel
    runners = services.runners

    async def checkpoints() -> dict[str, int]:
        names = [runner.projection.name for runner in runners]
        return {name: await kernel.read_models.checkpoint(name) for name in names}

    kernel.metrics.watch(
        StateSources(
            log_head=kernel.log.events.head,
            checkpoints=checkpoints,
            websocket_connections=lambda: services.queue.live.connections,
            nats_connected=lambda: kernel.log.nc.is_connected,
            purchases_in_flight=lambda: services.pay.flow.in_flight,
        )
    )
