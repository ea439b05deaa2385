"""bytearray comes back as bytearray in every codec; memoryview is stored as bytes.

msgpack's C packer writes a bytearray as bytes before it calls any hook, so the msgpack
codec looks for one only in output holding a byte that can start msgpack bytes, and
then packs the value again with its bytearrays marked. These tests hold every codec to
the same answer, nested or not, inside tuples and registered classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack
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


def kinds(value: Any) -> Any:
    """The types in `value`, nested the same way."""
    if isinstance(value, list | tuple):
        return [type(value), *(kinds(x) for x in value)]
    if isinstance(value, dict):
        return {k: kinds(v) for k, v in value.items()}
    if isinstance(value, Packet):
        return [Packet, kinds(value.header), kinds(value.body)]
    return type(value)


VALUES = [
    bytearray(b"\x00\xffabc"),
    bytearray(),
    bytearray(b"x" * 70_000),  # msgpack's bin 32, and compressed by zstd
    [bytearray(b"a"), [b"b", {"c": bytearray(b"c")}], b"d"],
    {"payload": bytearray(b"\x01\x02"), "n": 1, "nested": [bytearray(b"\x03")]},
    (bytearray(b"in a tuple"), 2),
    [{(1, 2): [(bytearray(b"deep"),)]}],  # in a tuple in a list under a tuple key
    Packet(bytearray(b"hd"), [bytearray(b"body"), b"bytes"]),
    Packet(b"hd", (bytearray(b"in a tuple in an object"),)),
    ["\udc80 lone surrogate", bytearray(b"beside it")],
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_every_codec_gives_back_a_bytearray_as_a_bytearray(codec: SerDes, value: Any) -> None:
    data = codec.serialize(value)
    for restored in (codec.deserialize(data), serdes.loads(data, registry=REGISTRY)):
        assert restored == value
        assert kinds(restored) == kinds(value)


@pytest.mark.parametrize("codec_name", list(CODECS))
def test_a_restored_bytearray_is_a_new_one(codec_name: str) -> None:
    original = bytearray(b"abc")
    restored: Any = CODECS[codec_name].deserialize(CODECS[codec_name].serialize([original]))
    restored[0][0:1] = b"z"
    assert restored == [bytearray(b"zbc")]
    assert original == bytearray(b"abc")


def test_a_memoryview_is_stored_as_the_bytes_it_holds(codec: SerDes) -> None:
    value = [memoryview(b"view"), {"m": memoryview(b"x")}]
    restored = codec.deserialize(codec.serialize(value))
    assert restored == [b"view", {"m": b"x"}]
    assert type(restored[0]) is bytes and type(restored[1]["m"]) is bytes


# Values without a bytearray whose msgpack form holds 0xc4-0xc6 anyway: an int (196 is
# 0xcc 0xc4), a float's bytes, accented text (U+0100-U+01BF start with 0xc4-0xc6), bytes.
LOOK_ALIKES = [196, [197, 198], 1.0000000000000426, "Łódź Ćma", b"bytes", {"k": (b"x", 196)}]


@pytest.mark.parametrize("value", LOOK_ALIKES, ids=range(len(LOOK_ALIKES)))
def test_values_without_a_bytearray_are_stored_as_before(value: Any) -> None:
    body = MsgpackSerDes(REGISTRY).serialize(value)[4:]
    if not isinstance(value, dict):
        assert body == msgpack.packb(value, use_bin_type=True)
    restored = serdes.loads(serdes.dumps(value))
    assert restored == value and kinds(restored) == kinds(value)


def test_bytes_stored_by_earlier_versions_still_read_as_bytes() -> None:
    stored = b"\xd5\x01\x01\x00\x92\xc4\x02ab\xc4\x01c"  # [b"ab", b"c"], as always written
    assert serdes.loads(stored) == [b"ab", b"c"]
    assert MsgpackSerDes().serialize([b"ab", b"c"]) == stored


def test_the_stored_forms() -> None:
    marked = b"\x92\xc7\x00\x06\xc4\x02ab"  # [ext 6, b"ab"]
    assert MsgpackSerDes().serialize(bytearray(b"ab")) == b"\xd5\x01\x01\x00" + marked
    assert MsgpackSerDes().serialize(b"ab") == b"\xd5\x01\x01\x00\xc4\x02ab"
    assert JsonSerDes().serialize(bytearray(b"ab")) == (
        b'\xd5\x01\x02\x00{"$type":"bytearray","v":"YWI="}'
    )


def test_a_malformed_stored_bytearray_is_refused() -> None:
    bad = b"\xd5\x01\x01\x00\x92\xc7\x00\x06\x01"  # [ext 6, 1]: not bytes
    with pytest.raises(SerDesError, match="bytearray is malformed"):
        serdes.loads(bad)


@pytest.mark.parametrize("name", ["msgpack", "json"])
def test_a_failure_beside_a_bytearray_names_what_failed(name: str) -> None:
    codec = CODECS[name]
    with pytest.raises(SerDesError, match=r"builtins\.object at \$\[2\]"):
        codec.serialize([bytearray(b"fine"), memoryview(b"fine"), object()])
