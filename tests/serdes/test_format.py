"""The header, compression, pass-through bytes, and bytes that are not ours."""

from __future__ import annotations

import os
import threading

import pytest

import serdes
from serdes import JsonSerDes, MsgpackSerDes, PassThroughSerDes, SerDesError, ZstdSerDes


def test_every_codec_writes_a_header_that_loads_dispatches_on() -> None:
    value = {"a": (1, 2), "b": b"\x00"}
    for codec, codec_id in ((MsgpackSerDes(), 1), (JsonSerDes(), 2)):
        data = codec.serialize(value)
        assert data[0] == 0xD5 and data[1] == 1 and data[2] == codec_id and data[3] == 0
        assert serdes.loads(data) == value
        # Any codec reads any other codec's data: a function can change codec safely.
        assert MsgpackSerDes().deserialize(data) == value
        assert JsonSerDes().deserialize(data) == value
    raw = PassThroughSerDes().serialize(b"\x01\x02")
    assert raw[2] == 3 and serdes.loads(raw) == b"\x01\x02"
    with pytest.raises(SerDesError, match="takes bytes"):
        PassThroughSerDes().serialize("text")


def test_json_is_readable_and_keeps_awkward_dicts() -> None:
    value = {"name": "widget", "qty": 2, "$type": "user data", 3: "int key"}
    data = JsonSerDes().serialize({"plain": {"name": "widget", "qty": 2}})
    assert data[4:] == b'{"plain":{"name":"widget","qty":2}}'
    assert serdes.loads(JsonSerDes().serialize(value)) == value


def test_a_future_format_version_is_refused_by_name() -> None:
    data = bytearray(serdes.dumps(1))
    data[1] = 2
    with pytest.raises(SerDesError, match="newer version"):
        serdes.loads(bytes(data))


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\xd5",
        b"plain text",
        b"\xd5\x01\x07\x00",
        b"\xd5\x01\x01\x05",
        b"\xd5\x01\x01\x00\xc1",
    ],
)
def test_bytes_that_are_not_ours_raise_serdes_error(blob: bytes) -> None:
    with pytest.raises(SerDesError):
        serdes.loads(blob)


def test_compression_only_above_the_threshold_and_only_when_it_helps() -> None:
    codec = ZstdSerDes(threshold=1024)
    small = codec.serialize("x" * 100)
    assert small[3] == 0
    repetitive = {"rows": [{"sku": "A-1", "qty": 1, "note": "same"}] * 420}
    big = codec.serialize(repetitive)
    plain = MsgpackSerDes().serialize(repetitive)
    assert big[3] == 1 and len(plain) > 10_000 and len(big) * 5 <= len(plain)
    assert serdes.loads(big) == repetitive
    noise = os.urandom(4096)
    incompressible = codec.serialize(noise)
    assert incompressible[3] == 0 and serdes.loads(incompressible) == noise


def test_zstd_serdes_is_safe_from_many_threads() -> None:
    codec = ZstdSerDes(threshold=0)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                value = {"n": n, "i": i, "pad": "y" * 500}
                assert codec.deserialize(codec.serialize(value)) == value
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
