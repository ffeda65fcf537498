"""Marathons: one running order made from several saved playlists (GH-008, GH-015).

Pure functions over the sources' items, in the order the sources were chosen (labels `A`, `B`,
... in that order):

- `concatenate`: each source after the one before;
- `shuffle`: every item in a random order drawn from a *seed* (our own generator, so the same
  items and seed give the same order on any machine, and the seed is what gets recorded);
- `interleave`: by a pattern (`parse_pattern` below is the PRD's grammar, exactly);
- `run_order`: episodic titles (`S01E04`, `s01e4`, `s01.e04`, `S01.E04`, `S01 E04`) ascending
  within a source, items whose title cannot be read keeping their places. Each method applies
  it per source when asked (`keep_run_order`), so a shuffle or an interleave never plays
  episode 5 before episode 4 of the same source.

Repeated media are left in; the application drops repeats when it saves (CyTube refuses them).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from attrs import frozen

from domain.errors import Rejected

T = TypeVar("T")

Method = Literal["concatenate", "shuffle", "interleave"]
METHODS: tuple[Method, ...] = ("concatenate", "shuffle", "interleave")
LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_SOURCES = len(LABELS)
MAX_PATTERN = 500
SEED_MAX = 2**63 - 1


@frozen
class Recipe:
    """How a marathon was made: enough to make it again (the sources' ids in label order)."""

    method: Method
    sources: tuple[str, ...]
    pattern: str | None = None
    seed: int | None = None
    keep_run_order: bool = True


# ---- the pattern grammar ---------------------------------------------------------------------


@frozen
class Token:
    """One `<label><count?>` of a pattern: `source` is the label's index (A is 0)."""

    label: str
    source: int
    count: int
    text: str
    at: int


def _pattern_error(reason: str, message: str, token: str = "", at: int = -1) -> Rejected:
    extra: dict[str, object] = {"reason": reason}
    if token:
        extra.update(token=token, position=at)
    return Rejected("invalid_pattern", message, extra)


_SEPARATORS = frozenset(" \t\r\n,-|")


def parse_pattern(pattern: str, sources: int) -> tuple[Token, ...]:
    """The pattern's tokens, or `invalid_pattern` naming the bad token and why.

    A pattern is tokens `<label><count?>`: a label `A`-`Z` (either case) for one of the
    `sources` chosen, then an optional count (an integer of 1 or more, default 1). Between
    tokens, any number of spaces, commas, dashes or pipes. A dash straight after a label and
    before digits (`A-2`) is read as a negative count, which is refused, rather than as a
    separator before a stray number."""
    if len(pattern) > MAX_PATTERN:
        raise _pattern_error(
            "too_long", f"A pattern is at most {MAX_PATTERN} characters, not {len(pattern)}."
        )
    tokens: list[Token] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch in _SEPARATORS:
            i += 1
            continue
        start = i
        if ch.isascii() and ch.isalpha():
            label = ch.upper()
            i += 1
            sign = ""
            if i + 1 < n and pattern[i] == "-" and pattern[i + 1].isdigit():
                sign, i = "-", i + 1
            digits_at = i
            while i < n and pattern[i].isascii() and pattern[i].isdigit():
                i += 1
            digits = pattern[digits_at:i]
            text = pattern[start:i]
            count = int(sign + digits) if digits else 1
            source = LABELS.index(label)
            if source >= sources:
                chosen = _labels(sources)
                raise _pattern_error(
                    "unknown_label",
                    f"Token {text!r} names source {label}, but only {chosen} "
                    f"{'is' if sources == 1 else 'are'} chosen ({sources} "
                    f"source{'' if sources == 1 else 's'}).",
                    text,
                    start,
                )
            if count < 0:
                raise _pattern_error(
                    "negative_count",
                    f"Token {text!r} has a negative count ({count}); a count is 1 or more.",
                    text,
                    start,
                )
            if count == 0:
                raise _pattern_error(
                    "zero_count",
                    f"Token {text!r} has a count of 0; a count is 1 or more (or leave it out "
                    "for 1).",
                    text,
                    start,
                )
            tokens.append(Token(label, source, count, text, start))
            continue
        if ch.isdigit():
            while i < n and pattern[i].isdigit():
                i += 1
            text = pattern[start:i]
            raise _pattern_error(
                "no_label",
                f"Token {text!r} is a count with no label before it; write it after a "
                "label, as in A2.",
                text,
                start,
            )
        raise _pattern_error(
            "bad_character",
            f"Token {ch!r} is not a label, a count or a separator (space , - |).",
            ch,
            start,
        )
    if not tokens:
        raise _pattern_error(
            "empty",
            "The pattern is empty: give at least one token, such as A B, A2 B1 or A2B1C2.",
        )
    return tuple(tokens)


def _labels(sources: int) -> str:
    if sources <= 0:
        return "no source"
    if sources == 1:
        return "A"
    return f"{LABELS[0]} to {LABELS[sources - 1]}"


def interleave(sources: Sequence[Sequence[T]], pattern: str) -> list[T]:
    """Items taken source by source as the pattern says, the pattern repeated until every
    source it names is exhausted; a token whose source is exhausted is skipped. Sources the
    pattern never names are left out (`unused_sources` says which)."""
    tokens = parse_pattern(pattern, len(sources))
    cursors = [0] * len(sources)
    named = {t.source for t in tokens}
    out: list[T] = []

    def remaining() -> bool:
        return any(cursors[s] < len(sources[s]) for s in named)

    while remaining():
        for token in tokens:
            items = sources[token.source]
            take = min(token.count, len(items) - cursors[token.source])
            out.extend(items[cursors[token.source] : cursors[token.source] + take])
            cursors[token.source] += take
    return out


def unused_sources(pattern: str, sources: int) -> tuple[str, ...]:
    """Labels of chosen sources that the pattern never names."""
    named = {t.source for t in parse_pattern(pattern, sources)}
    return tuple(LABELS[s] for s in range(sources) if s not in named)


# ---- shuffle ---------------------------------------------------------------------------------


class SeededOrder:
    """splitmix64: a small generator of our own, so a seed means the same order everywhere
    (and across Python versions, which `random` does not promise)."""

    def __init__(self, seed: int) -> None:
        self._state = seed & 0xFFFFFFFFFFFFFFFF

    def next64(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """Uniform in [0, n) (rejection sampling: no modulo bias)."""
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            value = self.next64()
            if value < limit:
                return value % n


def check_seed(seed: int) -> int:
    if not 0 <= seed <= SEED_MAX:
        raise Rejected("invalid_seed", f"A seed is a whole number from 0 to {SEED_MAX}.")
    return seed


def shuffle(items: Sequence[T], seed: int) -> list[T]:
    """Fisher-Yates from the seed."""
    out = list(items)
    order = SeededOrder(check_seed(seed))
    for i in range(len(out) - 1, 0, -1):
        j = order.below(i + 1)
        out[i], out[j] = out[j], out[i]
    return out


# ---- run order -------------------------------------------------------------------------------

_EPISODE = re.compile(r"(?<![a-z0-9])s(\d{1,3})(?:\s*\.\s*|\s+)?e(\d{1,4})(?!\d)", re.IGNORECASE)


@functools.lru_cache(maxsize=8192)
def episode(title: str) -> tuple[int, int] | None:
    """(season, episode) read from a title, or None (remembered: a pure function of the title,
    asked for each item several times by the methods)."""
    found = _EPISODE.search(title)
    return None if found is None else (int(found.group(1)), int(found.group(2)))


def run_order(items: Sequence[T], title: Callable[[T], str]) -> list[T]:
    """Items whose title names an episode, ascending by (season, episode) in the places such
    items held; every other item stays where it was. Equal episodes keep their order."""
    slots = [i for i, item in enumerate(items) if episode(title(item)) is not None]
    ordered = sorted(
        (items[i] for i in slots),
        key=lambda item: episode(title(item)) or (0, 0),
    )
    out = list(items)
    for slot, item in zip(slots, ordered, strict=True):
        out[slot] = item
    return out


# ---- the methods -----------------------------------------------------------------------------


def _prepared(
    sources: Sequence[Sequence[T]], title: Callable[[T], str], keep_run_order: bool
) -> list[list[T]]:
    if not sources:
        raise Rejected("no_sources", "Choose at least one playlist to make a marathon from.")
    if len(sources) > MAX_SOURCES:
        raise Rejected(
            "too_many_sources", f"A marathon has at most {MAX_SOURCES} sources (A to Z)."
        )
    return [run_order(s, title) if keep_run_order else list(s) for s in sources]


def concatenate(
    sources: Sequence[Sequence[T]], title: Callable[[T], str], *, keep_run_order: bool = True
) -> list[T]:
    return [item for source in _prepared(sources, title, keep_run_order) for item in source]


def shuffled(
    sources: Sequence[Sequence[T]],
    title: Callable[[T], str],
    seed: int,
    *,
    keep_run_order: bool = True,
) -> list[T]:
    """All items shuffled from the seed; with `keep_run_order`, each source's episodes are
    then put back in ascending order in the places that source's episodes landed."""
    prepared = _prepared(sources, title, keep_run_order)
    tagged = [(s, item) for s, source in enumerate(prepared) for item in source]
    mixed = shuffle(tagged, seed)
    if not keep_run_order:
        return [item for _, item in mixed]
    out = [item for _, item in mixed]
    for s in range(len(prepared)):
        slots = [i for i, (src, item) in enumerate(mixed) if src == s and episode(title(item))]
        ordered = sorted(
            (mixed[i][1] for i in slots), key=lambda item: episode(title(item)) or (0, 0)
        )
        for slot, item in zip(slots, ordered, strict=True):
            out[slot] = item
    return out


def interleaved(
    sources: Sequence[Sequence[T]],
    title: Callable[[T], str],
    pattern: str,
    *,
    keep_run_order: bool = True,
) -> list[T]:
    return interleave(_prepared(sources, title, keep_run_order), pattern)


def marathon(
    method: Method,
    sources: Sequence[Sequence[T]],
    title: Callable[[T], str],
    *,
    pattern: str | None = None,
    seed: int | None = None,
    keep_run_order: bool = True,
) -> list[T]:
    """One of the three methods by name; shuffle needs a seed, interleave a pattern."""
    if method == "concatenate":
        return concatenate(sources, title, keep_run_order=keep_run_order)
    if method == "shuffle":
        if seed is None:
            raise Rejected("invalid_seed", "A shuffle needs a seed.")
        return shuffled(sources, title, seed, keep_run_order=keep_run_order)
    if method == "interleave":
        return interleaved(sources, title, pattern or "", keep_run_order=keep_run_order)
    raise Rejected(
        "invalid_method", f"{method!r} is not a method; use one of {', '.join(METHODS)}."
    )
