"""invoke: run another durable function as a child execution and wait for its end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from serdes import SerDes

from .._config import Duration, to_seconds
from .._errors import (
    ErrorInfo,
    FunctionNotRegistered,
    PayloadTooLarge,
    SerDesError,
    error_from_info,
    error_info,
)
from .._journal import Completed, Execute, Mismatch, Resume
from .._models import Checkpoint, ExecutionRecord, ExecutionStatus, OperationStatus, OperationType
from .._run import ExecutionRun

__all__ = ["InvokeConfig", "child_execution_id", "run_invoke"]


@dataclass(frozen=True, slots=True, kw_only=True)
class InvokeConfig:
    """`timeout`: how long the parent waits before the invoke fails (the child runs on)."""

    timeout: Duration | None = None

    def __post_init__(self) -> None:
        if self.timeout is not None:
            to_seconds(self.timeout, what="timeout")


def child_execution_id(parent_id: str, op_id: str) -> str:
    """The invoked execution's id: a function of the parent and the operation, so a replay
    finds the same child instead of starting another."""
    return f"{parent_id}.{op_id.replace('/', '.')}"


class _Invoke:
    """One invoke operation: its records, and the wait for its child's end."""

    def __init__(
        self,
        run: ExecutionRun,
        op_id: str,
        parent_id: str | None,
        name: str,
        function_name: str,
    ) -> None:
        self.run = run
        self.op_id = op_id
        self.parent_id = parent_id
        self.name = name
        self.function_name = function_name
        self.started_at = run.now()
        self.codec: SerDes | None = None
        """The child's codec if its function is registered here (results are read with it)."""
        try:
            self.codec = run.codec_for(function_name)
        except FunctionNotRegistered:
            self.codec = None

    def record(self, status: OperationStatus, **fields: Any) -> Checkpoint:
        return self.run.put(
            self.op_id,
            self.parent_id,
            OperationType.INVOKE,
            self.name,
            status,
            started_at=self.started_at,
            **fields,
        )

    async def fail(self, info: ErrorInfo, ref: str | None = None) -> NoReturn:
        run = self.run
        error = run.values.encode_error(info)
        await run.checkpoint(
            self.record(OperationStatus.FAILED, error=error, ended_at=run.now(), ref=ref)
        )
        raise error_from_info(info) from None

    async def start(self, payload: Any, deadline: float | None) -> str:
        """Create the child, then record the operation as started; returns the child's id."""
        run = self.run
        try:
            if self.codec is None:
                run.codec_for(self.function_name)  # raises FunctionNotRegistered
            what = f"payload of {self.function_name}"
            data = run.values.encode(payload, self.codec, self.op_id, what)
        except (FunctionNotRegistered, SerDesError, PayloadTooLarge) as exc:
            await self.fail(error_info(exc))
        child_id = child_execution_id(run.execution_id, self.op_id)
        # The child first: if the process dies before the checkpoint below, a replay finds
        # the child by its id. The other order could leave the parent waiting for nothing.
        await run.start_child_execution(child_id, self.function_name, data, self.started_at)
        await run.checkpoint(self.record(OperationStatus.STARTED, wake_at=deadline, ref=child_id))
        return child_id

    async def wait(self, child_id: str, deadline: float | None) -> Any:
        """The child's result once it ends; InvokeError if it failed or the deadline passed."""
        run = self.run
        while True:
            child = await run.read_execution(child_id)
            if child is None:  # created before the operation was recorded: never so
                await self.fail(
                    ErrorInfo(
                        kind="InvokeError",
                        error_type="ExecutionNotFound",
                        message=f"the invoked execution {child_id} does not exist",
                    ),
                    child_id,
                )
            if child.status.is_terminal:
                return await self._ended(child)
            if deadline is not None and run.now() >= deadline:
                await self.fail(
                    ErrorInfo(
                        kind="InvokeError",
                        error_type="InvokeTimeout",
                        message=f"{self.function_name} did not end within the invoke's timeout",
                        data={"execution_id": child_id},
                    ),
                    child_id,
                )
            await run.block(self.op_id, deadline)

    async def _ended(self, child: ExecutionRecord) -> Any:
        run = self.run
        if child.status is ExecutionStatus.SUCCEEDED:
            await run.checkpoint(
                self.record(
                    OperationStatus.SUCCEEDED,
                    result=child.result,
                    ended_at=run.now(),
                    ref=child.execution_id,
                )
            )
            return run.values.stored_value(child.result, self.codec, self.op_id)
        cause = None if child.error is None else run.values.decode_error(child.error)
        info = ErrorInfo(
            kind="InvokeError",
            error_type=getattr(cause, "error_type", type(cause).__name__ if cause else "Error"),
            message=f"{self.function_name} ended {child.status.value}: {cause}",
            stack_trace=getattr(cause, "stack_trace", ""),
            data={"execution_id": child.execution_id, "status": child.status.value},
        )
        await self.fail(info, child.execution_id)


async def run_invoke(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    function_name: str,
    payload: Any,
    name: str | None,
    config: InvokeConfig | None,
) -> Any:
    cfg = config or InvokeConfig()
    call = _Invoke(run, op_id, parent_id, name or function_name, function_name)
    match run.resolve(op_id, OperationType.INVOKE, call.name):
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed(cp):
            return run.values.outcome(cp, call.codec)
        case Resume(cp):
            child_id, deadline = cp.ref or "", cp.wake_at
            call.started_at = cp.started_at or call.started_at
        case Execute():
            timeout = None if cfg.timeout is None else to_seconds(cfg.timeout, what="timeout")
            deadline = None if timeout is None else call.started_at + timeout
            child_id = await call.start(payload, deadline)
    # Watch before looking, so a child that ends in between still wakes this wait.
    run.waits.watch_external(op_id)
    try:
        waited = call.wait(child_id, deadline)
        if run.telemetry is not None:
            waited = run.telemetry.traced(
                waited, run.record, op_id, OperationType.INVOKE, call.name
            )
        return await waited
    finally:
        run.waits.unwatch_external(op_id)
