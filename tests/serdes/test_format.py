"""The header, compression, pass-through bytes, threads, and bytes that are not ours."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from typing import Any

import pytest

import serdes
from serdes import (
    JsonSerDes,
    MsgpackSerDes,
    PassThroughSerDes,
    SerDes,
    SerDesContext,
    SerDesError,
    ZstdSerDes,
)

MAGIC, VERSION = 0xD5, 1
MSGPACK, JSON, RAW, CUSTOM = 1, 2, 3, 4
NONE, ZSTD = 0, 1
REPETITIVE = {"rows": [{"sku": "A-1", "qty": 1, "note": "same"}] * 420}  # ~10 KB


def test_the_public_names() -> None:
    assert set(serdes.__all__) >= {
        "SerDes", "SerDesContext", "SerDesError", "MsgpackSerDes", "JsonSerDes", "ZstdSerDes",
        "PassThroughSerDes", "TypeRegistry", "register", "class_serdes", "dumps", "loads",
    }  # fmt: skip
    for codec in (MsgpackSerDes(), JsonSerDes(), ZstdSerDes(), PassThroughSerDes()):
        assert isinstance(codec, SerDes)


def test_context_is_a_frozen_value() -> None:
    assert SerDesContext("e-1", "op-2") == SerDesContext(execution_id="e-1", operation_id="op-2")
    assert SerDesContext("e-1").operation_id is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        SerDesContext("e-1").execution_id = "other"  # type: ignore[misc]
    codec = MsgpackSerDes()
    assert codec.deserialize(codec.serialize(1, SerDesContext("e")), SerDesContext("e")) == 1


def test_serdes_imports_without_the_engine() -> None:
    code = "import sys, serdes; assert serdes.loads(serdes.dumps(1)) == 1; "
    code += "assert not any(m.startswith('durable_engine') for m in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("codec", "codec_id"), [(MsgpackSerDes(), MSGPACK), (JsonSerDes(), JSON)])
def test_every_codec_writes_a_header_that_loads_dispatches_on(codec: SerDes, codec_id: int) -> None:
    value = {"a": (1, 2), "b": b"\x00"}
    data = codec.serialize(value)
    assert list(data[:4]) == [MAGIC, VERSION, codec_id, NONE]
    assert serdes.loads(data) == value
    assert serdes.loads(bytearray(data)) == value and serdes.loads(memoryview(data)) == value
    # Any codec reads any other codec's data: a function can change codec safely.
    for reader in (MsgpackSerDes(), JsonSerDes(), ZstdSerDes(), ZstdSerDes(JsonSerDes())):
        assert reader.deserialize(data) == value


def test_dumps_is_the_msgpack_codec() -> None:
    assert serdes.dumps({"x": 1}) == MsgpackSerDes().serialize({"x": 1})
    assert serdes.dumps({"x": 1})[4:] == b"\x81\xa1x\x01"  # plain msgpack after the header


def test_a_future_format_version_is_refused_by_name() -> None:
    data = bytearray(serdes.dumps(1))
    data[1] = VERSION + 1
    for read in (serdes.loads, MsgpackSerDes().deserialize, ZstdSerDes().deserialize):
        with pytest.raises(SerDesError, match="written by a newer version of serdes"):
            read(bytes(data))


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"", "not written by serdes"),
        (b"\xd5\x01\x01", "not written by serdes"),
        (b"plain text", "not written by serdes"),
        (b"\xd5\x00\x01\x00", "invalid serdes format version 0"),
        (b"\xd5\x01\x07\x00", "unknown serdes codec id 7"),
        (b"\xd5\x01\x01\x05", "unknown serdes transform id 5"),
        (b"\xd5\x01\x01\x00\xc1", "cannot read msgpack data"),
        (b"\xd5\x01\x01\x00\x92\x01", "cannot read msgpack data"),  # truncated
        (b"\xd5\x01\x01\x00\x01\x02", "cannot read msgpack data"),  # extra data
        (b"\xd5\x01\x01\x01\x00", "cannot decompress"),
        (b"\xd5\x01\x04\x00abc", "outside serdes"),
    ],
)
def test_bytes_that_are_not_ours_raise_serdes_error(blob: bytes, match: str) -> None:
    with pytest.raises(SerDesError, match=match):
        serdes.loads(blob)


@pytest.mark.parametrize("not_bytes", [None, "text", 5, ["list"]])
def test_deserializing_something_else_than_bytes(not_bytes: Any) -> None:
    for read in (serdes.loads, MsgpackSerDes().deserialize, JsonSerDes().deserialize):
        with pytest.raises(SerDesError, match="expected bytes"):
            read(not_bytes)


def test_compression_only_above_the_threshold() -> None:
    codec = ZstdSerDes(threshold=1024)
    for size, compressed in ((100, False), (1024 - 5, False), (1024 - 1, True), (5000, True)):
        value = "x" * size  # msgpack adds 3 bytes (5 below 32 chars): body is size + 3
        plain = MsgpackSerDes().serialize(value)
        data = codec.serialize(value)
        assert data[3] == (ZSTD if compressed else NONE), size
        assert (len(data) < len(plain)) if compressed else (data == plain)
        assert serdes.loads(data) == value and codec.deserialize(data) == value


def test_compression_only_when_it_helps() -> None:
    noise = os.urandom(4096)
    data = ZstdSerDes(threshold=0).serialize(noise)
    assert data[3] == NONE and data == MsgpackSerDes().serialize(noise)
    assert serdes.loads(data) == noise
    tiny = ZstdSerDes(threshold=0).serialize("ab")
    assert tiny[3] == NONE  # a zstd frame would be larger than the value


def test_a_repetitive_10_kb_value_shrinks_at_least_5_times() -> None:
    plain = MsgpackSerDes().serialize(REPETITIVE)
    packed = ZstdSerDes().serialize(REPETITIVE)
    assert len(plain) > 10_000
    assert list(packed[:4]) == [MAGIC, VERSION, MSGPACK, ZSTD]
    assert len(packed) * 5 <= len(plain)
    assert serdes.loads(packed) == REPETITIVE


def test_compressing_json_keeps_the_json_codec_id() -> None:
    data = ZstdSerDes(JsonSerDes(), threshold=0).serialize(REPETITIVE)
    assert list(data[:4]) == [MAGIC, VERSION, JSON, ZSTD]
    assert serdes.loads(data) == REPETITIVE


def test_compressing_twice_is_compressing_once() -> None:
    once = ZstdSerDes(threshold=0).serialize(REPETITIVE)
    assert ZstdSerDes(ZstdSerDes(threshold=0), threshold=0).serialize(REPETITIVE) == once


def test_an_inner_serializer_from_elsewhere() -> None:
    class Utf8:
        def serialize(self, value: object, ctx: SerDesContext | None = None) -> bytes:
            assert isinstance(value, str)
            return value.encode()

        def deserialize(self, data: bytes, ctx: SerDesContext | None = None) -> object:
            return data.decode()

    codec = ZstdSerDes(Utf8(), threshold=10)
    for text in ("short", "long " * 100):
        data = codec.serialize(text)
        assert data[2] == CUSTOM and data[3] == (ZSTD if len(text) > 10 else NONE)
        assert codec.deserialize(data) == text
        with pytest.raises(SerDesError, match="outside serdes"):
            serdes.loads(data)
    with pytest.raises(SerDesError, match="the inner serializer failed: AssertionError"):
        codec.serialize(5)
    with pytest.raises(SerDesError, match="the inner serializer failed: UnicodeDecodeError"):
        codec.deserialize(bytes([MAGIC, VERSION, CUSTOM, NONE, 0xFF]))


def test_an_invalid_zstd_level_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="zstd level"):
        ZstdSerDes(level=1000)


def test_pass_through() -> None:
    codec = PassThroughSerDes()
    data = codec.serialize(b"\x01\x02")
    assert data == bytes([MAGIC, VERSION, RAW, NONE, 1, 2])
    assert codec.deserialize(data) == b"\x01\x02" and serdes.loads(data) == b"\x01\x02"
    assert codec.deserialize(codec.serialize(bytearray(b"ab"))) == b"ab"
    assert codec.deserialize(serdes.dumps(b"from msgpack")) == b"from msgpack"
    with pytest.raises(SerDesError, match="takes bytes, not str"):
        codec.serialize("text")
    with pytest.raises(SerDesError, match="stored value is str, not bytes"):
        codec.deserialize(serdes.dumps("text"))
    big = os.urandom(100) * 50
    compressed = ZstdSerDes(codec).serialize(big)
    assert compressed[2:4] == bytes([RAW, ZSTD]) and serdes.loads(compressed) == big


@pytest.mark.parametrize(
    "codec", [ZstdSerDes(threshold=0), MsgpackSerDes(), JsonSerDes()], ids=["zstd", "mp", "json"]
)
def test_one_serializer_shared_by_many_threads(codec: SerDes) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(300):
                value = {"n": n, "i": i, "pad": f"{n}-{i}-" * (i % 50), "t": (n, (i,))}
                data = codec.serialize(value)
                assert codec.deserialize(data) == value
                assert serdes.loads(data) == value
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
