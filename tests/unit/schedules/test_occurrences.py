"""Occurrences from a first fire time and an RRULE, in the channel's zone: DST by the zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.errors import Rejected
from domain.schedules.occurrences import next_after, occurrences

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
FAR = datetime(2028, 1, 1, tzinfo=UTC)


def test_weekly_keeps_the_wall_time_across_the_autumn_change() -> None:
    # Friday 16 Oct 2026 20:00 in Berlin (CEST, UTC+2); clocks go back on Sunday 25 Oct.
    first = datetime(2026, 10, 16, 18, 0, tzinfo=UTC)
    found = occurrences(first, "FREQ=WEEKLY;COUNT=3", BERLIN, first, FAR)
    assert found == [
        datetime(2026, 10, 16, 18, 0, tzinfo=UTC),
        datetime(2026, 10, 23, 18, 0, tzinfo=UTC),
        datetime(2026, 10, 30, 19, 0, tzinfo=UTC),  # 20:00 CET is an hour later in UTC
    ]
    assert {at.astimezone(BERLIN).hour for at in found} == {20}


def test_daily_across_the_spring_change_in_new_york() -> None:
    first = datetime(2027, 3, 13, 1, 0, tzinfo=UTC)  # Fri 12 Mar 2027 20:00 EST
    found = occurrences(first, "RRULE:FREQ=DAILY", NEW_YORK, first, first + timedelta(days=3))
    assert [at.astimezone(NEW_YORK).hour for at in found] == [20, 20, 20, 20]
    assert [at.hour for at in found] == [1, 1, 0, 0]  # EDT from 14 Mar, 02:00


def test_until_in_utc_and_bounds() -> None:
    first = datetime(2026, 10, 16, 18, 0, tzinfo=UTC)
    rule = "FREQ=DAILY;UNTIL=20261019T000000Z"
    assert len(occurrences(first, rule, BERLIN, first, FAR)) == 3
    later = occurrences(first, rule, BERLIN, first + timedelta(hours=1), FAR)
    assert later[0] == datetime(2026, 10, 17, 18, 0, tzinfo=UTC)
    assert next_after(first, rule, BERLIN, datetime(2026, 10, 18, 18, 0, tzinfo=UTC)) is None


def test_one_off_has_one_occurrence() -> None:
    first = datetime(2026, 10, 16, 18, 0, tzinfo=UTC)
    assert occurrences(first, None, BERLIN, first - timedelta(days=1), FAR) == [first]
    assert next_after(first, None, BERLIN, first) is None


@pytest.mark.parametrize(
    "rule", ["", "FREQ=SOMETIMES", "DTSTART:20260101T000000\nRRULE:FREQ=DAILY", "x" * 600]
)
def test_bad_rules_are_refused(rule: str) -> None:
    first = datetime(2026, 10, 16, 18, 0, tzinfo=UTC)
    with pytest.raises(Rejected) as info:
        occurrences(first, rule, BERLIN, first, FAR)
    assert info.value.code == "invalid_rrule"
