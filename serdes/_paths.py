"""Finding where, inside a value, the part that cannot be serialized sits."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .registry import TypeRegistry

__all__ = ["describe_unserializable", "find_unserializable"]

_PLAIN = (type(None), bool, int, float, str, bytes)


def _key_path(path: str, key: Any) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def find_unserializable(
    value: Any, registry: TypeRegistry, known: Callable[[type[Any]], bool], path: str = "$"
) -> tuple[str, Any] | None:
    """The path and value of the first part that is neither plain, known, nor registered."""
    t = type(value)
    if t in _PLAIN or (t is float and math.isnan(value)):
        return None
    if t in (list, tuple, set, frozenset):
        items = sorted(value, key=repr) if t in (set, frozenset) else value
        for i, item in enumerate(items):
            found = find_unserializable(item, registry, known, f"{path}[{i}]")
            if found:
                return found
        return None
    if t is dict:
        for k, v in value.items():
            found = find_unserializable(k, registry, known, f"{path}<key {k!r}>") or (
                find_unserializable(v, registry, known, _key_path(path, k))
            )
            if found:
                return found
        return None
    if known(t):
        return None
    codec = registry.for_type(t)
    if codec is None:
        return path, value
    payload = codec.encode(value)
    if isinstance(payload, dict):
        for k, v in payload.items():
            found = find_unserializable(v, registry, known, _key_path(path, k))
            if found:
                return found
        return None
    return find_unserializable(payload, registry, known, path)


def describe_unserializable(path: str, value: Any) -> str:
    cls = type(value)
    name = f"{cls.__module__}.{cls.__qualname__}"
    return (
        f"cannot serialize {name} at {path}: the class is not registered; "
        f"register it with serdes.register({cls.__qualname__}) (dataclasses, NamedTuples, "
        "enums, attrs and pydantic models need nothing more; other classes need "
        "encode= and decode=)"
    )
