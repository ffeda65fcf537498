"""A small, faithful model of one CyTube channel, for running webqueue without the real thing.

It keeps CyTube's playlist rules (see `sim_playlist`), its users, and looping playback driven by
a `Clock`, and reports through the `ObservationSink` port exactly the observations the Kryten
adapter produces from real CyTube events, in CyTube's order. With a `state_path` it survives a
restart of the service the way the real CyTube would: still there, as it was left.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path

from attrs import evolve as replace

from adapters.sim.persist import SavedChannel, read_state, write_state
from adapters.sim.playlist import (
    ALREADY_ON_PLAYLIST,
    LEAD_IN_SEC,
    TAIL_SEC,
    Position,
    QueueFail,
    SimPlaylist,
    slot_sec,
)
from application.clock import Clock
from application.cytube.observations import Observation, ObservationSink
from application.errors import StorageUnavailable
from application.health import PartHealth
from application.log.ports import ConcurrencyConflict, StoreUnavailable
from domain.media import Media
from domain.presence.model import (
    ObserveAfkChanged,
    ObservedUser,
    ObserveUserJoined,
    ObserveUserLeft,
    ObserveUserList,
)
from domain.queue.commands import Append, ObservedItem, ObservePlaylist, Prepend

__all__ = [
    "ALREADY_ON_PLAYLIST",
    "LEAD_IN_SEC",
    "TAIL_SEC",
    "TRANSIENT_FAILURE",
    "Position",
    "QueueFail",
    "SimulatedChannel",
    "slot_sec",
]

log = logging.getLogger(__name__)

REDELIVER_SEC = 0.5
"""How soon (real seconds) the playback loop tries again to report to an unreachable log."""

TRANSIENT_FAILURE = "Media info could not be retrieved right now; try again"


class SimulatedChannel:
    """One channel's playlist, playback and users.

    Each command first plays out whatever ended by the clock's now (CyTube's time is the truth
    even before the playback loop wakes), applies its change synchronously with the reports
    queued in an outbox, saves, then delivers the outbox in order under a lock: the playback
    loop and API callers can never interleave or reorder reports. Use the constructor for a
    fresh channel, `load()` to resume one saved at `state_path`.
    """

    def __init__(
        self,
        channel: str,
        clock: Clock,
        sink: ObservationSink,
        *,
        state_path: Path | None = None,
    ) -> None:
        self.channel = channel
        self._clock = clock
        self._sink = sink
        self._state_path = state_path
        self._pl = SimPlaylist(clock.now, self._emit)
        self._users: dict[str, ObservedUser] = {}
        self._seq = 0
        self._fail_adds = 0
        self._outbox: deque[tuple[str, Observation]] = deque()
        self._unsaved = False
        self._deliver_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._problem: str | None = None  # why the playback loop is waiting, if it is
        self._library: dict[tuple[str, str], tuple[str, int]] = {}

    # ---- reading -----------------------------------------------------------------------------

    def playlist(self) -> tuple[ObservedItem, ...]:
        return tuple(self._pl.items)

    @property
    def current_uid(self) -> int | None:
        return self._pl.current

    def now_playing(self) -> tuple[int, float] | None:
        """(uid, seconds since its setCurrent, so counting the 3 s lead-in), or None."""
        elapsed = self._pl.elapsed()
        if self._pl.current is None or elapsed is None:
            return None
        return self._pl.current, elapsed

    def users(self) -> tuple[ObservedUser, ...]:
        return tuple(self._users.values())

    def user(self, name: str) -> ObservedUser | None:
        return self._users.get(name.lower())

    def clock_now(self) -> datetime:
        return self._clock.now()

    # ---- playlist commands -------------------------------------------------------------------

    def know_media(self, media_type: str, media_id: str, title: str, duration_sec: int) -> None:
        """What CyTube would learn from the media's host: an add of this media lands with this
        title and length, whatever the adder said (a buyer's length is only a hint)."""
        self._library[(media_type, media_id)] = (title, duration_sec)

    def _as_hosted(self, media: Media) -> Media:
        known = self._library.get(media.key)
        if known is not None:
            return Media(media.type, media.id, known[0], known[1])
        if not media.title:  # CyTube always has a title: the host's, here made up from the id
            return Media(media.type, media.id, media.id, media.duration_sec)
        return media

    async def add(
        self, media: Media, pos: Position = "end", temp: bool = False, queued_by: str = ""
    ) -> int:
        """CyTube's `queue`: the new uid, or QueueFail (nothing reported, as in CyTube). The
        media lands with its host's title and length (`know_media`), not the adder's."""
        media = self._as_hosted(media)
        self._pl.catch_up()
        try:
            if self._fail_adds > 0:
                self._fail_adds -= 1
                raise QueueFail(TRANSIENT_FAILURE, media, transient=True)
            uid = self._pl.add(media, pos, temp, queued_by)
        finally:
            await self._commit()
        return uid

    def fail_next_adds(self, n: int) -> None:
        """Make the next `n` adds fail transiently, as CyTube does when adds outpace validation."""
        self._fail_adds = max(0, n)

    async def delete(self, uid: int) -> None:
        """CyTube's `delete`; deleting the current item starts the next. Unknown uid: no-op."""
        self._pl.catch_up()
        self._pl.delete(uid, self._clock.now())
        await self._commit()

    async def move(self, uid: int, after: int | Prepend | Append) -> None:
        """CyTube's `moveMedia {from, after}`; a move that cannot happen is silent."""
        self._pl.catch_up()
        self._pl.move(uid, after)
        await self._commit()

    async def set_temp(self, uid: int, temp: bool) -> None:
        self._pl.catch_up()
        self._pl.set_temp(uid, temp)
        await self._commit()

    async def jump(self, uid: int) -> None:
        """CyTube's `jumpTo`: setCurrent, then the delete of a temp item jumped away from."""
        self._pl.catch_up()
        self._pl.jump(uid)
        await self._commit()

    async def skip(self) -> None:
        """CyTube's `playNext`: what the end of an item does, on demand (ends live items)."""
        self._pl.catch_up()
        self._pl.play_next(self._clock.now())
        await self._commit()

    async def clear(self) -> None:
        """CyTube's `clearPlaylist`: reported as an empty playlist, nothing playing after."""
        self._pl.catch_up()
        self._pl.clear()
        await self._commit()

    async def snapshot(self) -> None:
        """Report the full playlist with the current uid, as the robot does on (re)connect."""
        self._pl.catch_up()
        self._emit(ObservePlaylist(self.playlist(), self._pl.current, source="cytube"))
        await self._commit()

    # ---- users -------------------------------------------------------------------------------

    async def join(self, name: str, rank: float = 1, afk: bool = False) -> None:
        """CyTube's `addUser`; a second login under the same name drops the first one."""
        self._pl.catch_up()
        held = self._users.pop(name.lower(), None)
        if held is not None:
            self._emit(ObserveUserLeft(held.name))
        user = ObservedUser(name, rank, afk)
        self._users[name.lower()] = user
        self._emit(ObserveUserJoined(user))
        await self._commit()

    async def leave(self, name: str) -> None:
        self._pl.catch_up()
        held = self._users.pop(name.lower(), None)
        if held is not None:
            self._emit(ObserveUserLeft(held.name))
        await self._commit()

    async def set_afk(self, name: str, afk: bool) -> None:
        """CyTube's `setAFK`, broadcast only on a change."""
        self._pl.catch_up()
        held = self._users.get(name.lower())
        if held is not None and held.afk != afk:
            self._users[name.lower()] = replace(held, afk=afk)
            self._emit(ObserveAfkChanged(held.name, afk))
        await self._commit()

    # ---- playback ----------------------------------------------------------------------------

    async def play_due(self) -> None:
        """Apply and report every item change due by the clock's now."""
        self._pl.catch_up()
        await self._commit()

    async def run(self) -> None:
        """Play forever; any change, or a clock jump past the deadline, re-plans at once.

        While the log cannot take a report, the channel plays on (as CyTube would) and the
        reports wait in the outbox, delivered in order once the log is back."""
        while True:
            self._wake.clear()
            try:
                await self.play_due()
            except (StoreUnavailable, ConcurrencyConflict, StorageUnavailable) as exc:
                self._problem = f"reports wait: {exc}"
                log.warning("simulated %s: reports wait: %s", self.channel, exc)
                await asyncio.sleep(REDELIVER_SEC)  # real time: the log is out in real time
                continue
            except Exception as exc:
                # A fault nobody foresaw must not stop the channel for good either.
                self._problem = f"playback failed: {type(exc).__name__}: {exc}"
                log.exception("simulated %s: playback failed; trying again", self.channel)
                await asyncio.sleep(REDELIVER_SEC)
                continue
            self._problem = None
            due = self._pl.due()
            if due is None:
                await self._wake.wait()
                continue
            delay = (due - self._clock.now()).total_seconds()
            if delay > 0:
                await self._sleep_or_wake(delay)

    def health(self) -> PartHealth:
        if self._problem is None:
            return PartHealth("ok")
        return PartHealth("degraded", f"{self._problem} ({len(self._outbox)} reports held)")

    async def _sleep_or_wake(self, delay: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)
        if sleeper.done() and not sleeper.cancelled() and (error := sleeper.exception()):
            raise error

    # ---- persistence -------------------------------------------------------------------------

    @classmethod
    async def load(
        cls, channel: str, clock: Clock, sink: ObservationSink, state_path: Path
    ) -> SimulatedChannel:
        """Resume the channel saved at `state_path` (or start empty), then report it in full,
        playlist with current uid and the user list, as a reconnecting robot would."""
        sim = cls(channel, clock, sink, state_path=state_path)
        saved = read_state(state_path)
        if saved is not None:
            if saved.channel != channel:
                raise ValueError(f"{state_path} holds channel {saved.channel!r}, not {channel!r}.")
            sim._restore(saved)
        sim._emit(ObservePlaylist(sim.playlist(), sim.current_uid, source="cytube"))
        sim._emit(ObserveUserList(sim.users()))
        await sim._commit()
        return sim

    @staticmethod
    def saved_time(state_path: Path) -> datetime | None:
        """The virtual time saved with the state, so a VirtualClock can resume from there."""
        saved = read_state(state_path)
        return None if saved is None else saved.virtual_time

    def _restore(self, saved: SavedChannel) -> None:
        self._pl.items = list(saved.items)
        self._pl.next_uid = saved.next_uid
        self._users = {u.name.lower(): u for u in saved.users}
        self._seq = saved.observation_seq
        if self._pl.index(saved.current_uid) is not None:
            self._pl.current = saved.current_uid
            self._pl.started_at = self._clock.now() - timedelta(seconds=saved.elapsed_sec)

    def _save(self) -> None:
        if self._state_path is None:
            return
        write_state(
            self._state_path,
            SavedChannel(
                channel=self.channel,
                items=self.playlist(),
                next_uid=self._pl.next_uid,
                current_uid=self._pl.current,
                elapsed_sec=self._pl.elapsed() or 0.0,
                users=self.users(),
                virtual_time=self._clock.now(),
                observation_seq=self._seq,
            ),
        )

    # ---- reporting ---------------------------------------------------------------------------

    def _emit(self, observation: Observation) -> None:
        self._seq += 1
        self._outbox.append((f"sim-{self.channel}-{self._seq}", observation))
        self._unsaved = True

    async def _commit(self) -> None:
        """Save what changed, wake the playback loop, and deliver the outbox in order.

        A report the sink refuses stays at the head of the outbox for the next commit. Nothing
        is reported before the state (and so the observation counter its ids come from) is
        saved; a save the disk refuses is StorageUnavailable, and the next commit tries again.
        """
        if self._unsaved:
            try:
                self._save()
            except OSError as exc:
                self._wake.set()  # the playback loop tries again, every REDELIVER_SEC
                raise StorageUnavailable(
                    f"the simulated channel cannot save its state: {exc.strerror or exc}"
                ) from exc
            self._unsaved = False
            self._wake.set()
        async with self._deliver_lock:
            while self._outbox:
                observation_id, observation = self._outbox[0]
                await self._sink.observe(self.channel, observation, observation_id=observation_id)
                self._outbox.popleft()
