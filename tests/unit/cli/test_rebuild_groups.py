"""How `webqueue rebuild --jobs N` splits the projections and calls itself for each group."""

from __future__ import annotations

import pytest

from entrypoints.cli.rebuild import UnknownProjection, child_argv, chosen, groups

NAMES = ["queue_shadow", "playlists", "stats", "likes", "catalog"]


def test_two_groups_put_the_two_dearest_apart_and_keep_each_group_in_order() -> None:
    assert groups(NAMES, 2) == [["queue_shadow", "likes"], ["playlists", "stats", "catalog"]]


def test_never_more_groups_than_projections_nor_fewer_than_one() -> None:
    assert len(groups(NAMES, 16)) == len(NAMES)
    assert groups(NAMES, 0) == [NAMES]
    assert groups(["stats"], 2) == [["stats"]]


def test_only_names_known_projections_and_says_which_exist() -> None:
    assert chosen(NAMES, "stats, queue_shadow") == ["queue_shadow", "stats"]
    with pytest.raises(UnknownProjection, match="no projection named nope; the projections are"):
        chosen(NAMES, "stats,nope")
    with pytest.raises(UnknownProjection):
        chosen(NAMES, " , ")


def test_a_group_runs_the_same_command_with_its_own_only_and_one_job() -> None:
    argv = ["rebuild", "--data-dir", "d", "--jobs=3", "--only", "stats,likes", "--db", "x"]
    assert child_argv(argv, ["stats"]) == [
        "rebuild", "--data-dir", "d", "--db", "x", "--only", "stats", "--jobs", "1",
    ]  # fmt: skip
