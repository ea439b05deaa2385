"""An execution's history as a stable JSON document, and back.

`durable-engine export ID` writes it; the test kit replays it
(`DurableTestRunner.replay_history`), so a project keeps golden histories beside its
tests and learns at test time that a code change breaks them. Stored values go in as
the bytes the engine stored (base64): a history replays exactly, whatever the codec.

Format version 1 (documented in docs/guide/versioning.md; keys are only ever added):

    {"format": "durable-engine-history", "format_version": 1,
     "execution": {"execution_id", "name", "function", "version", "status", "input",
                   "result", "error", "parent_id", "created_at", "ended_at",
                   "timeout_at"},
     "operations": [{"operation_id", "parent_id", "type", "name", "status", "attempt",
                     "result", "error", "started_at", "ended_at", "wake_at", "ref"}]}

Times are seconds since the epoch (floats, as stored); values are base64 or null.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from ._models import (
    Checkpoint,
    ExecutionRecord,
    ExecutionStatus,
    OperationStatus,
    OperationType,
    op_position,
)

__all__ = ["FORMAT", "FORMAT_VERSION", "HistoryFileError", "history_from_json", "history_to_json"]

FORMAT = "durable-engine-history"
FORMAT_VERSION = 1


class HistoryFileError(ValueError):
    """A history file that is not one this version of durable_engine reads."""


def history_to_json(record: ExecutionRecord, operations: Iterable[Checkpoint]) -> dict[str, Any]:
    """The document for `record` and its operations, in operation order."""
    ops = sorted(operations, key=lambda cp: op_position(cp.op_id))
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "execution": {
            "execution_id": record.execution_id,
            "name": record.name,
            "function": record.function,
            "version": record.version,
            "status": record.status.value,
            "input": _b64(record.input),
            "result": _b64(record.result),
            "error": _b64(record.error),
            "parent_id": record.parent_id,
            "created_at": record.created_at,
            "ended_at": record.ended_at,
            "timeout_at": record.timeout_at,
        },
        "operations": [
            {
                "operation_id": cp.op_id,
                "parent_id": cp.parent_id,
                "type": cp.type.value,
                "name": cp.name,
                "status": cp.status.value,
                "attempt": cp.attempt,
                "result": _b64(cp.result),
                "error": _b64(cp.error),
                "started_at": cp.started_at,
                "ended_at": cp.ended_at,
                "wake_at": cp.wake_at,
                "ref": cp.ref,
            }
            for cp in ops
        ],
    }


def history_from_json(data: Any) -> tuple[ExecutionRecord, list[Checkpoint]]:
    """The execution and operations a document holds; HistoryFileError if it is not one."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise HistoryFileError(f'not a durable_engine history file (no "format": {FORMAT!r})')
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise HistoryFileError(
            f"history format version {version!r} is not one this durable_engine reads "
            f"({FORMAT_VERSION}); export it again, or upgrade durable_engine"
        )
    try:
        execution = data["execution"]
        record = ExecutionRecord(
            execution_id=str(execution["execution_id"]),
            name=execution["name"],
            function=str(execution["function"]),
            status=ExecutionStatus(execution["status"]),
            input=_bytes(execution["input"]),
            result=_bytes(execution["result"]),
            error=_bytes(execution["error"]),
            parent_id=execution["parent_id"],
            created_at=float(execution["created_at"]),
            ended_at=execution["ended_at"],
            wake_at=None,
            timeout_at=execution["timeout_at"],
            owner=None,
            epoch=0,
            version=int(execution["version"]),
        )
        operations = [
            Checkpoint(
                execution_id=record.execution_id,
                op_id=str(op["operation_id"]),
                parent_id=op["parent_id"],
                type=OperationType(op["type"]),
                name=op["name"],
                status=OperationStatus(op["status"]),
                attempt=int(op["attempt"]),
                result=_bytes(op["result"]),
                error=_bytes(op["error"]),
                started_at=op["started_at"],
                ended_at=op["ended_at"],
                wake_at=op["wake_at"],
                ref=op["ref"],
            )
            for op in data["operations"]
        ]
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise HistoryFileError(f"a damaged history file: {type(exc).__name__}: {exc}") from None
    return record, operations


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"a stored value is base64 text, not {type(value).__name__}")
    return base64.b64decode(value, validate=True)
