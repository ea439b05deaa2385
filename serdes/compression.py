"""Compression as a transform over another serializer's bytes."""

from __future__ import annotations

import threading

import zstandard

from ._core import HEADER_SIZE, TRANSFORM_NONE, TRANSFORM_ZSTD, SerDes, SerDesContext, SerDesError

__all__ = ["ZstdSerDes", "decompress"]

_local = threading.local()


def _decompressor() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if d is None:
        d = _local.decompressor = zstandard.ZstdDecompressor()
    return d


def decompress(body: bytes | memoryview) -> bytes:
    try:
        return _decompressor().decompress(bytes(body))
    except zstandard.ZstdError as exc:
        raise SerDesError(f"cannot decompress zstd data: {exc}") from exc


class ZstdSerDes:
    """Compresses the inner serializer's output when it is over `threshold` bytes and
    compression actually shrinks it; the header says which, so both read back."""

    def __init__(self, inner: SerDes | None = None, threshold: int = 1024, level: int = 3) -> None:
        from .msgpack_codec import MsgpackSerDes

        self.inner: SerDes = inner or MsgpackSerDes()
        self.threshold = threshold
        self.level = level
        self._local = threading.local()  # compressor contexts are not thread-safe

    def _compressor(self) -> zstandard.ZstdCompressor:
        c: zstandard.ZstdCompressor | None = getattr(self._local, "compressor", None)
        if c is None:
            c = self._local.compressor = zstandard.ZstdCompressor(level=self.level)
        return c

    def serialize(self, value: object, ctx: SerDesContext | None = None) -> bytes:
        data = self.inner.serialize(value, ctx)
        body = memoryview(data)[HEADER_SIZE:]
        if len(body) <= self.threshold or data[3] != TRANSFORM_NONE:
            return data
        packed = self._compressor().compress(body)
        if len(packed) >= len(body):
            return data
        return bytes((data[0], data[1], data[2], TRANSFORM_ZSTD)) + packed

    def deserialize(self, data: bytes, ctx: SerDesContext | None = None) -> object:
        from .api import loads

        registry = getattr(self.inner, "registry", None)
        return loads(data, registry=registry)
