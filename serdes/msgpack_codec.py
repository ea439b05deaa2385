"""The default codec: msgpack, with extension types that keep every value's type."""

from __future__ import annotations

from typing import Any

import msgpack

from ._core import (
    CODEC_MSGPACK,
    HEADER_SIZE,
    SerDesContext,
    SerDesError,
    make_header,
)
from ._paths import describe_unserializable, find_unserializable
from ._types import STD_ENCODERS, decode_std
from .registry import DEFAULT_REGISTRY, TypeRegistry

__all__ = ["MsgpackSerDes"]

_TUPLE, _SET, _FROZENSET, _STD, _OBJECT, _BIGINT = 1, 2, 3, 4, 5, 6
_HEADER = make_header(CODEC_MSGPACK)


class _Unserializable(Exception):
    pass


class _Codec:
    """msgpack packing and unpacking bound to one registry."""

    __slots__ = ("registry",)

    def __init__(self, registry: TypeRegistry) -> None:
        self.registry = registry

    def pack(self, value: Any) -> bytes:
        data: bytes = msgpack.packb(
            value, default=self._default, use_bin_type=True, strict_types=True, datetime=False
        )
        return data

    def _default(self, obj: Any) -> Any:
        t = type(obj)
        if t is int:  # beyond 64 bits: msgpack hands it here
            return msgpack.ExtType(_BIGINT, str(obj).encode("ascii"))
        if t is tuple:
            return msgpack.ExtType(_TUPLE, self.pack(list(obj)))
        if t is set:
            return msgpack.ExtType(_SET, self.pack(list(obj)))
        if t is frozenset:
            return msgpack.ExtType(_FROZENSET, self.pack(list(obj)))
        std = STD_ENCODERS.get(t)
        if std is not None:
            return msgpack.ExtType(_STD, self.pack([std[0], std[1](obj)]))
        codec = self.registry.for_type(t)
        if codec is not None:
            return msgpack.ExtType(_OBJECT, self.pack([codec.tag, codec.encode(obj)]))
        raise _Unserializable(obj)

    def unpack(self, data: bytes | memoryview) -> Any:
        return msgpack.unpackb(
            data, ext_hook=self._ext_hook, raw=False, strict_map_key=False, use_list=True
        )

    def _ext_hook(self, code: int, data: bytes) -> Any:
        if code == _TUPLE:
            return tuple(self.unpack(data))
        if code == _SET:
            return set(self.unpack(data))
        if code == _FROZENSET:
            return frozenset(self.unpack(data))
        if code == _STD:
            tag, raw = self.unpack(data)
            return decode_std(tag, raw)
        if code == _OBJECT:
            tag, raw = self.unpack(data)
            codec = self.registry.for_tag(tag)
            try:
                return codec.decode(raw)
            except SerDesError:
                raise
            except Exception as exc:
                raise SerDesError(f"cannot restore {tag}: {exc}") from exc
        if code == _BIGINT:
            return int(data.decode("ascii"))
        raise SerDesError(f"unknown msgpack extension type {code}")


def _is_std(t: type[Any]) -> bool:
    return t in STD_ENCODERS


class MsgpackSerDes:
    """msgpack with exact round trips: datetimes (zones kept), Decimal, UUID, tuples,
    sets, big ints, and registered classes come back with the type they went in with."""

    def __init__(self, registry: TypeRegistry | None = None) -> None:
        self.registry = registry or DEFAULT_REGISTRY
        self._codec = _Codec(self.registry)

    def serialize(self, value: object, ctx: SerDesContext | None = None) -> bytes:
        return _HEADER + self.encode_body(value)

    def encode_body(self, value: object) -> bytes:
        """The msgpack bytes of `value`, without the header."""
        try:
            return self._codec.pack(value)
        except _Unserializable as exc:
            found = find_unserializable(value, self.registry, _is_std)
            path, bad = found if found else ("$", exc.args[0])
            raise SerDesError(describe_unserializable(path, bad)) from None
        except SerDesError:
            raise
        except (TypeError, ValueError) as exc:
            raise SerDesError(f"cannot serialize value: {exc}") from exc

    def decode_body(self, body: bytes | memoryview) -> object:
        """The value of msgpack bytes written by `encode_body`."""
        try:
            return self._codec.unpack(body)
        except SerDesError:
            raise
        except Exception as exc:
            raise SerDesError(f"cannot read msgpack data: {exc}") from exc

    def deserialize(self, data: bytes, ctx: SerDesContext | None = None) -> object:
        if data[:HEADER_SIZE] == _HEADER:
            return self.decode_body(memoryview(data)[HEADER_SIZE:])
        from .api import loads

        return loads(data, registry=self.registry)
