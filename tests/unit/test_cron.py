"""Cron times in a zone and catching up: croniter's daylight-saving behaviour, as documented."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from durable_engine._cron import MISSED_AFTER, check_schedule, execution_name, firings, next_after

BERLIN = "Europe/Berlin"


def _at(year: int, month: int, day: int, hour: int) -> float:
    return datetime(year, month, day, hour, tzinfo=ZoneInfo(BERLIN)).timestamp()


def _names(cron: str, start: float, count: int) -> list[str]:
    out, at = [], start
    for _ in range(count):
        at = next_after(cron, BERLIN, at)
        out.append(execution_name("nightly", BERLIN, at))
    return out


def test_a_time_skipped_by_spring_forward_fires_just_after_the_gap() -> None:
    assert _names("30 2 * * *", _at(2024, 3, 30, 12), 3) == [
        "nightly@2024-03-31T03:00:00+02:00",
        "nightly@2024-04-01T02:30:00+02:00",
        "nightly@2024-04-02T02:30:00+02:00",
    ]


def test_a_time_repeated_by_fall_back_fires_at_both_instants_under_two_names() -> None:
    assert _names("30 2 * * *", _at(2024, 10, 26, 12), 3) == [
        "nightly@2024-10-27T02:30:00+02:00",
        "nightly@2024-10-27T02:30:00+01:00",
        "nightly@2024-10-28T02:30:00+01:00",
    ]


def test_catchup_latest_all_and_none() -> None:
    hour = 3600.0
    assert firings("*/30 * * * *", "UTC", "latest", 0.0, hour + 7) == ([hour], hour + 1800)
    assert firings("*/30 * * * *", "UTC", "all", 0.0, hour + 7) == (
        [0.0, 1800.0, hour],
        hour + 1800,
    )
    # "none": a firing seen within MISSED_AFTER of its time runs; an older one is skipped.
    assert firings("*/30 * * * *", "UTC", "none", hour, hour + 7) == ([hour], hour + 1800)
    late = hour + MISSED_AFTER + 1
    assert firings("*/30 * * * *", "UTC", "none", 0.0, late) == ([], hour + 1800)


@pytest.mark.parametrize(
    ("cron", "zone", "catchup", "message"),
    [
        ("61 * * * *", "UTC", "latest", "not a valid cron expression"),
        ("* * * * *", "Mars/Olympus", "latest", "not a known time zone"),
        ("* * * * *", "UTC", "sometimes", "catchup must be one of latest, all, none"),
    ],
)
def test_a_bad_definition_is_refused_clearly(
    cron: str, zone: str, catchup: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check_schedule(cron, zone, catchup)
