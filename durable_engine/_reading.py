"""Reading executions for the engine's public calls, shown as a user sees them.

A stored record holds serialized bytes; what `get_execution`, `list_executions`,
`wait_for` and `handle.result()` return is decoded here with the function's own
codec. An ending a run here has just committed is used as it is, rather than read
back from the database.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from ._converter import ValueConverter
from ._errors import DatabaseCorrupt, ExecutionNotFound, RunNotKept
from ._executor import Executor
from ._history_file import history_to_json
from ._models import (
    Checkpoint,
    ExecutionInfo,
    ExecutionRecord,
    ExecutionStatus,
    timestamp_to_datetime,
)
from ._store import FinishExecution, Store
from ._views import OperationInfo, build_operation_tree

__all__ = ["ExecutionReader"]


class ExecutionReader:
    """The engine's reads of executions: records, their operations, their endings."""

    def __init__(self, executor: Executor, require_open: Callable[[], None]) -> None:
        self.executor = executor
        self.registry = executor.registry
        self.values = executor.values
        self._require_open = require_open

    @property
    def store(self) -> Store:
        return self.executor.store

    async def record(self, execution_id: str) -> ExecutionRecord:
        """The execution's stored record; ExecutionNotFound if there is none."""
        self._require_open()
        record = await self.store.get_execution(execution_id)
        if record is None:
            raise ExecutionNotFound(f"no execution with id {execution_id!r}")
        return record

    async def find(
        self,
        status: ExecutionStatus | None,
        function: str | None,
        name: str | None,
        limit: int | None,
        *,
        newest_first: bool = False,
        version: int | None = None,
        unfinished: bool = False,
    ) -> list[ExecutionInfo]:
        """Executions, oldest first (newest first if `newest_first`), as users see them."""
        self._require_open()
        records = await self.store.list_executions(
            status=status,
            function=function,
            name=name,
            limit=limit,
            newest_first=newest_first,
            version=version,
            unfinished=unfinished,
        )
        return [self.info(r) for r in records]

    async def history_file(self, execution_id: str) -> dict[str, Any]:
        """The execution and its operations as a history file's JSON document."""
        record = await self.record(execution_id)
        return history_to_json(record, await self.store.load_operations(execution_id))

    async def operations(
        self, execution_id: str, run_number: int | None = None
    ) -> list[OperationInfo]:
        """The execution's operations as a tree: of its current run, or of the earlier
        run `run_number` if that run's were kept (RunNotKept if not)."""
        record = await self.record(execution_id)
        if run_number is None or run_number == record.run_number:
            checkpoints = await self.store.load_operations(execution_id)
            attempts = await self.store.load_attempts(execution_id)
            return build_operation_tree(checkpoints, self.values_of(record), attempts)
        kept: list[Checkpoint] = []
        if 1 <= run_number < record.run_number:
            kept = await self.store.load_kept_operations(execution_id, run_number)
        if not kept:
            runs = await self.store.kept_runs(execution_id)
            shown = ", ".join(map(str, runs)) if runs else "none"
            raise RunNotKept(
                f"execution {execution_id} has no operations kept of run {run_number} (it "
                f"is on run {record.run_number}; earlier runs kept: {shown}); a run keeps "
                "its operations only if it continued with keep_history=True"
            )
        return build_operation_tree(kept, self.values_of(record), ())

    def ended(
        self, execution_id: str
    ) -> Coroutine[Any, Any, tuple[ExecutionRecord, FinishExecution | None]]:
        """The execution's record once it has ended, with the ending a run here committed
        (see `Executor.wait_ended`). The executor's own coroutine, with none around it:
        every caller of `handle.result()` holds one while it waits."""
        self._require_open()
        return self.executor.wait_ended(execution_id, self)

    def outcome(self, record: ExecutionRecord, ending: FinishExecution | None) -> Any:
        """An ended execution's result; raises its error."""
        end = record if ending is None else ending
        if end.status is ExecutionStatus.SUCCEEDED:
            codec = self.registry.codec_of(record.function, record.version)
            value = self.values.view_for(record.execution_id, end.result, codec, "result")
            if isinstance(value, DatabaseCorrupt):
                raise value
            return value
        raise self.info(record, ending).error

    def values_of(self, record: ExecutionRecord) -> ValueConverter:
        """The value path of `record`'s execution: its function's codec."""
        return self.values.bind(
            record.execution_id, self.registry.codec_of(record.function, record.version)
        )

    def info(self, record: ExecutionRecord, ending: FinishExecution | None = None) -> ExecutionInfo:
        """What a user sees of `record`; of how it ended, if `ending` (just committed
        here) says so."""
        values = self.values_of(record)
        end = record if ending is None else ending
        return ExecutionInfo(
            execution_id=record.execution_id,
            name=record.name,
            function=record.function,
            status=end.status,
            input=values.view(record.input, what="input"),
            result=values.view(end.result, what="result"),
            error=None if end.error is None else values.decode_error(end.error),
            created_at=timestamp_to_datetime(record.created_at),
            ended_at=timestamp_to_datetime(end.ended_at),
            parent_id=record.parent_id,
            version=record.version,
            custom_status=values.view(record.custom_status, what="custom status"),
            rerun_of=record.rerun_of,
            run_number=record.run_number,
        )
