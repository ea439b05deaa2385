"""bytearray and memoryview: every codec stores them as bytes and reads back bytes.

msgpack's C packer writes a bytearray or a memoryview as bytes before it calls any hook
(`strict_types` or not), so telling them from bytes would take a Python-level walk of
every value the default codec writes. Instead every codec treats them alike: the same
bytes as for `bytes`, read back as `bytes` (equal to the original), nested or not.
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


CODECS: dict[str, SerDes] = {
    "msgpack": MsgpackSerDes(REGISTRY),
    "json": JsonSerDes(REGISTRY),
    "zstd": ZstdSerDes(MsgpackSerDes(REGISTRY), threshold=0),
    "zstd-json": ZstdSerDes(JsonSerDes(REGISTRY), threshold=0),
}


@pytest.fixture(params=list(CODECS))
def codec(request: pytest.FixtureRequest) -> SerDes:
    return CODECS[request.param]


def as_bytes(value: Any) -> Any:
    """`value` with every bytearray and memoryview in it turned into bytes."""
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, list | tuple):
        return type(value)(as_bytes(x) for x in value)
    if isinstance(value, dict):
        return {k: as_bytes(v) for k, v in value.items()}
    if isinstance(value, Packet):
        return Packet(as_bytes(value.header), as_bytes(value.body))
    return value


def kinds(value: Any) -> Any:
    """The types in `value`, nested the same way."""
    if isinstance(value, list | tuple):
        return [kinds(x) for x in value]
    if isinstance(value, dict):
        return {k: kinds(v) for k, v in value.items()}
    if isinstance(value, Packet):
        return [Packet, kinds(value.header), kinds(value.body)]
    return type(value)


VALUES = [
    bytearray(b"\x00\xffabc"),
    bytearray(),
    bytearray(b"x" * 70_000),  # msgpack's bin 32, and compressed by zstd
    memoryview(b"view"),
    [bytearray(b"a"), [memoryview(b"b"), {"c": bytearray(b"c")}], b"d"],
    {"payload": bytearray(b"\x01\x02"), "n": 1, "nested": [bytearray(b"\x03")]},
    (bytearray(b"in a tuple"), 2),
    Packet(bytearray(b"hd"), [bytearray(b"body")]),
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_every_codec_reads_back_bytes_equal_to_the_original(codec: SerDes, value: Any) -> None:
    expected = as_bytes(value)
    data = codec.serialize(value)
    for restored in (codec.deserialize(data), serdes.loads(data, registry=REGISTRY)):
        assert restored == expected
        assert restored == value  # bytes == bytearray == memoryview of the same bytes
        assert kinds(restored) == kinds(expected)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_a_bytearray_is_written_as_the_same_bytes_would_be(codec: SerDes, value: Any) -> None:
    assert codec.serialize(value) == codec.serialize(as_bytes(value))


@pytest.mark.parametrize("value", [b"ab", bytearray(b"ab"), memoryview(b"ab")])
def test_the_stored_form_is_that_of_bytes(value: bytes | bytearray | memoryview) -> None:
    assert MsgpackSerDes().serialize(value) == b"\xd5\x01\x01\x00\xc4\x02ab"
    json_form = b'{"$type":"bytes","v":"YWI="}'
    assert JsonSerDes().serialize(value) == b"\xd5\x01\x02\x00" + json_form
    assert serdes.dumps([value]) == b"\xd5\x01\x01\x00\x91\xc4\x02ab"


@pytest.mark.parametrize("name", ["msgpack", "json"])
def test_a_failure_beside_a_bytearray_names_what_failed(name: str) -> None:
    codec = CODECS[name]
    with pytest.raises(SerDesError, match=r"builtins\.object at \$\[2\]"):
        codec.serialize([bytearray(b"fine"), memoryview(b"fine"), object()])
