"""Marathons: the PRD's pattern grammar (its examples and its errors, worked out by hand),
shuffle determinism, run order with mixed titles, and properties over any input."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import Rejected
from domain.playlists.marathon import (
    concatenate,
    episode,
    interleave,
    marathon,
    parse_pattern,
    run_order,
    shuffle,
    shuffled,
    unused_sources,
)

A = ["a1", "a2", "a3", "a4"]
B = ["b1", "b2", "b3"]
C = ["c1", "c2", "c3", "c4", "c5"]


def same(x: str) -> str:
    return x


@pytest.mark.parametrize("pattern", ["A B", "A,B", "A|B", "a b", "A-B", " A , B ", "AB", "A1B1"])
def test_round_robin_however_it_is_written(pattern: str) -> None:
    assert interleave([A, B], pattern) == ["a1", "b1", "a2", "b2", "a3", "b3", "a4"]


@pytest.mark.parametrize("pattern", ["A2B2", "A2 B2", "a2|b2", "A2,B2"])
def test_weighted_blocks(pattern: str) -> None:
    assert interleave([A, B], pattern) == ["a1", "a2", "b1", "b2", "a3", "a4", "b3"]


def test_a_custom_pattern_repeats_and_skips_an_exhausted_source() -> None:
    # A2B1C2 -> A, A, B, C, C, repeating; by hand: round 1 a1 a2 b1 c1 c2, round 2 a3 a4 b2
    # c3 c4, round 3 (A exhausted: skipped) b3 c5.
    assert interleave([A, B, C], "A2B1C2") == [
        "a1", "a2", "b1", "c1", "c2",
        "a3", "a4", "b2", "c3", "c4",
        "b3", "c5",
    ]  # fmt: skip
    assert interleave([A, B, C], "A2 B C2 A") == [
        "a1", "a2", "b1", "c1", "c2", "a3",
        "a4", "b2", "c3", "c4",
        "b3", "c5",
    ]  # fmt: skip


def test_labels_are_case_insensitive_and_counts_default_to_one() -> None:
    tokens = parse_pattern("a2 B c10", 3)
    assert [(t.label, t.count, t.text) for t in tokens] == [
        ("A", 2, "a2"),
        ("B", 1, "B"),
        ("C", 10, "c10"),
    ]


@pytest.mark.parametrize(
    ("pattern", "reason", "token", "words"),
    [
        ("A B D", "unknown_label", "D", "only A to C are chosen"),
        ("A2 Z", "unknown_label", "Z", "names source Z"),
        ("A0 B", "zero_count", "A0", "count of 0"),
        ("A B-2", "negative_count", "B-2", "negative count (-2)"),
        ("A 2", "no_label", "2", "no label"),
        ("A;B", "bad_character", ";", "not a label"),
        ("", "empty", None, "empty"),
        (" , | - ", "empty", None, "empty"),
    ],
)
def test_errors_name_the_token_and_why(
    pattern: str, reason: str, token: str | None, words: str
) -> None:
    with pytest.raises(Rejected) as refused:
        interleave([A, B, C], pattern)
    error = refused.value
    assert error.code == "invalid_pattern" and error.extra["reason"] == reason
    assert words in error.message
    if token is not None:
        assert error.extra["token"] == token and repr(token) in error.message


def test_one_source_says_so() -> None:
    with pytest.raises(Rejected) as refused:
        parse_pattern("B", 1)
    assert "only A is chosen (1 source)" in refused.value.message


def test_a_source_the_pattern_never_names_is_left_out_and_reported() -> None:
    assert interleave([A, B, C], "A C") == ["a1", "c1", "a2", "c2", "a3", "c3", "a4", "c4", "c5"]
    assert unused_sources("A C", 3) == ("B",)


@pytest.mark.parametrize(
    ("title", "found"),
    [
        ("Show S01E04", (1, 4)),
        ("show s01e4", (1, 4)),
        ("Show s01.e04 - Pilot", (1, 4)),
        ("Show.S01.E04.720p", (1, 4)),
        ("Show S01 E04", (1, 4)),
        ("S2E10 finale", (2, 10)),
        ("Show 1x04", None),
        ("Movies S01", None),
        ("BOSS01E02", None),
    ],
)
def test_episodes_read_from_titles(title: str, found: tuple[int, int] | None) -> None:
    assert episode(title) == found


def test_run_order_sorts_episodes_in_their_places_and_leaves_the_rest() -> None:
    titles = ["Intro", "Show S01E03", "show s01e1", "Bumper", "Show S01.E02", "Show S02 E01"]
    assert run_order(titles, same) == [
        "Intro",
        "show s01e1",
        "Show S01.E02",
        "Bumper",
        "Show S01E03",
        "Show S02 E01",
    ]
    assert run_order(["b", "a"], same) == ["b", "a"]  # nothing to read: the source's order


def test_run_order_holds_within_each_source_while_interleaving() -> None:
    one = ["X S01E02", "X S01E01", "X S01E03"]
    two = ["Y s01e2", "Y s01e1"]
    assert marathon("interleave", [one, two], same, pattern="A B") == [
        "X S01E01", "Y s01e1", "X S01E02", "Y s01e2", "X S01E03",
    ]  # fmt: skip
    assert marathon("interleave", [one, two], same, pattern="A B", keep_run_order=False) == [
        "X S01E02", "Y s01e2", "X S01E01", "Y s01e1", "X S01E03",
    ]  # fmt: skip


def test_a_shuffle_is_the_same_for_the_same_seed_and_keeps_run_order() -> None:
    one = [f"X S01E{i:02d}" for i in range(1, 9)]
    two = [f"clip {i}" for i in range(8)]
    first = shuffled([one, two], same, 42)
    assert first == shuffled([one, two], same, 42)
    assert first != shuffled([one, two], same, 43)
    assert [t for t in first if t.startswith("X")] == one
    assert sorted(first) == sorted(one + two)
    # A fixed seed gives a fixed order on every machine: our own generator, not `random`.
    assert shuffle(list(range(6)), 7) == shuffle(list(range(6)), 7)
    assert shuffle(list(range(10)), 1) == [4, 2, 8, 1, 9, 3, 0, 6, 7, 5]  # pinned: never changes


def test_methods_are_checked() -> None:
    with pytest.raises(Rejected) as refused:
        marathon("shuffle", [A], same)
    assert refused.value.code == "invalid_seed"
    with pytest.raises(Rejected) as refused:
        marathon("concatenate", [], same)
    assert refused.value.code == "no_sources"
    with pytest.raises(Rejected) as refused:
        marathon("interleave", [A], same, pattern="")
    assert refused.value.code == "invalid_pattern"
    assert concatenate([A, B], same) == A + B


# ---- properties ------------------------------------------------------------------------------

sources_st = st.lists(
    st.lists(st.text(alphabet="abSE0123 .x", max_size=8), max_size=6), min_size=1, max_size=5
)


def _tag(sources: list[list[str]]) -> list[list[tuple[int, int, str]]]:
    return [[(s, i, t) for i, t in enumerate(src)] for s, src in enumerate(sources)]


def _title(item: tuple[int, int, str]) -> str:
    return item[2]


@st.composite
def pattern_st(draw: st.DrawFn, n: int) -> str:
    tokens = draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 4), st.booleans()), min_size=1)
    )
    seps = draw(st.lists(st.sampled_from(["", " ", ",", "|", " - ", ", "]), min_size=len(tokens)))
    out = []
    for (s, count, lower), sep in zip(tokens, seps, strict=False):
        label = "ABCDE"[s].lower() if lower else "ABCDE"[s]
        out.append(f"{label}{count if count > 1 or lower else ''}{sep}")
    return "".join(out)


@settings(deadline=None)  # a busy machine is not a failure
@given(sources_st, st.data())
def test_interleave_uses_every_named_item_once_in_each_source_order(
    sources: list[list[str]], data: st.DataObject
) -> None:
    tagged = _tag(sources)
    pattern = data.draw(pattern_st(len(sources)))
    out = interleave(tagged, pattern)
    named = {t.source for t in parse_pattern(pattern, len(sources))}
    expected = [item for s in sorted(named) for item in tagged[s]]
    assert Counter(out) == Counter(expected)
    for s in named:
        assert [x for x in out if x[0] == s] == tagged[s]


@settings(deadline=None)  # a busy machine is not a failure
@given(sources_st, st.integers(0, 2**63 - 1), st.booleans())
def test_shuffle_is_a_permutation_and_a_function_of_its_seed(
    sources: list[list[str]], seed: int, keep: bool
) -> None:
    tagged = _tag(sources)
    out = shuffled(tagged, _title, seed, keep_run_order=keep)
    assert out == shuffled(tagged, _title, seed, keep_run_order=keep)
    assert Counter(out) == Counter(x for s in tagged for x in s)
    if keep:
        for s in range(len(tagged)):
            eps = [episode(x[2]) for x in out if x[0] == s and episode(x[2])]
            assert eps == sorted(eps)  # type: ignore[type-var]


@settings(deadline=None)  # a busy machine is not a failure
@given(st.lists(st.text(alphabet="abSE0123 .x", max_size=8), max_size=12))
def test_run_order_moves_only_episodes_and_sorts_them(titles: list[str]) -> None:
    out = run_order(titles, same)
    assert Counter(out) == Counter(titles)
    for before, after in zip(titles, out, strict=True):
        if episode(before) is None:
            assert after == before
    eps = [episode(t) for t in out if episode(t) is not None]
    assert eps == sorted(eps)  # type: ignore[type-var]


@settings(deadline=None)  # a busy machine is not a failure
@given(sources_st)
def test_concatenate_keeps_the_sources_in_order(sources: list[list[str]]) -> None:
    tagged = _tag(sources)
    out = concatenate(tagged, _title, keep_run_order=False)
    assert out == [x for s in tagged for x in s]


@settings(deadline=None)  # a busy machine is not a failure
@given(st.text(max_size=30), st.integers(1, 26))
def test_any_text_parses_or_is_refused_as_an_invalid_pattern(text: str, n: int) -> None:
    try:
        tokens = parse_pattern(text, n)
    except Rejected as exc:
        assert exc.code == "invalid_pattern" and exc.message
    else:
        assert tokens and all(t.count >= 1 and t.source < n for t in tokens)
