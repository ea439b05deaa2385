"""zstd compression: a transform over the bytes another serializer wrote."""

from __future__ import annotations

import threading

import zstandard

from ._core import (
    CODEC_CUSTOM,
    CODEC_NAMES,
    FORMAT_VERSION,
    HEADER_SIZE,
    MAGIC,
    TRANSFORM_NONE,
    TRANSFORM_ZSTD,
    Buffer,
    SerDes,
    SerDesContext,
    SerDesError,
    make_header,
    read_header,
    shortened,
)
from .msgpack_codec import MsgpackSerDes

__all__ = ["MAX_DECOMPRESSED_SIZE", "ZstdSerDes", "check_expanded_size", "decompress"]

_local = threading.local()  # zstd contexts are not thread-safe: one per thread


def _decompressor() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if d is None:
        d = _local.decompressor = zstandard.ZstdDecompressor()
    return d


MAX_DECOMPRESSED_SIZE = 256 * 1024 * 1024
"""The most bytes one value may expand to when no other limit is given: a few bytes of
zstd can declare gigabytes, and reading such a value must fail at once rather than
fill memory. A store sets its own, smaller limit (`serdes.loads(data, max_size=...)`,
`check_expanded_size`)."""


def decompress(body: Buffer, max_size: int = MAX_DECOMPRESSED_SIZE) -> bytes:
    """The bytes of one zstd frame, or SerDesError; never more than `max_size` bytes
    are allocated for them (a frame that holds more is refused)."""
    try:
        size = zstandard.frame_content_size(body)
        if size > max_size:
            raise _too_large(f"declares {size:,} bytes", max_size)
        if size >= 0:  # declared and within the limit: one call, exactly that size
            return _decompressor().decompress(body)
        # No size declared: read in chunks, so memory grows with what the data really
        # holds (`max_output_size` would allocate the whole limit up front), and stop
        # at the limit.
        return _read_capped(body, max_size)
    except (zstandard.ZstdError, MemoryError, ValueError, OverflowError) as exc:
        raise SerDesError(f"cannot decompress zstd data: {shortened(exc)}") from exc


def _too_large(what: str, max_size: int) -> SerDesError:
    return SerDesError(
        f"zstd data {what} once decompressed, over the limit of {max_size:,}: it was "
        "written with a larger limit, or not by serdes, or is damaged"
    )


_CHUNK = 64 * 1024


def _read_capped(body: Buffer, max_size: int) -> bytes:
    out = bytearray()
    with _decompressor().stream_reader(bytes(body), read_across_frames=False) as reader:
        while chunk := reader.read(min(_CHUNK, max_size + 1 - len(out))):
            out += chunk
            if len(out) > max_size:
                raise _too_large(f"holds over {max_size:,} bytes", max_size)
    return bytes(out)


def check_expanded_size(data: Buffer, max_size: int) -> int:
    """The size of a blob once decompressed (its own size if it is not compressed), or
    SerDesError if it is over `max_size`, found without decompressing it when its zstd
    frame declares its size (serdes always writes one), else by decompressing it in
    chunks, stopping at the limit. Bytes that are not a serdes blob: their own size."""
    if len(data) < HEADER_SIZE or data[3] != TRANSFORM_ZSTD or not _has_our_header(data):
        return len(data)
    body = memoryview(data)[HEADER_SIZE:]
    try:
        size = zstandard.frame_content_size(body)
    except zstandard.ZstdError as exc:
        raise SerDesError(f"cannot decompress zstd data: {shortened(exc)}") from exc
    if size < 0:
        size = len(decompress(body, max_size))
    elif size > max_size:
        raise _too_large(f"declares {size:,} bytes", max_size)
    return HEADER_SIZE + size


def _has_our_header(data: Buffer) -> bool:
    return (
        len(data) >= HEADER_SIZE
        and data[0] == MAGIC
        and data[1] == FORMAT_VERSION
        and data[2] in CODEC_NAMES
    )


class ZstdSerDes:
    """Compresses the inner serializer's output (default: MsgpackSerDes) when it is over
    `threshold` bytes and compression shrinks it; the header says which, so both read
    back, also through `serdes.loads`. Safe to share between threads.

    An inner serializer from outside serdes works too: its bytes are stored as the
    "custom" codec, which only this ZstdSerDes (or one with the same inner) can read.
    """

    def __init__(self, inner: SerDes | None = None, threshold: int = 1024, level: int = 3) -> None:
        self.inner: SerDes = inner if inner is not None else MsgpackSerDes()
        if isinstance(threshold, bool) or not isinstance(threshold, int):
            raise TypeError(f"threshold must be an int (bytes), not {type(threshold).__name__}")
        if threshold < 0:
            raise ValueError(f"threshold must be at least 0, not {threshold}")
        self.threshold = threshold
        self.level = level
        self._local = threading.local()
        try:
            self._local.compressor = zstandard.ZstdCompressor(level=level)
        except (zstandard.ZstdError, ValueError) as exc:
            raise ValueError(f"invalid zstd level {level}: {exc}") from exc

    def _compressor(self) -> zstandard.ZstdCompressor:
        c: zstandard.ZstdCompressor | None = getattr(self._local, "compressor", None)
        if c is None:
            c = self._local.compressor = zstandard.ZstdCompressor(level=self.level)
        return c

    def serialize(self, value: object, ctx: SerDesContext | None = None) -> bytes:
        try:
            data = self.inner.serialize(value, ctx)
        except SerDesError:
            raise
        except Exception as exc:  # an inner serializer from outside serdes
            raise SerDesError(f"the inner serializer failed: {shortened(exc)}") from exc
        if not isinstance(data, bytes):
            raise SerDesError(f"the inner serializer returned {type(data).__name__}, not bytes")
        if not _has_our_header(data):
            data = make_header(CODEC_CUSTOM) + data
        elif data[3] != TRANSFORM_NONE:
            return data  # compressed already
        body = memoryview(data)[HEADER_SIZE:]
        if len(body) <= self.threshold:
            return data
        try:
            packed = self._compressor().compress(body)
        except zstandard.ZstdError as exc:
            raise SerDesError(f"cannot compress: {shortened(exc)}") from exc
        if len(packed) >= len(body):
            return data
        return make_header(data[2], TRANSFORM_ZSTD) + packed

    def deserialize(self, data: bytes, ctx: SerDesContext | None = None) -> object:
        header = read_header(data)
        if header.codec == CODEC_CUSTOM:
            body = data[HEADER_SIZE:]
            data = decompress(body) if header.transform == TRANSFORM_ZSTD else bytes(body)
        elif header.transform == TRANSFORM_ZSTD:
            data = make_header(header.codec) + decompress(data[HEADER_SIZE:])
        try:
            return self.inner.deserialize(data, ctx)
        except SerDesError:
            raise
        except Exception as exc:  # an inner serializer from outside serdes
            raise SerDesError(f"the inner serializer failed: {shortened(exc)}") from exc
