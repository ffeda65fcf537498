"""Is each Kryten peer there? What `/health` says of the robot and the economy, and the signal
that the robot joined CyTube again (so a fresh snapshot is due).

Neither peer can be taken on trust alone. Kryten-Robot 1.12.6 publishes no heartbeat; it says
`kryten.lifecycle.robot.{startup,connected,disconnected,shutdown}` when it starts, joins,
loses CyTube (a kick or a CyTube shutdown: it then exits 0) and stops, and nothing at all when it
is killed. kryten-economy 0.16.1 publishes `kryten.lifecycle.economy.heartbeat` every 30 s and
nothing when it stops. So each is also asked `system.ping` every `probe_interval_sec`: two
unanswered pings in a row (or a shutdown it announced) is down, one is degraded.

The robot's lifecycle messages carry no channel except `connected{target: CyTube}` and the
second `startup`, so webqueue needs one robot per NATS account (docs/kryten.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

from application.clock import Clock
from application.health import PartHealth

log = logging.getLogger(__name__)

ROBOT_LIFECYCLE = "kryten.lifecycle.robot"
ECONOMY_LIFECYCLE = "kryten.lifecycle.economy"

Probe = Callable[[], Awaitable[str | None]]
"""Asks the peer once; returns its version (or None) or raises when it does not answer."""


class _Lifecycle(msgspec.Struct):
    service: str | None = None
    version: str | None = None
    target: str | None = None
    reason: str | None = None
    domain: str | None = None
    channel: str | None = None


_LIFECYCLE = msgspec.json.Decoder(_Lifecycle)


class PeerWatch:
    """One peer's liveness from its lifecycle messages and a periodic ping."""

    def __init__(
        self,
        nc: Client,
        clock: Clock,
        *,
        name: str,
        lifecycle: str,
        probe: Probe,
        probe_interval_sec: float = 15.0,
        channel: str | None = None,
        domain: str | None = None,
        on_back: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self._nc = nc
        self._clock = clock
        self._subject = f"{lifecycle}.>"
        self._probe = probe
        self.probe_interval_sec = probe_interval_sec
        self._channel = channel
        self._domain = domain
        self._on_back = on_back
        self._sub: Subscription | None = None
        self.version: str | None = None
        self.last_ok: datetime | None = None
        self.last_seen: datetime | None = None
        self.failures = 0
        self.last_error: str | None = None
        self.announced_down: str | None = None  # what its last lifecycle message said
        self._down_since: datetime | None = None
        self.probes = 0

    # ---- running -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(self._subject, cb=self._heard)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(NatsError):
                await self._sub.unsubscribe()
            self._sub = None

    async def run(self) -> None:
        """Ping now and every `probe_interval_sec` (the service's background task)."""
        while True:
            await self.probe_once()
            await asyncio.sleep(self.probe_interval_sec)

    async def probe_once(self) -> None:
        was_down = self.status() == "down"
        self.probes += 1
        try:
            version = await self._probe()
        except Exception as exc:  # whatever the peer did, it did not answer
            self.failures += 1
            self.last_error = str(exc) or type(exc).__name__
            if self.failures == 2:
                log.warning("%s is not answering: %s", self.name, self.last_error)
            if self._down_since is None and self.status() == "down":
                self._down_since = self._clock.now()
            return
        self.failures = 0
        self.last_error = None
        self.announced_down = None
        self.version = version or self.version
        self.last_ok = self.last_seen = self._clock.now()
        self._down_since = None
        if was_down:
            log.info("%s answers again", self.name)
            self._back("answers again")

    # ---- lifecycle -----------------------------------------------------------------------------

    async def _heard(self, msg: Msg) -> None:
        try:
            body = _LIFECYCLE.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("%s: unreadable lifecycle message on %s", self.name, msg.subject)
            return
        if not self._ours(body):
            return
        self.heard(msg.subject.rsplit(".", 1)[-1], body)

    def _ours(self, body: _Lifecycle) -> bool:
        """A message that names another channel or domain is another robot's."""
        return _same(self._channel, body.channel) and _same(self._domain, body.domain)

    def heard(self, event: str, body: Any) -> None:
        """One lifecycle message (`event` is the subject's last token)."""
        now = self._clock.now()
        self.last_seen = now
        if body.version:
            self.version = body.version
        if event in ("shutdown", "disconnected"):
            if event == "disconnected" and body.target not in (None, "CyTube"):
                return
            self.announced_down = body.reason or event
            self._down_since = self._down_since or now
            log.warning("%s says %s (%s)", self.name, event, self.announced_down)
            return
        joined = event == "connected" and body.target == "CyTube"
        joined = joined or (event == "startup" and body.channel is not None)
        if event in ("heartbeat", "startup", "connected"):
            back = self.announced_down is not None or self._down_since is not None
            if joined or event == "heartbeat":
                self.announced_down = None
                self._down_since = None
                self.failures = 0
            if joined:
                log.info("%s joined %s", self.name, body.channel or "its channel")
                self._back("joined CyTube again")
            elif back and event == "heartbeat":
                self._back("heard again")

    def _back(self, why: str) -> None:
        if self._on_back is not None:
            self._on_back(f"{self.name} {why}")

    # ---- status --------------------------------------------------------------------------------

    def status(self) -> str:
        if self.announced_down is not None or self.failures >= 2:
            return "down"
        if self.failures == 1 or (self.last_ok is None and self.last_seen is None):
            return "degraded"
        return "ok"

    @property
    def available(self) -> bool:
        return self.status() != "down"

    def health(self) -> PartHealth:
        status = self.status()
        version = f" {self.version}" if self.version else ""
        if status == "ok":
            when = self.last_ok or self.last_seen
            at = f"; answered at {when:%H:%M:%S}" if when else ""
            return PartHealth("ok", f"{self.name}{version}{at}")
        if self.last_ok is None and self.last_seen is None and not self.failures:
            return PartHealth("degraded", f"{self.name}: not asked yet")
        why = self.announced_down or self.last_error or "no answer"
        since = f" since {self._down_since:%H:%M:%S}" if self._down_since else ""
        return PartHealth(status, f"{self.name}{version} is {status}{since}: {why}")  # type: ignore[arg-type]


def _same(ours: str | None, theirs: str | None) -> bool:
    return ours is None or theirs is None or ours.strip().lower() == theirs.strip().lower()


def robot_watch(
    nc: Client,
    clock: Clock,
    robot: Any,
    *,
    channel: str,
    domain: str,
    probe_interval_sec: float = 15.0,
    lifecycle: str = ROBOT_LIFECYCLE,
    on_back: Callable[[str], None] | None = None,
) -> PeerWatch:
    """Kryten-Robot: `robot` is the KrytenRobot port (its `ping`)."""

    async def probe() -> str | None:
        version: str | None = await robot.ping(channel)
        return version

    return PeerWatch(
        nc,
        clock,
        name="Kryten-Robot",
        lifecycle=lifecycle,
        probe=probe,
        probe_interval_sec=probe_interval_sec,
        channel=channel,
        domain=domain,
        on_back=on_back,
    )


class _EconomyPong(msgspec.Struct):
    success: bool
    data: dict[str, Any] | None = None
    error: str | None = None


_ECONOMY_PONG = msgspec.json.Decoder(_EconomyPong)


def economy_watch(
    nc: Client,
    clock: Clock,
    *,
    channel: str,
    subject: str,
    timeout: float = 2.0,
    probe_interval_sec: float = 15.0,
    lifecycle: str = ECONOMY_LIFECYCLE,
) -> PeerWatch:
    """kryten-economy: `system.ping` on its command subject (flat request, as every call)."""
    request = msgspec.json.encode({"command": "system.ping", "channel": channel})

    async def probe() -> str | None:
        reply = _ECONOMY_PONG.decode((await nc.request(subject, request, timeout=timeout)).data)
        if not reply.success or not (reply.data or {}).get("pong"):
            raise RuntimeError(f"system.ping refused: {reply.error or reply.data}")
        version = (reply.data or {}).get("version")
        return version if isinstance(version, str) else None

    return PeerWatch(
        nc,
        clock,
        name="kryten-economy",
        lifecycle=lifecycle,
        probe=probe,
        probe_interval_sec=probe_interval_sec,
    )
