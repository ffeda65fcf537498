"""The service's one connection to NATS, kept open for as long as the service runs.

nats-py reconnects by itself after a dropped line, but closes the connection for good when the
server ends it with an error (`maximum control line exceeded`, an authorization violation, a
parser error): every later request then fails until a restart. Here a connection closed by
anyone but us is opened again on the same `Client` object, so every adapter that holds it
carries on; what subscribed on it (command subjects, Kryten's events) subscribes again through
`on_reopened`. With an embedded nats-server, a server process that died is started again on
the same port (the client reconnects to the same URL by itself).

`check_not_open` is the start-up check that the server is not open to anyone: a connection
without credentials must be refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.aio.client import Client

from adapters.nats.credentials import NatsCredentials
from adapters.nats.embedded_server import EmbeddedNatsServer
from adapters.nats.servers import server_urls
from application.health import PartHealth

log = logging.getLogger("webqueue.nats")

REOPEN_FIRST_SEC = 0.2
REOPEN_MAX_SEC = 5.0
SERVER_CHECK_SEC = 1.0


class OpenServer(RuntimeError):
    """The NATS server lets anyone in; refused unless the service was told it may run so."""


async def check_not_open(url: str, *, connect_timeout: float = 3.0) -> None:
    """Raise OpenServer when `url` accepts a client that gives no credentials at all."""
    try:
        probe = await nats.connect(
            server_urls(url),
            name="webqueue-open-check",
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=connect_timeout,
            error_cb=_quiet,
        )
    except Exception as exc:
        if "authorization" in str(exc).lower() or "authentication" in str(exc).lower():
            return
        raise
    await probe.close()
    raise OpenServer(
        f"the NATS server at {url} accepts clients without credentials: anyone who can reach "
        "it could append to the log, read bearer tokens off the command subjects, purge the "
        "stream or answer for the economy. Give it users and permissions (docs/security.md), "
        "or pass --allow-open-nats (WEBQUEUE_ALLOW_OPEN_NATS=1) for a test server"
    )


async def _quiet(_: Exception) -> None:
    return None


class NatsConnection:
    def __init__(
        self,
        url: str,
        credentials: NatsCredentials,
        *,
        name: str = "webqueue",
        server: EmbeddedNatsServer | None = None,
    ) -> None:
        self.url = url
        self.nc = Client()
        self.server = server
        self.on_lost: list[Callable[[], None]] = []  # each disconnect, at once
        self.on_reopened: list[Callable[[], Awaitable[None]]] = []
        # Each time the line is back (after a reconnect or a reopen): what was published
        # meanwhile was not heard, so a reader of live events looks again.
        self.on_reconnected: list[Callable[[], None]] = []
        self.reopened = 0  # times a connection closed under us was opened again
        self.server_restarts = 0
        self.last_problem: str | None = None
        self._name = name
        self._credentials = credentials
        self._closing = False
        self._reopening: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None
        self._down_since: float | None = None

    def _options(self) -> dict[str, Any]:
        return {
            "servers": server_urls(self.url),
            "name": self._name,
            "connect_timeout": 3,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.5,
            "allow_reconnect": True,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnect,
            "reconnected_cb": self._on_reconnect,
            "closed_cb": self._on_closed,
            **self._credentials.connect_options(),
        }

    async def open(self) -> Client:
        await self.nc.connect(**self._options())
        if self.server is not None and self._watching is None:
            self._watching = asyncio.create_task(self._watch_server(), name="nats-server-watch")
        return self.nc

    async def close(self) -> None:
        """Drain and close; nothing is reopened after this."""
        self._closing = True
        for task in (self._reopening, self._watching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await self.nc.drain()
        with contextlib.suppress(Exception):
            await self.nc.close()

    def health(self) -> PartHealth:
        if self.nc.is_connected:
            return PartHealth("ok")
        down = self._down_since
        since = "" if down is None else f" for {time.monotonic() - down:.0f}s"
        return PartHealth("down", f"not connected to NATS{since}: {self.last_problem or '?'}")

    # ---- callbacks ------------------------------------------------------------------------

    async def _on_error(self, exc: Exception) -> None:
        self.last_problem = str(exc) or type(exc).__name__
        log.warning("NATS: %s", exc)

    async def _on_disconnect(self) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
        for lost in self.on_lost:
            lost()
        if not (self.nc.is_closed or self.nc.is_draining):
            log.warning("NATS disconnected; reconnecting")

    async def _on_reconnect(self) -> None:
        self._down_since = None
        log.info("NATS reconnected")
        self._back()

    def _back(self) -> None:
        for back in list(self.on_reconnected):
            try:
                back()
            except Exception:
                log.exception("a reconnect hook failed")

    async def _on_closed(self) -> None:
        if self._closing:
            return
        if self._down_since is None:
            self._down_since = time.monotonic()
        log.error("NATS closed the connection (%s); opening it again", self.last_problem)
        if self._reopening is None or self._reopening.done():
            self._reopening = asyncio.create_task(self._reopen(), name="nats-reopen")

    # ---- recovering -----------------------------------------------------------------------

    async def _reopen(self) -> None:
        pause = REOPEN_FIRST_SEC
        while not self._closing:
            await asyncio.sleep(pause)
            if not self.nc.is_closed:
                return
            try:
                await self.nc.connect(**self._options())
            except Exception as exc:
                self.last_problem = f"reopening failed: {exc}"
                log.warning("NATS: reopening the connection failed: %s", exc)
                pause = min(pause * 2, REOPEN_MAX_SEC)
                continue
            self.reopened += 1
            self._down_since = None
            log.info("NATS connection opened again")
            for hook in list(self.on_reopened):
                try:
                    await hook()
                except Exception:
                    log.exception("resubscribing after the connection was reopened failed")
            self._back()
            return

    async def _watch_server(self) -> None:
        """Start the embedded nats-server again if its process has died."""
        server = self.server
        assert server is not None
        while not self._closing:
            await asyncio.sleep(SERVER_CHECK_SEC)
            try:
                if await asyncio.to_thread(server.revive):
                    self.server_restarts += 1
                    log.error("the embedded nats-server had died; started it again")
            except Exception as exc:
                self.last_problem = f"restarting nats-server failed: {exc}"
                log.exception("restarting the embedded nats-server failed")
