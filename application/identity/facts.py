"""The log's identity facts, folded in memory from the process's shared log tail.

Roles and sessions are looked up on every request, so they are answered from here with no I/O:
the blessed list, each user's sessions and token revocations, blocked addresses, the rank
CyTube last reported for each user, and recent sign-in tries per address. A write through the
identity services waits until this fold has seen it, so the writer's next request sees it too;
another instance sees it as soon as its own tail does. While the log is down the last facts
stay in force, so reads and sign-ins already made keep working.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from application.log.ports import EventStore, StoredCommit
from domain.identity.access import (
    AccessState,
    Session,
    SessionEnded,
    SessionStarted,
    access_decider,
)
from domain.identity.blessed import BlessedState, UserBlessed, UserUnblessed, blessed_decider
from domain.identity.ip_blocks import IpBlocksState, ip_blocks_decider
from domain.identity.names import name_key
from domain.identity.otp import (
    IpActivity,
    OtpAttemptFailed,
    OtpRequested,
    OtpRules,
    OtpVerifyWithoutRequest,
)
from domain.presence.model import UserJoined, UserLeft, UserRankChanged

log = logging.getLogger(__name__)

_AGGREGATES = frozenset({"blessed", "ip_blocks", "access", "otp", "presence"})
_PER_IP = 200
_IPS_MAX = 20_000

BlessedChange = Callable[[str, UserBlessed | UserUnblessed], None]


class _IpTries:
    __slots__ = ("failures", "requests", "unrequested")

    def __init__(self) -> None:
        self.requests: deque[datetime] = deque(maxlen=_PER_IP)
        self.failures: deque[datetime] = deque(maxlen=_PER_IP)
        self.unrequested: deque[datetime] = deque(maxlen=_PER_IP)


def _count(times: deque[datetime], since: datetime) -> int:
    return sum(1 for t in times if t > since)


class IdentityFacts:
    def __init__(self, events: EventStore) -> None:
        self._events = events
        self.position = 0
        self._ready = asyncio.Event()
        self._moved = asyncio.Event()
        self._blessed: dict[str, BlessedState] = {}
        self._blocks: dict[str, IpBlocksState] = {}
        self._access: dict[tuple[str, str], AccessState] = {}
        self._session_owner: dict[str, tuple[str, str]] = {}
        self._ranks: dict[tuple[str, str], float] = {}
        self._ips: dict[str, _IpTries] = {}
        self._on_blessed: list[BlessedChange] = []

    # ---- following the log ------------------------------------------------------------------

    async def run(self) -> None:
        head = await self._head()
        if head == 0:
            self._ready.set()
        async for stored in self._events.subscribe(0):
            self.apply(stored)
            if stored.position >= head:
                self._ready.set()

    async def _head(self) -> int:
        while True:
            try:
                return await self._events.head()
            except Exception:
                log.warning("identity facts: the log's head is not readable yet; retrying")
                await asyncio.sleep(1.0)

    def apply(self, stored: StoredCommit) -> None:
        """Fold one commit (every commit moves the position, whatever it holds)."""
        stream = stored.commit.stream
        if stream.aggregate in _AGGREGATES:
            for event in stored.commit.events:
                self._fold(stream.channel, stream.aggregate, stream.id, event)
        self.position = stored.position
        self._moved.set()
        self._moved = asyncio.Event()

    def _fold(self, channel: str, aggregate: str, aggregate_id: str, event: object) -> None:
        if aggregate == "blessed" and isinstance(event, UserBlessed | UserUnblessed):
            state = self._blessed.get(channel) or blessed_decider.initial(channel)
            self._blessed[channel] = blessed_decider.evolve(state, event)
            for hear in self._on_blessed:
                hear(channel, event)
        elif aggregate == "ip_blocks":
            state_b = self._blocks.get(channel) or ip_blocks_decider.initial(channel)
            self._blocks[channel] = ip_blocks_decider.evolve(state_b, event)  # type: ignore[arg-type]
        elif aggregate == "access":
            key = (channel, aggregate_id)
            state_a = self._access.get(key) or access_decider.initial(aggregate_id)
            before = set(state_a.sessions)
            state_a = access_decider.evolve(state_a, event)  # type: ignore[arg-type]
            self._access[key] = state_a
            if isinstance(event, SessionStarted):
                self._session_owner[event.session_hash] = key
            for gone in before - set(state_a.sessions):
                self._session_owner.pop(gone, None)
            if isinstance(event, SessionEnded):
                self._session_owner.pop(event.session_hash, None)
        elif aggregate == "otp":
            self._fold_otp(event)
        elif aggregate == "presence" and isinstance(event, UserJoined | UserRankChanged):
            self._ranks[(channel, name_key(event.name))] = event.rank
        elif aggregate == "presence" and isinstance(event, UserLeft):
            # CyTube reports no rank for someone away: one demoted meanwhile must not stay an
            # admin here until they come back, so a rank counts while they are in the channel.
            self._ranks.pop((channel, name_key(event.name)), None)

    def _fold_otp(self, event: object) -> None:
        match event:
            case OtpRequested():
                self._tries(event.ip).requests.append(event.at)
            case OtpAttemptFailed():
                self._tries(event.ip).failures.append(event.at)
            case OtpVerifyWithoutRequest():
                tries = self._tries(event.ip)
                tries.failures.append(event.at)
                tries.unrequested.append(event.at)

    def _tries(self, ip: str) -> _IpTries:
        tries = self._ips.get(ip)
        if tries is None:
            if len(self._ips) >= _IPS_MAX:  # forget a tenth, those with the fewest tries
                oldest = sorted(self._ips, key=lambda i: len(self._ips[i].requests))
                for ip_ in oldest[: _IPS_MAX // 10]:
                    del self._ips[ip_]
            tries = self._ips[ip] = _IpTries()
        return tries

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    async def ready(self) -> None:
        """Return once the fold has reached the log's head as it was at start."""
        await self._ready.wait()

    async def caught_up(self, position: int | None) -> None:
        """Return once the fold has seen `position` (a write's), so the next request sees it;
        after 5 s anyway (the write is in the log; this instance is only slow to see it)."""
        if position is None:
            return
        try:
            async with asyncio.timeout(5.0):
                while self.position < position:
                    await self._moved.wait()
        except TimeoutError:
            log.warning("identity facts are slow to see position %d", position)

    def on_blessed_change(self, hear: BlessedChange) -> None:
        self._on_blessed.append(hear)

    # ---- reading ----------------------------------------------------------------------------

    def blessed(self, channel: str) -> BlessedState:
        return self._blessed.get(channel) or blessed_decider.initial(channel)

    def rank(self, channel: str, user: str) -> float | None:
        return self._ranks.get((channel, name_key(user)))

    def access(self, channel: str, user: str) -> AccessState:
        key = name_key(user)
        return self._access.get((channel, key)) or access_decider.initial(key)

    def session(self, session_hash: str, now: datetime) -> tuple[str, Session] | None:
        """The live session with this hash, and the user key it belongs to."""
        owner = self._session_owner.get(session_hash)
        if owner is None:
            return None
        held = self._access[owner].session(session_hash, now)
        return None if held is None else (owner[1], held)

    def sessions(self, channel: str, now: datetime) -> Iterator[tuple[str, Session]]:
        """Every live session on `channel`, by its hash."""
        for (ch, _), state in self._access.items():
            if ch == channel:
                for h, s in state.sessions.items():
                    if s.alive(now):
                        yield h, s

    def ip_blocks(self, channel: str) -> IpBlocksState:
        return self._blocks.get(channel) or ip_blocks_decider.initial(channel)

    def ip_activity(self, channel: str, ip: str, now: datetime, rules: OtpRules) -> IpActivity:
        since = now - timedelta(seconds=rules.request_window_sec)
        tries = self._ips.get(ip)
        blocked = self.ip_blocks(channel).blocked_until(ip, now)
        if tries is None:
            return IpActivity(blocked_until=blocked)
        return IpActivity(
            requests=_count(tries.requests, since),
            failures=_count(tries.failures, since),
            blocked_until=blocked,
            unrequested=_count(tries.unrequested, since),
        )
