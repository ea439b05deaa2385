"""Which classes may be restored from stored data, and how.

Only registered classes come back as instances: stored data names a class by its
tag, never by an import path, and nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from ._core import SerDesError

__all__ = ["DEFAULT_REGISTRY", "TypeCodec", "TypeRegistry", "register"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TypeCodec:
    """How one registered class turns into plain data and back."""

    cls: type[Any]
    tag: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _dataclass_codec(cls: type[Any]) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    fields = dataclasses.fields(cls)

    def encode(obj: Any) -> Any:
        return {f.name: getattr(obj, f.name) for f in fields}

    def decode(data: Any) -> Any:
        init = {f.name: data[f.name] for f in fields if f.init and f.name in data}
        obj = cls(**init)
        for f in fields:
            if not f.init and f.name in data:
                object.__setattr__(obj, f.name, data[f.name])
        return obj

    return encode, decode


def _attrs_codec(cls: type[Any]) -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    attr = sys.modules.get("attr")
    if attr is None or not attr.has(cls):
        return None
    fields = attr.fields(cls)

    def encode(obj: Any) -> Any:
        return {a.name: getattr(obj, a.name) for a in fields}

    def decode(data: Any) -> Any:
        kwargs = {
            (getattr(a, "alias", None) or a.name.lstrip("_")): data[a.name]
            for a in fields
            if a.init and a.name in data
        }
        obj = cls(**kwargs)
        for a in fields:
            if not a.init and a.name in data:
                object.__setattr__(obj, a.name, data[a.name])
        return obj

    return encode, decode


def _pydantic_codec(cls: type[Any]) -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not issubclass(cls, pydantic.BaseModel):
        return None
    return (lambda obj: obj.model_dump()), cls.model_validate


def _namedtuple_codec(cls: type[Any]) -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    if not (issubclass(cls, tuple) and hasattr(cls, "_fields")):
        return None
    return (lambda obj: list(obj)), (lambda data: cls(*data))


def _enum_codec(cls: type[Any]) -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    if not issubclass(cls, enum.Enum):
        return None
    return (lambda member: member.value), cls


class TypeRegistry:
    """Classes a serializer may write and restore, each under a tag."""

    def __init__(self) -> None:
        self._by_type: dict[type[Any], TypeCodec] = {}
        self._by_tag: dict[str, TypeCodec] = {}

    def __contains__(self, cls: object) -> bool:
        return cls in self._by_type

    @overload
    def register(
        self,
        cls: type[T],
        /,
        *,
        name: str | None = None,
        encode: Callable[[Any], Any] | None = None,
        decode: Callable[[Any], Any] | None = None,
    ) -> type[T]: ...

    @overload
    def register(
        self,
        cls: None = None,
        /,
        *,
        name: str | None = None,
        encode: Callable[[Any], Any] | None = None,
        decode: Callable[[Any], Any] | None = None,
    ) -> Callable[[type[T]], type[T]]: ...

    def register(
        self,
        cls: type[T] | None = None,
        /,
        *,
        name: str | None = None,
        encode: Callable[[Any], Any] | None = None,
        decode: Callable[[Any], Any] | None = None,
    ) -> type[T] | Callable[[type[T]], type[T]]:
        """Allow `cls` to be stored and restored; usable as a class decorator.

        Dataclasses, NamedTuples, enums, attrs classes and pydantic models need no
        `encode`/`decode`; any other class needs both. `name` is the tag written in
        stored data (default: module and qualified name); keep it stable.
        """

        def add(target: type[T]) -> type[T]:
            self._add(target, name, encode, decode)
            return target

        return add(cls) if cls is not None else add

    def _add(
        self,
        cls: type[Any],
        name: str | None,
        encode: Callable[[Any], Any] | None,
        decode: Callable[[Any], Any] | None,
    ) -> None:
        if not isinstance(cls, type):
            raise TypeError(f"register() takes a class, not {cls!r}")
        if (encode is None) != (decode is None):
            raise TypeError("give both encode and decode, or neither")
        if encode is None or decode is None:
            found = (
                _enum_codec(cls)
                or _namedtuple_codec(cls)
                or (_dataclass_codec(cls) if dataclasses.is_dataclass(cls) else None)
                or _attrs_codec(cls)
                or _pydantic_codec(cls)
            )
            if found is None:
                raise TypeError(
                    f"{cls.__qualname__} is not a dataclass, NamedTuple, enum, attrs class or "
                    "pydantic model: register it with encode= and decode="
                )
            encode, decode = found
        tag = name or f"{cls.__module__}.{cls.__qualname__}"
        existing = self._by_tag.get(tag)
        if existing is not None and existing.cls is not cls:
            raise ValueError(f"tag {tag!r} is already registered for {existing.cls!r}")
        codec = TypeCodec(cls, tag, encode, decode)
        self._by_type[cls] = codec
        self._by_tag[tag] = codec

    def for_type(self, cls: type[Any]) -> TypeCodec | None:
        return self._by_type.get(cls)

    def for_tag(self, tag: object) -> TypeCodec:
        codec = self._by_tag.get(tag) if isinstance(tag, str) else None
        if codec is None:
            raise SerDesError(
                f"stored data names the class {tag!r}, which is not registered here; "
                "register it (serdes.register(TheClass)) to read this value"
            )
        return codec


DEFAULT_REGISTRY = TypeRegistry()
"""The registry used when a serializer is given none."""

register = DEFAULT_REGISTRY.register
