"""Starting and stopping executions for the engine's callers.

A start stores the execution (or finds the one already started under its name) and,
unless it is left for any worker, runs it here at once. A caller cancelled while
the creation is queued does not stop it: if the creation commits, the execution is
this worker's and still runs here. A stop ends the execution in the database and
unwinds its run here, if there is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from serdes import SerDes

from ._dedupe import check_duplicate
from ._errors import (
    ErrorInfo,
    ExecutionAlreadyEnded,
    ExecutionNotFound,
    ExecutionNotRerunnable,
    StoreError,
)
from ._events import emit, finished
from ._executor import Executor
from ._ids import new_execution_id
from ._models import ExecutionRecord, ExecutionStatus
from ._registry import DurableFunction
from ._store import NewExecution, Store

__all__ = ["Starter"]

RERUNNABLE = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.STOPPED})
"""The endings an execution may be rerun from."""

_STOPPED = ErrorInfo(
    kind="ExecutionStopped", error_type="ExecutionStopped", message="stopped from outside"
)


class Starter:
    """Creates executions and stops them."""

    def __init__(self, executor: Executor, worker_id: str, poke: Callable[[], None]) -> None:
        self.executor = executor
        self.values = executor.values
        self.clock = executor.clock
        self.worker_id = worker_id
        self._poke = poke

    @property
    def store(self) -> Store:
        return self.executor.store

    async def start(
        self,
        function: DurableFunction[Any, Any],
        codec: SerDes,
        input: Any,
        name: str | None,
        timeout_seconds: float | None,
        run_here: bool,
    ) -> str:
        """Store an execution of `function` (or find the one started as `name`) and run
        it here if `run_here`; its id."""
        data = self.values.encode(input, codec, None, f"the input of {function.name!r}")
        now = self.clock.now()
        # Run here now only if there is room: else it is stored due, for the scheduler
        # to claim here (or any worker elsewhere) once a place is free.
        run_now = run_here and self.executor.reserve()
        execution_id = new_execution_id()
        telemetry = self.executor.telemetry
        new = NewExecution(
            execution_id=execution_id,
            name=name,
            function=function.name,
            version=function.version,
            input=data,
            created_at=now,
            owner=self.worker_id if run_now else None,
            timeout_at=None if timeout_seconds is None else now + timeout_seconds,
            trace_context=(
                None if telemetry is None else telemetry.new_trace(execution_id, function.name)
            ),
        )
        record, created = await self._create(new, run_now)
        if created:
            emit(
                self.executor.logger,
                "create",
                execution_id=record.execution_id,
                function=record.function,
                status="RUNNING",
                name=name,
            )
        if run_now and created and record.owner == self.worker_id:
            self.executor.launch(record, fresh=True, reserved=True)
            return record.execution_id
        if run_now:
            self.executor.unreserve()
        if not created:
            check_duplicate(record, function, input, codec)
        else:  # due for any worker (this one's row was gone: it rejoins, then claims)
            self._poke()
        return record.execution_id

    async def rerun(self, execution_id: str, runs_here: bool) -> str:
        """Store a new execution of the function version and input of `execution_id`,
        which ended FAILED, TIMED_OUT or STOPPED, linked to it by `rerun_of`; it runs
        here if `runs_here` (this engine serves that version) and there is room. Its id."""
        first = await self.store.get_execution(execution_id)
        if first is None:
            raise ExecutionNotFound(f"no execution with id {execution_id!r}")
        if first.status not in RERUNNABLE:
            raise ExecutionNotRerunnable(
                f"execution {execution_id} is {first.status}: only one that ended FAILED, "
                "TIMED_OUT or STOPPED can be rerun",
                first.status.value,
            )
        now = self.clock.now()
        run_now = runs_here and self.executor.reserve()
        timeout = None if first.timeout_at is None else first.timeout_at - first.created_at
        new = NewExecution(
            execution_id=new_execution_id(),
            name=None,
            function=first.function,
            version=first.version,
            input=first.input,
            created_at=now,
            owner=self.worker_id if run_now else None,
            timeout_at=None if timeout is None else now + timeout,
            rerun_of=first.execution_id,
        )
        record, _ = await self._create(new, run_now)
        emit(
            self.executor.logger,
            "create",
            execution_id=record.execution_id,
            function=record.function,
            status="RUNNING",
            rerun_of=execution_id,
        )
        if run_now and record.owner == self.worker_id:
            self.executor.launch(record, fresh=True, reserved=True)
        else:
            if run_now:
                self.executor.unreserve()
            self._poke()
        return record.execution_id

    async def _create(self, new: NewExecution, run_now: bool) -> tuple[ExecutionRecord, bool]:
        """Store `new`; `run_now`: a place was reserved for it here."""
        try:
            return await self.executor.store.create_execution(new)
        except asyncio.CancelledError:
            if run_now:  # the creation is queued and may commit: then it must run
                self.executor.tasks.spawn(self._adopt, new, name=f"adopt-{new.execution_id}")
            raise
        except BaseException:
            if run_now:
                self.executor.unreserve()
            raise

    async def _adopt(self, new: NewExecution) -> None:
        """Run an execution whose start was cancelled while it was being created, if the
        creation committed: it is this worker's, and no other worker would take it."""
        launched = False
        try:
            with contextlib.suppress(StoreError, RuntimeError):
                # The same creation again finds the row the first one made, if it made one.
                record, _ = await self.executor.store.create_execution(new)
                if (
                    self.executor.open
                    and record.execution_id == new.execution_id
                    and record.owner == self.worker_id
                    and not record.status.is_terminal
                    and not self.executor.is_running(record.execution_id)
                ):
                    self.executor.launch(record, fresh=True, reserved=True)
                    launched = True
        finally:
            if not launched:  # its place was reserved as it started
                self.executor.unreserve()

    async def resume(self, execution_id: str) -> None:
        """Make a BLOCKED execution due now, for any worker that runs its function."""
        status = await self.store.resume_execution(execution_id, self.clock.now())
        if status.is_terminal:
            raise ExecutionAlreadyEnded(f"execution {execution_id} already ended ({status})")
        if status is ExecutionStatus.BLOCKED:
            self._poke()

    async def stop(self, execution_id: str) -> None:
        """End the execution as STOPPED and unwind its run here, if there is one."""
        error = self.values.encode_error(_STOPPED)
        ended = await self.store.stop_execution(execution_id, self.clock.now(), error)
        if ended is not None:
            raise ExecutionAlreadyEnded(f"execution {execution_id} already ended ({ended})")
        if self.executor.logger.isEnabledFor(logging.INFO):  # no read for a log no one keeps
            record = await self.store.get_execution(execution_id)
            function = "" if record is None else record.function
            stopped = (_STOPPED.error_type, _STOPPED.message)
            finished(self.executor.logger, execution_id, function, "STOPPED", stopped)
        self.executor.cancel(execution_id)
        self.executor.wake_waiters(execution_id)
