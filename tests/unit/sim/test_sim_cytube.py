"""SimCytube: the CyTube port over simulated channels, and each of its fault-injection knobs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.clock import VirtualClock
from adapters.sim.channel import ALREADY_ON_PLAYLIST, TRANSIENT_FAILURE, SimulatedChannel
from adapters.sim.cytube import PERMANENT_FAILURE, SimCytube
from application.cytube.observations import Observation
from application.cytube.port import AddOutcome, CytubeUnavailable
from domain.media import Media
from domain.presence.model import ObservedUser
from domain.queue.commands import (
    ObservedItem,
    ObserveItemDeleted,
    ObserveItemMoved,
    ObserveItemQueued,
    ObserveNowPlaying,
)

T0 = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
CH = "lobby"
OTHER = "den"

A = Media("yt", "fakeAAA", "Clip A", 180)
B = Media("yt", "fakeBBB", "Clip B", 240)
C = Media("vi", "900000003", "Clip C", 300)


class RecordingSink:
    """The ObservationSink port, faked: remembers what each channel reported."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Observation, str | None]] = []

    async def observe(
        self, channel: str, observation: Observation, *, observation_id: str | None = None
    ) -> None:
        self.seen.append((channel, observation, observation_id))

    def of(self, channel: str) -> list[Observation]:
        return [o for c, o, _ in self.seen if c == channel]


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def sims(sink: RecordingSink) -> dict[str, SimulatedChannel]:
    clock = VirtualClock(T0, monotonic=lambda: 0.0)  # time stands still unless advanced
    return {name: SimulatedChannel(name, clock, sink) for name in (CH, OTHER)}


@pytest.fixture
def cytube(sims: dict[str, SimulatedChannel]) -> SimCytube:
    return SimCytube(sims, queued_by="webqueue")


def medias(sim: SimulatedChannel) -> list[Media]:
    return [item.media for item in sim.playlist()]


# ---- the port, no faults ---------------------------------------------------------------------


async def test_add_goes_into_the_simulator_and_is_reported_to_the_sink(
    cytube: SimCytube, sims: dict[str, SimulatedChannel], sink: RecordingSink
) -> None:
    first = await cytube.add(CH, A, "end", temp=True)
    second = await cytube.add(CH, B, "end", temp=False)

    assert first == AddOutcome(ok=True, uid=1)
    assert second == AddOutcome(ok=True, uid=2)
    assert sims[CH].playlist() == (
        ObservedItem(1, A, True, "webqueue"),
        ObservedItem(2, B, False, "webqueue"),
    )
    assert sink.of(CH) == [
        ObserveItemQueued(1, A, True, "webqueue", "prepend"),
        ObserveNowPlaying(1, 0.0),
        ObserveItemQueued(2, B, False, "webqueue", 1),
    ]
    assert sims[OTHER].playlist() == ()
    assert sink.of(OTHER) == []


async def test_add_next_goes_after_the_playing_item(
    cytube: SimCytube, sims: dict[str, SimulatedChannel]
) -> None:
    await cytube.add(CH, A, "end", temp=False)
    await cytube.add(CH, B, "end", temp=False)
    outcome = await cytube.add(CH, C, "next", temp=True)
    assert outcome == AddOutcome(ok=True, uid=3)
    assert medias(sims[CH]) == [A, C, B]


async def test_a_cytube_queue_fail_is_an_outcome_not_an_exception(
    cytube: SimCytube, sims: dict[str, SimulatedChannel], sink: RecordingSink
) -> None:
    await cytube.add(CH, A, "end", temp=False)
    reported = len(sink.seen)

    duplicate = await cytube.add(CH, A, "end", temp=False)
    assert duplicate == AddOutcome(ok=False, error=ALREADY_ON_PLAYLIST, transient=False)

    sims[CH].fail_next_adds(1)  # the simulator's own transient failure passes through
    throttled = await cytube.add(CH, B, "end", temp=False)
    assert throttled == AddOutcome(ok=False, error=TRANSIENT_FAILURE, transient=True)

    assert medias(sims[CH]) == [A]
    assert len(sink.seen) == reported  # queueFail goes to the requester only


async def test_delete_and_move_reach_the_simulator(
    cytube: SimCytube, sims: dict[str, SimulatedChannel], sink: RecordingSink
) -> None:
    for media in (A, B, C):
        await cytube.add(CH, media, "end", temp=False)
    await cytube.move(CH, 3, "prepend")
    assert medias(sims[CH]) == [C, A, B]
    await cytube.move(CH, 3, 2)
    assert medias(sims[CH]) == [A, B, C]
    await cytube.delete(CH, 2)
    assert medias(sims[CH]) == [A, C]
    assert sink.of(CH)[-3:] == [
        ObserveItemMoved(3, "prepend"),
        ObserveItemMoved(3, 2),
        ObserveItemDeleted(2),
    ]


async def test_playlist_user_and_pm(cytube: SimCytube, sims: dict[str, SimulatedChannel]) -> None:
    assert await cytube.playlist(CH) == ()
    await cytube.add(CH, A, "end", temp=True)
    assert await cytube.playlist(CH) == (ObservedItem(1, A, True, "webqueue"),)

    await sims[CH].join("Alice", rank=2)
    await sims[CH].set_afk("Alice", True)
    assert await cytube.user(CH, "Alice") == ObservedUser("Alice", 2, afk=True)
    assert await cytube.user(CH, "alice") == ObservedUser("Alice", 2, afk=True)
    assert await cytube.user(CH, "Bob") is None
    assert await cytube.user(OTHER, "Alice") is None

    await cytube.pm(CH, "Alice", "Your item is queued.")
    await cytube.pm(OTHER, "Bob", "Refunded.")
    assert cytube.sent_pms == [(CH, "Alice", "Your item is queued."), (OTHER, "Bob", "Refunded.")]


async def test_an_unknown_channel_is_unavailable(cytube: SimCytube) -> None:
    with pytest.raises(CytubeUnavailable):
        await cytube.add("nowhere", A, "end", temp=False)
    with pytest.raises(CytubeUnavailable):
        await cytube.delete("nowhere", 1)
    with pytest.raises(CytubeUnavailable):
        await cytube.move("nowhere", 1, "append")
    with pytest.raises(CytubeUnavailable):
        await cytube.playlist("nowhere")
    with pytest.raises(CytubeUnavailable):
        await cytube.user("nowhere", "Alice")
    with pytest.raises(CytubeUnavailable):
        await cytube.pm("nowhere", "Alice", "hi")
    assert cytube.sent_pms == []


# ---- fault injection -------------------------------------------------------------------------


async def test_fail_adds_fails_the_next_n_adds_and_adds_nothing(
    cytube: SimCytube, sims: dict[str, SimulatedChannel], sink: RecordingSink
) -> None:
    cytube.fail_adds(2)
    assert await cytube.add(CH, A, "end", temp=False) == AddOutcome(
        ok=False, error=TRANSIENT_FAILURE, transient=True
    )
    assert await cytube.add(OTHER, A, "end", temp=False) == AddOutcome(
        ok=False, error=TRANSIENT_FAILURE, transient=True
    )
    assert sims[CH].playlist() == () and sims[OTHER].playlist() == ()
    assert sink.seen == []
    assert await cytube.add(CH, A, "end", temp=False) == AddOutcome(ok=True, uid=1)


async def test_fail_adds_can_be_permanent_and_name_its_error(cytube: SimCytube) -> None:
    cytube.fail_adds(1, transient=False)
    assert await cytube.add(CH, A, "end", temp=False) == AddOutcome(
        ok=False, error=PERMANENT_FAILURE, transient=False
    )
    cytube.fail_adds(1, transient=False, error="You don't have permission to add live media")
    outcome = await cytube.add(CH, A, "end", temp=False)
    assert outcome == AddOutcome(
        ok=False, error="You don't have permission to add live media", transient=False
    )
    assert (await cytube.add(CH, A, "end", temp=False)).ok


async def test_add_without_uid_adds_but_reports_no_uid(
    cytube: SimCytube, sims: dict[str, SimulatedChannel], sink: RecordingSink
) -> None:
    cytube.add_without_uid(1)
    assert await cytube.add(CH, A, "end", temp=True) == AddOutcome(ok=True, uid=None)
    assert sims[CH].playlist() == (ObservedItem(1, A, True, "webqueue"),)
    assert ObserveItemQueued(1, A, True, "webqueue", "prepend") in sink.of(CH)  # CyTube saw it
    assert await cytube.add(CH, B, "end", temp=True) == AddOutcome(ok=True, uid=2)


async def test_lose_after_add_adds_then_raises(
    cytube: SimCytube, sims: dict[str, SimulatedChannel], sink: RecordingSink
) -> None:
    cytube.lose_after_add(1)
    with pytest.raises(CytubeUnavailable):
        await cytube.add(CH, A, "end", temp=True)
    assert sims[CH].playlist() == (ObservedItem(1, A, True, "webqueue"),)
    assert ObserveItemQueued(1, A, True, "webqueue", "prepend") in sink.of(CH)
    # The retry a careless caller would make finds the item already there.
    assert await cytube.add(CH, A, "end", temp=True) == AddOutcome(
        ok=False, error=ALREADY_ON_PLAYLIST, transient=False
    )


async def test_a_lost_add_that_cytube_refused_is_still_a_refusal(
    cytube: SimCytube, sims: dict[str, SimulatedChannel]
) -> None:
    await cytube.add(CH, A, "end", temp=False)
    cytube.lose_after_add(1)
    refused = await cytube.add(CH, A, "end", temp=False)
    assert refused == AddOutcome(ok=False, error=ALREADY_ON_PLAYLIST, transient=False)
    with pytest.raises(CytubeUnavailable):  # the knob was not spent on the refusal
        await cytube.add(CH, B, "end", temp=False)
    assert medias(sims[CH]) == [A, B]


async def test_drop_moves_accepts_the_move_and_does_nothing(
    cytube: SimCytube, sims: dict[str, SimulatedChannel], sink: RecordingSink
) -> None:
    for media in (A, B, C):
        await cytube.add(CH, media, "end", temp=False)
    reported = len(sink.seen)

    cytube.drop_moves(1)
    await cytube.move(CH, 3, "prepend")  # no error: the robot never confirms a move
    assert medias(sims[CH]) == [A, B, C]
    assert len(sink.seen) == reported

    await cytube.move(CH, 3, "prepend")
    assert medias(sims[CH]) == [C, A, B]
    assert sink.of(CH)[-1] == ObserveItemMoved(3, "prepend")


async def test_unavailable_refuses_the_next_n_calls_of_any_kind_before_doing_anything(
    cytube: SimCytube, sims: dict[str, SimulatedChannel], sink: RecordingSink
) -> None:
    await cytube.add(CH, A, "end", temp=False)
    await sims[CH].join("Alice")
    reported = len(sink.seen)

    cytube.unavailable(6)
    with pytest.raises(CytubeUnavailable):
        await cytube.add(CH, B, "end", temp=False)
    with pytest.raises(CytubeUnavailable):
        await cytube.delete(CH, 1)
    with pytest.raises(CytubeUnavailable):
        await cytube.move(CH, 1, "append")
    with pytest.raises(CytubeUnavailable):
        await cytube.playlist(CH)
    with pytest.raises(CytubeUnavailable):
        await cytube.user(CH, "Alice")
    with pytest.raises(CytubeUnavailable):
        await cytube.pm(CH, "Alice", "hi")
    assert medias(sims[CH]) == [A]
    assert len(sink.seen) == reported
    assert cytube.sent_pms == []

    assert await cytube.user(CH, "Alice") == ObservedUser("Alice", 1)


async def test_unavailable_comes_before_the_other_knobs(
    cytube: SimCytube, sims: dict[str, SimulatedChannel]
) -> None:
    cytube.unavailable(1)
    cytube.fail_adds(1)
    with pytest.raises(CytubeUnavailable):
        await cytube.add(CH, A, "end", temp=False)
    assert (await cytube.add(CH, A, "end", temp=False)).transient  # fail_adds still armed
    assert (await cytube.add(CH, A, "end", temp=False)).ok
    assert medias(sims[CH]) == [A]


async def test_knobs_default_off_and_zero_or_negative_disarms(cytube: SimCytube) -> None:
    cytube.fail_adds(3)
    cytube.fail_adds(0)
    cytube.unavailable(-1)
    assert await cytube.add(CH, A, "end", temp=False) == AddOutcome(ok=True, uid=1)
