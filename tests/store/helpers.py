"""Rows to write in contract tests, and reading back what a store holds."""

from __future__ import annotations

from durable_engine import ExecutionStatus, OperationStatus, OperationType, Store
from durable_engine._models import Checkpoint, ExecutionRecord
from durable_engine._store import (
    Fence,
    FinishExecution,
    NewExecution,
    PutCallback,
    WorkerInfo,
)

FLOW = "flow"
NOW = 1_000_000.0
"""A fixed instant: the store takes every time from its caller."""


def new(
    execution_id: str,
    *,
    owner: str | None = "w1",
    name: str | None = None,
    function: str = FLOW,
    parent_id: str | None = None,
    timeout_at: float | None = None,
    created_at: float = NOW,
    input: bytes | None = b"in",
    version: int = 1,
) -> NewExecution:
    return NewExecution(
        execution_id=execution_id,
        name=name,
        function=function,
        version=version,
        input=input,
        created_at=created_at,
        owner=owner,
        parent_id=parent_id,
        timeout_at=timeout_at,
    )


def op(
    execution_id: str,
    op_id: str,
    status: OperationStatus,
    *,
    type: OperationType = OperationType.STEP,
    attempt: int = 1,
    result: bytes | None = None,
    error: bytes | None = None,
    started_at: float | None = None,
    ended_at: float | None = None,
    wake_at: float | None = None,
    ref: str | None = None,
) -> Checkpoint:
    return Checkpoint(
        execution_id=execution_id,
        op_id=op_id,
        parent_id=None,
        type=type,
        name=f"s{op_id}",
        status=status,
        attempt=attempt,
        result=result,
        error=error,
        started_at=started_at,
        ended_at=ended_at,
        wake_at=wake_at,
        ref=ref,
    )


async def register_w1(store: Store) -> None:
    """Register worker w1, the owner of the executions `new` makes: an execution
    created for an owner with no row is stored unowned."""
    await store.register_worker(worker("w1"), NOW + 10**6)


def worker(worker_id: str, pid: int = 1) -> WorkerInfo:
    return WorkerInfo(worker_id=worker_id, host="host", pid=pid, started_at=NOW)


def finish(
    status: ExecutionStatus = ExecutionStatus.SUCCEEDED,
    *,
    result: bytes | None = b"done",
    error: bytes | None = None,
    ended_at: float = NOW + 10,
    open_ops: tuple[str, ...] = (),
) -> FinishExecution:
    return FinishExecution(
        status=status, result=result, error=error, ended_at=ended_at, open_ops=open_ops
    )


def callback(
    execution_id: str,
    op_id: str,
    callback_id: str,
    *,
    created_at: float = NOW,
    timeout_at: float | None = None,
    heartbeat_timeout: float | None = None,
) -> PutCallback:
    """A pending callback and the CALLBACK operation (STARTED) that waits on it."""
    deadlines = [t for t in (timeout_at,) if t is not None]
    if heartbeat_timeout is not None:
        deadlines.append(created_at + heartbeat_timeout)
    waiting = op(
        execution_id,
        op_id,
        OperationStatus.STARTED,
        type=OperationType.CALLBACK,
        started_at=created_at,
        wake_at=min(deadlines, default=None),
        ref=callback_id,
    )
    return PutCallback(
        callback_id=callback_id,
        operation=waiting,
        created_at=created_at,
        timeout_at=timeout_at,
        heartbeat_timeout=heartbeat_timeout,
    )


async def execution(store: Store, execution_id: str) -> ExecutionRecord:
    """The stored execution, which must exist."""
    record = await store.get_execution(execution_id)
    assert record is not None, execution_id
    return record


async def operations(store: Store, execution_id: str) -> dict[str, Checkpoint]:
    """The execution's checkpoints by operation id."""
    return {cp.op_id: cp for cp in await store.load_operations(execution_id)}


async def running(
    store: Store,
    execution_id: str,
    *,
    parent_id: str | None = None,
    timeout_at: float | None = None,
    function: str = FLOW,
) -> Fence:
    """Create an execution owned by worker w1 (epoch 1); returns its fence."""
    created_as = new(execution_id, parent_id=parent_id, timeout_at=timeout_at, function=function)
    record, created = await store.create_execution(created_as)
    assert created and record.epoch == 1
    return Fence(execution_id, 1)
