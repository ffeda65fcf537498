from __future__ import annotations

import pytest

from domain.presence.model import (
    ObserveAfkChanged,
    ObservedUser,
    ObserveRankChanged,
    ObserveUserJoined,
    ObserveUserLeft,
    ObserveUserList,
    UserAfkChanged,
    UserJoined,
    UserLeft,
    UserRankChanged,
    presence_decider,
)
from tests.unit.scenario import NOW, Scenario


@pytest.fixture
def s() -> Scenario:
    return Scenario(presence_decider)


def test_join_leave_and_afk_are_recorded_with_the_time(s: Scenario) -> None:
    s.then(ObserveUserJoined(ObservedUser("Ann", 1)), [UserJoined("Ann", 1, False, NOW)])
    s.given_commands(ObserveUserJoined(ObservedUser("Ann", 1)))
    s.then(ObserveAfkChanged("ann", True), [UserAfkChanged("ann", True, NOW)])
    s.then(ObserveUserLeft("ANN"), [UserLeft("ANN", NOW)])


def test_repeated_reports_record_nothing(s: Scenario) -> None:
    s.given_commands(ObserveUserJoined(ObservedUser("Ann")))
    s.then(ObserveUserJoined(ObservedUser("Ann")), [])
    s.then(ObserveAfkChanged("Ann", False), [])
    s.given_commands(ObserveUserLeft("Ann"))
    s.then(ObserveUserLeft("ann"), [])


def test_someone_never_seen_found_absent_is_recorded_as_gone(s: Scenario) -> None:
    """A lookup that finds an owner absent starts their grace window at that moment."""
    s.then(ObserveUserLeft("Bob"), [UserLeft("Bob", NOW)])
    s.given_commands(ObserveUserLeft("Bob"))
    assert s.state.status("bob") == NOW
    s.given_commands(ObserveUserJoined(ObservedUser("Bob")))
    assert s.state.status("BOB") is not None and "bob" not in s.state.left


def test_a_userlist_settles_who_is_here(s: Scenario) -> None:
    s.given_commands(ObserveUserJoined(ObservedUser("Ann")), ObserveUserJoined(ObservedUser("Bob")))
    s.then(
        ObserveUserList((ObservedUser("Bob", afk=True), ObservedUser("Cy"))),
        [UserLeft("ann", NOW), UserAfkChanged("Bob", True, NOW), UserJoined("Cy", 0, False, NOW)],
    )
    s.given_commands(ObserveUserList((ObservedUser("Bob", afk=True), ObservedUser("Cy"))))
    assert set(s.state.users) == {"bob", "cy"}


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_nameless_users_are_refused(s: Scenario, name: str) -> None:
    s.then_rejected(ObserveUserLeft(name), "invalid_user")


def test_set_user_rank_keeps_ranks_fresh_without_restarting_the_afk_clock(s: Scenario) -> None:
    """CyTube's `setUserRank`: moderator promotions and the leader's 1.5 are ranks too."""
    s.given_commands(ObserveUserJoined(ObservedUser("bob", 1)), ObserveAfkChanged("bob", True))
    afk_since = s.state.users["bob"].since
    s.then(ObserveRankChanged("bob", 2), [UserRankChanged("bob", 2, NOW)])
    s.given_commands(ObserveRankChanged("bob", 1.5))
    assert s.state.users["bob"].rank == 1.5
    assert s.state.users["bob"].afk and s.state.users["bob"].since == afk_since
    s.then(ObserveRankChanged("bob", 1.5), [])


def test_a_rank_for_someone_unseen_means_they_are_here(s: Scenario) -> None:
    s.then(ObserveRankChanged("alice", 1), [UserJoined("alice", 1, False, NOW)])


def test_a_user_list_brings_ranks_up_to_date(s: Scenario) -> None:
    s.given_commands(ObserveUserJoined(ObservedUser("bob", 1)))
    s.then(ObserveUserList((ObservedUser("bob", 3),)), [UserRankChanged("bob", 3, NOW)])
