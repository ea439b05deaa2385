"""`dumps`, `loads`, the pass-through codec, and a serializer for one class."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from ._core import (
    CODEC_JSON,
    CODEC_MSGPACK,
    CODEC_RAW,
    HEADER_SIZE,
    TRANSFORM_ZSTD,
    SerDesContext,
    SerDesError,
    make_header,
    read_header,
)
from .compression import decompress
from .json_codec import JsonSerDes
from .msgpack_codec import MsgpackSerDes
from .registry import DEFAULT_REGISTRY, TypeRegistry

__all__ = ["PassThroughSerDes", "class_serdes", "dumps", "loads"]

T = TypeVar("T")
_RAW_HEADER = make_header(CODEC_RAW)
_DEFAULT = MsgpackSerDes()


def dumps(value: object, *, registry: TypeRegistry | None = None) -> bytes:
    """Serialize with the default codec (msgpack)."""
    codec = _DEFAULT if registry is None else MsgpackSerDes(registry)
    return codec.serialize(value)


def loads(data: bytes, *, registry: TypeRegistry | None = None) -> Any:
    """Deserialize anything any codec of ours wrote, compressed or not."""
    header = read_header(data)
    body: bytes | memoryview = memoryview(data)[HEADER_SIZE:]
    if header.transform == TRANSFORM_ZSTD:
        body = decompress(body)
    reg = registry or DEFAULT_REGISTRY
    if header.codec == CODEC_MSGPACK:
        return (_DEFAULT if registry is None else MsgpackSerDes(reg)).decode_body(body)
    if header.codec == CODEC_JSON:
        return JsonSerDes(reg).decode_body(body)
    return bytes(body)


class PassThroughSerDes:
    """Bytes in, the same bytes out (behind the header)."""

    def serialize(self, value: object, ctx: SerDesContext | None = None) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise SerDesError(f"PassThroughSerDes takes bytes, not {type(value).__name__}")
        return _RAW_HEADER + bytes(value)

    def deserialize(self, data: bytes, ctx: SerDesContext | None = None) -> object:
        return loads(data)


class _ClassSerDes(Generic[T]):
    def __init__(self, cls: type[T], registry: TypeRegistry) -> None:
        self.cls = cls
        self.registry = registry
        self._inner = MsgpackSerDes(registry)

    def serialize(self, value: object, ctx: SerDesContext | None = None) -> bytes:
        if not isinstance(value, self.cls):
            raise SerDesError(
                f"this serializer takes {self.cls.__qualname__}, not {type(value).__name__}"
            )
        return self._inner.serialize(value, ctx)

    def deserialize(self, data: bytes, ctx: SerDesContext | None = None) -> T:
        value = loads(data, registry=self.registry)
        if not isinstance(value, self.cls):
            raise SerDesError(
                f"stored value is {type(value).__name__}, not {self.cls.__qualname__}"
            )
        return value


def class_serdes(cls: type[T], *, registry: TypeRegistry | None = None) -> _ClassSerDes[T]:
    """A serializer for instances of one class (registered if it is not yet)."""
    reg = registry or DEFAULT_REGISTRY
    if cls not in reg:
        reg.register(cls)
    return _ClassSerDes(cls, reg)
