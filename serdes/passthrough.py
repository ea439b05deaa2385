"""Bytes stored as they are, behind the header."""

from __future__ import annotations

from ._core import CODEC_RAW, SerDesContext, SerDesError, make_header
from ._reader import read_any

__all__ = ["PassThroughSerDes"]

_RAW_HEADER = make_header(CODEC_RAW)


class PassThroughSerDes:
    """Bytes in, the same bytes out (behind the header)."""

    def serialize(self, value: object, ctx: SerDesContext | None = None) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise SerDesError(f"PassThroughSerDes takes bytes, not {type(value).__name__}")
        return _RAW_HEADER + bytes(value)

    def deserialize(self, data: bytes, ctx: SerDesContext | None = None) -> bytes:
        value = read_any(data)
        if not isinstance(value, bytes):
            raise SerDesError(f"stored value is {type(value).__name__}, not bytes")
        return value
