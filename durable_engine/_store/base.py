"""The persistence boundary: the `Store` Protocol and the writes it accepts.

The store sees ids, enums, timestamps and bytes, never a user's values:
serialization happens before a value reaches it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import NamedTuple, Protocol

from .._errors import StoreError
from .._models import Checkpoint, ExecutionRecord, ExecutionStatus

__all__ = [
    "BlockExecution",
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


class NewExecution(NamedTuple):
    """An execution to create (a named tuple, like ExecutionRecord: one per execution)."""

    execution_id: str
    name: str | None
    function: str
    input: bytes | None
    created_at: float
    owner: str | None
    """The worker that runs it at once, or None to leave it for any worker."""
    parent_id: str | None = None
    timeout_at: float | None = None
    version: int = 1
    """The version of `function` it runs on."""


class FinishExecution(NamedTuple):
    """End the execution with a terminal status and release it (a named tuple, like
    ExecutionRecord: one per execution)."""

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


@dataclass(frozen=True, slots=True)
class BlockExecution:
    """Hold the execution, unowned, with `error` (its divergence) recorded: BLOCKED,
    due at its timeout if it has one (so the timeout still applies), else not due."""

    error: bytes


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


Mutation = (
    Checkpoint
    | FinishExecution
    | SuspendExecution
    | BlockExecution
    | PutCallback
    | CancelOperations
)
"""A write a checkpoint commit carries; a `Checkpoint` inserts or replaces its operation."""


def operation_of(mutation: Mutation) -> Checkpoint | None:
    """The operation row a mutation writes, if it writes one."""
    if isinstance(mutation, Checkpoint):
        return mutation
    if isinstance(mutation, PutCallback | CancelOperations):
        return mutation.operation
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerInfo:
    worker_id: str
    host: str
    pid: int
    started_at: float


class Store(Protocol):
    """Everything the engine reads from and writes to its database.

    **Atomicity.** Every write below is applied all or nothing: in one transaction,
    which it may share with other writes queued at the same time (group commit), but
    a write that fails is undone alone and the others still commit. When its awaitable
    completes the write is durable (to the store's `synchronous` setting).

    **Fencing.** A fenced write names the lease it was made under (`Fence`: an
    execution and the epoch its claim gave it). It is refused with `LeaseLost`, and
    writes nothing, unless that execution exists, is not ended (SUCCEEDED, FAILED,
    TIMED_OUT, STOPPED) and is still at that epoch. The epoch moves on when a worker
    claims or takes over the execution, and when it is stopped or timed out, so a
    worker that lost its lease cannot write stale results. Unfenced writes come from
    outside any run (the command line, another process, the scheduler) and say so.

    Reads see one committed snapshot each; they do not wait for writes still queued.
    Errors of the database itself are `StoreError` (`DatabaseCorrupt` for a damaged file).

    **Transient failures.** A write that fails for a reason that may pass by itself
    (`DatabaseLocked`: another process held the lock past the busy timeout; `DiskFull`;
    `StoreIOError`) is undone and tried again, with growing pauses, by the store itself.
    A `commit` waits for as long as that takes (until `close`): an execution's outcome
    is never replaced by a store error. Every other write waits at most the store's busy
    timeout from when it was queued, then raises that error. `write_failure` says what
    is failing meanwhile.
    """

    async def open(self) -> None:
        """Open the database, creating it and bringing its schema up to date if needed.

        Raises StoreError, having written nothing, for a database this code must not
        use: another application's, a newer schema version's, a damaged or unreadable
        file. A store may be opened again after `close`."""
        ...

    async def close(self) -> None:
        """Commit the writes already queued, then release the database. A write queued
        afterwards raises StoreError ("the store is not open")."""
        ...

    async def create_execution(self, new: NewExecution) -> tuple[ExecutionRecord, bool]:
        """Insert `new`; returns `(record, True)`.

        With `new.owner` set the execution is RUNNING, owned by that worker at epoch 1
        and not due; with no owner it is RUNNING at epoch 0, unowned and due at
        `created_at`, for any worker to claim. If an execution already has `new`'s id
        or its name, returns that one as stored, `(existing, False)`, and changes
        nothing (deduplication: the caller compares function and input). One
        transaction; unfenced."""
        ...

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """The execution with this id, or None. A read."""
        ...

    async def list_executions(
        self,
        *,
        status: ExecutionStatus | None = None,
        function: str | None = None,
        parent_id: str | None = None,
        name: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        version: int | None = None,
        unfinished: bool = False,
    ) -> list[ExecutionRecord]:
        """The executions matching every filter given (None: any; `version`: of their
        function; `unfinished`: not ended), oldest first (by `created_at`, then id), at
        most `limit` of them. A read.

        With `newest_first`, the same order reversed (by `created_at`, then id, both
        descending), and `limit` keeps the newest: the order is applied before the
        limit, so `limit=N, newest_first=True` gives the N newest, newest first."""
        ...

    async def load_operations(self, execution_id: str) -> list[Checkpoint]:
        """Every checkpoint of an execution (none for an unknown id), in no particular
        order, read in one query from one snapshot: what a replay starts from."""
        ...

    async def load_operation(self, execution_id: str, op_id: str) -> Checkpoint | None:
        """One checkpoint, or None if the execution has no operation `op_id`. A read."""
        ...

    def commit(self, fence: Fence, mutation: Mutation) -> Awaitable[None]:
        """Queue `mutation` for the execution `fence` names; the awaitable completes
        once it is committed, or raises `LeaseLost` (fenced: nothing written) or
        StoreError. Not a coroutine: the write is queued when this is called, and no
        coroutine is made for every checkpoint. One execution's writes land in the
        order they were queued: once one fails, every later one queued before the
        failure was known fails too. Each mutation is all or nothing:

        - `Checkpoint`: inserts the operation row, or replaces it.
        - `FinishExecution`: the terminal status, result, error and `ended_at`; no owner,
          no wake-up (the epoch stays). Each of `open_ops` still STARTED or PENDING
          becomes CANCELLED, with its pending callback. A parent execution (it invoked
          this one) that has not ended is due at `ended_at` at the latest. Later
          writes are refused.
        - `SuspendExecution`: SUSPENDED and unowned (the epoch stays until the next
          claim), due at the earliest of `wake_at`, a wake-up recorded meanwhile (a
          callback resolved) and the execution's `timeout_at`, whichever are set; with
          none set it waits for something to wake it.
        - `BlockExecution`: BLOCKED and unowned with the divergence as its error, due
          at its `timeout_at` (None: not due); its operations stay as they are.
        - `PutCallback`: the operation row and a PENDING callback row together.
        - `CancelOperations`: the operation and `records` rows, and each of `open_ops`
          still STARTED or PENDING becomes CANCELLED, with its pending callback (an
          operation resolved meanwhile keeps its outcome).
        """
        ...

    async def register_worker(self, worker: WorkerInfo, expires_at: float) -> None:
        """Insert the worker's heartbeat row, or replace it, with its lease until
        `expires_at`. One transaction; unfenced."""
        ...

    async def renew_worker(self, worker_id: str, expires_at: float) -> bool:
        """Extend the worker's lease to `expires_at`. False, changing nothing, if its
        row is gone (it was reaped, or a claim found its lease expired): its executions
        may have been taken over, and it must drop them. One transaction; unfenced."""
        ...

    async def remove_worker(self, worker_id: str, release_wake_at: float) -> None:
        """Delete the worker's row and release every execution it owns: SUSPENDED,
        unowned, due at `release_wake_at` or at its earlier wake-up. Epochs stay: the
        worker must have stopped writing for them. One transaction; unfenced."""
        ...

    async def reap_workers(self, worker_ids: Sequence[str]) -> None:
        """Delete these workers' rows (unknown ids are ignored): workers known to be
        dead, whose executions the next claim may take over. One transaction;
        unfenced."""
        ...

    async def list_workers(self) -> list[tuple[WorkerInfo, float]]:
        """Every worker row with its lease's expiry, expired or not. A read."""
        ...

    async def claim(
        self, worker_id: str, functions: Sequence[str], now: float, limit: int, *, lease_now: float
    ) -> list[ExecutionRecord]:
        """Take up to `limit` executions of `functions` (function keys, `name@version`:
        an execution runs only on the version it started on) for `worker_id`; returns them
        as now stored: RUNNING, owned by `worker_id`, not due, epoch one higher, with
        no error (a BLOCKED execution's divergence is cleared as it runs again).

        Deletes the rows of other workers whose lease expired by `lease_now` (wall-clock
        time, while `now` may be virtual), then takes executions that are unowned and
        due by `now`, and unended ones whose owner (another worker) has no row any
        more: a takeover, with `taken_from` naming that owner. Writes fenced with the
        old epoch are refused from then on. One transaction, so claimers racing for
        the same executions get disjoint sets."""
        ...

    async def next_wake_at(self, functions: Sequence[str]) -> float | None:
        """The earliest `wake_at` of an unowned execution of `functions` (function keys,
        as `claim` takes them), or None if none is waiting for an instant. A read."""
        ...

    async def retry_blocked(self, functions: Sequence[str], now: float) -> int:
        """Make every BLOCKED execution of `functions` (function keys, as `claim` takes
        them) due at `now` (new code may replay it cleanly); returns how many. One
        transaction; unfenced."""
        ...

    async def resume_execution(self, execution_id: str, now: float) -> ExecutionStatus:
        """Make the execution due at `now` if it is BLOCKED; returns its status as it
        was, changing nothing for any other status. Raises ExecutionNotFound for an
        unknown id. One transaction; unfenced."""
        ...

    async def stop_execution(self, execution_id: str, now: float, error: bytes) -> str | None:
        """Stop an unfinished execution for good; returns None.

        STOPPED with `error`, ended at `now`, unowned, not due, epoch one higher (so
        its owner's writes are refused from then on); its pending callbacks and its
        STARTED or PENDING operations become CANCELLED, and its parent, if any, is due
        at `now` at the latest. For an execution that had already ended returns that
        status, changing nothing; raises ExecutionNotFound for an unknown id. One
        transaction; unfenced (it comes from outside the run)."""
        ...

    async def time_out_execution(self, fence: Fence, now: float, error: bytes) -> None:
        """End the execution as TIMED_OUT, as `stop_execution` stops one (epoch one
        higher, callbacks and open operations cancelled, parent woken). Fenced: raises
        `LeaseLost`, writing nothing, if `fence` no longer holds. One transaction."""
        ...

    async def resolve_callback(
        self, callback_id: str, status: str, result: bytes | None, error: bytes | None, now: float
    ) -> tuple[str, str]:
        """Resolve a pending callback once (`status` SUCCEEDED or FAILED); returns its
        `(execution_id, op_id)`.

        Writes the callback row, its operation row (so a replay sees the outcome) and
        the execution's wake-up (due at `now` at the latest) together. Raises, changing
        nothing, CallbackNotFound for an unknown id, CallbackAlreadyResolved for one
        already resolved, CallbackNotPending for one timed out (by its status or its
        deadline passed by `now`), cancelled, or whose execution ended. One
        transaction; unfenced: it leaves the epoch alone, so the owner's writes go on."""
        ...

    async def heartbeat_callback(self, callback_id: str, now: float) -> tuple[str, str]:
        """Record a heartbeat at `now` for a pending callback: its operation's
        `wake_at` moves to the new deadline (the earlier of `timeout_at` and
        `now + heartbeat_timeout`), and a suspended unowned execution that was due at
        the old deadline follows. Returns `(execution_id, op_id)`; same errors as
        `resolve_callback`, changing nothing. One transaction; unfenced."""
        ...

    async def callback_function(self, callback_id: str) -> str | None:
        """The function of the execution a callback belongs to (None for an unknown
        id), whatever the callback's state. A read."""
        ...

    async def time_out_callback(
        self, fence: Fence, callback_id: str, op_id: str, now: float, error: bytes
    ) -> Checkpoint:
        """If the callback is still PENDING and its deadline has passed by `now`, mark
        it TIMED_OUT and its operation `op_id` TIMED_OUT with `error`; otherwise change
        nothing (it was resolved, or its deadline moved). Returns the operation as
        stored afterwards, whichever happened. Fenced: raises `LeaseLost`, writing
        nothing, if `fence` no longer holds. One transaction."""
        ...

    def write_failure(self) -> tuple[StoreError, float] | None:
        """While writes are failing transiently: the latest error (a `StoreError`
        subclass) and the Unix time of the first failure of the run of failures; None
        once a write succeeds again, and while none has failed. Not a coroutine: no I/O."""
        ...

    async def data_version(self) -> int:
        """A number that changes whenever another connection (another process, another
        store on the same database) commits, and not for this store's own writes:
        cheap enough to poll for changes made elsewhere. A read."""
        ...
