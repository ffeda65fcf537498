"""The shared kernel every capability is built on: the log, the read models, time, metrics,
and the command handler, log tail and intake over them."""

from __future__ import annotations

import asyncio

from attrs import define
from nats.aio.client import Client

from adapters.log.codec import Codec
from adapters.log.jetstream_store import JetStreamEventStore
from adapters.nats.connection import NatsConnection
from adapters.nats.credentials import NatsCredentials
from adapters.nats.embedded_server import EmbeddedNatsServer
from adapters.sql.projection_store import SqlProjectionStore
from adapters.telemetry.prometheus import PrometheusMetrics
from application.clock import Clock
from application.log.command_handler import CommandHandler
from application.log.intake import Intake
from application.log.tail import LogTail
from entrypoints.config.settings import Settings


@define
class Log:
    """A connection to the event log, and the embedded server behind it when there is one."""

    nc: Client
    events: JetStreamEventStore
    server: EmbeddedNatsServer | None
    url: str
    codec: Codec  # the log's own wire format, for every reader that shows events as JSON
    connection: NatsConnection  # keeps `nc` open: reopened when closed, its server revived
    credentials: NatsCredentials  # how `nc` signed in (never printed: its repr hides secrets)

    async def close(self) -> None:
        await self.connection.close()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)


@define
class Kernel:
    settings: Settings
    log: Log
    read_models: SqlProjectionStore
    clock: Clock  # channel time: virtual under the simulator
    wall_clock: Clock  # real time, for tokens and the admin's views
    metrics: PrometheusMetrics
    handler: CommandHandler
    tail: LogTail  # the process's one reader of the log, for every follower
    intake: Intake
