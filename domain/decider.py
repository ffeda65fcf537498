"""What every aggregate is made of, and what the outside world hands to a decision."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from attrs import field, frozen

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E")


class RandomSource(Protocol):
    """Supplied from outside so the domain stays deterministic; what it chose goes in events."""

    def random(self) -> float: ...


@frozen
class Context:
    """What a decision may know about the world: the time, a random source, configuration."""

    now: datetime
    random: RandomSource | None = None
    config: Mapping[str, Any] = field(factory=dict)


@frozen
class Decider(Generic[S, C, E]):
    """An aggregate as three pure functions plus the name of its log subject."""

    aggregate: str
    initial: Callable[[str], S]
    decide: Callable[[S, C, Context], tuple[E, ...]]
    evolve: Callable[[S, E], S]
    #: False for aggregates whose streams stay a few commits long (one per purchase id, one
    #: per ledger key): a cold load then reads the stream without looking for a snapshot.
    snapshots: bool = True

    def fold(self, aggregate_id: str, events: tuple[E, ...] | list[E]) -> S:
        state = self.initial(aggregate_id)
        for event in events:
            state = self.evolve(state, event)
        return state
