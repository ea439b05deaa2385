"""The persistence boundary: the `Store` Protocol and the writes it accepts.

The store sees ids, enums, timestamps and bytes, never a user's values:
serialization happens before a value reaches it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Protocol

from .._models import Checkpoint, ExecutionRecord, ExecutionStatus

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
    "Store",
    "SuspendExecution",
    "WorkerInfo",
    "operation_of",
]


class LeaseLost(BaseException):
    """A write was refused: the execution's epoch changed or it already ended.

    A BaseException, like cancellation: it unwinds the run that made the write, and
    workflow code's `except Exception` does not swallow it."""


@dataclass(frozen=True, slots=True)
class Fence:
    """The lease a write was made under; the store refuses it if the epoch moved on."""

    execution_id: str
    epoch: int
    json_member: str = field(init=False, repr=False, compare=False)
    """`"<execution_id>":<epoch>`, a member of a JSON object: a run's writes share one
    fence, so a batch's fences are checked with no encoding per write."""

    def __post_init__(self) -> None:
        member = f"{encode_basestring_ascii(self.execution_id)}:{int(self.epoch)}"
        object.__setattr__(self, "json_member", member)


@dataclass(slots=True, kw_only=True)
class NewExecution:
    """An execution to create (read-only by convention, not frozen: see ExecutionRecord)."""

    execution_id: str
    name: str | None
    function: str
    input: bytes | None
    created_at: float
    owner: str | None
    """The worker that runs it at once, or None to leave it for any worker."""
    parent_id: str | None = None
    timeout_at: float | None = None


@dataclass(slots=True, kw_only=True)
class FinishExecution:
    """End the execution with a terminal status and release it (read-only by convention,
    not frozen: see ExecutionRecord)."""

    status: ExecutionStatus
    result: bytes | None
    error: bytes | None
    ended_at: float
    open_ops: tuple[str, ...] = ()
    """Operations left STARTED or PENDING (a callback never waited for): they end as
    CANCELLED, and their pending callbacks with them."""


@dataclass(frozen=True, slots=True)
class SuspendExecution:
    """Release the execution until `wake_at` (None: until something wakes it)."""

    wake_at: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PutCallback:
    """Create a pending callback of this execution, with the operation that waits on it
    (written in the same transaction)."""

    callback_id: str
    operation: Checkpoint
    created_at: float
    timeout_at: float | None
    heartbeat_timeout: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOperations:
    """Write `operation` and `records`, and end each of `open_ops` still STARTED or
    PENDING as CANCELLED, with its pending callback: a decided batch's outcome, the
    records of the branches it cancelled, and what was left open inside them."""

    operation: Checkpoint
    records: tuple[Checkpoint, ...]
    open_ops: tuple[str, ...]
    ended_at: float


Mutation = Checkpoint | FinishExecution | SuspendExecution | PutCallback | CancelOperations
"""A write a checkpoint commit carries; a `Checkpoint` inserts or replaces its operation."""


def operation_of(mutation: Mutation) -> Checkpoint | None:
    """The operation row a mutation writes, if it writes one."""
    if isinstance(mutation, Checkpoint):
        return mutation
    if isinstance(mutation, PutCallback | CancelOperations):
        return mutation.operation
    return None


class CallbackStatus:
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRecord:
    callback_id: str
    execution_id: str
    op_id: str
    status: str
    result: bytes | None
    error: bytes | None
    created_at: float
    resolved_at: float | None
    timeout_at: float | None
    heartbeat_timeout: float | None
    heartbeat_at: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerInfo:
    worker_id: str
    host: str
    pid: int
    started_at: float


class Store(Protocol):
    """Everything the engine reads from and writes to its database."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create_execution(self, new: NewExecution) -> tuple[ExecutionRecord, bool]:
        """Insert `new`, or return the execution that already has its name (created=False)."""
        ...

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None: ...

    async def list_executions(
        self,
        *,
        status: ExecutionStatus | None = None,
        function: str | None = None,
        parent_id: str | None = None,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[ExecutionRecord]: ...

    async def load_operations(self, execution_id: str) -> list[Checkpoint]:
        """Every checkpoint of an execution, in one query."""
        ...

    def commit(self, fence: Fence, mutation: Mutation) -> Awaitable[None]:
        """Queue `mutation`, applied if the fence holds; awaiting the result waits for
        the commit, or raises `LeaseLost`. (Not a coroutine: the write is queued when
        this is called, and no coroutine is made for every checkpoint.)"""
        ...

    async def register_worker(self, worker: WorkerInfo, expires_at: float) -> None: ...

    async def renew_worker(self, worker_id: str, expires_at: float) -> bool:
        """Extend a worker's lease; False if it was given up meanwhile."""
        ...

    async def remove_worker(self, worker_id: str, release_wake_at: float) -> None:
        """Drop a worker and release what it owns, due at `release_wake_at`."""
        ...

    async def reap_workers(self, worker_ids: Sequence[str]) -> None:
        """Forget workers known to be dead, so their executions can be taken over."""
        ...

    async def list_workers(self) -> list[tuple[WorkerInfo, float]]: ...

    async def claim(
        self, worker_id: str, functions: Sequence[str], now: float, limit: int, *, lease_now: float
    ) -> list[ExecutionRecord]:
        """Take up to `limit` executions due by `now` or whose owner's lease expired by
        `lease_now` (real wall-clock time, while `now` may be virtual)."""
        ...

    async def next_wake_at(self, functions: Sequence[str]) -> float | None:
        """The earliest instant an unowned execution of `functions` is due."""
        ...

    async def stop_execution(self, execution_id: str, now: float, error: bytes) -> str | None:
        """Stop an unfinished execution for good (new epoch, callbacks cancelled); returns
        the status of an execution that had already ended, changing nothing."""
        ...

    async def time_out_execution(self, fence: Fence, now: float, error: bytes) -> None:
        """End the execution as TIMED_OUT (callbacks and timers cancelled) if `fence` still
        holds it, else raise `LeaseLost`."""
        ...

    async def check(self) -> dict[str, object]:
        """Integrity and schema version of the database."""
        ...

    async def resolve_callback(
        self, callback_id: str, status: str, result: bytes | None, error: bytes | None, now: float
    ) -> tuple[str, str]:
        """Resolve a pending callback once; returns its (execution_id, op_id).

        Raises CallbackNotFound, CallbackAlreadyResolved or CallbackNotPending, changing
        nothing, when the id is unknown, already resolved, timed out, or its execution ended.
        """
        ...

    async def heartbeat_callback(self, callback_id: str, now: float) -> tuple[str, str]:
        """Push a pending callback's heartbeat deadline; same errors as resolve_callback."""
        ...

    async def callback_function(self, callback_id: str) -> str | None:
        """The function of the execution a callback belongs to (None for an unknown id)."""
        ...

    async def time_out_callback(
        self, fence: Fence, callback_id: str, op_id: str, now: float, error: bytes
    ) -> Checkpoint:
        """Mark the callback timed out if it is still pending and due; returns its operation."""
        ...

    async def load_operation(self, execution_id: str, op_id: str) -> Checkpoint | None: ...

    async def data_version(self) -> int:
        """A number that changes whenever another process commits to the database."""
        ...
