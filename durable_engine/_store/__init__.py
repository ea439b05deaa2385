"""Persistence: the `Store` Protocol and its SQLite implementation."""

from __future__ import annotations

from .base import (
    CallbackRecord,
    CallbackStatus,
    CancelOperations,
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
    "CallbackRecord",
    "CallbackStatus",
    "CancelOperations",
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
