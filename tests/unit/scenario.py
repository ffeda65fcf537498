"""Given events, when a command, then events (or a rejection): the shape of every decider test."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.decider import Context, Decider
from domain.errors import Rejected

NOW = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)


class Scenario:
    def __init__(self, decider: Decider[Any, Any, Any], aggregate_id: str = "lobby") -> None:
        self.decider = decider
        self.aggregate_id = aggregate_id
        self.history: list[Any] = []
        self.now = NOW

    def given(self, *events: Any) -> Scenario:
        self.history.extend(events)
        return self

    def given_commands(self, *commands: Any) -> Scenario:
        """History built by the decider itself, as the log would hold it."""
        for command in commands:
            self.history.extend(self.when(command))
        return self

    @property
    def state(self) -> Any:
        return self.decider.fold(self.aggregate_id, self.history)

    def when(self, command: Any) -> tuple[Any, ...]:
        return self.decider.decide(self.state, command, Context(now=self.now))

    def then(self, command: Any, expected: Sequence[Any]) -> None:
        assert self.when(command) == tuple(expected)

    def then_rejected(self, command: Any, code: str) -> Rejected:
        with pytest.raises(Rejected) as info:
            self.when(command)
        assert info.value.code == code
        assert info.value.message
        return info.value
