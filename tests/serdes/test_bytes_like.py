"""bytearray and memoryview, alike in every codec: a bytearray comes back a bytearray,
nested or not; a memoryview, a view of a buffer rather than a value, is refused.

msgpack's C packer writes both as bytes before it calls any hook, so the msgpack codec
packs a value again, walking it, when its output holds a bin header byte: the cases
below put bytearrays where the first pack cannot see them (in lists, dict values,
tuples, registered classes, the payload of a custom encode).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import serdes
from serdes import JsonSerDes, MsgpackSerDes, SerDes, SerDesError, TypeRegistry, ZstdSerDes

REGISTRY = TypeRegistry()


@REGISTRY.register
@dataclass(frozen=True)
class Packet:
    header: bytes | bytearray
    body: Any


class Frame:
    def __init__(self, data: bytearray) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Frame) and other.data == self.data

    __hash__ = None  # type: ignore[assignment]


REGISTRY.register(
    Frame, name="frame", encode=lambda f: {"data": f.data}, decode=lambda d: Frame(**d)
)

CODECS: dict[str, SerDes] = {
    "msgpack": MsgpackSerDes(REGISTRY),
    "json": JsonSerDes(REGISTRY),
    "zstd": ZstdSerDes(MsgpackSerDes(REGISTRY), threshold=0),
    "zstd-json": ZstdSerDes(JsonSerDes(REGISTRY), threshold=0),
}


@pytest.fixture(params=list(CODECS))
def codec(request: pytest.FixtureRequest) -> SerDes:
    return CODECS[request.param]


def kinds(value: Any) -> Any:
    """The types in `value`, nested the same way."""
    if isinstance(value, list | tuple):
        return [type(value), *(kinds(x) for x in value)]
    if isinstance(value, dict):
        return {k: kinds(v) for k, v in value.items()}
    if isinstance(value, Packet):
        return [Packet, kinds(value.header), kinds(value.body)]
    if isinstance(value, Frame):
        return [Frame, kinds(value.data)]
    return type(value)


VALUES = [
    bytearray(b"\x00\xffabc"),
    bytearray(),
    bytearray(b"x" * 70_000),  # msgpack's bin 32, and compressed by zstd
    [bytearray(b"a"), [b"b", {"c": bytearray(b"c")}], b"d"],
    {"payload": bytearray(b"\x01\x02"), "n": 1, "nested": [bytearray(b"\x03")]},
    (bytearray(b"in a tuple"), b"bytes", 2),
    {(1, "key"): [bytearray(b"under a tuple key")]},
    Packet(bytearray(b"hd"), [bytearray(b"body"), b"bytes"]),
    Packet(b"hd", Frame(bytearray(b"in a custom payload"))),
    [b"only bytes", {"x": b"\xc4\xc5\xc6"}],
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_every_codec_keeps_bytearray_and_bytes_apart(codec: SerDes, value: Any) -> None:
    data = codec.serialize(value)
    for restored in (codec.deserialize(data), serdes.loads(data, registry=REGISTRY)):
        assert restored == value
        assert kinds(restored) == kinds(value)


def test_what_comes_back_is_a_buffer_of_its_own(codec: SerDes) -> None:
    original = bytearray(b"abc")
    restored = codec.deserialize(codec.serialize(original))
    assert type(restored) is bytearray
    restored[0] = ord("z")
    assert original == bytearray(b"abc")


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (memoryview(b"view"), "$"),
        ([b"a", memoryview(b"b")], r"$[1]"),
        ({"k": (1, memoryview(b"b"))}, r"$.k[1]"),
        (Packet(b"h", memoryview(b"body")), r"$.body"),
        ({memoryview(b"key"): 1}, r"$<key 0>"),
    ],
)
def test_a_memoryview_is_refused_by_every_codec_naming_where(
    codec: SerDes, value: Any, path: str
) -> None:
    with pytest.raises(SerDesError) as info:
        codec.serialize(value)
    assert f"cannot serialize memoryview at {path}: a memoryview is a view" in str(info.value)
    assert "store bytes(view)" in str(info.value)


def test_the_stored_forms() -> None:
    assert MsgpackSerDes().serialize(b"ab") == b"\xd5\x01\x01\x00\xc4\x02ab"
    # [ext 6, bin]: a list whose first item marks what it holds
    assert (
        MsgpackSerDes().serialize(bytearray(b"ab")) == b"\xd5\x01\x01\x00\x92\xc7\x00\x06\xc4\x02ab"
    )
    assert JsonSerDes().serialize(bytearray(b"ab")) == (
        b'\xd5\x01\x02\x00{"$type":"bytearray","v":"YWI="}'
    )
    assert serdes.dumps([b"ab"]) == b"\xd5\x01\x01\x00\x91\xc4\x02ab"


@pytest.mark.parametrize("name", ["msgpack", "json"])
def test_a_failure_beside_a_bytearray_names_what_failed(name: str) -> None:
    codec = CODECS[name]
    with pytest.raises(SerDesError, match=r"builtins\.object at \$\[2\]"):
        codec.serialize([bytearray(b"fine"), b"fine", object()])


def test_a_malformed_stored_bytearray_is_refused() -> None:
    data = b"\xd5\x01\x01\x00\x92\xc7\x00\x06\xa2ab"  # [ext 6, "ab"]: text, not bytes
    with pytest.raises(SerDesError, match="stored bytearray is malformed"):
        serdes.loads(data)
