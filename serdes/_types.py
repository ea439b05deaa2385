"""Plain-data forms of the standard types the codecs keep exactly (datetime and friends)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ._core import SerDesError

__all__ = ["STD_DECODERS", "STD_ENCODERS"]


def _tz_encode(tz: dt.tzinfo | None, at: dt.datetime | None) -> Any:
    if tz is None:
        return None
    if isinstance(tz, ZoneInfo) and tz.key:
        return ["z", tz.key]
    offset = tz.utcoffset(at)
    if offset is None:
        return None
    name = tz.tzname(at) if isinstance(tz, dt.timezone) else None
    if tz is dt.UTC:
        name = "UTC"
    elif name is not None and name == dt.timezone(offset).tzname(None):
        name = None  # the generated name, not one the user gave
    return ["o", offset.days, offset.seconds, offset.microseconds, name]


def _tz_decode(raw: Any) -> dt.tzinfo | None:
    if raw is None:
        return None
    if raw[0] == "z":
        return ZoneInfo(raw[1])
    offset = dt.timedelta(days=raw[1], seconds=raw[2], microseconds=raw[3])
    if not offset and raw[4] == "UTC":
        return dt.UTC
    return dt.timezone(offset, raw[4]) if raw[4] is not None else dt.timezone(offset)


def _datetime(v: dt.datetime) -> list[Any]:
    return [
        v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.fold,
        _tz_encode(v.tzinfo, v),
    ]  # fmt: skip


def _datetime_back(raw: list[Any]) -> dt.datetime:
    y, mo, d, h, mi, s, us, fold, tz = raw
    return dt.datetime(y, mo, d, h, mi, s, us, tzinfo=_tz_decode(tz), fold=fold)


def _time(v: dt.time) -> list[Any]:
    return [v.hour, v.minute, v.second, v.microsecond, v.fold, _tz_encode(v.tzinfo, None)]


def _time_back(raw: list[Any]) -> dt.time:
    h, mi, s, us, fold, tz = raw
    return dt.time(h, mi, s, us, tzinfo=_tz_decode(tz), fold=fold)


STD_ENCODERS: dict[type[Any], tuple[str, Any]] = {
    dt.datetime: ("datetime", _datetime),
    dt.date: ("date", lambda v: [v.year, v.month, v.day]),
    dt.time: ("time", _time),
    dt.timedelta: ("timedelta", lambda v: [v.days, v.seconds, v.microseconds]),
    Decimal: ("decimal", str),
    uuid.UUID: ("uuid", str),
}
"""Exact type -> (tag, function giving plain data)."""


def _uuid_back(raw: Any) -> uuid.UUID:
    return uuid.UUID(raw)


STD_DECODERS: dict[str, Any] = {
    "datetime": _datetime_back,
    "date": lambda raw: dt.date(*raw),
    "time": _time_back,
    "timedelta": lambda raw: dt.timedelta(days=raw[0], seconds=raw[1], microseconds=raw[2]),
    "decimal": Decimal,
    "uuid": _uuid_back,
}


def decode_std(tag: str, raw: Any) -> Any:
    try:
        return STD_DECODERS[tag](raw)
    except KeyError:
        raise SerDesError(f"unknown stored type {tag!r}") from None
    except (TypeError, ValueError, IndexError, ArithmeticError) as exc:
        raise SerDesError(f"stored {tag} is malformed: {exc}") from exc
