"""Many rows written with few statements.

Each statement is one step of the database engine, and the database thread takes the
GIL back after every step: one statement per row would stall it behind the event loop
thread hundreds of times a batch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import TypeVar

__all__ = ["in_statements"]

T = TypeVar("T")

_ROWS_PER_STATEMENT = (64, 48, 16, 4, 1)
"""Statement sizes, largest first; a size is used when its parameters stay under 999,
the limit of SQLite before 3.32 (64 rows of up to 15 columns, 48 of up to 20)."""
_MAX_PARAMETERS = 999


def in_statements(
    head: str, columns: int, tail: str, rows: Sequence[T]
) -> Iterator[tuple[str, Sequence[T]]]:
    """`head VALUES (?,..),(?,..) tail` statements that cover `rows` in order, each with
    the rows it takes."""
    done, total = 0, len(rows)
    for size in _ROWS_PER_STATEMENT:
        if size * columns > _MAX_PARAMETERS and size > 1:
            continue
        while total - done >= size:
            yield _statement(head, columns, tail, size), rows[done : done + size]
            done += size


@functools.cache
def _statement(head: str, columns: int, tail: str, rows: int) -> str:
    values = "(" + ",".join("?" * columns) + ")"
    return f"{head} VALUES " + ",".join([values] * rows) + tail
