"""The schedule tests' world: a seeded channel with the firer's parts, shut down after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.schedules.test_firing import ScheduleWorld


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[ScheduleWorld]:
    w = ScheduleWorld(tmp_path)
    await w.read.prepare()
    await w.seed(3)
    yield w
    await w.stop_applier()
    await w.stop_flow()
    await w.read.close()
