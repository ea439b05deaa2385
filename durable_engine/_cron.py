"""When schedules fire: cron times in a time zone (croniter), and catching up.

Times are UTC timestamps; cron expressions are read in the schedule's zone. On
daylight-saving days croniter decides, and so do we: a time that does not exist
(02:30 as clocks spring forward) fires at the first instant after the gap (03:00), and
a time that happens twice (02:30 as clocks fall back) fires at both instants, which
get different names because their ISO times carry different offsets.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

__all__ = [
    "CATCHUPS",
    "MISSED_AFTER",
    "MOST_PER_PASS",
    "check_schedule",
    "execution_name",
    "firings",
    "next_after",
]

CATCHUPS = ("latest", "all", "none")
MISSED_AFTER = 60.0
"""Seconds after its time that a firing counts as missed (`catchup="none"` skips it)."""
MOST_PER_PASS = 1000
"""With `catchup="all"`, how many missed firings one pass starts; the rest follow."""


def check_schedule(cron: str, timezone: str, catchup: str) -> ZoneInfo:
    """The schedule's zone; ValueError naming what is wrong with the definition."""
    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise ValueError(f"not a valid cron expression: {cron!r}")
    if catchup not in CATCHUPS:
        raise ValueError(f"catchup must be one of {', '.join(CATCHUPS)}, not {catchup!r}")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"not a known time zone: {timezone!r}") from None


def next_after(cron: str, timezone: str, at: float) -> float:
    """The first time of `cron`, read in `timezone`, strictly after `at`."""
    start = datetime.fromtimestamp(at, ZoneInfo(timezone))
    return float(croniter(cron, start).get_next(float))


def _latest_by(cron: str, timezone: str, at: float) -> float:
    """The last time of `cron` at or before `at`."""
    start = datetime.fromtimestamp(at + 1e-3, ZoneInfo(timezone))
    return float(croniter(cron, start).get_prev(float))


def firings(
    cron: str, timezone: str, catchup: str, due_at: float, now: float
) -> tuple[list[float], float]:
    """The times to fire for a schedule due at `due_at` (a time of `cron`, at or before
    `now`), and when it is due next."""
    if catchup == "all":
        times = [due_at]
        nxt = next_after(cron, timezone, due_at)
        while nxt <= now and len(times) < MOST_PER_PASS:
            times.append(nxt)
            nxt = next_after(cron, timezone, nxt)
        return times, nxt
    latest = max(due_at, _latest_by(cron, timezone, now))
    nxt = next_after(cron, timezone, max(latest, now))
    if catchup == "none" and now - latest > MISSED_AFTER:
        return [], nxt
    return [latest], nxt


def execution_name(schedule: str, timezone: str, at: float) -> str:
    """`"<schedule name>@<ISO time in the schedule's zone>"`: one name per firing."""
    return f"{schedule}@{datetime.fromtimestamp(at, ZoneInfo(timezone)).isoformat()}"
