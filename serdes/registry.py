"""Which classes may be restored from stored data, and how.

Only registered classes come back as instances: stored data names a class by its
tag, never by an import path, and nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from ._core import SerDesError

__all__ = ["DEFAULT_REGISTRY", "TypeCodec", "TypeRegistry", "register"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TypeCodec:
    """How one registered class turns into plain data and back.

    `fields` names the items of the encoded form when they are the class's fields
    (used to name where a value sits, as in `$.order.price`).
    """

    cls: type[Any]
    tag: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]
    fields: tuple[str, ...] | None = None


_Found = tuple[Callable[[Any], Any], Callable[[Any], Any], tuple[str, ...]]
_MISSING = object()


def _fields_codec(cls: type[Any], names: list[tuple[str, str, bool]]) -> _Found:
    """Encode to {field: value}; decode through __init__, then set init=False fields.

    `names` holds (attribute name, __init__ argument name, taken by __init__).
    """

    def encode(obj: Any) -> Any:
        out = {}
        for name, _, _ in names:
            value = getattr(obj, name, _MISSING)
            if value is not _MISSING:  # an init=False field that was never set
                out[name] = value
        return out

    def decode(data: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"expected a dict of fields, got {type(data).__name__}")
        obj = cls(**{arg: data[name] for name, arg, init in names if init and name in data})
        for name, _, init in names:
            if not init and name in data:
                object.__setattr__(obj, name, data[name])
        return obj

    return encode, decode, tuple(name for name, _, _ in names)


def _dataclass_codec(cls: type[Any]) -> _Found | None:
    if not dataclasses.is_dataclass(cls):
        return None
    return _fields_codec(cls, [(f.name, f.name, f.init) for f in dataclasses.fields(cls)])


def _attrs_codec(cls: type[Any]) -> _Found | None:
    attr = sys.modules.get("attr")  # an attrs class can only exist once attrs is imported
    if attr is None or not attr.has(cls):
        return None
    return _fields_codec(
        cls,
        [
            (a.name, getattr(a, "alias", None) or a.name.lstrip("_"), a.init)
            for a in attr.fields(cls)
        ],
    )


def _pydantic_codec(cls: type[Any]) -> _Found | None:
    pydantic = sys.modules.get("pydantic")  # likewise for pydantic models
    if pydantic is None or not issubclass(cls, pydantic.BaseModel):
        return None
    return _model_encode, functools.partial(_model_decode, cls), tuple(cls.model_fields)


def _model_encode(obj: Any) -> dict[str, Any]:
    """The model's state as it is, not as `model_dump` shows it: field values by field
    name (nested models stay models, stored by their own registration), then, when
    there are any, its private attributes, its extra fields, and which fields were set
    if not all. Field names cannot start with `_`, so the other keys cannot clash."""
    state = obj.__getstate__()  # what pydantic itself pickles and copies
    out = dict(state["__dict__"])
    private = state.get("__pydantic_private__")
    if private is not None:
        out["_private"] = dict(private)
    extra = state.get("__pydantic_extra__")
    if extra:
        out["_extra"] = dict(extra)
    fields_set = state["__pydantic_fields_set__"]
    if fields_set != state["__dict__"].keys() | (extra or {}).keys():
        out["_set"] = sorted(fields_set)
    return out


def _model_decode(cls: type[Any], data: Any) -> Any:
    """The model `_model_encode` stored, set up as pydantic unpickles one: no validator,
    no `__init__` and no `model_post_init` runs."""
    if not isinstance(data, dict):
        raise TypeError(f"expected a dict of fields, got {type(data).__name__}")
    fields = {k: v for k, v in data.items() if not k.startswith("_")}
    extra = data.get("_extra")
    if extra is None and cls.model_config.get("extra") == "allow":
        extra = {}
    stored_set = data.get("_set")
    fields_set = set(fields) | set(extra or ()) if stored_set is None else set(stored_set)
    state = {
        "__dict__": fields,
        "__pydantic_extra__": extra,
        "__pydantic_fields_set__": fields_set,
        "__pydantic_private__": data.get("_private"),
    }
    obj: Any = object.__new__(cls)  # no __init__: nothing validates
    obj.__setstate__(state)
    return obj


def _namedtuple_codec(cls: type[Any]) -> _Found | None:
    if not (issubclass(cls, tuple) and hasattr(cls, "_fields")):
        return None

    def decode(data: Any) -> Any:
        if not isinstance(data, list):
            raise TypeError(f"expected a list of fields, got {type(data).__name__}")
        return cls(*data)

    return list, decode, tuple(cls._fields)


def _enum_codec(cls: type[Any]) -> _Found | None:
    if not issubclass(cls, enum.Enum):
        return None
    return (lambda member: member.value), cls, ()


def _qualified(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class TypeRegistry:
    """Classes a serializer may write and restore, each under a tag."""

    def __init__(self) -> None:
        self._by_type: dict[type[Any], TypeCodec] = {}
        self._by_tag: dict[str, TypeCodec] = {}
        self._cache: dict[object, Any] = {}

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
        fields: tuple[str, ...] | None = None
        if encode is None or decode is None:
            found = (
                _enum_codec(cls)
                or _namedtuple_codec(cls)
                or _dataclass_codec(cls)
                or _attrs_codec(cls)
                or _pydantic_codec(cls)
            )
            if found is None:
                raise TypeError(
                    f"{cls.__qualname__} is not a dataclass, NamedTuple, enum, attrs class or "
                    "pydantic model: register it with encode= and decode="
                )
            encode, decode, fields = found
        tag = name or _qualified(cls)
        existing = self._by_tag.get(tag)
        if existing is not None and _qualified(existing.cls) != _qualified(cls):
            # The same name for a redefinition of the class (a reloaded module) is fine.
            raise ValueError(f"tag {tag!r} is already registered for {existing.cls!r}")
        codec = TypeCodec(cls, tag, encode, decode, fields or None)
        self._by_type[cls] = codec
        self._by_tag[tag] = codec

    def cached(self, key: object, make: Callable[[], T]) -> T:
        """The object `make` returns, made once per registry and `key` (the
        serializers `dumps` and `loads` use for this registry)."""
        try:
            found: T = self._cache[key]
        except KeyError:
            found = self._cache[key] = make()
        return found

    def for_type(self, cls: type[Any]) -> TypeCodec | None:
        """The codec of exactly `cls` (not of its subclasses), if registered."""
        return self._by_type.get(cls)

    def for_tag(self, tag: object) -> TypeCodec:
        """The codec registered under `tag`, or SerDesError naming the tag."""
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
