"""Checksums around stored bytes, decompression bounded by the caller's limit, and the
depth of a value measured without walking every value."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass

import pytest
import zstandard

import serdes
from serdes import ChecksumMismatch, JsonSerDes, MsgpackSerDes, seal, unseal


def test_a_sealed_value_reads_back_and_a_changed_byte_is_found() -> None:
    data = serdes.dumps({"a": 3})
    sealed = seal(data)
    assert unseal(sealed) == data
    assert serdes.loads(sealed) == {"a": 3}
    assert MsgpackSerDes().deserialize(sealed) == {"a": 3}  # through `serdes.loads`
    changed = sealed[:-1] + bytes([123])  # the msgpack of {'a': 123}
    assert serdes.loads(data[:-1] + bytes([123])) == {"a": 123}  # unsealed: unnoticed
    for read in (unseal, serdes.loads):
        with pytest.raises(ChecksumMismatch, match="checksum mismatch"):
            read(changed)
    for position in range(2, len(sealed)):  # any single flipped bit past the marker
        flipped = bytearray(sealed)
        flipped[position] ^= 0x10
        with pytest.raises(ChecksumMismatch):
            unseal(bytes(flipped))


def test_bytes_without_the_frame_are_returned_as_they_are() -> None:
    for data in (serdes.dumps([1, 2]), JsonSerDes().serialize("x"), b"", b"custom codec bytes"):
        assert unseal(data) == data
    assert seal(b"custom codec bytes") != b"custom codec bytes"
    assert unseal(seal(b"custom codec bytes")) == b"custom codec bytes"
    with pytest.raises(ChecksumMismatch, match="cut short"):
        unseal(seal(b"x")[:4])


def test_an_older_serdes_refuses_a_sealed_value_by_name() -> None:
    """What a version before sealing does with one: its header check sees a newer
    format, rather than misreading the value."""
    sealed = seal(serdes.dumps(1))
    with pytest.raises(serdes.SerDesError, match="newer version of serdes"):
        serdes._core.read_header(sealed)


def _bomb(size: int) -> bytes:
    header = serdes.ZstdSerDes(threshold=0).serialize(b"y" * 2000)[:4]
    return header + zstandard.ZstdCompressor().compress(b"\0" * size)


def _peak(fn: object) -> int:
    assert callable(fn)
    tracemalloc.start()
    try:
        with pytest.raises(serdes.SerDesError):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_decompression_stops_at_the_limit_without_allocating_past_it() -> None:
    declared = _bomb(64 * 1024 * 1024)  # declares its size: refused before any work
    assert len(declared) < 10_000
    assert _peak(lambda: serdes.loads(declared, max_size=256 * 1024)) < 1024 * 1024
    assert _peak(lambda: serdes.check_expanded_size(declared, 256 * 1024)) < 1024 * 1024
    # No size declared: read in chunks, stopping once past the limit.
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(b"\0" * 64_000_000)
    undeclared = declared[:4] + frame
    assert _peak(lambda: serdes.loads(undeclared, max_size=256 * 1024)) < 2 * 1024 * 1024
    assert _peak(lambda: serdes.check_expanded_size(undeclared, 256 * 1024)) < 2 * 1024 * 1024
    small = serdes.ZstdSerDes(threshold=0).serialize(b"z" * 100_000)
    assert serdes.check_expanded_size(small, 256 * 1024) == len(serdes.dumps(b"z" * 100_000))
    assert serdes.loads(small, max_size=256 * 1024) == b"z" * 100_000


def _nest(depth: int, make: type = list) -> object:
    value: object = 1
    for _ in range(depth):
        value = make([value]) if make is not dict else {"k": value}
    return value


@serdes.register(name="tests.integrity.Node")
@dataclass(frozen=True)
class Node:
    child: object


@pytest.mark.parametrize("make", [list, tuple, frozenset, dict])
def test_depth_counts_every_kind_of_container(make: type) -> None:
    limit = 20
    for depth, deeper in ((limit, False), (limit + 1, True)):
        value = _nest(depth, make)
        assert serdes.deeper_than(value, limit) is deeper
        for codec in (MsgpackSerDes(), JsonSerDes()):
            assert serdes.deeper_than(value, limit, codec.serialize(value)) is deeper


def test_a_registered_class_counts_itself_and_its_fields() -> None:
    assert not serdes.deeper_than(Node(1), 2)  # the instance, then its dict of fields
    assert serdes.deeper_than(Node(1), 1)
    assert serdes.deeper_than([Node([1])], 3)
    assert not serdes.deeper_than([Node([1])], 4)


def test_wide_values_are_not_deep() -> None:
    rows = [{"id": i, "tags": ["a", "b"], "at": (i, i)} for i in range(1000)]
    assert not serdes.deeper_than(rows, 3)
    assert serdes.deeper_than(rows, 2)
    assert not serdes.deeper_than({(1, (2,)): [set()]}, 3)
    assert serdes.deeper_than({(1, (2,)): [1]}, 2)  # a key that nests counts too
