"""Plain-data forms of the standard types every codec keeps exactly.

Each form is made of str, int and lists only, so the msgpack and JSON codecs share it:

- datetime: ISO text (`"2026-01-02T03:04:05.000006+01:00"`), or `[iso, zone, fold]`
  when it has a `zoneinfo` zone, a named fixed offset (`zone` is `[name]`) or fold=1
- time: the same shapes as datetime
- date: ISO text; timedelta: `[days, seconds, microseconds]`
- Decimal and UUID: their `str()`

A `tzinfo` that is neither `datetime.timezone` nor a `ZoneInfo` with a key is kept as
the fixed UTC offset it gives for that value.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ._core import SerDesError, shortened

__all__ = ["STD_BY_CODE", "STD_BY_TAG", "STD_BY_TYPE", "StdType"]


def _zone_form(tz: dt.tzinfo | None) -> Any:
    """None when the ISO text says it all (naive, or an unnamed fixed offset)."""
    if tz is None or tz is dt.UTC:
        return None
    if isinstance(tz, ZoneInfo):
        return tz.key  # None for a zone read from a file: kept as its offset
    if isinstance(tz, dt.timezone):
        offset = tz.utcoffset(None)
        name = tz.tzname(None)
        return None if name == dt.timezone(offset).tzname(None) else [name]
    return None


def _with_zone(value: Any, zone: Any, fold: int) -> Any:
    if isinstance(zone, str):
        return value.replace(tzinfo=ZoneInfo(zone), fold=fold)
    if zone is None:
        return value.replace(fold=fold) if fold else value
    (name,) = zone
    offset = value.utcoffset()
    if offset is None or not isinstance(name, str):
        raise ValueError("a named offset needs an offset in the ISO text")
    return value.replace(tzinfo=dt.timezone(offset, name), fold=fold)


def _clock_form(value: dt.datetime | dt.time) -> Any:
    iso = value.isoformat()
    zone = _zone_form(value.tzinfo)
    if zone is None and not value.fold:
        return iso
    return [iso, zone, value.fold]


def _datetime_back(raw: Any) -> dt.datetime:
    if isinstance(raw, str):
        return dt.datetime.fromisoformat(raw)
    iso, zone, fold = raw
    if not isinstance(iso, str):
        raise TypeError("expected ISO text")
    return _with_zone(dt.datetime.fromisoformat(iso), zone, fold)  # type: ignore[no-any-return]


def _time_back(raw: Any) -> dt.time:
    if isinstance(raw, str):
        return dt.time.fromisoformat(raw)
    iso, zone, fold = raw
    if not isinstance(iso, str):
        raise TypeError("expected ISO text")
    return _with_zone(dt.time.fromisoformat(iso), zone, fold)  # type: ignore[no-any-return]


def _date_back(raw: Any) -> dt.date:
    if not isinstance(raw, str):
        raise TypeError("expected ISO text")
    return dt.date.fromisoformat(raw)


def _timedelta_form(v: dt.timedelta) -> list[int]:
    return [v.days, v.seconds, v.microseconds]


def _timedelta_back(raw: Any) -> dt.timedelta:
    days, seconds, microseconds = raw
    return dt.timedelta(days=days, seconds=seconds, microseconds=microseconds)


def _decimal_back(raw: Any) -> Decimal:
    if not isinstance(raw, str):
        raise TypeError("expected text")
    return Decimal(raw)


def _uuid_back(raw: Any) -> uuid.UUID:
    if not isinstance(raw, str):
        raise TypeError("expected text")
    return uuid.UUID(raw)


@dataclass(frozen=True, slots=True)
class StdType:
    """A standard type: its tag (JSON), its msgpack extension code, and its plain form."""

    cls: type[Any]
    tag: str
    code: int
    encode: Callable[[Any], Any]
    decode_form: Callable[[Any], Any]

    def decode(self, raw: Any) -> Any:
        """The value of a plain form, or SerDesError when the form is malformed."""
        try:
            return self.decode_form(raw)
        except Exception as exc:  # malformed data can fail in any of the constructors
            raise SerDesError(f"stored {self.tag} is malformed: {shortened(exc)}") from exc


_STD = (
    StdType(dt.datetime, "datetime", 10, _clock_form, _datetime_back),
    StdType(dt.date, "date", 11, dt.date.isoformat, _date_back),
    StdType(dt.time, "time", 12, _clock_form, _time_back),
    StdType(dt.timedelta, "timedelta", 13, _timedelta_form, _timedelta_back),
    StdType(Decimal, "decimal", 14, str, _decimal_back),
    StdType(uuid.UUID, "uuid", 15, str, _uuid_back),
)
STD_BY_TYPE: dict[type[Any], StdType] = {s.cls: s for s in _STD}
"""Exact type -> its StdType (subclasses are not included)."""
STD_BY_TAG: dict[str, StdType] = {s.tag: s for s in _STD}
STD_BY_CODE: dict[int, StdType] = {s.code: s for s in _STD}
