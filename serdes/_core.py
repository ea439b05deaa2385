"""The pieces every codec shares: the error, the context, the Protocol and the header.

Every blob starts with a 4-byte header::

    byte 0  0xD5          magic: this is ours
    byte 1  format        FORMAT_VERSION (1); a larger number is a newer format
    byte 2  codec         1 msgpack, 2 json, 3 raw bytes, 4 custom (bytes of a
                          serializer from outside serdes, wrapped by ZstdSerDes)
    byte 3  transform     0 none, 1 zstd

so data written by one codec, compressed or not, reads back through `serdes.loads`,
and the format can evolve without breaking stored values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "CODEC_CUSTOM",
    "CODEC_JSON",
    "CODEC_MSGPACK",
    "CODEC_NAMES",
    "CODEC_RAW",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "TRANSFORM_NONE",
    "TRANSFORM_ZSTD",
    "Buffer",
    "Header",
    "SerDes",
    "SerDesContext",
    "SerDesError",
    "make_header",
    "read_header",
    "shortened",
]

MAGIC = 0xD5
FORMAT_VERSION = 1
HEADER_SIZE = 4
CODEC_MSGPACK = 1
CODEC_JSON = 2
CODEC_RAW = 3
CODEC_CUSTOM = 4
TRANSFORM_NONE = 0
TRANSFORM_ZSTD = 1
CODEC_NAMES = {
    CODEC_MSGPACK: "msgpack",
    CODEC_JSON: "json",
    CODEC_RAW: "raw bytes",
    CODEC_CUSTOM: "custom",
}


Buffer = bytes | bytearray | memoryview
"""What the codecs read from."""


class SerDesError(Exception):
    """A value cannot be serialized, or bytes cannot be deserialized."""


@dataclass(frozen=True, slots=True)
class SerDesContext:
    """Which execution and operation a value belongs to."""

    execution_id: str
    operation_id: str | None = None


@runtime_checkable
class SerDes(Protocol):
    """Turns values into bytes and back."""

    def serialize(self, value: object, ctx: SerDesContext | None = None) -> bytes: ...

    def deserialize(self, data: bytes, ctx: SerDesContext | None = None) -> object: ...


@dataclass(frozen=True, slots=True)
class Header:
    """The codec and transform a blob was written with."""

    codec: int
    transform: int


def make_header(codec: int, transform: int = TRANSFORM_NONE) -> bytes:
    """The 4 header bytes for `codec` and `transform` in the current format."""
    return bytes((MAGIC, FORMAT_VERSION, codec, transform))


def read_header(data: object) -> Header:
    """The header of a blob, or SerDesError if the bytes are not ours."""
    if not isinstance(data, Buffer):
        raise SerDesError(f"expected bytes to deserialize, got {type(data).__name__}")
    if len(data) < HEADER_SIZE or data[0] != MAGIC:
        raise SerDesError("these bytes were not written by serdes (no serdes header)")
    version, codec, transform = data[1], data[2], data[3]
    if version > FORMAT_VERSION:
        raise SerDesError(
            f"data has serdes format version {version}: written by a newer version of "
            f"serdes (this one reads up to format version {FORMAT_VERSION})"
        )
    if version < 1:
        raise SerDesError(f"invalid serdes format version {version}")
    if codec not in CODEC_NAMES:
        raise SerDesError(f"unknown serdes codec id {codec} (format version {version})")
    if transform not in (TRANSFORM_NONE, TRANSFORM_ZSTD):
        raise SerDesError(f"unknown serdes transform id {transform}")
    return Header(codec, transform)


def shortened(exc: BaseException, limit: int = 300) -> str:
    """`repr(exc)` cut to `limit` characters: some errors hold the data that failed."""
    shown = repr(exc)
    return shown if len(shown) <= limit else f"{shown[:limit]}... ({len(shown):,} characters)"
