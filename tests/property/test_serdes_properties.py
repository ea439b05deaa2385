"""Generated values of every supported type round trip with equal value and exact type."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import serdes
from serdes import JsonSerDes, MsgpackSerDes, SerDes, SerDesError, TypeRegistry, ZstdSerDes


class Suit(enum.Enum):
    HEARTS = "h"
    SPADES = "s"


class Rank(enum.IntEnum):
    ACE = 1
    KING = 13


class Mood(enum.StrEnum):
    CALM = "calm"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class Card:
    suit: Suit
    rank: Rank
    drawn_at: dt.datetime | None = None


@dataclass
class Hand:
    cards: list[Any]
    owner: Any = None
    notes: dict[Any, Any] = field(default_factory=dict)


class Pair(NamedTuple):
    left: Any
    right: Any


REGISTRY = TypeRegistry()
for _cls in (Suit, Rank, Mood, Card, Hand, Pair):
    REGISTRY.register(_cls)

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
fixed_offsets = st.builds(
    dt.timezone,
    st.integers(-(24 * 3600 - 1), 24 * 3600 - 1).map(lambda s: dt.timedelta(seconds=s)),
) | st.builds(
    dt.timezone,
    st.integers(-23 * 60, 23 * 60).map(lambda m: dt.timedelta(minutes=m)),
    st.sampled_from(["EST", "Mars/Base", "x"]),
)
zones = st.sampled_from([ZoneInfo(z) for z in ZONES]) | st.just(dt.UTC) | fixed_offsets
datetimes = st.one_of(
    st.datetimes(),
    st.datetimes(timezones=zones),
    st.datetimes(timezones=zones).map(lambda d: d.replace(fold=1)),
)
times = st.times() | st.times(timezones=zones) | st.times().map(lambda t: t.replace(fold=1))
decimals = st.decimals(allow_nan=False, allow_infinity=True) | st.sampled_from(
    [Decimal(x) for x in ("NaN", "-NaN", "sNaN", "sNaN12", "-0.00", "1E+10", "-Infinity")]
)
texts = st.text() | st.lists(st.sampled_from(["a", "é", "\ud800", "\udfff", "😀"])).map("".join)
floats = st.floats() | st.sampled_from([math.nan, -0.0, math.inf, -math.inf])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**300),
    st.integers(min_value=-(2**300), max_value=-(2**63) - 1),
    floats,
    texts,
    st.binary(),
    st.binary().map(bytearray),
    datetimes,
    st.dates(),
    times,
    st.timedeltas(),
    decimals,
    st.uuids(),
    st.sampled_from([*Suit, *Rank, *Mood]),
)
keys = st.recursive(
    st.one_of(st.integers(), st.text(), st.booleans(), st.uuids(), st.dates(), st.none()),
    lambda inner: st.lists(inner, max_size=3).map(tuple) | st.frozensets(inner, max_size=3),
    max_leaves=5,
)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.sets(keys, max_size=4),
        st.frozensets(keys, max_size=4),
        st.dictionaries(st.text(), children, max_size=4),
        st.dictionaries(st.sampled_from(["$type", "v", "class"]), children, max_size=3),
        st.dictionaries(keys, children, max_size=4),
        st.builds(Pair, children, children),
        st.builds(Card, st.sampled_from(Suit), st.sampled_from(Rank), st.none() | datetimes),
        st.builds(Hand, st.lists(children, max_size=3), children),
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
    if isinstance(a, list | tuple):  # NamedTuples too
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for key, val in a.items():
            matches = [k for k in b if same(k, key)]
            if len(matches) != 1 or not same(val, b[matches[0]]):
                return False
        return True
    if isinstance(a, set | frozenset):
        return len(a) == len(b) and all(any(same(x, y) for y in b) for x in a)
    if isinstance(a, Card | Hand):
        return all(same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return bool(a == b)


def test_same_sees_the_differences_that_matter() -> None:
    assert same({"a": [1, (2.0, math.nan)]}, {"a": [1, (2.0, math.nan)]})
    assert not same(1, True)
    assert not same((1,), [1])
    assert not same(0.0, -0.0)
    assert not same({(1,): 2}, {(True,): 2})
    paris = dt.datetime(2026, 3, 29, 3, tzinfo=ZoneInfo("Europe/Paris"))
    assert not same(paris, paris.astimezone(dt.UTC))


CODECS: list[SerDes] = [
    MsgpackSerDes(REGISTRY),
    ZstdSerDes(MsgpackSerDes(REGISTRY), threshold=0),
    JsonSerDes(REGISTRY),
    ZstdSerDes(JsonSerDes(REGISTRY), threshold=0),
]
CODEC_IDS = ["msgpack", "msgpack+zstd", "json", "json+zstd"]


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@settings(max_examples=150, deadline=None)
@given(value=values)
def test_every_codec_round_trips_value_and_type(codec: SerDes, value: Any) -> None:
    data = codec.serialize(value)
    assert same(value, codec.deserialize(data))
    assert same(value, serdes.loads(data, registry=REGISTRY))


@settings(max_examples=100, deadline=None)
@given(values)
def test_compressed_blobs_round_trip(value: Any) -> None:
    padded = {"pad": "abc" * 100, "value": value}  # compressible, so zstd is kept
    for codec in CODECS[1::2]:
        data = codec.serialize(padded)
        assert data[3] == 1
        assert same(padded, serdes.loads(data, registry=REGISTRY))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_raise_only_serdes_error(blob: bytes) -> None:
    for data in (
        blob,
        bytes([0xD5, 1, 1, 0]) + blob,
        bytes([0xD5, 1, 2, 0]) + blob,
        bytes([0xD5, 1, 3, 1]) + blob,
        bytes([0xD5, 1, 1, 1]) + bytes.fromhex("28b52ffd") + blob,
    ):
        readers: list[Callable[[bytes], object]] = [serdes.loads]
        readers += [codec.deserialize for codec in CODECS]
        for read in readers:
            with contextlib.suppress(SerDesError):
                read(data)


@settings(max_examples=100, deadline=None)
@given(values, st.data())
def test_truncated_and_corrupted_blobs_raise_only_serdes_error(value: Any, data: Any) -> None:
    for codec in CODECS:
        blob = bytearray(codec.serialize(value))
        cut = data.draw(st.integers(0, len(blob)))
        spot = data.draw(st.integers(4, max(4, len(blob) - 1)))
        corrupted = bytearray(blob)
        if spot < len(corrupted):
            corrupted[spot] ^= data.draw(st.integers(1, 255))
        for damaged in (bytes(blob[:cut]), bytes(corrupted)):
            with contextlib.suppress(SerDesError):
                serdes.loads(damaged, registry=REGISTRY)


@settings(max_examples=100, deadline=None)
@given(st.uuids(), st.integers(), st.lists(st.integers(), max_size=3))
def test_keys_keep_their_types(u: uuid.UUID, n: int, items: list[int]) -> None:
    value = {u: 1, str(u): 2, n: 3, str(n): 4, tuple(items): 5, frozenset(items): 6}
    for codec in CODECS:
        assert same(value, codec.deserialize(codec.serialize(value)))


exact_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**64) | st.integers(max_value=-(2**64)),
    st.floats(),
    st.text(alphabet=st.characters(blacklist_categories=())),  # lone surrogates too
    st.binary(),
)


@settings(max_examples=300, deadline=None)
@given(exact_scalars)
def test_exact_types_come_back_as_they_went_in(value: Any) -> None:
    """The engine returns such a step result as it is, without reading it back."""
    codec = MsgpackSerDes()
    assert type(value) in codec.exact_types
    assert same(value, codec.deserialize(codec.serialize(value)))


def test_a_subclass_that_reads_its_own_way_promises_no_exact_types() -> None:
    class Shouting(MsgpackSerDes):
        def deserialize(self, data: bytes, ctx: serdes.SerDesContext | None = None) -> object:
            value = super().deserialize(data, ctx)
            return value.upper() if isinstance(value, str) else value

    class Tagged(MsgpackSerDes):
        pass

    assert Shouting.exact_types == frozenset()
    assert Tagged.exact_types == MsgpackSerDes.exact_types


def _depth(value: Any) -> int:
    """How deeply `value` nests, counted the slow, obvious way (as `serdes.depth` says)."""
    kind = type(value)
    if kind is dict:
        return 1 + max((max(_depth(k), _depth(v)) for k, v in value.items()), default=0)
    if kind in (list, tuple, set, frozenset):
        return 1 + max(map(_depth, value), default=0)
    codec = REGISTRY.for_type(kind)
    if codec is not None:
        return 1 + _depth(codec.encode(value))
    return 0


@settings(max_examples=300)
@given(values, st.integers(min_value=0, max_value=6))
def test_the_depth_check_agrees_with_a_plain_recursive_count(value: Any, limit: int) -> None:
    assert serdes.deeper_than(value, limit, registry=REGISTRY) is (_depth(value) > limit)
