"""A lease store in memory, on a clock the test can read: entries lapse `ttl` after their last
write, as in the JetStream KV bucket (a fake of our own port, for the keeper's unit tests)."""

from __future__ import annotations

import time

from application.leases.ports import Holding, LeaseEntry


class StoreDown(Exception):
    pass


class MemoryLeaseStore:
    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._entries: dict[str, tuple[Holding, int, float]] = {}  # holding, revision, written
        self._revision = 0
        self.down = False

    @property
    def ttl_sec(self) -> float:
        return self._ttl

    def age(self, name: str) -> float | None:
        """Seconds since the entry's last write, or None if it lapsed or is absent."""
        found = self._live(name)
        return None if found is None else time.monotonic() - found[2]

    def read_revisions(self, name: str) -> int | None:
        """The entry's revision (how many writes the store made), None if absent."""
        found = self._live(name)
        return None if found is None else found[1]

    def steal(self, name: str, holding: Holding) -> None:
        """Another writer overwrites the entry (what a second holder looks like)."""
        self._write(name, holding)

    def _live(self, name: str) -> tuple[Holding, int, float] | None:
        found = self._entries.get(name)
        if found is not None and time.monotonic() - found[2] >= self._ttl:
            del self._entries[name]
            return None
        return found

    def _write(self, name: str, holding: Holding) -> int:
        self._revision += 1
        self._entries[name] = (holding, self._revision, time.monotonic())
        return self._revision

    def _check(self) -> None:
        if self.down:
            raise StoreDown("the store cannot be reached")

    async def read(self, name: str) -> LeaseEntry | None:
        self._check()
        found = self._live(name)
        return None if found is None else LeaseEntry(name, found[0], found[1])

    async def create(self, name: str, holding: Holding) -> int | None:
        self._check()
        if self._live(name) is not None:
            return None
        return self._write(name, holding)

    async def update(self, name: str, holding: Holding, revision: int) -> int | None:
        self._check()
        found = self._live(name)
        if found is None or found[1] != revision:
            return None
        return self._write(name, holding)

    async def delete(self, name: str, revision: int) -> None:
        self._check()
        found = self._live(name)
        if found is not None and found[1] == revision:
            del self._entries[name]

    async def entries(self) -> list[LeaseEntry]:
        self._check()
        names = [n for n in list(self._entries) if self._live(n) is not None]
        return [LeaseEntry(n, self._entries[n][0], self._entries[n][1]) for n in sorted(names)]
