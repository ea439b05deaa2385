"""Executions and operation trees as readable tables and as JSON, for the command line.

Values are shown as JSON when JSON can hold them exactly. Anything else (a datetime,
a Decimal, bytes, a set, an instance of a registered class, NaN) is shown with
`repr` in a table and, in JSON, as the tagged string `"<TypeName> text"`.
Timestamps of executions and operations are ISO 8601 strings in UTC.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from ._errors import ErrorWithInfo
from ._models import ExecutionInfo, OperationStatus
from ._views import AttemptInfo, OperationInfo
from ._waiting import Wait

__all__ = [
    "execution_json",
    "execution_table",
    "executions_table",
    "history_json",
    "history_table",
    "jsonable",
    "readable",
    "report_table",
]

_MISSING = "-"


def _tagged(value: Any) -> str:
    if isinstance(value, datetime | date | time):
        text = value.isoformat()
    elif isinstance(value, Decimal | UUID):
        text = str(value)
    else:
        text = repr(value)
    return f"<{type(value).__name__}> {text}"


def _exact(value: Any) -> bool:
    """Whether JSON holds `value` exactly (same types back)."""
    if value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return type(value) is int
    if isinstance(value, float):
        return type(value) is float and math.isfinite(value)
    if type(value) is list:
        return all(_exact(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _exact(v) for k, v in value.items())
    return False


_TOO_DEEP = "<value nested too deeply to show>"


def jsonable(value: Any) -> Any:
    """`value` as JSON can hold it: containers kept, anything else as a tagged string
    (a value too deep for Python's recursion, which stored values are not, as a
    marker saying so: one such value never stops a listing)."""
    try:
        return _jsonable(value)
    except RecursionError:
        return _TOO_DEEP


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseException):
        return error_json(value)
    if _exact(value):
        return value
    if type(value) is list:
        return [_jsonable(v) for v in value]
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: _jsonable(v) for k, v in value.items()}
    return _tagged(value)


def readable(value: Any) -> str:
    """`value` for a table: JSON text when JSON holds it exactly, else its repr (or the
    marker of a value too deep to show)."""
    if isinstance(value, BaseException):
        return _error_text(value)
    try:
        if _exact(value):
            return json.dumps(value, ensure_ascii=False)
        return repr(value)
    except RecursionError:
        return _TOO_DEEP


def error_json(error: BaseException | None) -> dict[str, Any] | None:
    if error is None:
        return None
    out: dict[str, Any] = {
        "kind": type(error).__name__,
        "type": getattr(error, "error_type", type(error).__name__),
        "message": getattr(error, "message", str(error)),
    }
    if isinstance(error, ErrorWithInfo):
        if error.stack_trace:
            out["stack_trace"] = error.stack_trace
        if error.data is not None:
            out["data"] = jsonable(error.data)
    return out


def _error_text(error: BaseException) -> str:
    info = error_json(error) or {}
    kind, kind_type = info.get("kind"), info.get("type")
    label = kind if kind == kind_type else f"{kind} ({kind_type})"
    return f"{label}: {info.get('message', '')}"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds")


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 6)


def execution_json(info: ExecutionInfo, waits: Sequence[Wait] | None = None) -> dict[str, Any]:
    """An execution as `list --json` prints it; with `waits` (`show`), a `waits_for` list."""
    data = {
        "execution_id": info.execution_id,
        "name": info.name,
        "function": info.function,
        "version": info.version,
        "run_number": info.run_number,
        "status": info.status.value,
        "created_at": _iso(info.created_at),
        "ended_at": _iso(info.ended_at),
        "duration": _seconds(info.created_at, info.ended_at),
        "parent_id": info.parent_id,
        "rerun_of": info.rerun_of,
        "custom_status": jsonable(info.custom_status),
        "input": jsonable(info.input),
        "result": jsonable(info.result),
        "error": error_json(info.error),
    }
    if waits is not None:
        data["waits_for"] = [wait_json(w) for w in waits]
    return data


def wait_json(wait: Wait) -> dict[str, Any]:
    return {
        "kind": wait.kind,
        "operation_id": wait.operation_id,
        "text": wait.line,
        "due_at": _iso(wait.due_at),
        "callback_id": wait.callback_id,
        "execution_id": wait.execution_id,
    }


def _function(info: ExecutionInfo) -> str:
    """The function, with the version it runs on when it is not the first."""
    return info.function if info.version == 1 else f"{info.function} (version {info.version})"


def execution_table(info: ExecutionInfo, waits: Sequence[Wait] = ()) -> str:
    duration = _seconds(info.created_at, info.ended_at)
    rows = [
        ("execution_id", info.execution_id),
        ("name", info.name or _MISSING),
        ("function", _function(info)),
        ("status", info.status.value),
        ("run_number", str(info.run_number)),
        ("created_at", _iso(info.created_at) or _MISSING),
        ("ended_at", _iso(info.ended_at) or _MISSING),
        ("duration", _MISSING if duration is None else f"{duration:.3f}s"),
    ]
    if info.parent_id:
        rows.append(("parent_id", info.parent_id))
    if info.rerun_of:
        rows.append(("rerun_of", info.rerun_of))
    if info.custom_status is not None:
        rows.append(("custom_status", readable(info.custom_status)))
    if waits:
        rows.append(("waits_for", "; ".join(w.line for w in waits)))
    rows.append(("input", readable(info.input)))
    if info.error is not None:
        rows.append(("error", _error_text(info.error)))
    else:
        rows.append(("result", readable(info.result) if info.status.is_terminal else _MISSING))
    return "\n".join(f"{key:<13} {value}" for key, value in rows)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def executions_table(infos: Sequence[ExecutionInfo]) -> str:
    header = ("EXECUTION_ID", "NAME", "FUNCTION", "STATUS", "CREATED_AT", "ENDED_AT")
    rows = [
        (
            i.execution_id,
            i.name or _MISSING,
            _function(i),
            i.status.value,
            i.created_at.isoformat(timespec="seconds"),
            i.ended_at.isoformat(timespec="seconds") if i.ended_at else _MISSING,
        )
        for i in infos
    ]
    return _table(header, rows)


def history_json(ops: Sequence[OperationInfo], waits: Sequence[Wait] = ()) -> list[dict[str, Any]]:
    """The operation tree as `history --json` prints it."""
    waiting = {w.operation_id: w.line for w in waits}
    return [
        {
            "operation_id": op.operation_id,
            "type": op.type.value,
            "name": op.name,
            "status": op.status.value,
            "attempt": op.attempt,
            "started_at": _iso(op.started_at),
            "ended_at": _iso(op.ended_at),
            "duration": op.duration,
            "wake_at": _iso(op.wake_at),
            "ref": op.ref,
            "result": jsonable(op.result),
            "error": error_json(op.error),
            "attempts": [
                {
                    "number": a.number,
                    "started_at": _iso(a.started_at),
                    "ended_at": _iso(a.ended_at),
                    "error": error_json(a.error),
                }
                for a in op.attempts
            ],
            "waits_for": waiting.get(op.operation_id),
            "children": history_json(op.children, waits),
        }
        for op in ops
    ]


def history_table(ops: Sequence[OperationInfo], waits: Sequence[Wait] = ()) -> str:
    """The tree as a table; a WAKE_AT column (when a timer or retry delay is due) when
    some operation waits for one, a REF column (a callback's id, an invoked execution's
    id) when some operation has one, a WAITS_FOR column marking what a suspended
    execution waits for. A step that took more than one attempt has a row per attempt
    under it, with each failed attempt's error in an ERROR column."""
    waiting = {w.operation_id: w.line for w in waits}
    errors: list[str] = []
    header: tuple[str, ...] = (
        "OPERATION",
        "TYPE",
        "STATUS",
        "ATTEMPT",
        "STARTED_AT",
        "ENDED_AT",
        "DURATION",
    )
    rows: list[tuple[str, ...]] = []
    wakes: list[str] = []
    refs: list[str] = []
    marks: list[str] = []

    def walk(nodes: Sequence[OperationInfo], depth: int) -> None:
        for op in nodes:
            label = "  " * depth + op.operation_id + (f" {op.name}" if op.name else "")
            rows.append(
                (
                    label,
                    op.type.value,
                    op.status.value,
                    str(op.attempt),
                    _iso(op.started_at) or _MISSING,
                    _iso(op.ended_at) or _MISSING,
                    _MISSING if op.duration is None else f"{op.duration:.3f}s",
                )
            )
            open_ = op.status in (OperationStatus.STARTED, OperationStatus.PENDING)
            wakes.append((_iso(op.wake_at) if open_ else None) or _MISSING)
            refs.append(op.ref or _MISSING)
            marks.append(waiting.get(op.operation_id, _MISSING))
            errors.append(_MISSING)
            if len(op.attempts) > 1:
                for a in op.attempts:
                    rows.append(_attempt_row(a, depth + 1))
                    wakes.append(_MISSING)
                    refs.append(_MISSING)
                    marks.append(_MISSING)
                    errors.append(_MISSING if a.error is None else _error_text(a.error))
            walk(op.children, depth + 1)

    walk(ops, 0)
    if any(wake != _MISSING for wake in wakes):
        header += ("WAKE_AT",)
        rows = [(*row, wake) for row, wake in zip(rows, wakes, strict=True)]
    if any(ref != _MISSING for ref in refs):
        header += ("REF",)
        rows = [(*row, ref) for row, ref in zip(rows, refs, strict=True)]
    for title, column in (("WAITS_FOR", marks), ("ERROR", errors)):
        if any(cell != _MISSING for cell in column):
            header += (title,)
            rows = [(*row, cell) for row, cell in zip(rows, column, strict=True)]
    return _table(header, rows)


def _attempt_row(a: AttemptInfo, depth: int) -> tuple[str, ...]:
    if a.error is not None:
        status = "FAILED"
    elif a.ended_at is not None:
        status = "SUCCEEDED"
    else:
        status = "RUNNING"
    return (
        "  " * depth + f"attempt {a.number}",
        "",
        status,
        str(a.number),
        _iso(a.started_at) or _MISSING,
        _iso(a.ended_at) or _MISSING,
        _MISSING if (d := _seconds(a.started_at, a.ended_at)) is None else f"{d:.3f}s",
    )


def report_table(report: dict[str, Any]) -> str:
    return "\n".join(
        f"{key:<25} {json.dumps(value) if isinstance(value, dict) else value}"
        for key, value in report.items()
        if value is not None
    )
