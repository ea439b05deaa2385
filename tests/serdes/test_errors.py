"""Failures are SerDesError, naming the class, where it sits, and what to do."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

import msgpack
import pytest
import zstandard

import serdes
from serdes import JsonSerDes, MsgpackSerDes, SerDesError, TypeRegistry, ZstdSerDes
from serdes.compression import MAX_DECOMPRESSED_SIZE

CODECS = [MsgpackSerDes, JsonSerDes]


class Opaque:
    pass


@dataclass
class Price:
    amount: Any


@dataclass
class Line:
    sku: str
    price: Any


@dataclass
class Order:
    items: list[Any]


class Pair(NamedTuple):
    left: Any
    right: Any


@pytest.fixture
def registry() -> TypeRegistry:
    reg = TypeRegistry()
    for cls in (Line, Order, Pair):
        reg.register(cls)
    return reg


def message(codec: type[MsgpackSerDes], registry: TypeRegistry, value: Any) -> str:
    with pytest.raises(SerDesError) as caught:
        codec(registry).serialize(value)
    return str(caught.value)


@pytest.mark.parametrize("codec", CODECS)
def test_an_unregistered_class_is_named_with_its_path_and_the_fix(
    registry: TypeRegistry, codec: type[MsgpackSerDes]
) -> None:
    order = Order([1, 2, 3, Line("x", Price(Decimal(1)))])
    text = message(codec, registry, order)
    assert text.startswith(
        "cannot serialize tests.serdes.test_errors.Price at $.items[3].price: "
        "the class is not registered; register it with serdes.register(Price)"
    )


@pytest.mark.parametrize("codec", CODECS)
def test_a_builtin_that_cannot_be_stored_is_not_offered_registration(
    registry: TypeRegistry, codec: type[MsgpackSerDes]
) -> None:
    text = message(codec, registry, {"next": (n for n in range(3))})
    assert text.startswith(
        "cannot serialize builtins.generator at $.next: values of this type cannot be stored"
    )
    assert "register" not in text


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    ("value", "path"),
    [
        (Opaque(), "$"),
        ({"key": Opaque()}, "$.key"),
        ({"a key": [0, Opaque()]}, '$["a key"][1]'),
        ({"order": {"items": (0, {"$type": Opaque()})}}, '$.order.items[1]["$type"]'),
        ({3: Opaque()}, "$[3]"),
        ({(1, "a"): {"x": Opaque()}}, "$[(1, 'a')].x"),
        ({Opaque(): 1}, "$<key 0>"),
        ({"k": 1, ("t", Opaque()): 2}, "$<key 1>[1]"),
        (Pair(1, [Opaque()]), "$.right[0]"),
        ([Line("a", 1), Line("b", {Opaque()})], "$[1].price[0]"),
    ],
)
def test_paths(registry: TypeRegistry, codec: type[MsgpackSerDes], value: Any, path: str) -> None:
    assert f"cannot serialize tests.serdes.test_errors.Opaque at {path}: " in message(
        codec, registry, value
    )


@pytest.mark.parametrize("codec", CODECS)
def test_a_failing_encode_function_is_reported_with_its_path(
    registry: TypeRegistry, codec: type[MsgpackSerDes]
) -> None:
    def encode(obj: Opaque) -> Any:
        raise RuntimeError("no can do")

    registry.register(Opaque, encode=encode, decode=lambda raw: Opaque())
    with pytest.raises(SerDesError) as caught:
        codec(registry).serialize({"rows": [Opaque()]})
    assert str(caught.value) == (
        "cannot serialize tests.serdes.test_errors.Opaque at $.rows[0]: "
        "its encode function raised RuntimeError: no can do"
    )
    assert isinstance(caught.value.__cause__, RuntimeError)


@pytest.mark.parametrize("codec", CODECS)
def test_a_failing_decode_function_is_a_serdes_error(codec: type[MsgpackSerDes]) -> None:
    registry = TypeRegistry()
    registry.register(Opaque, name="op", encode=lambda obj: 1, decode=lambda raw: 1 / 0)
    with pytest.raises(SerDesError, match="cannot restore op: ZeroDivisionError"):
        codec(registry).deserialize(codec(registry).serialize(Opaque()))


@pytest.mark.parametrize("codec", CODECS)
def test_an_unknown_tag_in_stored_data_is_refused_by_name(codec: type[MsgpackSerDes]) -> None:
    writer = TypeRegistry()
    writer.register(Pair, name="geo.pair")
    data = codec(writer).serialize({"p": Pair(1, 2)})
    for read in (codec(TypeRegistry()).deserialize, serdes.loads):
        with pytest.raises(SerDesError) as caught:
            read(data)
        assert "'geo.pair'" in str(caught.value)
        assert "not registered" in str(caught.value)


@pytest.mark.parametrize("codec", CODECS)
def test_stored_fields_that_do_not_fit_the_class(codec: type[MsgpackSerDes]) -> None:
    writer, reader = TypeRegistry(), TypeRegistry()
    writer.register(Pair, name="shape")
    reader.register(Line, name="shape")
    data = codec(writer).serialize(Pair(1, 2))
    with pytest.raises(SerDesError, match="cannot restore shape"):
        codec(reader).deserialize(data)


def test_malformed_standard_types_are_serdes_errors() -> None:
    def blob(code: int, form: Any) -> bytes:
        return b"\xd5\x01\x01\x00" + bytes(msgpack.packb([msgpack.ExtType(code, b""), form]))

    for code, form in [
        (10, "not a date"),
        (10, ["2020-01-01T00:00:00", "No/Such_Zone", 0]),
        (10, ["2020-01-01T00:00:00", ["named"], 0]),  # a name needs an offset
        (10, ["2020-01-01T00:00:00", None, 7]),
        (11, 20200101),
        (12, ["25:00", None, 0]),
        (13, [1, 2]),
        (14, "1.2.3"),
        (15, "not-a-uuid"),
    ]:
        with pytest.raises(SerDesError, match="is malformed"):
            serdes.loads(blob(code, form))
    with pytest.raises(SerDesError, match="unknown msgpack extension type 99"):
        serdes.loads(b"\xd5\x01\x01\x00" + msgpack.packb(msgpack.ExtType(99, b"")))
    bad_b64 = base64.b64encode(b"\xff").decode()
    for text in (
        '{"$type":"nope","v":1}',
        '{"$type":"bytes","v":"***"}',
        '{"$type":"float","v":"big"}',
        f'{{"$type":"str","v":"{bad_b64}"}}',
        '{"$type":"dict","v":[[[1],2]]}',
        '{"$type":"set","v":[[1]]}',
        "{not json",
        '"\\ud800',
    ):
        with pytest.raises(SerDesError):
            serdes.loads(b"\xd5\x01\x02\x00" + text.encode())
    with pytest.raises(SerDesError, match="cannot read JSON"):
        serdes.loads(b"\xd5\x01\x02\x00\xff\xfe")


@pytest.mark.parametrize("codec", [MsgpackSerDes(), JsonSerDes(), ZstdSerDes()])
def test_values_nested_too_deeply_are_refused(codec: Any) -> None:
    value: Any = 1
    for _ in range(5000):
        value = [value]
    with pytest.raises(SerDesError, match="nested too deeply"):
        codec.serialize(value)
    itself: list[Any] = []
    itself.append(itself)
    with pytest.raises(SerDesError, match=r"nested too deeply \(or contains itself\)"):
        codec.serialize({"a": itself})


def test_nesting_msgpack_can_write_it_can_read() -> None:
    wraps: list[Callable[[Any], Any]] = [
        lambda v: [v],
        lambda v: (v,),
        lambda v: {"k": v},
        lambda v: {1: v},
    ]
    # A registered class takes two levels: a marker array around its encoded form.
    for wrap, depth in [*((w, 1000) for w in wraps), (lambda v: Pair(v, None), 500)]:
        value: Any = 1
        for _ in range(depth):
            value = wrap(value)
        registry = TypeRegistry()
        registry.register(Pair)
        data = serdes.dumps(value, registry=registry)
        back = serdes.loads(data, registry=registry)
        assert type(back) is type(value)
        assert serdes.dumps(back, registry=registry) == data  # == itself would recurse too far


@pytest.mark.parametrize("codec", CODECS)
def test_an_error_from_a_nested_serializer_passes_through(codec: type[MsgpackSerDes]) -> None:
    registry = TypeRegistry()
    registry.register(
        Opaque, encode=lambda obj: serdes.dumps(Opaque()), decode=lambda raw: Opaque()
    )
    with pytest.raises(SerDesError, match=r"cannot serialize .*Opaque at \$: the class is not"):
        codec(registry).serialize(Opaque())


def test_an_encode_function_may_serialize_with_the_same_codec() -> None:
    registry = TypeRegistry()
    codec = MsgpackSerDes(registry)

    class Boxed:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

    registry.register(
        Boxed,
        encode=lambda b: codec.serialize(b.inner),
        decode=lambda raw: Boxed(codec.deserialize(raw)),
    )
    back = codec.deserialize(codec.serialize([Boxed((1, Boxed({"a": (2,)}))), (3,)]))
    assert isinstance(back, list)
    assert back[0].inner[0] == 1 and back[0].inner[1].inner == {"a": (2,)} and back[1] == (3,)


def test_markers_out_of_place_are_refused() -> None:
    """Crafted data: a type marker on its own, or not first in its list, is no value."""
    header = serdes.dumps(None)[:4]
    for body in (
        msgpack.packb(msgpack.ExtType(1, b"")),
        msgpack.packb([1, msgpack.ExtType(2, b"")]),
        msgpack.packb({"k": msgpack.ExtType(3, b"")}),
    ):
        with pytest.raises(serdes.SerDesError, match="marker"):
            serdes.loads(header + body)
    marked = [(1, 2), {3}, frozenset({4})]
    assert serdes.loads(serdes.dumps(marked)) == marked


def test_damaged_data_gives_a_short_error_and_no_huge_allocation() -> None:
    big = serdes.dumps(b"x" * 5_000_000)
    with pytest.raises(serdes.SerDesError) as trailing:
        serdes.loads(big + b"\xc0" * 10)  # trailing bytes: msgpack's error holds the data
    assert len(str(trailing.value)) < 1000
    header = serdes.ZstdSerDes(threshold=0).serialize(b"y" * 2000)[:4]
    bomb = zstandard.ZstdCompressor().compress(b"\0" * (MAX_DECOMPRESSED_SIZE + 1))
    with pytest.raises(serdes.SerDesError, match="declares"):
        serdes.loads(header + bomb)


def test_a_zstd_threshold_that_is_not_a_size_is_refused() -> None:
    with pytest.raises(TypeError, match="threshold"):
        serdes.ZstdSerDes(threshold="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        serdes.ZstdSerDes(threshold=-1)
