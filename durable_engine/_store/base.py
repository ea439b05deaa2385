"""The persistence boundary: the `Store` Protocol and the writes it accepts.

The store sees ids, enums, timestamps and bytes, never a user's values:
serialization happens before a value reaches it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import NamedTuple, Protocol

from .._errors import StoreError
from .._models import Checkpoint, ExecutionRecord, ExecutionStatus

__all__ = [
    "Attempt",
    "BlockExecution",
    "CancelOperations",
    "Change",
    "EndAttempt",
    "Fence",
    "FinishExecution",
    "LeaseLost",
    "Mutation",
    "NewExecution",
    "PutCallback",
    "ScheduleRecord",
    "SetCustomStatus",
    "Store",
    "SuspendExecution",
    "WorkerGone",
    "WorkerInfo",
    "operation_of",
]


class LeaseLost(BaseException):
    """A write was refused: the execution's epoch changed or it already ended.

    A BaseException, like cancellation: it unwinds the run that made the write, and
    workflow code's `except Exception` does not swallow it."""


class WorkerGone(Exception):
    """A claim was refused, taking nothing: the claiming worker's own row is gone
    (a claimer judged its lease lapsed, or it was reaped), so its executions may be
    another's by now. It must drop what it runs and rejoin before it claims again."""


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
    rerun_of: str | None = None
    """The execution it reruns (`engine.rerun`), kept as it is: the store does not check it."""
    trace_context: str | None = None
    """Opaque text kept with the execution (its OpenTelemetry trace context)."""


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


@dataclass(frozen=True, slots=True)
class SetCustomStatus:
    """Store the execution's custom status (`ctx.set_custom_status`), serialized."""

    value: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class EndAttempt:
    """Write `operation` (a step whose attempt `operation.attempt` just ended: PENDING
    before its retry, or its outcome after more than one attempt) and keep that attempt
    as an `Attempt`, with `operation.error`, in the same transaction."""

    operation: Checkpoint
    started_at: float | None
    """When the attempt began (None: not known, for an attempt cut off by a crash)."""
    ended_at: float


class Attempt(NamedTuple):
    """One ended attempt of a step that took more than one."""

    op_id: str
    attempt: int
    started_at: float | None
    ended_at: float | None
    error: bytes | None


Mutation = (
    Checkpoint
    | EndAttempt
    | FinishExecution
    | SuspendExecution
    | BlockExecution
    | PutCallback
    | CancelOperations
    | SetCustomStatus
)
"""A write a checkpoint commit carries; a `Checkpoint` inserts or replaces its operation."""


def operation_of(mutation: Mutation) -> Checkpoint | None:
    """The operation row a mutation writes, if it writes one."""
    if isinstance(mutation, Checkpoint):
        return mutation
    if isinstance(mutation, PutCallback | CancelOperations | EndAttempt):
        return mutation.operation
    return None


class ScheduleRecord(NamedTuple):
    """One schedule as stored: a cron expression in a time zone that starts executions
    of `function` with `input` (serialized bytes)."""

    name: str
    function: str
    """The function's registered name (any version: the firing worker's newest)."""
    cron: str
    timezone: str
    input: bytes | None
    catchup: str
    """"latest", "all" or "none": what happens to firings missed while nothing ran."""
    paused: bool
    next_fire_at: float
    """When it is next due (while paused: when it was due as it was paused)."""
    created_at: float
    fired_at: float | None = None
    """When a worker last fired it."""


class Change(NamedTuple):
    """Something another process committed that a worker may act on at once.

    `kind`: `new` (an execution was queued for any worker), `answer` (a callback or an
    event reached the executions in `ids`, or an execution they invoked ended), `stop`
    (`ids` were stopped), `end` (`ids` ended), `due` (an unowned execution is due at
    `at`, on this host's clock), `schedules` (schedules changed); and from the store
    itself, `listening` (changes are delivered again after none could be: look at the
    database afresh) and `lost` (none can be for now: poll)."""

    kind: str
    ids: tuple[str, ...] = ()
    at: float | None = None


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
        `created_at`, for any worker to claim. An owner with no worker row (given up
        after a pause past its lease) gets none: the execution is stored as with no
        owner, checked in the same transaction. If an execution already has `new`'s id
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

    async def load_attempts(self, execution_id: str) -> list[Attempt]:
        """Every attempt kept by `EndAttempt` commits of this execution (none for an
        unknown id), ordered by `op_id` then `attempt`. A read. A step that ended on its
        first attempt has none: its one attempt is its operation row."""
        ...

    async def set_trace_context(self, execution_id: str, trace_context: str) -> str | None:
        """Store `trace_context` with the execution if it has none yet; returns the one
        it holds afterwards (None for an unknown id). One transaction; unfenced."""
        ...

    async def count_waiting(self, now: float) -> tuple[int, int]:
        """`(due, suspended)`: how many executions are unowned and due by `now` (waiting
        for a worker to run them), and how many are SUSPENDED. A read."""
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
        - `EndAttempt`: the operation row, and the attempt kept (inserted, or replaced
          if the same attempt number was kept before) as `load_attempts` returns it:
          `op_id` and `attempt` of the operation, the mutation's `started_at` and
          `ended_at`, the operation's `error`.
        - `CancelOperations`: the operation and `records` rows, and each of `open_ops`
          still STARTED or PENDING becomes CANCELLED, with its pending callback (an
          operation resolved meanwhile keeps its outcome).
        - `SetCustomStatus`: the execution's `custom_status` becomes `value` (nothing
          else changes). Commits of one execution apply in the order they were queued,
          so a custom status queued before an ending is stored with it.
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
        self,
        worker_id: str,
        functions: Sequence[str],
        now: float,
        limit: int,
        *,
        lease_now: float,
        stale: Mapping[str, float] | None = None,
        expires_at: float | None = None,
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
        the same executions get disjoint sets.

        With `stale` (what a running worker passes), the claimer must hold its own row,
        else `WorkerGone` is raised and nothing changes; and a row whose lease expired
        is deleted only if `stale` names it with its current `expires_at`: workers the
        claimer has itself seen keep that same heartbeat for a full lease. An owner that
        renewed since keeps its row and its executions.

        With `expires_at` as well, the claim renews the claimer's own row to it, as a
        heartbeat would: a worker whose heartbeats failed for a while (the database was
        away) and whose claim now succeeds is alive, and what it takes is not taken
        from it again on the strength of its older heartbeat."""
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

    async def continue_as_new(
        self, fence: Fence, input: bytes | None, now: float, *, keep_history: bool
    ) -> ExecutionRecord:
        """End the execution's current run and start its next (`ctx.continue_as_new`);
        returns the execution as now stored.

        The execution stays RUNNING and owned by the same worker, with `run_number` one
        higher, `input` the new input, no result, error or wake-up, and the epoch one
        higher (the next run writes under the new one; a write still in flight from the
        run that ended is refused). Every operation of the run that ended and its kept
        attempts are deleted; with `keep_history` its operations are kept first, under
        the old run number, for `load_kept_operations` (those still STARTED or PENDING
        kept as CANCELLED, ended at `now`). Its pending callbacks become
        CANCELLED. Events it received are deleted; events no operation received yet
        stay, for the next run to receive. Custom status, timeout, name, parent and
        creation time stay. Fenced: raises `LeaseLost`, writing nothing, if `fence` no
        longer holds. One transaction."""
        ...

    async def load_kept_operations(self, execution_id: str, run_number: int) -> list[Checkpoint]:
        """The operations of run `run_number` of the execution, as they were when it
        continued as new with `keep_history` (none if that run's were not kept, or for
        an unknown id), in no particular order. A read."""
        ...

    async def kept_runs(self, execution_id: str) -> list[int]:
        """The run numbers whose operations `load_kept_operations` holds for the
        execution, in increasing order (none for an unknown id). A read."""
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

    async def find_purgeable(
        self,
        ended_before: float,
        *,
        statuses: Sequence[ExecutionStatus] | None = None,
        function: str | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """The ids of the executions `purge_executions` with the same filters would
        delete, oldest `ended_at` first (then by id), at most `limit` (None: all). A read.

        An execution is purgeable if it has ended (SUCCEEDED, FAILED, TIMED_OUT or
        STOPPED) with `ended_at < ended_before`, its status is one of `statuses` (None:
        any ended status; statuses that are not ended ones match nothing), its function
        is `function` (None: any), and it was not invoked by an execution that still
        exists and has not ended (that parent may yet read its outcome)."""
        ...

    async def purge_executions(
        self,
        ended_before: float,
        *,
        statuses: Sequence[ExecutionStatus] | None = None,
        function: str | None = None,
        limit: int,
    ) -> list[str]:
        """Delete up to `limit` purgeable executions (as `find_purgeable` picks them,
        oldest ending first) for good; returns their ids.

        Each goes whole: its row, its operations and their kept attempts, the operations kept of
        its earlier runs, its callbacks and the events sent to it (an answer sent later
        to one of its callback ids is CallbackNotFound). Executions it invoked lose the
        link (`parent_id` becomes None) and are otherwise untouched; its name is free
        for a new execution. One transaction, all or nothing; unfenced. Callers keep
        `limit` small (about 100) so that the write lock is held briefly, and call again
        until fewer than `limit` come back."""
        ...

    async def send_event(
        self, execution_id: str, name: str, payload: bytes | None, now: float
    ) -> str | None:
        """Send event `name` with `payload` to an execution; returns the id of the
        operation that received it, or None if it was kept for the next one to wait.

        The event gets the next sequence number (events of one execution and name are
        received in that order, each by one operation). If an EVENT operation of the
        execution named `name` is STARTED (waiting), the oldest kept event of that name
        goes to the waiter that started first (by `started_at`, then `op_id`): the
        event is marked received by it, the operation becomes SUCCEEDED with the
        payload as its result, `ended_at` `now`, no `wake_at`, and `ref` the event's
        sequence number as text; and the execution is due at `now` at the latest.
        Raises, changing nothing, ExecutionNotFound for an unknown id and
        ExecutionAlreadyEnded for an ended execution. One transaction; unfenced: it
        leaves the epoch alone."""
        ...

    async def receive_event(self, fence: Fence, operation: Checkpoint, now: float) -> Checkpoint:
        """Start waiting with `operation` (a STARTED EVENT operation whose `name` is the
        event's) or receive an event at once; returns the operation as stored after.

        If the operation is stored already with a terminal status, returns it and
        changes nothing. Else if an event of that name sent to the execution was kept
        (received by no operation), the oldest one is received: marked received by
        this operation, which is written SUCCEEDED with its payload as the result,
        `ended_at` `now`, no `wake_at` and `ref` the event's sequence number as text.
        Else the operation is written as given (if not stored yet), to be delivered by
        `send_event`. Fenced: raises `LeaseLost`, writing nothing, if `fence` no longer
        holds. One transaction."""
        ...

    async def time_out_event(
        self, fence: Fence, op_id: str, now: float, error: bytes
    ) -> Checkpoint | None:
        """If operation `op_id` is still STARTED, mark it TIMED_OUT with `error`, ended
        at `now` (an event sent later is kept for the next waiter); otherwise change
        nothing (an event came first). Returns the operation as stored after (None if
        there is none). Fenced: raises `LeaseLost`, writing nothing, if `fence` no
        longer holds. One transaction."""
        ...

    async def put_schedule(self, schedule: ScheduleRecord) -> ScheduleRecord:
        """Create the schedule, or bring the one of that name to `schedule`'s definition;
        returns it as stored.

        A schedule of that name whose function, cron, timezone, input and catchup all
        equal `schedule`'s is left as it is (its `next_fire_at`, `paused` and
        `fired_at` too: declaring it again at every start changes nothing). One whose
        definition differs takes the new definition and `next_fire_at`, and keeps
        `paused`, `created_at` and `fired_at`. A new one is inserted as given. One
        transaction; unfenced."""
        ...

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        """The schedule of that name, or None. A read."""
        ...

    async def list_schedules(self) -> list[ScheduleRecord]:
        """Every schedule, by name. A read."""
        ...

    async def set_schedule_paused(
        self, name: str, paused: bool, next_fire_at: float | None
    ) -> ScheduleRecord:
        """Pause the schedule (it is never due while paused) or resume it; with
        `next_fire_at` given, it is due then (else its `next_fire_at` stays). Returns it
        as stored. Raises ScheduleNotFound, changing nothing, for an unknown name. One
        transaction; unfenced."""
        ...

    async def delete_schedule(self, name: str) -> None:
        """Delete the schedule (executions it started stay). Raises ScheduleNotFound for
        an unknown name. One transaction; unfenced."""
        ...

    async def due_schedules(
        self, functions: Sequence[str], now: float | None
    ) -> list[ScheduleRecord]:
        """The schedules of `functions` (function names, not keys) that are not paused
        and are due by `now` (`next_fire_at <= now`; None: due at any time), earliest
        `next_fire_at` first, then by name. A read."""
        ...

    async def fire_schedule(
        self,
        name: str,
        expected: float,
        next_fire_at: float,
        executions: Sequence[NewExecution],
        now: float,
    ) -> list[tuple[ExecutionRecord, bool]] | None:
        """Fire a due schedule once: if it exists, is not paused and its `next_fire_at`
        is still `expected`, set `next_fire_at` to `next_fire_at` and `fired_at` to
        `now`, and create `executions` as `create_execution` does (an execution whose
        id or name exists already is found, not created again); returns what
        `create_execution` would return for each, in order. Otherwise (another worker
        fired it first, or it was paused, changed or deleted) returns None, changing
        nothing. One transaction, so workers racing to fire one schedule fire it once;
        unfenced."""
        ...

    def write_failure(self) -> tuple[StoreError, float] | None:
        """While writes are failing transiently: the latest error (a `StoreError`
        subclass) and the Unix time of the first failure of the run of failures; None
        once a write succeeds again, and while none has failed. Not a coroutine: no I/O."""
        ...

    def listen(self, on_change: Callable[[Change], None]) -> bool:
        """Call `on_change` on the event loop with each change other stores commit (not
        this store's own), from now until the store closes; returns whether it will
        (False: this store cannot, poll `data_version`). Changes may come twice, or when
        nothing changed; a `listening` change after a `lost` one means some were missed.
        Not a coroutine: the store listens in a task of its own."""
        ...

    async def data_version(self) -> int:
        """A number that changes whenever another connection (another process, another
        store on the same database) commits, and not for this store's own writes:
        cheap enough to poll for changes made elsewhere. A read."""
        ...
