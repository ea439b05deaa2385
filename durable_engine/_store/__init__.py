"""Persistence: the `Store` Protocol and its SQLite implementation.

This package is the only place that touches the database. The engine reaches it
through `Store` (`base.py`: what each method returns, its atomicity and its fencing)
and the write types beside it; `SqliteStore` implements it, and is also the one entry
point for what needs the file rather than an opened store: `SqliteStore.inspect` (the
read-only look `db check` prints), `SqliteStore.preflight` (a worker's check before it
opens the file) and `SqliteStore.set_persistence_hook` (for crash tests). Importing
the package changes nothing process-wide.
"""

from __future__ import annotations

from .base import (
    Attempt,
    BlockExecution,
    CancelOperations,
    EndAttempt,
    Fence,
    FinishExecution,
    LeaseLost,
    Mutation,
    NewExecution,
    PutCallback,
    Store,
    SuspendExecution,
    WorkerInfo,
    operation_of,
)
from .sqlite import SqliteStore

__all__ = [
    "Attempt",
    "BlockExecution",
    "CancelOperations",
    "EndAttempt",
    "Fence",
    "FinishExecution",
    "LeaseLost",
    "Mutation",
    "NewExecution",
    "PutCallback",
    "SqliteStore",
    "Store",
    "SuspendExecution",
    "WorkerInfo",
    "operation_of",
]
