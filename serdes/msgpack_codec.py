"""The default codec: msgpack, with markers that keep every value's type.

msgpack itself writes None, bool, int (64 bits), float, str, bytes, list and dict; it
calls back here (`Packer(default=...)`, with `strict_types=True` so that tuples and
subclasses are not taken for lists and ints) only for other types. Plain data
therefore costs no Python-level walk.

A `bytearray` is written by msgpack itself as bytes, before any call back
(`strict_types` or not). Only output holding a byte that can start msgpack bytes (0xc4,
0xc5, 0xc6) can hold one, so only such a value is searched, a level at a time through
the garbage collector's own traversal (`gc.get_referents`, in C), with what the call
back made in its place; a value holding one is packed again with each bytearray
marked, its lists and dicts copied here. A `memoryview` is stored as the bytes it
holds, by every codec.

Another type is written as an array whose first item is a msgpack extension value, a
marker saying what the array holds; reading turns such arrays back (`list_hook`):

- `[ext 1, *items]` tuple, `[ext 2, *items]` set, `[ext 3, *items]` frozenset
- `[ext 6, bytes]` bytearray
- `[ext 5 <tag in UTF-8>, encoded]` an instance of a registered class
- `[ext 10..15, form]` a standard type (`serdes._types`: datetime, date, time,
  timedelta, Decimal, UUID)

and an int beyond 64 bits is `ext 4` holding it in two's complement, big-endian.
Markers rather than nested msgpack documents keep reading to one msgpack call, as deep
as msgpack itself allows (about a thousand levels). Strings with lone surrogates are
kept too (written with `unicode_errors="surrogatepass"`, only for values holding one).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from itertools import compress
from typing import Any, ClassVar

import msgpack

from ._core import (
    CODEC_MSGPACK,
    HEADER_SIZE,
    Buffer,
    SerDesContext,
    SerDesError,
    make_header,
    shortened,
)
from ._paths import describe_failure
from ._reader import read_any
from ._types import STD_BY_CODE, STD_BY_TYPE, StdType
from .registry import DEFAULT_REGISTRY, TypeRegistry

__all__ = ["MsgpackSerDes"]

_TUPLE, _SET, _FROZENSET, _BIGINT, _OBJECT, _BYTEARRAY = 1, 2, 3, 4, 5, 6
_HEADER = make_header(CODEC_MSGPACK)
_PACKER_OPTIONS: dict[str, Any] = {"use_bin_type": True, "strict_types": True, "datetime": False}


class _Mark:
    """What an extension marker read from msgpack stands for."""

    __slots__ = ("code", "std", "tag")

    def __init__(self, code: int, std: StdType | None = None, tag: str = "") -> None:
        self.code = code
        self.std = std
        self.tag = tag


_READ_MARKS = {code: _Mark(code) for code in (_TUPLE, _SET, _FROZENSET, _BYTEARRAY)}
_READ_MARKS.update({code: _Mark(code, std) for code, std in STD_BY_CODE.items()})
_TUPLE_MARK, _SET_MARK, _FROZENSET_MARK, _BYTEARRAY_MARK = (
    msgpack.ExtType(code, b"") for code in (_TUPLE, _SET, _FROZENSET, _BYTEARRAY)
)
_CONTAINERS = frozenset({list, dict, tuple, set, frozenset})
_is_container = _CONTAINERS.__contains__


class _Unregistered(Exception):
    pass


class _PerThread(threading.local):
    """Packers are neither thread-safe nor re-entrant (an encode function may serialize
    too): each pack takes one from its thread's pool."""

    def __init__(self) -> None:
        self.pool: list[tuple[Any, list[Any]]] = []  # packers, each with its `made`


def _holds_bytearray(values: list[Any]) -> bool:
    """Whether a bytearray is among `values` or inside their lists, dicts, tuples and
    sets. Other objects are not entered: what the call back made for them is in `values`."""
    level = values
    while level:
        kinds = set(map(type, level))
        if bytearray in kinds:
            return True
        if kinds.isdisjoint(_CONTAINERS):
            return False
        if not kinds <= _CONTAINERS:
            level = list(compress(level, map(_is_container, map(type, level))))
        level = gc.get_referents(*level)
    return False


def _bytearrays_marked(value: Any) -> Any:
    """`value` with each bytearray in its lists and dicts made `[ext 6, bytes]`; other
    containers reach `_default_marked`, which marks what it makes of them."""
    t = type(value)
    if t is list:
        return [_bytearrays_marked(item) for item in value]
    if t is dict:
        return {key: _bytearrays_marked(item) for key, item in value.items()}
    if t is bytearray:
        return [_BYTEARRAY_MARK, bytes(value)]
    return value


def _std_encoder(std: StdType) -> Callable[[Any], Any]:
    mark, encode = msgpack.ExtType(std.code, b""), std.encode
    return lambda v: [mark, encode(v)]


def _bigint(value: int) -> msgpack.ExtType:
    size = (value.bit_length() + 8) // 8
    return msgpack.ExtType(_BIGINT, value.to_bytes(size, "big", signed=True))


_ENCODERS: dict[type[Any], Callable[[Any], Any]] = {
    tuple: lambda v: [_TUPLE_MARK, *v],
    set: lambda v: [_SET_MARK, *v],
    frozenset: lambda v: [_FROZENSET_MARK, *v],
    int: _bigint,  # msgpack hands over only the ints it cannot write
}
_ENCODERS.update({std.cls: _std_encoder(std) for std in STD_BY_TYPE.values()})


class _Codec:
    """msgpack packing and unpacking bound to one registry."""

    def __init__(self, registry: TypeRegistry) -> None:
        self.registry = registry
        self._state = _PerThread()
        self._object_marks: dict[str, msgpack.ExtType] = {}

    def pack(self, value: Any) -> bytes:
        pool = self._state.pool
        packer, made = pool.pop() if pool else self._packer()
        try:
            out: bytes = packer.pack(value)
            # msgpack bytes start with 0xc4, 0xc5 or 0xc6 (bin 8, 16, 32): output with
            # none of them holds no bytearray; with one (numbers and accented text make
            # them too), look in the value and in what the call back made for it.
            if (0xC4 in out or 0xC5 in out or 0xC6 in out) and _holds_bytearray([value, *made]):
                out = self.pack_marked(value)
        finally:
            made.clear()
            pool.append((packer, made))
        return out

    def _packer(self) -> tuple[Any, list[Any]]:
        """A packer and the list its call back adds what it makes to."""
        made: list[Any] = []

        def default(obj: Any) -> Any:
            out = self._encode(obj)
            made.append(out)
            return out

        return msgpack.Packer(default=default, **_PACKER_OPTIONS), made

    def pack_marked(self, value: Any, unicode_errors: str = "strict") -> bytes:
        """`pack` telling a bytearray from bytes, and keeping strings with lone
        surrogates if `unicode_errors="surrogatepass"`: slower, only when needed."""
        packer = msgpack.Packer(
            default=self._default_marked, unicode_errors=unicode_errors, **_PACKER_OPTIONS
        )
        return packer.pack(_bytearrays_marked(value))  # type: ignore[no-any-return]

    def _default_marked(self, obj: Any) -> Any:
        return _bytearrays_marked(self._encode(obj))

    def _encode(self, obj: Any) -> Any:
        """The plain form msgpack packs in place of `obj`."""
        encode = _ENCODERS.get(type(obj))
        if encode is not None:
            return encode(obj)
        codec = self.registry.for_type(type(obj))
        if codec is None:
            raise _Unregistered(obj)
        mark = self._object_marks.get(codec.tag)
        if mark is None:
            mark = self._object_marks[codec.tag] = msgpack.ExtType(_OBJECT, codec.tag.encode())
        return [mark, codec.encode(obj)]

    def unpack(self, data: Buffer) -> Any:
        # Markers read, less those used up as the first item of a list: one left over
        # stands somewhere else, which serdes never writes.
        unused = 0

        def ext_hook(code: int, data: bytes) -> Any:
            nonlocal unused
            value = _ext_hook(code, data)
            if type(value) is _Mark:
                unused += 1
            return value

        def list_hook(items: list[Any]) -> Any:
            nonlocal unused
            if not items or type(items[0]) is not _Mark:
                return items
            unused -= 1
            return self._restore(items)

        value = msgpack.unpackb(
            data,
            ext_hook=ext_hook,
            list_hook=list_hook,
            raw=False,
            strict_map_key=False,
            unicode_errors="surrogatepass",
        )
        if unused:
            raise SerDesError("malformed data: a type marker stands where serdes writes none")
        return value

    def _restore(self, items: list[Any]) -> Any:
        """The value a list that starts with a type marker stands for."""
        mark: _Mark = items[0]
        code = mark.code
        if code == _TUPLE:
            return tuple(items[1:])
        if code == _BYTEARRAY:
            if len(items) != 2 or type(items[1]) is not bytes:
                raise SerDesError("stored bytearray is malformed")
            return bytearray(items[1])
        if mark.std is not None:
            if len(items) != 2:
                raise SerDesError(f"stored {mark.std.tag} is malformed")
            return mark.std.decode(items[1])
        if code == _OBJECT:
            if len(items) != 2:
                raise SerDesError(f"stored {mark.tag} is malformed")
            codec = self.registry.for_tag(mark.tag)
            try:
                return codec.decode(items[1])
            except SerDesError:
                raise
            except Exception as exc:
                raise SerDesError(f"cannot restore {mark.tag}: {shortened(exc)}") from exc
        if code == _SET:
            return set(items[1:])
        return frozenset(items[1:])


def _ext_hook(code: int, data: bytes) -> Any:
    mark = _READ_MARKS.get(code)
    if mark is not None:
        return mark
    if code == _BIGINT:
        return int.from_bytes(data, "big", signed=True)
    if code == _OBJECT:
        return _Mark(_OBJECT, tag=data.decode())
    raise SerDesError(f"unknown msgpack extension type {code}")


def _cause(exc: Exception) -> Exception | None:
    return None if isinstance(exc, _Unregistered) else exc


class MsgpackSerDes:
    """msgpack with exact round trips: datetimes (zones kept), Decimal, UUID, tuples,
    sets, big ints, bytearrays and registered classes come back with the type they went
    in with (a memoryview comes back as the bytes it holds).

    Safe to share between threads. Nesting goes as deep as msgpack allows, about a
    thousand levels (a registered class counts two); deeper values are refused.
    """

    exact_types: ClassVar[frozenset[type]] = frozenset({type(None), bool, int, float, str, bytes})
    """A value of exactly one of these types comes back from a round trip as the same
    value of the same type, so a caller holding it need not read it back."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        coding = {"serialize", "deserialize", "encode_body", "decode_body"}
        if coding & cls.__dict__.keys() and "exact_types" not in cls.__dict__:
            cls.exact_types = frozenset()  # it codes values its own way: promise nothing

    def __init__(self, registry: TypeRegistry | None = None) -> None:
        self.registry = registry if registry is not None else DEFAULT_REGISTRY
        self._codec = _Codec(self.registry)

    def serialize(self, value: object, ctx: SerDesContext | None = None) -> bytes:
        try:
            return _HEADER + self._codec.pack(value)
        except Exception:
            return _HEADER + self.encode_body(value)

    def encode_body(self, value: object) -> bytes:
        """The msgpack bytes of `value`, without the header."""
        try:
            return self._codec.pack(value)
        except UnicodeEncodeError:
            pass  # a string with a lone surrogate somewhere
        except SerDesError:
            raise
        except Exception as exc:
            raise self._failure(value, exc) from _cause(exc)
        try:
            return self._codec.pack_marked(value, unicode_errors="surrogatepass")
        except SerDesError:
            raise
        except Exception as exc:
            raise self._failure(value, exc) from _cause(exc)

    def _failure(self, value: object, exc: Exception) -> SerDesError:
        return SerDesError(describe_failure(value, self.registry, exc))

    def decode_body(self, body: Buffer) -> object:
        """The value of msgpack bytes written by `encode_body`."""
        try:
            return self._codec.unpack(body)
        except SerDesError:
            raise
        except Exception as exc:
            raise SerDesError(f"cannot read msgpack data: {shortened(exc)}") from exc

    def deserialize(self, data: bytes, ctx: SerDesContext | None = None) -> object:
        if type(data) is bytes and data[:HEADER_SIZE] == _HEADER:
            return self.decode_body(data[HEADER_SIZE:])
        return read_any(data, self.registry)  # another codec's, or compressed
