"""The lease keeper: takes, renews and releases this instance's leases, and runs owner-only work
only while the lease that guards it is held.

One keeper per process, one loop per lease. A lease lost (an update refused: someone else holds
it; or no renewal in time: the store unreachable) ends its tenure at once, and every piece of work
run under it is cancelled in the same moment; the keeper keeps trying, so the lease is taken
again as soon as it is free. `take=False` makes an instance that never takes a lease (a front
that only serves HTTP, WebSockets and NATS commands while other instances do the owner's work).

Every instance, a front or a standby too, also keeps an entry of its own, `instance:<holder>`,
renewed like a lease that nobody else ever wants: that is how the others (and an admin) see it
while it holds nothing, and it lapses a TTL after the process dies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from attrs import define, field

from application.clock import Clock
from application.health import PartHealth
from application.leases.policy import (
    LeaseTiming,
    after_failed_renewal,
    may_take_over,
    next_step,
)
from application.leases.ports import Holding, LeaseEntry, LeaseStore
from application.tasks import cancel_and_wait
from application.telemetry import NullTelemetry, Telemetry

log = logging.getLogger(__name__)

RELEASE_WITHIN_SEC = 2.0  # a stop does not wait longer than this for the store per lease


def channel_lease(channel: str) -> str:
    """The lease of a channel's owner-only work (Kryten's observations, pay, promos, ...)."""
    return f"channel:{channel}"


def presence_entry(holder: str) -> str:
    """The entry that says an instance is alive, whatever it holds."""
    return f"{PRESENCE}{holder}"


PRESENCE = "instance:"


def projections_lease(database: str) -> str:
    """The lease of the projections writing one shared read-model database."""
    return f"projections:{database}"


@define
class _Lease:
    name: str
    held: asyncio.Event = field(factory=asyncio.Event)
    ended: asyncio.Event = field(factory=asyncio.Event)  # set when the current tenure ends
    revision: int = 0
    sent_at: float = 0.0  # monotonic time the last successful write was sent
    acquired_at: Any = None  # datetime of this tenure's start
    seen: Holding | None = None  # another instance's holding, last seen while waiting
    last_error: str | None = None
    acquisitions: int = 0
    losses: int = 0


class LeaseKeeper:
    def __init__(
        self,
        store: LeaseStore,
        *,
        holder: str,
        node: str,
        names: Sequence[str],
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
        telemetry: Telemetry | None = None,
        take: bool = True,
    ) -> None:
        self._store = store
        self.holder = holder
        self.node = node
        self.timing = LeaseTiming(store.ttl_sec)
        self._clock = clock
        self._mono = monotonic
        self._telemetry = telemetry or NullTelemetry()
        self.take = take
        self._leases = {name: _Lease(name) for name in names}
        self._presence = _Lease(presence_entry(holder))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._leases)

    def held(self, name: str) -> bool:
        return self._leases[name].held.is_set()

    def holding(self) -> list[str]:
        """The leases this instance holds now."""
        return [name for name, lease in self._leases.items() if lease.held.is_set()]

    async def wait_held(self, name: str) -> None:
        await self._leases[name].held.wait()

    async def entries(self) -> list[LeaseEntry]:
        """Every lease held by any instance, as the store has them."""
        leases, _ = await self.roster()
        return leases

    async def roster(self) -> tuple[list[LeaseEntry], list[Holding]]:
        """(every lease held, every instance alive: standbys and fronts too), in one read."""
        leases, alive = [], []
        for entry in await self._store.entries():
            if entry.name.startswith(PRESENCE):
                alive.append(entry.holding)
            else:
                leases.append(entry)
        return leases, sorted(alive, key=lambda h: (h.acquired_at, h.holder))

    def health(self) -> PartHealth:
        failing = [
            f"{lease.name}: {lease.last_error}"
            for lease in self._leases.values()
            if lease.last_error
        ]
        if failing:
            return PartHealth("degraded", "lease store failing: " + "; ".join(failing)[:300])
        held = self.holding()
        if not self.take:
            return PartHealth("ok", "takes no lease (front only)")
        return PartHealth("ok", f"holds {', '.join(held)}" if held else "holds no lease")

    # -- taking and keeping ------------------------------------------------------------

    async def start(self) -> None:
        """One attempt at every lease, so a lone instance holds them all before its work
        starts (the embedded default: one process, every lease)."""
        await self._attempt(self._presence)
        if not self.take:
            return
        for lease in self._leases.values():
            await self._attempt(lease)

    async def run(self) -> None:
        """Keep every lease for ever: renew what is held, take what is free."""
        await asyncio.gather(
            self._keep(self._presence),
            *(self._keep(lease) for lease in self._leases.values()),
        )

    async def _keep(self, lease: _Lease) -> None:
        while True:
            if not lease.held.is_set():
                if self.take or lease is self._presence:
                    await self._attempt(lease)
                if not lease.held.is_set():
                    await asyncio.sleep(self.timing.retry_every)
                    continue
            step = next_step(self.timing, lease.sent_at, self._mono())
            if step.step == "lost":
                self._lose(lease, "expired")
            elif step.step == "wait":
                await asyncio.sleep(step.wait)
            else:
                await self._renew(lease)

    async def _attempt(self, lease: _Lease) -> None:
        sent = self._mono()
        now = self._clock.now()
        mine = Holding(self.holder, self.node, now, now)
        try:
            entry = await self._store.read(lease.name)
            previous: Holding | None = None
            if entry is None:
                revision = await self._store.create(lease.name, mine)
                previous = lease.seen
                if previous is not None and (now - previous.renewed_at).total_seconds() < (
                    self.timing.ttl
                ):
                    # Gone before it could lapse: given back at a clean stop, not a failover
                    # (a lapse leaves it at least a TTL after the last renewal anyone saw).
                    previous = None
            elif entry.holding.holder == self.holder or may_take_over(
                self.node, self.holder, entry.holding.node, entry.holding.holder
            ):
                revision = await self._store.update(lease.name, mine, entry.revision)
                previous = entry.holding if entry.holding.holder != self.holder else None
            else:
                lease.seen = entry.holding
                revision = None
            lease.last_error = None
        except Exception as exc:
            lease.last_error = f"{type(exc).__name__}: {exc}"[:200]
            log.warning("lease %s: the store failed: %s", lease.name, lease.last_error)
            return
        if revision is None:
            return
        takeover = None
        if previous is not None:
            takeover = max((now - previous.renewed_at).total_seconds(), 0.0)
        lease.revision, lease.sent_at, lease.acquired_at = revision, sent, now
        lease.seen = None
        lease.ended = asyncio.Event()
        lease.held.set()
        lease.acquisitions += 1
        if lease is self._presence:
            return  # not a lease to count or log: one per process, it would only add noise
        self._telemetry.lease_acquired(lease.name, takeover)
        if takeover is None:
            log.info("lease %s taken by %s", lease.name, self.holder)
        else:
            log.info(
                "lease %s taken over by %s, %.1fs after its last renewal",
                lease.name,
                self.holder,
                takeover,
            )

    async def _renew(self, lease: _Lease) -> None:
        sent = self._mono()
        mine = Holding(self.holder, self.node, lease.acquired_at, self._clock.now())
        budget = max(self.timing.valid_until(lease.sent_at) - sent, 0.0)
        try:
            async with asyncio.timeout(budget):
                revision = await self._store.update(lease.name, mine, lease.revision)
            lease.last_error = None
        except Exception as exc:  # the store unreachable (or too slow): keep trying in time
            lease.last_error = f"{type(exc).__name__}: {exc}"[:200] or "timed out"
            step = after_failed_renewal(self.timing, lease.sent_at, self._mono())
            if step.step == "lost":
                self._lose(lease, "expired")
            else:
                await asyncio.sleep(step.wait)
            return
        if revision is None:
            self._lose(lease, "taken")
            return
        lease.revision, lease.sent_at = revision, sent

    def _lose(self, lease: _Lease, why: str) -> None:
        if not lease.held.is_set():
            return
        lease.held.clear()
        lease.ended.set()
        lease.losses += 1
        if lease is self._presence:
            return
        self._telemetry.lease_lost(lease.name, why)
        log.warning("lease %s lost (%s): its work stops", lease.name, why)

    async def release(self) -> None:
        """Give every held lease back (at a clean stop), so another instance takes it now
        rather than after the TTL. Owner-only work must be stopped first."""
        for lease in [*self._leases.values(), self._presence]:
            if not lease.held.is_set():
                continue
            lease.held.clear()
            lease.ended.set()
            try:
                async with asyncio.timeout(RELEASE_WITHIN_SEC):
                    await self._store.delete(lease.name, lease.revision)
            except Exception as exc:  # unreachable: it lapses after the TTL instead
                if lease is not self._presence:
                    log.warning(
                        "lease %s not given back (%s): it lapses after the TTL",
                        lease.name,
                        type(exc).__name__,
                    )
                continue
            if lease is not self._presence:
                log.info("lease %s given back by %s", lease.name, self.holder)

    # -- work under a lease ----------------------------------------------------------

    async def run_while_held(self, name: str, work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """Run `work` whenever `name` is held, cancelling it the moment the lease is lost;
        what it returns or raises while held is returned or raised (to its supervisor)."""
        lease = self._leases[name]
        while True:
            await lease.held.wait()
            ended = lease.ended
            task = asyncio.ensure_future(work())
            waiter = asyncio.ensure_future(ended.wait())
            try:
                done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                await cancel_and_wait([task, waiter])
            if task in done:
                return task.result()
            log.info("lease %s lost: its work stopped", name)


def guarded(
    keeper: LeaseKeeper, name: str, work: Callable[[], Coroutine[Any, Any, Any]]
) -> Callable[[], Coroutine[Any, Any, Any]]:
    """`work` as a coroutine function that runs only while `name` is held."""

    async def run() -> Any:
        return await keeper.run_while_held(name, work)

    return run
