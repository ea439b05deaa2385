"""Classes come back as instances of their class, only when registered."""

from __future__ import annotations

import datetime as dt
import enum
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import attrs
import pydantic
import pytest

import serdes
from serdes import JsonSerDes, MsgpackSerDes, SerDes, SerDesError, TypeRegistry, class_serdes

CODECS = [MsgpackSerDes, JsonSerDes]


def round_trip(codec: type[MsgpackSerDes | JsonSerDes], registry: TypeRegistry, value: Any) -> Any:
    data = codec(registry).serialize(value)
    assert serdes.loads(data, registry=registry) == codec(registry).deserialize(data)
    return codec(registry).deserialize(data)


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


@dataclass(repr=False)
class Lazy:
    name: str
    cache: dict[str, int] = field(init=False)  # set later, maybe never


class Point(NamedTuple):
    x: int
    y: int = 0


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mood(enum.StrEnum):
    GOOD = "good"


class Perm(enum.IntFlag):
    READ = 1
    WRITE = 2


@attrs.define
class Shipment:
    carrier: str
    _tracking: str
    at: dt.datetime
    legs: int = attrs.field(init=False, default=1)


@attrs.frozen
class Parcel:
    weight: Decimal
    shipment: Shipment | None = None


class Address(pydantic.BaseModel):
    city: str
    postal_code: str = pydantic.Field(alias="postalCode")


class Invoice(pydantic.BaseModel):
    number: int
    issued: dt.datetime
    lines: list[str]
    to: Address
    total: Decimal


class Celsius:
    def __init__(self, degrees: float) -> None:
        self.degrees = degrees

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Celsius) and other.degrees == self.degrees

    __hash__ = None  # type: ignore[assignment]


@pytest.mark.parametrize("codec", CODECS)
def test_dataclasses_nested_frozen_slots_defaults_optional_and_init_false(
    registry: TypeRegistry, codec: type[MsgpackSerDes]
) -> None:
    registry.register(Money)
    registry.register(Line)
    line = Line("A-1", Money(Decimal("9.990")), tags=["x"])
    line.computed = 42
    back = round_trip(codec, registry, [line, Line("B", Money(Decimal(1), "USD"), note="n")])
    restored = back[0]
    assert type(restored) is Line and type(restored.price) is Money
    assert restored == line and restored.note is None and restored.tags == ["x"]
    assert restored.computed == 42  # set after __init__, restored as stored
    assert str(restored.price.amount) == "9.990"
    assert back[1].note == "n" and back[1].price.currency == "USD"


@pytest.mark.parametrize("codec", CODECS)
def test_an_init_false_field_that_was_never_set_stays_unset(
    registry: TypeRegistry, codec: type[MsgpackSerDes]
) -> None:
    registry.register(Lazy)
    back = codec(registry).deserialize(codec(registry).serialize(Lazy("a")))
    assert type(back) is Lazy and back.name == "a" and not hasattr(back, "cache")
    later = Lazy("b")
    later.cache = {"hits": 3}
    assert round_trip(codec, registry, later).cache == {"hits": 3}


def test_a_field_added_with_a_default_reads_old_data(registry: TypeRegistry) -> None:
    @dataclass
    class Old:
        a: int

    registry.register(Old, name="evolving")
    data = serdes.dumps(Old(1), registry=registry)

    @dataclass
    class New:
        a: int
        b: str = "default"

    newer = TypeRegistry()
    newer.register(New, name="evolving")
    assert serdes.loads(data, registry=newer) == New(1, "default")


@pytest.mark.parametrize("codec", CODECS)
def test_namedtuples_and_enums(registry: TypeRegistry, codec: type[MsgpackSerDes]) -> None:
    for cls in (Point, Color, Level, Mood, Perm):
        registry.register(cls)
    value = {
        "p": Point(1, 2),
        "c": Color.BLUE,
        "l": Level.HIGH,
        "m": Mood.GOOD,
        "f": Perm.READ | Perm.WRITE,
        Level.LOW: "key",
        Point(3): "tuple key",
    }
    back = round_trip(codec, registry, value)
    assert back == value
    assert type(back["p"]) is Point and back["c"] is Color.BLUE
    assert back["l"] is Level.HIGH and back["m"] is Mood.GOOD
    assert back["f"] == Perm.READ | Perm.WRITE and type(back["f"]) is Perm
    keys = {type(k) for k in back}
    assert keys == {str, Level, Point}


@pytest.mark.parametrize("codec", CODECS)
def test_attrs_classes(registry: TypeRegistry, codec: type[MsgpackSerDes]) -> None:
    registry.register(Shipment)
    registry.register(Parcel)
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=ZoneInfo("Europe/Paris"))
    shipment = Shipment("dhl", "T-1", at)
    shipment.legs = 3
    back = round_trip(codec, registry, Parcel(Decimal("1.50"), shipment))
    assert type(back) is Parcel and type(back.shipment) is Shipment
    assert back.shipment == shipment and back.shipment.legs == 3
    assert back.shipment.at.tzinfo == ZoneInfo("Europe/Paris")
    assert str(back.weight) == "1.50"


@pytest.mark.parametrize("codec", CODECS)
def test_pydantic_models_with_aliases_and_nested_models(
    registry: TypeRegistry, codec: type[MsgpackSerDes]
) -> None:
    registry.register(Invoice)
    registry.register(Address)  # a nested model is stored by its own registration
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    invoice = Invoice(
        number=7,
        issued=at,
        lines=["a", "b"],
        to=Address(city="Lyon", postalCode="69001"),
        total=Decimal("10.00"),
    )
    back = round_trip(codec, registry, invoice)
    assert back == invoice and type(back) is Invoice and type(back.to) is Address
    assert back.issued == at and back.issued.tzinfo is dt.UTC
    assert str(back.total) == "10.00"


@pytest.mark.parametrize("codec", CODECS)
def test_custom_encode_decode(registry: TypeRegistry, codec: type[MsgpackSerDes]) -> None:
    registry.register(Celsius, name="temp.celsius", encode=lambda c: c.degrees, decode=Celsius)
    back = round_trip(codec, registry, {"t": Celsius(21.5), "ts": (Celsius(-3.0),)})
    assert back == {"t": Celsius(21.5), "ts": (Celsius(-3.0),)}
    assert type(back["t"]) is Celsius


def test_the_tag_is_module_and_qualified_name_unless_named(registry: TypeRegistry) -> None:
    registry.register(Money)
    registry.register(Point, name="geo.point")
    text = JsonSerDes(registry).serialize([Money(Decimal(1)), Point(1, 2)])[4:].decode()
    assert json.loads(text) == [
        {
            "$type": "object",
            "class": "tests.serdes.test_registry.Money",
            "v": {"amount": {"$type": "decimal", "v": "1"}, "currency": "EUR"},
        },
        {"$type": "object", "class": "geo.point", "v": [1, 2]},
    ]
    assert b"geo.point" in MsgpackSerDes(registry).serialize(Point(1, 2))


def test_registering_needs_a_known_shape_or_both_functions(registry: TypeRegistry) -> None:
    with pytest.raises(TypeError, match="encode= and decode="):
        registry.register(Celsius)
    with pytest.raises(TypeError, match="both"):
        registry.register(Celsius, encode=lambda c: c.degrees)
    with pytest.raises(TypeError, match="takes a class"):
        registry.register(Celsius(1))  # type: ignore[call-overload]
    registry.register(Point, name="p")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Color, name="p")


def test_a_redefined_class_takes_over_its_tag(registry: TypeRegistry) -> None:
    def define() -> type[Any]:
        @dataclass
        class Reloaded:
            n: int

        return Reloaded

    first, second = define(), define()
    registry.register(first)
    registry.register(second)  # as when a module is reloaded
    back = serdes.loads(serdes.dumps(first(1), registry=registry), registry=registry)
    assert type(back) is second


def test_register_as_decorator_with_and_without_arguments() -> None:
    local = TypeRegistry()

    @local.register
    @dataclass
    class Plain:
        n: int

    @local.register(name="named.thing")
    @dataclass
    class Named:
        n: int

    assert Plain in local and Named in local
    for value in (Plain(1), Named(2)):
        assert serdes.loads(serdes.dumps(value, registry=local), registry=local) == value


def test_register_in_the_default_registry() -> None:
    @serdes.register
    @dataclass
    class Receipt:
        total: Decimal

    assert Receipt in serdes.DEFAULT_REGISTRY
    assert serdes.loads(serdes.dumps(Receipt(Decimal("1.10")))) == Receipt(Decimal("1.10"))
    assert JsonSerDes().deserialize(JsonSerDes().serialize(Receipt(Decimal(2)))) == Receipt(
        Decimal(2)
    )


def test_a_subclass_is_not_its_registered_parent(registry: TypeRegistry) -> None:
    registry.register(Line)

    @dataclass
    class SpecialLine(Line):
        extra: int = 0

    with pytest.raises(SerDesError, match="SpecialLine"):
        serdes.dumps(SpecialLine("x", Money(Decimal(1))), registry=registry)


def test_class_serdes_takes_and_returns_only_its_class(registry: TypeRegistry) -> None:
    codec = class_serdes(Money, registry=registry)
    assert isinstance(codec, SerDes)
    assert Money in registry  # registered on the way
    money = Money(Decimal("3.50"), "USD")
    back = codec.deserialize(codec.serialize(money))
    assert back == money and type(back) is Money and str(back.amount) == "3.50"
    with pytest.raises(SerDesError, match="takes Money, not dict"):
        codec.serialize({"not": "money"})
    with pytest.raises(SerDesError, match="stored value is int, not Money"):
        codec.deserialize(serdes.dumps(5))
    # Reads what another codec wrote for the same class.
    assert codec.deserialize(JsonSerDes(registry).serialize(money)) == money


def test_class_serdes_with_the_default_registry() -> None:
    @dataclass
    class Ticket:
        at: dt.datetime

    codec = class_serdes(Ticket)
    at = dt.datetime(2026, 5, 1, 12, tzinfo=ZoneInfo("America/New_York"))
    assert codec.deserialize(codec.serialize(Ticket(at))).at.tzinfo == ZoneInfo("America/New_York")
    assert Ticket in serdes.DEFAULT_REGISTRY


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )


def test_attrs_and_pydantic_are_neither_imported_nor_needed() -> None:
    result = _run(
        """
        import sys
        sys.modules["attr"] = sys.modules["attrs"] = sys.modules["pydantic"] = None
        from dataclasses import dataclass
        import serdes

        @serdes.register
        @dataclass
        class D:
            n: int

        assert serdes.loads(serdes.dumps(D(1))) == D(1)
        try:
            serdes.register(type("Plain", (), {}))
        except TypeError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "is not a dataclass, NamedTuple, enum, attrs class or pydantic model" in result.stdout
    result = _run(
        """
        import sys, serdes
        assert not {"attr", "attrs", "pydantic", "durable_engine"} & set(sys.modules), sys.modules
        """
    )
    assert result.returncode == 0, result.stderr
