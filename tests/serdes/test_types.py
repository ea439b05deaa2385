"""Standard types round trip exactly, and JSON stays readable."""

from __future__ import annotations

import datetime as dt
import math
import sys
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import serdes
from serdes import JsonSerDes, MsgpackSerDes, SerDes, ZstdSerDes

CODECS: list[SerDes] = [MsgpackSerDes(), JsonSerDes(), ZstdSerDes(threshold=0)]
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def back(codec: SerDes, value: Any) -> Any:
    data = codec.serialize(value)
    restored = codec.deserialize(data)
    loaded = serdes.loads(data)
    assert type(loaded) is type(restored)
    return restored


@pytest.fixture(params=CODECS, ids=["msgpack", "json", "zstd"])
def codec(request: pytest.FixtureRequest) -> SerDes:
    return request.param  # type: ignore[no-any-return]


def test_scalars_keep_their_exact_type(codec: SerDes) -> None:
    value = [None, True, False, 0, 1, -1, 2**63 - 1, -(2**63), 1.5, "", "é😀", b"\x00\xff"]
    restored = back(codec, value)
    assert restored == value
    assert [type(x) for x in restored] == [type(x) for x in value]


@pytest.mark.parametrize("n", [2**64, 2**64 - 1, -(2**63) - 1, -(2**64), 2**200, -(2**1000)])
def test_big_ints(codec: SerDes, n: int) -> None:
    assert back(codec, n) == n and back(codec, {n: [n]}) == {n: [n]}


def test_ints_beyond_the_decimal_digit_limit(codec: SerDes) -> None:
    n = 7**20_000  # about 17,000 digits: str(n) would raise
    assert n.bit_length() > 4300 * 3.33 and sys.get_int_max_str_digits() > 0
    assert back(codec, [n, -n]) == [n, -n]


def test_floats(codec: SerDes) -> None:
    nan, neg_zero, inf, ninf, tiny = back(codec, [math.nan, -0.0, math.inf, -math.inf, 5e-324])
    assert math.isnan(nan)
    assert neg_zero == 0.0 and math.copysign(1, neg_zero) == -1
    assert (inf, ninf, tiny) == (math.inf, -math.inf, 5e-324)


def test_strings_with_surrogates(codec: SerDes) -> None:
    value = {"\ud800": ["a\udfffb", "\ud83d\ude00", "😀"]}
    restored = back(codec, value)
    assert restored == value
    assert [len(s) for s in restored["\ud800"]] == [3, 2, 1]  # the pair stays two code points


def test_containers_keep_their_type_also_as_keys(codec: SerDes) -> None:
    value = {
        (1, (2, 3)): "tuple key",
        frozenset({1, 2}): "frozenset key",
        1: "int",
        "1": "str",
        None: "none",
        2.5: "float",
        b"k": "bytes",
        "all": [(), [], set(), frozenset(), {}],
        (True, 1.0): "bool in a key",
    }
    restored = back(codec, value)
    assert restored == value
    assert {type(k) for k in restored} == {tuple, frozenset, int, str, type(None), float, bytes}
    assert type(next(k for k in restored if k == (1, (2, 3)))[1]) is tuple
    assert [type(x) for x in restored["all"]] == [tuple, list, set, frozenset, dict]
    bool_key = next(k for k in restored if restored[k] == "bool in a key")
    assert [type(x) for x in bool_key] == [bool, float]


def test_a_dict_with_a_type_key_is_plain_data(codec: SerDes) -> None:
    value = {"$type": "datetime", "v": "2020-01-01", "nested": [{"$type": "object"}]}
    assert back(codec, value) == value


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2026, 1, 2, 3, 4, 5, 6),
        dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5, seconds=7, microseconds=3))),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(0), "Z!")),
        dt.datetime(2026, 7, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2), "CEST")),
        dt.datetime(2026, 3, 29, 2, 30, tzinfo=PARIS),  # in the spring gap
        dt.datetime(2021, 11, 7, 1, 30, tzinfo=NEW_YORK, fold=1),  # second 01:30
        dt.datetime(2021, 11, 7, 1, 30, fold=1),
        dt.datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")),
    ],
)
def test_datetimes_keep_wall_time_zone_and_fold(codec: SerDes, value: dt.datetime) -> None:
    restored = back(codec, value)
    assert type(restored) is dt.datetime
    assert restored == value and restored.fold == value.fold
    assert restored.replace(tzinfo=None) == value.replace(tzinfo=None)
    assert type(restored.tzinfo) is type(value.tzinfo)
    assert restored.tzname() == value.tzname() and restored.utcoffset() == value.utcoffset()
    if isinstance(value.tzinfo, ZoneInfo):
        assert restored.tzinfo is value.tzinfo  # ZoneInfo(key) is cached: the same zone


def test_an_aware_datetime_across_a_zone_change_is_still_the_same_instant(codec: SerDes) -> None:
    late = dt.datetime(2021, 11, 7, 1, 30, tzinfo=NEW_YORK, fold=1)
    assert back(codec, late).astimezone(dt.UTC) == dt.datetime(2021, 11, 7, 6, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "value",
    [
        dt.time(0),
        dt.time(23, 59, 59, 999999, fold=1),
        dt.time(1, 2, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        dt.time(1, 2, tzinfo=PARIS),
        dt.time(1, 2, tzinfo=dt.timezone(dt.timedelta(hours=-3), "BRT")),
    ],
)
def test_times(codec: SerDes, value: dt.time) -> None:
    restored = back(codec, value)
    assert restored == value and restored.fold == value.fold and restored.tzinfo == value.tzinfo
    assert restored.tzname() == value.tzname()


def test_dates_timedeltas_uuids(codec: SerDes) -> None:
    value = [
        dt.date(1, 1, 1),
        dt.date(9999, 12, 31),
        dt.timedelta(days=-5, microseconds=3),
        dt.timedelta.max,
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
    ]
    restored = back(codec, value)
    assert restored == value and [type(x) for x in restored] == [type(x) for x in value]


@pytest.mark.parametrize(
    "text",
    ["9.99", "9.990", "-0", "-0.00", "1E+10", "1e-30", "NaN", "-NaN", "sNaN", "sNaN123",
     "Infinity", "-Infinity", "123456789012345678901234567890.123456789"],
)  # fmt: skip
def test_decimals_keep_their_exact_text(codec: SerDes, text: str) -> None:
    restored = back(codec, Decimal(text))
    assert type(restored) is Decimal and str(restored) == str(Decimal(text))


def test_another_tzinfo_keeps_its_offset(codec: SerDes) -> None:
    class Fixed(dt.tzinfo):
        def utcoffset(self, d: dt.datetime | None) -> dt.timedelta:
            return dt.timedelta(hours=3)

        def dst(self, d: dt.datetime | None) -> dt.timedelta:
            return dt.timedelta(0)

        def tzname(self, d: dt.datetime | None) -> str:
            return "Three"

    value = dt.datetime(2026, 1, 1, 12, tzinfo=Fixed())
    restored = back(codec, value)
    assert restored == value and restored.utcoffset() == dt.timedelta(hours=3)


def test_json_is_readable() -> None:
    value = {
        "plain": {"name": "widget", "qty": 2, "price": 9.99, "ok": True, "none": None},
        "at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "paris": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=PARIS),
        "day": dt.date(2026, 1, 2),
        "total": Decimal("9.99"),
        "pair": (1, 2),
        "raw": b"hi",
        "nan": math.nan,
    }
    data = JsonSerDes().serialize(value)
    assert data[:4] == b"\xd5\x01\x02\x00"
    assert data[4:].decode() == (
        '{"plain":{"name":"widget","qty":2,"price":9.99,"ok":true,"none":null},'
        '"at":{"$type":"datetime","v":"2026-01-02T03:04:05+00:00"},'
        '"paris":{"$type":"datetime","v":["2026-01-02T03:04:05+01:00","Europe/Paris",0]},'
        '"day":{"$type":"date","v":"2026-01-02"},'
        '"total":{"$type":"decimal","v":"9.99"},'
        '"pair":{"$type":"tuple","v":[1,2]},'
        '"raw":{"$type":"bytes","v":"aGk="},'
        '"nan":{"$type":"float","v":"nan"}}'
    )


def test_json_escapes_dicts_that_are_not_plain() -> None:
    data = JsonSerDes().serialize({"$type": "mine", 3: "int key"})
    assert data[4:] == b'{"$type":"dict","v":[["$type","mine"],[3,"int key"]]}'
    assert JsonSerDes().serialize({"é": "ü"})[4:].decode() == '{"é":"ü"}'  # UTF-8, not \\u
