"""A channel with a simulated CyTube, the local ledger and the pay flow, on an in-memory log."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime

from adapters.clock import VirtualClock
from adapters.ledger.local_ledger import LocalLedger
from adapters.log.memory_store import InMemoryEventStore
from adapters.sim.channel import SimulatedChannel
from adapters.sim.cytube import SimCytube
from application.cytube.observing import Observer
from application.cytube.port import Cytube
from application.identity.roles import Identity
from application.log.command_handler import CommandHandler, CommandMeta, Outcome
from application.log.ports import EventStore, StreamId
from application.log.streams import queue_stream
from application.pay.audit import parse_key
from application.pay.economy import Economy
from application.pay.flow import PayFlow, PayFlowConfig
from application.pay.service import PayService
from application.rules.service import RulesService
from domain.media import Media
from domain.queue.decider import queue_decider
from domain.queue.pay_model import CancelPayItem, PayItem, RequestPayItem
from domain.queue.state import QueueState
from domain.wallet.model import RequestDebited, RequestRefunded

START = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
FAST = PayFlowConfig(
    add_delay_sec=1.0, add_retries=3, confirm_timeout_sec=3.0, move_retries=2, retry_delay_sec=1.0
)
_ids = itertools.count(1)


class NoRows:
    """A read-model store with nothing in it (the pay service reads it only for an old status)."""

    async def fetch(self, *args: object, **kwargs: object) -> list[dict[str, object]]:
        return []


def purchase_of(key: str) -> str:
    parsed = parse_key("lobby", key)
    if parsed is None:
        return key
    rid, step = parsed
    return rid if step == "spend" else f"{rid}+{step}"


class PayWorld:
    def __init__(
        self,
        *,
        speed: float = 2000.0,
        config: PayFlowConfig = FAST,
        frozen: bool = False,
        store: EventStore | None = None,
    ) -> None:
        """`frozen`: channel time moves only when a test calls `clock.advance()`; `store`: the
        log (JetStream, say), in memory when not given."""
        self.store: EventStore = store or InMemoryEventStore()
        self.clock = (
            VirtualClock(START, monotonic=lambda: 0.0)
            if frozen
            else VirtualClock(START, speed=speed)
        )
        self.handler = CommandHandler(self.store, self.clock)
        self.observer = Observer(self.handler)
        self.sim = SimulatedChannel("lobby", self.clock, self.observer)
        self.cytube = SimCytube({"lobby": self.sim})
        self.ledger = LocalLedger(self.handler)
        self.config = config
        self.economy: Economy = self.ledger
        self.cytube_port: Cytube = self.cytube
        self.flow: PayFlow | None = None
        self._task: asyncio.Task[None] | None = None
        self.rules: RulesService | None = None  # the channel's request rules, when a test sets

    async def seed(self, n: int = 3) -> None:
        for i in range(n):
            await self.sim.add(Media("yt", f"content{i}", f"Content {i}", 600))

    def start_flow(
        self,
        *,
        store: EventStore | None = None,
        economy: Economy | None = None,
        cytube: Cytube | None = None,
    ) -> PayFlow:
        """A fresh flow over a fresh handler: exactly what a restarted process has."""
        handler = CommandHandler(store or self.store, self.clock)
        self.flow = PayFlow(
            handler,
            self.store,
            economy or self.economy,
            cytube or self.cytube_port,
            Observer(handler),
            self.clock,
            channels=["lobby"],
            config=self.config,
        )
        if self.rules is not None:
            self.flow.plug_rules(self.rules)
        self._task = asyncio.create_task(self.flow.run())
        return self.flow

    async def stop_flow(self) -> None:
        if self.flow is not None:
            await self.flow.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.flow = self._task = None

    async def request(
        self, user: str, media: Media, tier: str = "queue", request_id: str | None = None
    ) -> tuple[str, Outcome]:
        rid = request_id or f"r{next(_ids)}"
        outcome = await self.handler.handle(
            queue_decider,
            queue_stream("lobby"),
            RequestPayItem(rid, user, media, tier),  # type: ignore[arg-type]
            CommandMeta(f"req-{rid}", actor=user),
        )
        return rid, outcome

    async def buy(
        self, user: str, media: Media, tier: str = "queue", request_id: str | None = None
    ) -> str:
        """A purchase as HTTP and NATS make one (PayService: the request id claimed first)."""
        service = PayService(self.handler, self.economy, NoRows(), self.clock)  # type: ignore[arg-type]
        if self.rules is not None:
            service.plug_rules(self.rules)
        accepted = await service.request(
            "lobby",
            Identity(user.lower(), "viewer"),
            media,
            tier,  # type: ignore[arg-type]
            request_id or f"r{next(_ids)}",
        )
        return accepted.request_id

    async def admin_cancel(self, rid: str) -> Outcome:
        """An admin removes a purchase, as `DELETE pay-items/{rid}` does."""
        return await self.handler.handle(
            queue_decider,
            queue_stream("lobby"),
            CancelPayItem(rid, "admin_remove", "admin"),
            CommandMeta.new("admin"),
        )

    def store_stream(self) -> StreamId:
        return queue_stream("lobby")

    async def state(self) -> QueueState:
        state: QueueState = await self.handler.state(queue_decider, queue_stream("lobby"))
        return state

    async def pay(self, rid: str) -> PayItem:
        pay = (await self.state()).pay_item(rid)
        assert pay is not None
        return pay

    async def until(
        self, check: Callable[[QueueState], bool], what: str, within: float = 10.0
    ) -> QueueState:
        deadline = time.monotonic() + within
        while True:
            state = await self.state()
            if check(state):
                return state
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {state.pay}"
            await asyncio.sleep(0.01)

    async def settled(self, *rids: str, within: float = 10.0) -> QueueState:
        def done(state: QueueState) -> bool:
            pays = [state.pay_item(r) for r in rids]
            return all(
                p is not None and (p.finished or p.placement in ("positioned", "playing"))
                for p in pays
            )

        return await self.until(done, f"{rids} to settle", within)

    def playlist_ids(self) -> list[str]:
        return [i.media.id for i in self.sim.playlist()]

    async def money(self, user: str) -> dict[str, list[tuple[str, int]]]:
        """The wallet's own log: every debit and refund, by purchase id (a top-up's as
        `{id}+topup`; the wallet keys them `wq/{channel}/{id}/{step}`)."""
        stream = StreamId("lobby", "wallet", user.lower())
        out: dict[str, list[tuple[str, int]]] = {"debited": [], "refunded": []}
        for stored in await self.store.read_stream(stream):
            for event in stored.commit.events:
                if isinstance(event, RequestDebited):
                    out["debited"].append((purchase_of(event.request_id), event.amount))
                elif isinstance(event, RequestRefunded):
                    out["refunded"].append((purchase_of(event.request_id), event.amount))
        return out
