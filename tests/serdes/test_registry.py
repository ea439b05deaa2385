"""Classes come back as instances of their class, only when registered."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

import attrs
import pydantic
import pytest

import serdes
from serdes import JsonSerDes, MsgpackSerDes, SerDesError, TypeRegistry, class_serdes

CODECS = [MsgpackSerDes, JsonSerDes]


@pytest.fixture
def registry() -> TypeRegistry:
    return TypeRegistry()


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str = "EUR"


@dataclass
class Line:
    sku: str
    price: Money
    note: str | None = None
    tags: list[str] = field(default_factory=list)
    computed: int = field(default=0, init=False)


class Point(NamedTuple):
    x: int
    y: int


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mood(enum.StrEnum):
    GOOD = "good"


@attrs.define
class Shipment:
    carrier: str
    _tracking: str
    at: dt.datetime


class Invoice(pydantic.BaseModel):
    number: int
    issued: dt.datetime
    lines: list[str]


class Celsius:
    def __init__(self, degrees: float) -> None:
        self.degrees = degrees

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Celsius) and other.degrees == self.degrees

    __hash__ = None  # type: ignore[assignment]


@pytest.mark.parametrize("codec", CODECS)
def test_dataclasses_nested_frozen_slots_defaults_and_init_false(
    registry: TypeRegistry, codec: type[MsgpackSerDes]
) -> None:
    registry.register(Money)
    registry.register(Line)
    line = Line("A-1", Money(Decimal("9.99")), tags=["x"])
    line.computed = 42
    back = codec(registry).deserialize(codec(registry).serialize([line, None]))
    assert isinstance(back, list)
    restored = back[0]
    assert type(restored) is Line and type(restored.price) is Money
    assert restored == line and restored.computed == 42 and restored.note is None


@pytest.mark.parametrize("codec", CODECS)
def test_namedtuples_and_enums(registry: TypeRegistry, codec: type[MsgpackSerDes]) -> None:
    for cls in (Point, Color, Level, Mood):
        registry.register(cls)
    value = {"p": Point(1, 2), "c": Color.BLUE, "l": Level.HIGH, "m": Mood.GOOD, Level.LOW: "key"}
    back = codec(registry).deserialize(codec(registry).serialize(value))
    assert back == value
    assert isinstance(back, dict)
    assert type(back["p"]) is Point and back["c"] is Color.BLUE
    assert back["l"] is Level.HIGH and back["m"] is Mood.GOOD and Level.LOW in back


@pytest.mark.parametrize("codec", CODECS)
def test_attrs_and_pydantic_models(registry: TypeRegistry, codec: type[MsgpackSerDes]) -> None:
    registry.register(Shipment)
    registry.register(Invoice)
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    value = [Shipment("dhl", "T-1", at), Invoice(number=7, issued=at, lines=["a", "b"])]
    back = codec(registry).deserialize(codec(registry).serialize(value))
    assert back == value
    assert isinstance(back, list)
    assert type(back[0]) is Shipment and type(back[1]) is Invoice
    assert back[1].issued == at and back[1].issued.tzinfo is not None


@pytest.mark.parametrize("codec", CODECS)
def test_custom_encode_decode(registry: TypeRegistry, codec: type[MsgpackSerDes]) -> None:
    registry.register(Celsius, name="temp.celsius", encode=lambda c: c.degrees, decode=Celsius)
    back = codec(registry).deserialize(codec(registry).serialize({"t": Celsius(21.5)}))
    assert back == {"t": Celsius(21.5)}


@pytest.mark.parametrize("codec", CODECS)
def test_unregistered_class_names_the_class_the_path_and_the_fix(
    registry: TypeRegistry, codec: type[MsgpackSerDes]
) -> None:
    registry.register(Line)
    value = {"order": {"items": [1, 2, 3, Line("x", Money(Decimal(1)))]}}
    with pytest.raises(SerDesError) as caught:
        codec(registry).serialize(value)
    message = str(caught.value)
    assert "Money" in message
    assert "$.order.items[3].price" in message
    assert "serdes.register(Money)" in message


@pytest.mark.parametrize("codec", CODECS)
def test_unknown_tag_in_stored_data_is_refused(codec: type[MsgpackSerDes]) -> None:
    writer = TypeRegistry()
    writer.register(Point, name="geo.point")
    data = codec(writer).serialize(Point(1, 2))
    with pytest.raises(SerDesError, match=r"geo\.point"):
        codec(TypeRegistry()).deserialize(data)


def test_registering_needs_a_known_shape_or_both_functions(registry: TypeRegistry) -> None:
    with pytest.raises(TypeError, match="encode= and decode="):
        registry.register(Celsius)
    with pytest.raises(TypeError, match="both"):
        registry.register(Celsius, encode=lambda c: c.degrees)
    registry.register(Point, name="p")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Color, name="p")


def test_register_as_decorator_in_the_default_registry() -> None:
    @serdes.register
    @dataclass
    class Receipt:
        total: Decimal

    assert serdes.loads(serdes.dumps(Receipt(Decimal("1.10")))) == Receipt(Decimal("1.10"))


def test_class_serdes_takes_and_returns_only_its_class(registry: TypeRegistry) -> None:
    codec = class_serdes(Money, registry=registry)
    money = Money(Decimal("3.50"), "USD")
    assert codec.deserialize(codec.serialize(money)) == money
    with pytest.raises(SerDesError, match="takes Money"):
        codec.serialize({"not": "money"})
    with pytest.raises(SerDesError, match="not Money"):
        codec.deserialize(serdes.dumps(5))
