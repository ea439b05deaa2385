"""Starting again under an execution name: the same execution, or an error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import serdes as _serdes
from serdes import SerDes

from ._errors import DatabaseCorrupt, ExecutionAlreadyExists
from ._models import ExecutionRecord
from ._registry import DurableFunction

__all__ = ["check_duplicate"]


def check_duplicate(
    record: ExecutionRecord, function: DurableFunction[Any, Any], input: Any, codec: SerDes
) -> None:
    """Refuse starting `function` with `input` under the name of `record`, unless it is
    the same function with the same input (then the start returns that execution). An
    execution that continued as new holds its current run's input, not the one it was
    started with: for it, the same function is enough."""
    if record.function != function.name:
        raise ExecutionAlreadyExists(
            f"execution {record.name!r} already exists for function {record.function!r}, "
            f"not {function.name!r}"
        )
    if record.run_number > 1:
        return
    try:
        stored = None if record.input is None else codec.deserialize(_unsealed(record))
        same = _same_input(stored, codec.deserialize(codec.serialize(input)), codec.serialize)
    except _serdes.SerDesError:
        same = False
    if not same:
        raise ExecutionAlreadyExists(
            f"execution {record.name!r} already exists with a different input"
        )


def _same_input(a: Any, b: Any, encode: Callable[[Any], bytes]) -> bool:
    """Of the same types all the way down, with containers alike in their contents
    (in any order for dicts and sets) and other values stored alike by `encode`: `1`,
    `1.0` and `True`, or `0.0` and `-0.0`, are equal in Python but different inputs;
    two NaNs are the same input."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_input(v, b[k], encode) for k, v in a.items())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(
            _same_input(x, y, encode) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, set | frozenset):
        return a == b and {type(x) for x in a} == {type(x) for x in b}
    return a is b or encode(a) == encode(b)


def _unsealed(record: ExecutionRecord) -> bytes:
    """The stored input's bytes, their checksum checked."""
    assert record.input is not None
    try:
        return _serdes.unseal(record.input)  # type: ignore[return-value]  # bytes in, bytes out
    except _serdes.ChecksumMismatch as exc:
        raise DatabaseCorrupt(
            f"the stored input of execution {record.execution_id} is damaged ({exc}): "
            "restore the database from a backup",
            execution_id=record.execution_id,
        ) from None
