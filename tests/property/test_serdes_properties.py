"""Generated values of every supported type round trip with equal value and exact type."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

import serdes
from serdes import JsonSerDes, MsgpackSerDes, SerDesError, TypeRegistry, ZstdSerDes


class Suit(enum.Enum):
    HEARTS = "h"
    SPADES = "s"


class Rank(enum.IntEnum):
    ACE = 1
    KING = 13


@dataclass(frozen=True)
class Card:
    suit: Suit
    rank: Rank
    drawn_at: dt.datetime | None = None


class Pair(NamedTuple):
    left: Any
    right: Any


REGISTRY = TypeRegistry()
for _cls in (Suit, Rank, Card, Pair):
    REGISTRY.register(_cls)

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
aware_tz = st.one_of(
    st.sampled_from([ZoneInfo(z) for z in ZONES]),
    st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m))),
    st.just(dt.UTC),
)
datetimes = st.one_of(
    st.datetimes(),
    st.datetimes(timezones=aware_tz),
    st.datetimes(timezones=aware_tz).map(lambda d: d.replace(fold=1)),
)
decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=True),
    st.sampled_from([Decimal("NaN"), Decimal("-0.00"), Decimal("1E+10"), Decimal("sNaN")]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**64, max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(),
    datetimes,
    st.dates(),
    st.times(timezones=st.one_of(st.none(), st.just(dt.UTC))),
    st.timedeltas(),
    decimals,
    st.uuids(),
    st.sampled_from(list(Suit) + list(Rank)),
)
hashables = st.one_of(st.integers(), st.text(), st.booleans(), st.uuids(), st.dates())


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.sets(hashables, max_size=4),
        st.frozensets(hashables, max_size=4),
        st.dictionaries(st.text(), children, max_size=4),
        st.dictionaries(hashables, children, max_size=4),
        st.builds(Pair, children, children),
        st.builds(Card, st.sampled_from(Suit), st.sampled_from(Rank), st.none() | datetimes),
    )


values = st.recursive(scalars, containers, max_leaves=12)


def same(a: Any, b: Any) -> bool:
    """Equal value and exact type, recursively; nan equals nan, -0.0 keeps its sign."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, dt.datetime | dt.time):
        return a == b and a.fold == b.fold and repr(a.tzinfo) == repr(b.tzinfo)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for key, val in a.items():
            matches = [k for k in b if same(k, key)]
            if len(matches) != 1 or not same(val, b[matches[0]]):
                return False
        return True
    if isinstance(a, Card):
        return same(a.suit, b.suit) and same(a.rank, b.rank) and same(a.drawn_at, b.drawn_at)
    return bool(a == b)


CODECS = [
    MsgpackSerDes(REGISTRY),
    ZstdSerDes(MsgpackSerDes(REGISTRY), threshold=0),
    JsonSerDes(REGISTRY),
]


@settings(max_examples=300, deadline=None)
@given(values)
def test_every_codec_round_trips_value_and_type(value: Any) -> None:
    for codec in CODECS:
        data = codec.serialize(value)
        assert same(value, codec.deserialize(data)), type(codec).__name__
        assert same(value, serdes.loads(data, registry=REGISTRY)), type(codec).__name__


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_raise_only_serdes_error(blob: bytes) -> None:
    for data in (
        blob,
        bytes([0xD5, 1, 1, 0]) + blob,
        bytes([0xD5, 1, 2, 0]) + blob,
        bytes([0xD5, 1, 1, 1]) + blob,
    ):
        with contextlib.suppress(SerDesError):
            serdes.loads(data, registry=REGISTRY)


@settings(max_examples=100, deadline=None)
@given(st.uuids(), st.integers())
def test_uuid_and_int_keys_stay_distinct_from_strings(u: uuid.UUID, n: int) -> None:
    value = {u: 1, str(u): 2, n: 3, str(n): 4}
    for codec in CODECS:
        assert same(value, codec.deserialize(codec.serialize(value)))
