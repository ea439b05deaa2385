"""Parallel and map: branches as child contexts of one execution, with a recorded decision.

Branch i of batch operation `op` is the child context `op/i+1`, whatever order the
branches finish in. Branches start in index order, at most `max_concurrency` started
and not finished at once. When the batch is decided, branches not started never
start, running ones are cancelled and their later writes are refused; the decision
(why, and each branch's status) is the batch operation's checkpoint, so replay
reuses it. Results stay in the branches' own checkpoints.
"""

from __future__ import annotations

import asyncio
import re
from asyncio import CancelledError
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from serdes import SerDesContext, seal

from .._batch_config import (
    BatchItem,
    BatchItemStatus,
    BatchResult,
    CompletionConfig,
    CompletionReason,
    MapConfig,
    ParallelBranch,
    ParallelConfig,
    decide,
)
from .._errors import NonDeterministicError, PayloadTooLarge
from .._journal import Completed, Execute, Mismatch, Resume
from .._models import Checkpoint, OperationStatus, OperationType
from .._run import ExecutionRun, Suspend, cancelling
from .child import ContextFactory, run_child

__all__ = ["Branch", "decode_statuses", "encode_statuses", "run_batch", "run_map", "run_parallel"]

Branch = tuple[str | None, Callable[[Any], Awaitable[Any]]]
"""A branch's name and its function of a child context."""
MapFunction = Callable[[Any, int, int, Sequence[Any]], Awaitable[Any]]


async def run_parallel(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    make_context: ContextFactory,
    branches: Sequence[Callable[[Any], Awaitable[Any]] | ParallelBranch[Any]],
    name: str | None,
    config: ParallelConfig,
) -> BatchResult[Any]:
    """`ctx.parallel`: each branch in its own child context."""
    listed: list[Branch] = [
        (b.name, b.func) if isinstance(b, ParallelBranch) else (None, b) for b in branches
    ]
    return await run_batch(
        run,
        op_id,
        parent_id,
        make_context,
        OperationType.PARALLEL,
        name,
        listed,
        config.max_concurrency,
        config.completion_config,
    )


async def run_map(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    make_context: ContextFactory,
    items: Sequence[Any],
    fn: MapFunction,
    name: str | None,
    config: MapConfig,
) -> BatchResult[Any]:
    """`ctx.map`: `fn(child_ctx, item, index, items)` per item, or per batch of items."""
    items = list(items)
    units: list[Any] = items
    if config.item_batcher is not None:
        units = config.item_batcher.batches(items, lambda item: _size(run, op_id, item))
    namer = config.item_namer

    def bind(unit: Any, index: int) -> Branch:
        label = namer(unit, index) if namer is not None else None
        return (label, lambda child: fn(child, unit, index, items))

    return await run_batch(
        run,
        op_id,
        parent_id,
        make_context,
        OperationType.MAP,
        name,
        [bind(unit, index) for index, unit in enumerate(units)],
        config.max_concurrency,
        config.completion_config,
    )


def _size(run: ExecutionRun, op_id: str, item: Any) -> int:
    """An item's serialized size with the execution's codec."""
    try:
        return run.values.size(item, op_id, "a map item")
    except PayloadTooLarge as exc:
        return exc.size


async def run_batch(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    make_context: ContextFactory,
    op_type: OperationType,
    name: str | None,
    branches: Sequence[Branch],
    max_concurrency: int | None,
    completion: CompletionConfig,
) -> BatchResult[Any]:
    """Run `branches` as child contexts `op_id/1...`; the outcome once decided."""
    total = len(branches)
    completion.validate(total)
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    started = await _from_journal(run, op_id, parent_id, make_context, op_type, name, branches)
    if isinstance(started, BatchResult):  # decided on an earlier run: replayed
        return started
    fan = _Fanout(run, op_id, make_context, branches, max_concurrency or max(total, 1), completion)
    decided = fan.decide()
    if run.telemetry is not None:
        decided = run.telemetry.traced(decided, run.record, op_id, op_type, name)
    reason = await decided
    if run.fatal is not None:  # a branch diverged from the history: record no outcome
        raise NonDeterministicError(str(run.fatal))
    return await _record_decision(
        run, op_id, parent_id, op_type, name, branches, fan, reason, started
    )


async def _from_journal(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    make_context: ContextFactory,
    op_type: OperationType,
    name: str | None,
    branches: Sequence[Branch],
) -> BatchResult[Any] | float:
    """The replayed result of a decided batch, else when it started (recorded on a first start)."""
    total = len(branches)
    match run.resolve(op_id, op_type, name):
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed(cp):
            return await _replay(run, op_id, make_context, branches, run.values.outcome(cp, None))
        case Resume(cp):
            started_at = cp.started_at or run.now()
            if cp.result is not None:
                begun = run.values.stored_value(cp.result, None, op_id)
                _check_count(run, op_id, begun["branches"], total)
        case Execute():
            # An older version recorded no start: its branches may have begun already.
            started_at = run.journal.first_start_under(op_id) or run.now()
            begun = {"branches": total}
            await run.checkpoint(
                run.put(
                    op_id,
                    parent_id,
                    op_type,
                    name,
                    OperationStatus.STARTED,
                    result=run.values.encode(begun, None, op_id, "batch summary"),
                    started_at=started_at,
                )
            )
    return started_at


async def _record_decision(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    op_type: OperationType,
    name: str | None,
    branches: Sequence[Branch],
    fan: _Fanout,
    reason: CompletionReason,
    started_at: float,
) -> BatchResult[Any]:
    """The decided batch's items, recorded with its outcome and its cancelled branches."""
    recorded = run.journal.recorded_under(op_id)
    final = [
        item
        if item is not None
        else BatchItem(
            index,
            branches[index][0],
            BatchItemStatus.CANCELLED
            if fan.started[index] or _branch_id(op_id, index) in recorded
            else BatchItemStatus.NOT_STARTED,
        )
        for index, item in enumerate(fan.items)
    ]
    summary = {"reason": reason.value, "items": encode_statuses(i.status for i in final)}
    try:
        data = run.values.encode(summary, None, op_id, "batch summary")
    except PayloadTooLarge:  # one letter per branch at worst: never refuse a finished batch
        data = seal(run.values.codec.serialize(summary, SerDesContext(run.execution_id, op_id)))
    ended_at = run.now()
    outcome = run.put(
        op_id,
        parent_id,
        op_type,
        name,
        OperationStatus.SUCCEEDED,
        result=data,
        started_at=started_at,
        ended_at=ended_at,
    )
    cancelled = [i for i, item in enumerate(final) if item.status is BatchItemStatus.CANCELLED]
    await run.settle()  # the branches' deferred commits land before the decision
    if cancelled:
        # Their records say so, and what they left open (a timer, a callback someone
        # may still answer) ends with them, in the same transaction as the decision.
        records, open_ops = _cancelled(run, op_id, branches, cancelled, fan, ended_at)
        await run.cancel(outcome, records, open_ops, ended_at)
    else:
        await run.checkpoint(outcome)
    return BatchResult(final, reason)


def _cancelled(
    run: ExecutionRun,
    op_id: str,
    branches: Sequence[Branch],
    cancelled: list[int],
    fan: _Fanout,
    ended_at: float,
) -> tuple[list[Checkpoint], list[str]]:
    """The records of the cancelled branches, and the operations left open in them."""
    records = []
    for index in cancelled:
        branch = _branch_id(op_id, index)
        own = run.journal.get(branch)  # recorded STARTED as it began
        began = (
            (own.started_at if own is not None else None)
            or run.journal.first_start_under(branch)
            or fan.began.get(index, ended_at)
        )
        records.append(
            run.put(
                branch,
                op_id,
                OperationType.CONTEXT,
                branches[index][0],
                OperationStatus.CANCELLED,
                started_at=began,
                ended_at=ended_at,
            )
        )
    open_ops = [op for i in cancelled for op in run.journal.unfinished(_branch_id(op_id, i))]
    return records, open_ops


def _check_count(run: ExecutionRun, op_id: str, recorded: int, given: int) -> None:
    if recorded != given:
        raise run.diverged(
            f"batch operation {op_id} was recorded with {recorded} branches but the code "
            f"now gives it {given}; the workflow code changed in a way that breaks replay"
        )


def _branch_id(op_id: str, index: int) -> str:
    return f"{op_id}/{index + 1}"


class _Fanout:
    """The branches of one live batch, children of one asyncio task group (a third of
    the cost of an anyio group per branch, which a map of many items feels): started
    in index order, counted as they end.

    `decide` returns once the batch is decided, with the branches still running cancelled
    and their later writes refused, or raises the signal (suspension, a lost lease)
    that a branch raised. Between a branch's start and its first operation the run
    counts as working, so a chain of branches that replay at once never looks like a
    run whose branches are all blocked.
    """

    def __init__(
        self,
        run: ExecutionRun,
        op_id: str,
        make_context: ContextFactory,
        branches: Sequence[Branch],
        limit: int,
        completion: CompletionConfig,
    ) -> None:
        self.run = run
        self.op_id = op_id
        self.make_context = make_context
        self.branches = branches
        self.limit = limit
        self.completion = completion
        total = len(branches)
        self.items: list[BatchItem[Any] | None] = [None] * total
        self.started = [False] * total
        self.began: dict[int, float] = {}
        self.running: dict[int, asyncio.Task[None]] = {}
        self.next = 0
        self.succeeded = 0
        self.failed = 0
        self.reason = decide(completion, total, 0, 0)
        self.signal: BaseException | None = None
        self._group: asyncio.TaskGroup | None = None
        self._unstarted: set[int] = set()

    async def decide(self) -> CompletionReason:
        """Run branches until the batch is decided, and say why it was."""
        if self.reason is None:
            try:
                async with asyncio.TaskGroup() as group:
                    self._group = group
                    self._launch()
            finally:
                for _ in self._unstarted:  # cancelled before their first step
                    self.run.waits.end_work()
                self._unstarted.clear()
        if self.signal is not None:
            raise self.signal
        if self.reason is None:  # no branch left to start: the run is suspending
            raise Suspend()
        return self.reason

    def _launch(self) -> None:
        """Start branches while there is room and the batch is undecided."""
        assert self._group is not None
        while (
            self.reason is None
            and self.signal is None
            and self.next < len(self.branches)
            and len(self.running) < self.limit
            and not self.run.suspended
        ):
            index = self.next
            self.next += 1
            self.started[index] = True
            self.began[index] = self.run.now()
            self._unstarted.add(index)
            self.run.waits.begin_work()
            self.running[index] = self._group.create_task(self._branch(index))

    async def _branch(self, index: int) -> None:
        self._unstarted.discard(index)
        self.run.waits.end_work()
        label, fn = self.branches[index]
        try:
            branch_id = _branch_id(self.op_id, index)
            value = await run_child(
                self.run, branch_id, self.op_id, fn, label, self.make_context, span_kind="branch"
            )
        except (Exception, CancelledError) as exc:
            if cancelling(exc):
                raise
            self.items[index] = BatchItem(index, label, BatchItemStatus.FAILED, None, exc)
            self.failed += 1
        except BaseException as signal:  # the run unwinds: the batch stops undecided
            del self.running[index]
            if self.signal is None:
                self.signal = signal
                # Branches already started take their first step before they are
                # cancelled: a replay meets each one's divergence, if it has one.
                asyncio.get_running_loop().call_soon(self._stop)
            return
        else:
            self.items[index] = BatchItem(index, label, BatchItemStatus.SUCCEEDED, value)
            self.succeeded += 1
        del self.running[index]
        if self.reason is None:
            total = len(self.branches)
            self.reason = decide(self.completion, total, self.succeeded, self.failed)
        if self.reason is not None:
            for running in self.running:  # decided: their later writes are refused
                self.run.close_prefix(_branch_id(self.op_id, running))
            self._stop()
        else:
            self._launch()

    def _stop(self) -> None:
        """Cancel the branches still running."""
        for task in self.running.values():
            task.cancel()


async def _replay(
    run: ExecutionRun,
    op_id: str,
    make_context: ContextFactory,
    branches: Sequence[Branch],
    recorded: Any,
) -> BatchResult[Any]:
    """Rebuild the recorded result: counted branches replay from their checkpoints."""
    statuses = _recorded_statuses(recorded)
    _check_count(run, op_id, len(statuses), len(branches))
    final: list[BatchItem[Any]] = []
    for index, status in enumerate(statuses):
        label, fn = branches[index]
        if status is BatchItemStatus.SUCCEEDED:
            value = await run_child(run, _branch_id(op_id, index), op_id, fn, label, make_context)
            final.append(BatchItem(index, label, status, value))
        elif status is BatchItemStatus.FAILED:
            try:
                await run_child(run, _branch_id(op_id, index), op_id, fn, label, make_context)
            except Exception as exc:
                final.append(BatchItem(index, label, status, None, exc))
            else:  # pragma: no cover - a recorded failure replays as a failure
                raise RuntimeError(f"branch {index} of {op_id} replayed without its failure")
        else:
            final.append(BatchItem(index, label, status))
    return BatchResult(final, CompletionReason(recorded["reason"]))


_LETTER = {
    BatchItemStatus.SUCCEEDED: "S",
    BatchItemStatus.FAILED: "F",
    BatchItemStatus.CANCELLED: "C",
    BatchItemStatus.NOT_STARTED: "N",
}
_STATUS = {letter: status for status, letter in _LETTER.items()}
_RUN = re.compile(r"([SFCN])(\d*)")


def encode_statuses(statuses: Iterable[BatchItemStatus]) -> str:
    """Branch statuses as runs, `S998F1S` for 998 successes, a failure, a success."""
    out: list[str] = []
    previous: BatchItemStatus | None = None
    count = 0
    for status in statuses:
        if status is previous:
            count += 1
            continue
        if previous is not None:
            out.append(_LETTER[previous] + (str(count) if count > 1 else ""))
        previous, count = status, 1
    if previous is not None:
        out.append(_LETTER[previous] + (str(count) if count > 1 else ""))
    return "".join(out)


def decode_statuses(text: str) -> list[BatchItemStatus]:
    statuses: list[BatchItemStatus] = []
    position = 0
    while position < len(text):
        match = _RUN.match(text, position)
        if match is None:
            raise ValueError(f"unreadable batch summary {text!r}")
        statuses.extend([_STATUS[match[1]]] * int(match[2] or 1))
        position = match.end()
    return statuses


def _recorded_statuses(recorded: Any) -> list[BatchItemStatus]:
    if "items" in recorded:
        return decode_statuses(recorded["items"])
    return [BatchItemStatus(s) for s in recorded["statuses"]]  # the first summary format
