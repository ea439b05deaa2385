"""invoke: run another durable function as a child execution and wait for its end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from ..config import Duration, to_seconds
from ..errors import ErrorInfo, FunctionNotRegistered, error_from_info, error_info
from ..execution import ExecutionRun
from ..journal import Completed, Execute, Mismatch, Resume
from ..models import ExecutionStatus, OperationStatus, OperationType
from ..store import NewExecution
from ..views import decode_error

__all__ = ["InvokeConfig", "child_execution_id", "run_invoke"]


@dataclass(frozen=True, slots=True, kw_only=True)
class InvokeConfig:
    """`timeout`: how long the parent waits before the invoke fails (the child runs on)."""

    timeout: Duration | None = None


def child_execution_id(parent_id: str, op_id: str) -> str:
    """The invoked execution's id: a function of the parent and the operation, so a replay
    finds the same child instead of starting another."""
    return f"{parent_id}.{op_id.replace('/', '.')}"


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
    op_name = name or function_name
    started_at = run.now()

    def record(status: OperationStatus, **fields: Any) -> Any:
        return run.put(
            op_id, parent_id, OperationType.INVOKE, op_name, status, started_at=started_at, **fields
        )

    async def fail(info: ErrorInfo, ref: str | None = None) -> NoReturn:
        await run.checkpoint(
            record(
                OperationStatus.FAILED, error=run.encode_error(info), ended_at=run.now(), ref=ref
            )
        )
        raise error_from_info(info) from None

    match run.journal.resolve(op_id, OperationType.INVOKE, op_name):
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed(cp):
            return run.outcome(cp, None)
        case Resume(cp):
            child_id, deadline = cp.ref or "", cp.wake_at
            started_at = cp.started_at or started_at
        case Execute():
            assert run.host is not None
            try:
                codec = run.host.codec_for(function_name)
            except FunctionNotRegistered as exc:
                await fail(error_info(exc))
            data = run.serialize(payload, codec, op_id, f"payload of {function_name}")
            child_id = child_execution_id(run.execution_id, op_id)
            deadline = None if cfg.timeout is None else started_at + to_seconds(cfg.timeout)
            await run.checkpoint(record(OperationStatus.STARTED, wake_at=deadline, ref=child_id))
            await run.store.create_execution(
                NewExecution(
                    execution_id=child_id,
                    name=None,
                    function=function_name,
                    input=data,
                    created_at=started_at,
                    owner=None,
                    parent_id=run.execution_id,
                )
            )
            run.host.poke()
    while True:
        run.begin_work()
        try:
            child = await run.store.get_execution(child_id)
        finally:
            run.end_work()
        if child is not None and child.status.is_terminal:
            if child.status is ExecutionStatus.SUCCEEDED:
                await run.checkpoint(
                    record(
                        OperationStatus.SUCCEEDED,
                        result=child.result,
                        ended_at=run.now(),
                        ref=child_id,
                    )
                )
                return run.deserialize(child.result, None, op_id)
            cause = None if child.error is None else decode_error(child.error, run.error_serdes)
            info = ErrorInfo(
                kind="InvokeError",
                error_type=getattr(cause, "error_type", type(cause).__name__ if cause else "Error"),
                message=f"{function_name} ended {child.status.value}: {cause}",
                stack_trace=getattr(cause, "stack_trace", ""),
                data={"execution_id": child_id, "status": child.status.value},
            )
            await fail(info, child_id)
        if deadline is not None and run.now() >= deadline:
            info = ErrorInfo(
                kind="InvokeError",
                error_type="InvokeTimeout",
                message=f"{function_name} did not end within the invoke's timeout",
                data={"execution_id": child_id},
            )
            await fail(info, child_id)
        run.watch_external(op_id)
        try:
            await run.block(op_id, deadline)
        finally:
            run.unwatch_external(op_id)
