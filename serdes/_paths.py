"""Naming the part of a value that cannot be serialized, and where it sits.

Codecs serialize at full speed without tracking where they are; only when that fails
is the value walked again here, to build a message such as
`cannot serialize shop.Money at $.items[3].price: the class is not registered ...`.
"""

from __future__ import annotations

import json
from typing import Any

from ._types import STD_BY_TYPE
from .registry import TypeCodec, TypeRegistry

__all__ = ["describe_failure", "key_path"]

_PLAIN = (type(None), bool, int, float, str, bytes, bytearray, memoryview)


class _Found(Exception):
    def __init__(self, path: str, value: Any, cause: BaseException | None) -> None:
        super().__init__(path)
        self.path = path
        self.value = value
        self.cause = cause


def key_path(path: str, key: Any) -> str:
    """`$.name` for a key that is an identifier, `$["a key"]` or `$[3]` otherwise."""
    if isinstance(key, str):
        return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key)}]"
    return f"{path}[{key!r}]"


def _walk(value: Any, registry: TypeRegistry, path: str) -> None:
    t = type(value)
    if t in _PLAIN or t in STD_BY_TYPE:
        return
    if t is list or t is tuple:
        for i, item in enumerate(value):
            _walk(item, registry, f"{path}[{i}]")
    elif t is set or t is frozenset:
        for i, item in enumerate(sorted(value, key=repr)):
            _walk(item, registry, f"{path}[{i}]")
    elif t is dict:
        for i, (k, v) in enumerate(value.items()):
            _walk(k, registry, f"{path}<key {i}>")
            _walk(v, registry, key_path(path, k))
    else:
        codec = registry.for_type(t)
        if codec is None:
            raise _Found(path, value, None)
        try:
            payload = codec.encode(value)
        except Exception as exc:
            raise _Found(path, value, exc) from exc
        _walk_payload(payload, codec, registry, path)


def _walk_payload(payload: Any, codec: TypeCodec, registry: TypeRegistry, path: str) -> None:
    names = codec.fields
    if names and type(payload) is dict:
        for k, v in payload.items():
            _walk(v, registry, f"{path}.{k}")
    elif names and type(payload) is list and len(payload) == len(names):
        for name, v in zip(names, payload, strict=True):
            _walk(v, registry, f"{path}.{name}")
    else:
        _walk(payload, registry, path)


def describe_failure(value: Any, registry: TypeRegistry, error: BaseException) -> str:
    """Why `value` could not be serialized, naming the failing class and its path."""
    if isinstance(error, RecursionError):
        return "cannot serialize value: it is nested too deeply (or contains itself)"
    try:
        _walk(value, registry, "$")
    except _Found as found:
        cls = type(found.value)
        name = f"{cls.__module__}.{cls.__qualname__}"
        if found.cause is None and cls.__module__ == "builtins":  # a function, generator...
            return (
                f"cannot serialize {name} at {found.path}: values of this type cannot be "
                "stored; store what it holds or produces instead (a list, a dict, a str...)"
            )
        if found.cause is None:
            return (
                f"cannot serialize {name} at {found.path}: the class is not registered; "
                f"register it with serdes.register({cls.__qualname__}) (dataclasses, "
                "NamedTuples, enums, attrs classes and pydantic models need nothing more; "
                "other classes need encode= and decode=)"
            )
        return (
            f"cannot serialize {name} at {found.path}: its encode function raised "
            f"{type(found.cause).__name__}: {found.cause}"
        )
    except RecursionError:
        return "cannot serialize value: it is nested too deeply (or contains itself)"
    return f"cannot serialize value: {type(error).__name__}: {error}"
