"""Answers from outside: a callback's result, failure or heartbeat, or an event sent
by name, stored and delivered.

An answer is committed by the store (once: a second answer, an unknown id or an
ended execution is refused there), then the run waiting for it in this process is
woken; if none is, the scheduler looks for the execution it made due.
"""

from __future__ import annotations

from typing import Any

from ._errors import ErrorInfo, ExecutionNotFound
from ._executor import Executor
from ._store import Store

__all__ = ["Answers"]


class Answers:
    """Delivers the answers sent to callbacks of executions on one database."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.registry = executor.registry
        self.values = executor.values
        self.clock = executor.clock

    @property
    def store(self) -> Store:
        return self.executor.store

    async def succeed(self, callback_id: str, result: Any) -> None:
        """Resolve the callback with `result`, stored with its execution's codec."""
        function = await self.store.callback_function(callback_id)
        codec = None if function is None else self.registry.codec_of(function)
        data = self.values.encode(result, codec, None, "the callback result")
        await self._resolve(callback_id, "SUCCEEDED", data, None)

    async def fail(self, callback_id: str, error_type: str, message: str, data: Any) -> None:
        """Resolve the callback as failed; refused whole if `data` cannot be stored."""
        info = ErrorInfo(
            kind="CallbackFailedError",
            error_type=error_type or "CallbackFailedError",
            message=message,
            data=data,
        )
        error = self.values.encode_error_exactly(info, "the callback failure")
        await self._resolve(callback_id, "FAILED", None, error)

    async def heartbeat(self, callback_id: str) -> None:
        """Push the callback's heartbeat deadline; a run waiting here re-reads it."""
        execution_id, op_id = await self.store.heartbeat_callback(callback_id, self.clock.now())
        run = self.executor.live_run(execution_id)
        if run is not None:
            run.waits.wake(op_id)

    async def send_event(self, execution: str, name: str, payload: Any) -> None:
        """Send event `name` to the execution with this id (else this name): received by
        its waiting `wait_for_event`, or kept for the next one."""
        record = await self.store.get_execution(execution)
        if record is None:
            named = await self.store.list_executions(name=execution, limit=1)
            if not named:
                raise ExecutionNotFound(f"no execution with id or name {execution!r}")
            record = named[0]
        codec = self.registry.codec_of(record.function)
        data = self.values.encode(payload, codec, None, "the event payload")
        execution_id = record.execution_id
        op_id = await self.store.send_event(execution_id, name, data, self.clock.now())
        if op_id is None:
            return
        run = self.executor.live_run(execution_id)
        if run is None or not run.waits.wake(op_id):
            self.executor.poke()

    async def _resolve(
        self, callback_id: str, status: str, result: bytes | None, error: bytes | None
    ) -> None:
        execution_id, op_id = await self.store.resolve_callback(
            callback_id, status, result, error, self.clock.now()
        )
        run = self.executor.live_run(execution_id)
        if run is None or not run.waits.wake(op_id):
            self.executor.poke()
        telemetry = self.executor.telemetry
        if telemetry is not None:
            op = await self.store.load_operation(execution_id, op_id)
            if op is not None and op.started_at is not None and op.ended_at is not None:
                function = await self.store.callback_function(callback_id)
                telemetry.callback_answered(function, op.ended_at - op.started_at)
