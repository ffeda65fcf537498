"""The playback clock follows CyTube's own position (`changeMedia`, `mediaUpdate`).

CyTube starts each new item at -3 s, paused (the lead-in), sends `mediaUpdate` every 5 s, and
a `changeMedia` on a rejoin, a shuffle or a restart carries the position reached.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.media import Media
from domain.queue.commands import (
    ObserveItemQueued,
    ObserveNowPlaying,
    ObservePlaybackPosition,
)
from domain.queue.decider import queue_decider
from domain.queue.events import DesyncDetected, NowPlayingChanged, PlaybackClockSet
from tests.unit.scenario import NOW, Scenario

A = Media("cm", "a1", "Alpha One", 217)
B = Media("cm", "a2", "Alpha Two", 70)


@pytest.fixture
def s() -> Scenario:
    return Scenario(queue_decider).given_commands(
        ObserveItemQueued(5, A), ObserveItemQueued(6, B, after=5)
    )


def test_a_start_in_the_lead_in_plays_from_three_seconds_on(s: Scenario) -> None:
    s.then(ObserveNowPlaying(5, -3.0), [NowPlayingChanged("q1", 5, NOW + timedelta(seconds=3))])


def test_the_lead_ins_own_paused_position_is_not_a_pause(s: Scenario) -> None:
    s.given_commands(ObserveNowPlaying(5, -3.0))
    s.then(ObservePlaybackPosition(-3, True, "cm", "a1"), [])
    s.now = NOW + timedelta(seconds=1)
    s.then(ObservePlaybackPosition(-1.999, True), [])
    s.now = NOW + timedelta(seconds=3)
    s.then(ObservePlaybackPosition(0, False), [])


def test_after_a_restart_the_clock_is_set_to_where_cytube_is(s: Scenario) -> None:
    """The issue's case: webqueue showed 16 s for an item CyTube had at 217 s."""
    s.given_commands(ObserveNowPlaying(5, -3.0))
    s.now = NOW + timedelta(seconds=19)
    events = s.when(ObservePlaybackPosition(200.5, False, "cm", "a1"))
    assert events == (PlaybackClockSet("q1", s.now - timedelta(seconds=200.5), False, 200.5),)
    s.given(*events)
    assert s.state.playing_since == s.now - timedelta(seconds=200.5)


def test_drift_within_the_tolerance_records_nothing(s: Scenario) -> None:
    s.given_commands(ObserveNowPlaying(5, 0.0))
    s.now = NOW + timedelta(seconds=10)
    s.then(ObservePlaybackPosition(11.5, False), [])
    s.then(ObservePlaybackPosition(8.5, False), [])


def test_a_real_pause_is_recorded_and_the_clock_kept_at_its_position(s: Scenario) -> None:
    s.given_commands(ObserveNowPlaying(5, 0.0))
    s.now = NOW + timedelta(seconds=40)
    events = s.when(ObservePlaybackPosition(40.0, True))
    assert events == (PlaybackClockSet("q1", NOW, True, 40.0),)
    s.given(*events)
    s.now = NOW + timedelta(seconds=41)
    s.then(ObservePlaybackPosition(40.0, True), [])  # within the tolerance
    s.now = NOW + timedelta(seconds=90)
    held = s.when(ObservePlaybackPosition(40.0, True))
    assert held == (PlaybackClockSet("q1", s.now - timedelta(seconds=40), True, 40.0),)
    s.given(*held)
    resumed = s.when(ObservePlaybackPosition(40.5, False))
    assert resumed == (PlaybackClockSet("q1", s.now - timedelta(seconds=40.5), False, 40.5),)


def test_change_media_for_other_media_than_the_current_is_a_desync(s: Scenario) -> None:
    s.given_commands(ObserveNowPlaying(5, -3.0))
    s.then(ObservePlaybackPosition(-3, True, "cm", "zz"), [DesyncDetected("media_mismatch", 5)])


def test_an_update_with_nothing_playing_changes_nothing(s: Scenario) -> None:
    s.then(ObservePlaybackPosition(10.0, False), [])


def test_a_position_that_is_not_a_number_is_refused(s: Scenario) -> None:
    s.given_commands(ObserveNowPlaying(5))
    s.then_rejected(ObservePlaybackPosition(float("nan"), False), "invalid_position")
