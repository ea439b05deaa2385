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

__all__ = ["ZstdSerDes", "decompress"]

_local = threading.local()  # zstd contexts are not thread-safe: one per thread


def _decompressor() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if d is None:
        d = _local.decompressor = zstandard.ZstdDecompressor()
    return d


MAX_DECOMPRESSED_SIZE = 256 * 1024 * 1024
"""The most bytes one stored value may expand to: a few bytes of zstd can declare
gigabytes, and reading such a value must fail at once rather than fill memory."""


def decompress(body: Buffer) -> bytes:
    """The bytes of one zstd frame, or SerDesError."""
    try:
        size = zstandard.frame_content_size(body)
        if size > MAX_DECOMPRESSED_SIZE:
            raise SerDesError(
                f"zstd data declares {size:,} bytes once decompressed, over the limit of "
                f"{MAX_DECOMPRESSED_SIZE:,}: it was not written by serdes, or is damaged"
            )
        if size >= 0:  # declared and within the limit: one call, exactly that size
            return _decompressor().decompress(body)
        # No size declared: read in chunks, so memory grows with what the data really
        # holds (`max_output_size` would allocate the whole limit up front), and stop
        # at the limit.
        return _read_capped(body)
    except (zstandard.ZstdError, MemoryError, ValueError, OverflowError) as exc:
        raise SerDesError(f"cannot decompress zstd data: {shortened(exc)}") from exc


_CHUNK = 64 * 1024


def _read_capped(body: Buffer) -> bytes:
    out = bytearray()
    with _decompressor().stream_reader(bytes(body), read_across_frames=False) as reader:
        while chunk := reader.read(_CHUNK):
            out += chunk
            if len(out) > MAX_DECOMPRESSED_SIZE:
                raise SerDesError(
                    f"zstd data decompresses to over {MAX_DECOMPRESSED_SIZE:,} bytes: it was "
                    "not written by serdes, or is damaged"
                )
    return bytes(out)


def _has_our_header(data: bytes) -> bool:
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
