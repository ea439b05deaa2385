"""Persistence: the `Store` Protocol and its SQLite and PostgreSQL implementations.

This package is the only place that touches the database. The engine reaches it
through `Store` (`base.py`: what each method returns, its atomicity and its fencing)
and the write types beside it; `SqliteStore` implements it, and is also the one entry
point for what needs the file rather than an opened store: `SqliteStore.inspect` (the
read-only look `db check` prints), `SqliteStore.preflight` (the check on open, which an
opened store runs too), `SqliteStore.backup` (a consistent copy of a live file) and
`SqliteStore.set_persistence_hook` (for crash tests). `PostgresStore`
keeps the same contract on a PostgreSQL database, and `store_for` picks one from a
database name (a `postgresql://` URL, or an SQLite path). Importing the package changes
nothing process-wide, and does not import asyncpg.
"""

from __future__ import annotations

from .base import (
    Attempt,
    BlockExecution,
    CancelOperations,
    Change,
    EndAttempt,
    Fence,
    FinishExecution,
    LeaseLost,
    Mutation,
    NewExecution,
    PutCallback,
    ScheduleRecord,
    SetCustomStatus,
    Store,
    SuspendExecution,
    WorkerGone,
    WorkerInfo,
    operation_of,
)
from .integrity import check_level
from .postgres import PostgresStore
from .sqlite import SqliteStore
from .urls import is_postgres, location, store_for

__all__ = [
    "Attempt",
    "BlockExecution",
    "CancelOperations",
    "Change",
    "EndAttempt",
    "Fence",
    "FinishExecution",
    "LeaseLost",
    "Mutation",
    "NewExecution",
    "PostgresStore",
    "PutCallback",
    "ScheduleRecord",
    "SetCustomStatus",
    "SqliteStore",
    "Store",
    "SuspendExecution",
    "WorkerGone",
    "WorkerInfo",
    "check_level",
    "is_postgres",
    "location",
    "operation_of",
    "store_for",
]
