"""How deeply a value nests, checked without a walk of every value.

A value's depth is the number of containers nested in one another down its deepest
path: a scalar (None, a number, a string, bytes, a date...) is 0, `[1]` is 1,
`{"a": [1]}` is 2. A list, tuple, set, frozenset or dict counts one level, and so
does an instance of a registered class, whose encoded form (a dict of its fields, for
a dataclass) counts on top: `[Point(1, 2)]` is 3.

Checking walks only the values whose bytes could hold that many levels: each level
takes at least one byte of a serdes blob (msgpack starts each array or map with a
byte of its own, JSON with a bracket), so a blob with no more such bytes than the
limit cannot be deeper, and most values are decided by one pass of C over their bytes.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from itertools import chain, compress
from typing import Any

from ._core import CODEC_JSON, CODEC_MSGPACK, HEADER_SIZE, MAGIC, TRANSFORM_NONE, Buffer
from ._types import STD_BY_TYPE
from .registry import DEFAULT_REGISTRY, TypeRegistry

__all__ = ["MAX_DEPTH", "deeper_than"]

MAX_DEPTH = 100
"""The deepest nesting a store of values should accept: well within what every reader
of a stored value handles (msgpack reads about 1,000 levels, JSON and the readers that
go through Python's recursion about 490, fewer from a deep stack)."""

_CONTAINERS = frozenset({list, tuple, set, frozenset, dict})
_LEAVES = frozenset({type(None), bool, int, float, str, bytes, bytearray, memoryview, *STD_BY_TYPE})
# Every byte that is not the first byte of a msgpack array or map: deleted, the bytes
# left count an upper bound of the levels (fixmap, fixarray, array 16/32, map 16/32).
_PLAIN = _CONTAINERS | _LEAVES
_MSGPACK_NOT_OPENING = bytes(b for b in range(256) if not (0x80 <= b <= 0x9F or 0xDC <= b <= 0xDF))


def _openings(data: Buffer) -> int | None:
    """An upper bound of the levels a serdes blob holds, or None if its bytes do not
    tell (compressed, or not a serdes blob)."""
    if len(data) < HEADER_SIZE or data[0] != MAGIC or data[3] != TRANSFORM_NONE:
        return None
    # The header's own bytes (0xD5, format, codec, 0) are neither: no copy of the body.
    blob = data if type(data) is bytes else bytes(data)
    if data[2] == CODEC_MSGPACK:
        return len(blob.translate(None, _MSGPACK_NOT_OPENING))
    if data[2] == CODEC_JSON:
        return blob.count(b"[") + blob.count(b"{")
    return 0  # raw bytes: no levels


def deeper_than(
    value: Any, limit: int, data: Buffer | None = None, registry: TypeRegistry | None = None
) -> bool:
    """Whether `value` nests more than `limit` levels. `data`, the blob `value` was
    written as (or read from), spares the walk when its bytes cannot hold that many;
    `registry` (default: serdes' own) says which classes count as containers."""
    if data is not None and len(data) <= limit:
        return False
    if data is not None:
        bound = _openings(data)
        if bound is not None and bound <= limit:
            return False
    return _walk(value, limit, registry if registry is not None else DEFAULT_REGISTRY)


def _walk(value: Any, limit: int, registry: TypeRegistry) -> bool:
    """Breadth first, a level at a time. A level of plain containers and scalars goes
    down through the garbage collector's own traversal (`gc.get_referents`, in C: a
    list's items, a dict's keys and values); a level holding instances of registered
    classes is grouped by type, each class's encoded form its next level."""
    level = [value]
    for _ in range(limit):
        kinds = set(map(type, level))
        if kinds <= _PLAIN:
            if kinds.isdisjoint(_CONTAINERS):
                return False
            if not kinds <= _CONTAINERS:
                level = list(compress(level, map(_CONTAINERS.__contains__, map(type, level))))
            deeper = gc.get_referents(*level)
        else:
            deeper = _by_kind(level, kinds, registry)
        if not deeper:
            return False
        level = deeper
    return any(type(x) in _CONTAINERS or registry.for_type(type(x)) for x in level)


def _by_kind(level: list[Any], kinds: set[type], registry: TypeRegistry) -> list[Any]:
    """The next level below `level`, its items grouped by type so the loops run in C."""
    deeper: list[Any] = []
    for kind in kinds:
        same: list[Any] = level if len(kinds) == 1 else [x for x in level if type(x) is kind]
        if kind is dict:
            _gather(deeper, _items, same)  # the keys: a tuple may be one
            _gather(deeper, _values, same)
        elif kind in _CONTAINERS:
            _gather(deeper, _items, same)
        elif kind not in _LEAVES:
            codec = registry.for_type(kind)
            if codec is not None:  # the class's level; its encoded form, the next
                deeper.extend(codec.encode(x) for x in same)
    return deeper


def _items(containers: list[Any]) -> Iterable[Any]:
    return chain.from_iterable(containers)


def _values(dicts: list[Any]) -> Iterable[Any]:
    return chain.from_iterable(map(dict.values, dicts))


def _gather(
    deeper: list[Any], items: Callable[[list[Any]], Iterable[Any]], containers: list[Any]
) -> None:
    """Add to `deeper` those of `items(containers)` that may nest further."""
    types = set(map(type, items(containers)))
    if types.isdisjoint(_LEAVES):
        deeper.extend(items(containers))
    elif not _LEAVES.issuperset(types):
        deeper.extend(x for x in items(containers) if type(x) not in _LEAVES)
