"""A checksum around stored bytes, so that damage is found when they are read.

`seal(data)` frames the bytes any serializer wrote::

    byte 0     0xD5       the magic of every serdes header
    byte 1     0xFE       "sealed": what follows is checksummed
    bytes 2-5  CRC-32     of bytes 6 onwards (zlib.crc32), big-endian
    bytes 6-   data       unchanged: a serdes blob, or any other serializer's bytes

and `unseal` gives the data back, or raises `ChecksumMismatch` if a byte changed.
Bytes without the frame (written before sealing existed) come back as they are, so
old and new stored values read alike. A serdes blob never starts with 0xD5 0xFE (its
second byte is its format version, 1 today), and a version of serdes that predates
sealing refuses a sealed value as "written by a newer version" rather than misreading
it.

CRC-32 finds every burst of up to 32 flipped bits and all but one in 4 billion
other changes; it guards against damage, not against someone forging a value.
"""

from __future__ import annotations

import struct
import zlib

from ._core import MAGIC, Buffer, SerDesError

__all__ = ["SEAL_SIZE", "ChecksumMismatch", "is_sealed", "seal", "unseal"]

_SEALED = 0xFE
_PREFIX = bytes((MAGIC, _SEALED))
_MARK = MAGIC << 8 | _SEALED
_FRAME = struct.Struct(">HI")
SEAL_SIZE = 6
"""Bytes `seal` adds."""


class ChecksumMismatch(SerDesError):
    """Sealed bytes whose checksum does not match: they changed after they were written."""


def seal(data: bytes) -> bytes:
    """`data` framed with its CRC-32."""
    return _FRAME.pack(_MARK, zlib.crc32(data)) + data


def is_sealed(data: Buffer) -> bool:
    """Whether `data` starts with the frame `seal` writes."""
    return data[:2] == _PREFIX


def unseal(data: Buffer) -> Buffer:
    """The bytes `seal` framed, checked (ChecksumMismatch if they changed); bytes
    without the frame as they are."""
    if not isinstance(data, Buffer) or data[:2] != _PREFIX:
        return data  # not bytes: the reader says what it expected
    if len(data) < SEAL_SIZE:
        raise ChecksumMismatch(f"sealed data is cut short: {len(data)} bytes")
    body = data[SEAL_SIZE:]
    stored = _FRAME.unpack_from(data)[1]
    actual = zlib.crc32(body)
    if stored != actual:
        raise ChecksumMismatch(
            f"checksum mismatch: the {len(body):,} bytes have CRC-32 {actual:08x}, "
            f"written with {stored:08x}"
        )
    return body
