"""Reading a stats window from a query: RFC 3339 bounds, or a length back from now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from application.stats.queries import InvalidWindow, parse_length, parse_time, parse_window

NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        (" 1d ", timedelta(days=1)),
    ],
)
def test_a_window_is_a_length_back_from_now(text: str, length: timedelta) -> None:
    assert parse_length(text) == length
    assert parse_window(None, None, text, NOW) == (NOW - length, NOW)


@pytest.mark.parametrize("text", ["7", "d", "7x", "7 d", "-7d", "1.5h", "7D", "0d", "99999w", ""])
def test_a_bad_window_says_what_is_expected(text: str) -> None:
    with pytest.raises(InvalidWindow) as caught:
        parse_length(text)
    assert caught.value.field == "window"
    assert "window" in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T21:00:00Z", NOW),
        ("2026-11-20t21:00:00z", NOW),
        ("2026-11-20 21:00:00Z", NOW),
        ("2026-11-20T22:00:00+01:00", NOW),
        ("2026-11-20T22:00:00 01:00", NOW),  # "+" decoded to a space in an unencoded query
        ("2026-11-20T16:30:00-04:30", NOW),
        ("2026-11-20T21:00:00.5Z", NOW + timedelta(milliseconds=500)),
        ("2026-11-20T21:00:00.123456789Z", NOW + timedelta(microseconds=123456)),
    ],
)
def test_times_are_rfc_3339_with_an_offset(text: str, expected: datetime) -> None:
    parsed = parse_time("since", text)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20T21:00:00",  # no offset: whose 21:00?
        "2026-11-20",
        "yesterday",
        "1763672400",
        "2026-13-20T21:00:00Z",
        "2026-11-20T25:00:00Z",
        "2026-11-20T21:00Z",
    ],
)
def test_a_bad_time_names_its_parameter(text: str) -> None:
    with pytest.raises(InvalidWindow) as caught:
        parse_time("until", text)
    assert caught.value.field == "until"
    assert "until" in caught.value.message


def test_since_and_until_are_each_optional() -> None:
    since = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
    assert parse_window("2026-11-20T20:00:00Z", None, None, NOW) == (since, None)
    assert parse_window(None, "2026-11-20T20:00:00Z", None, NOW) == (None, since)
    assert parse_window(None, None, None, NOW) == (None, None)
    assert parse_window("", "", "", NOW) == (None, None)


def test_bounds_keep_their_instant_whatever_the_offset() -> None:
    since, until = parse_window("2026-11-20T21:00:00+02:00", "2026-11-20T21:00:00Z", None, NOW)
    assert since == datetime(2026, 11, 20, 21, 0, tzinfo=timezone(timedelta(hours=2)))
    assert until is not None and since is not None and until - since == timedelta(hours=2)


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("2026-11-20T21:00:00Z", "2026-11-20T21:00:00Z"),
        ("2026-11-21T00:00:00Z", "2026-11-20T00:00:00Z"),
    ],
)
def test_until_must_come_after_since(since: str, until: str) -> None:
    with pytest.raises(InvalidWindow) as caught:
        parse_window(since, until, None, NOW)
    assert caught.value.field == "until"


@pytest.mark.parametrize(
    ("since", "until"), [("2026-11-20T20:00:00Z", None), (None, "2026-11-20T20:00:00Z")]
)
def test_a_window_and_bounds_together_are_refused(since: str | None, until: str | None) -> None:
    with pytest.raises(InvalidWindow) as caught:
        parse_window(since, until, "7d", NOW)
    assert caught.value.field == "window"
