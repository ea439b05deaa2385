"""One execution in memory: its lease, journal, codecs, and when it must suspend.

An execution suspends when every live branch is blocked (on a timer, a retry delay
or a callback): the blocked operations raise the private `Suspend` signal, which
unwinds the coroutine; nothing of it stays in memory and its wake-up time goes to
the database. Waits shorter than the in-memory threshold stay on a timer instead.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol

import serdes as _serdes
from serdes import SerDes, SerDesContext

from ._clock import Clock, TimerHandle
from ._errors import (
    ErrorInfo,
    NonDeterministicError,
    PayloadTooLarge,
    SerDesError,
    error_from_info,
    shortened,
)
from ._journal import Journal, Mismatch
from ._models import Checkpoint, ExecutionRecord, OperationStatus, OperationType
from ._store import CancelOperations, Fence, FinishExecution, Mutation, Store, operation_of

__all__ = ["ExecutionRun", "Limits", "RunHost", "Suspend", "cancelling"]

_SETTLE_TICKS = 3
_CANCELLED = OperationStatus.CANCELLED.value

# The serdes package's own codecs never read the context they are given, so a value
# they code needs none made for it. (Exact types: a subclass may read it.)
_CONTEXT_FREE = frozenset({_serdes.MsgpackSerDes, _serdes.JsonSerDes, _serdes.PassThroughSerDes})


def cancelling(exc: BaseException) -> bool:
    """Whether `exc` is the cancellation of the task running this code (the engine
    unwinding a run, a timeout around it), which must go on up. A CancelledError that
    user code raised while its own task is not being cancelled (it awaited a task that
    was) is an error like any other: it fails the operation, and a retry may follow."""
    if not isinstance(exc, asyncio.CancelledError):
        return False
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


class Suspend(BaseException):
    """Unwinds a blocked execution; user code's `except Exception` cannot swallow it."""


class RunHost(Protocol):
    """What a run may ask of the engine that runs it."""

    def codec_for(self, function: str) -> SerDes:
        """The codec of a registered function; FunctionNotRegistered if there is none."""
        ...

    def poke(self) -> None:
        """Look for due work now (an execution was created or woken)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    payload_limit: int = 256 * 1024
    in_memory_wait: float = 1.0
    """Waits due sooner than this (seconds) stay in memory instead of suspending."""


@dataclass(slots=True)
class _Blocked:
    wake_at: float | None
    future: asyncio.Future[None]
    timer: TimerHandle | None


class ExecutionRun:
    """The in-memory state of one execution while a worker holds its lease."""

    def __init__(
        self,
        *,
        record: ExecutionRecord,
        journal: Journal,
        store: Store,
        serdes: SerDes,
        error_serdes: SerDes,
        clock: Clock,
        limits: Limits,
        logger: logging.Logger,
        host: RunHost | None = None,
    ) -> None:
        self.record = record
        self.host = host
        self.execution_id = record.execution_id
        self.fence = Fence(record.execution_id, record.epoch)
        self.journal = journal
        self.store = store
        self.serdes = serdes
        self._exact_types: Collection[type[Any]] = getattr(serdes, "exact_types", ())
        self.error_serdes = error_serdes
        self.clock = clock
        self.now: Callable[[], float] = clock.now
        """The clock's time (seconds since the epoch)."""
        self.limits = limits
        self.logger = logger
        self.suspend_wake_at: float | None = None
        self.suspended = False
        self.woken_while_suspending = False
        """A wake-up came after the run began to suspend: look for due work once it has."""
        self.finished: FinishExecution | None = None
        """The ending this run committed, once it has."""
        self.fatal: NonDeterministicError | None = None
        """Set once replay diverged: the execution fails even if user code caught it."""
        self.ended = False
        """Set once this run is over (it finished, suspended or lost its lease)."""
        self.in_body: set[Awaitable[Any]] = set()
        """The step bodies being awaited: no operation may be called from inside one."""
        self._loop_thread = threading.get_ident()
        self._in_flight = 0
        self._blocked: dict[str, _Blocked] = {}
        self._closed: list[str] = []
        self._external: set[str] = set()
        self._woken: set[str] = set()
        self._generation = 0
        self._check_scheduled = False

    def inside_body(self) -> bool:
        """Whether the caller runs inside a step's body: a body coroutine is running
        (not merely suspended while other code runs), or this is a worker thread, where
        only a sync body runs."""
        if threading.get_ident() != self._loop_thread:
            return True
        return any(getattr(body, "cr_running", False) for body in self.in_body)

    # -- writes --------------------------------------------------------------

    def close_prefix(self, op_id: str) -> None:
        """Refuse every later write of operation `op_id` and of everything under it."""
        self._closed.append(op_id)

    def _is_closed(self, mutation: Mutation) -> bool:
        written = operation_of(mutation)
        if written is None:
            return False
        op = written.op_id
        return any(op == c or op.startswith(c + "/") for c in self._closed)

    async def checkpoint(self, mutation: Mutation) -> None:
        """Commit `mutation` under this run's lease. A refused write raises LeaseLost,
        which ends the run."""
        self._in_flight += 1
        try:
            await self.write(mutation)
        finally:
            self._in_flight -= 1
            if self._blocked:
                self._changed()

    def write(self, mutation: Mutation) -> Awaitable[None]:
        """Queue `mutation` under this run's lease; the awaitable is its commit.

        `checkpoint` without a coroutine around it, for a caller that counts as working
        (`begin_work`) until the write is done, so the run cannot suspend meanwhile: a
        step's body and its outcome are one piece of work."""
        if self._closed and self._is_closed(mutation):
            raise asyncio.CancelledError("the batch this operation belongs to was decided")
        if type(mutation) is Checkpoint:
            self.journal.record(mutation)
        else:
            self._record_other(mutation)
        return self.store.commit(self.fence, mutation)

    def _record_other(self, mutation: Mutation) -> None:
        written = operation_of(mutation)
        if written is not None:
            self.journal.record(written)
        if isinstance(mutation, CancelOperations):
            for record in mutation.records:
                self.journal.record(record)
            for op_id in mutation.open_ops:
                cp = self.journal.get(op_id)
                if cp is not None:
                    self.journal.record(cp._replace(status=_CANCELLED, ended_at=mutation.ended_at))

    def begin_work(self) -> None:
        """Mark real work (a step body) in progress, so the run does not suspend."""
        self._in_flight += 1

    def end_work(self) -> None:
        self._in_flight -= 1
        if self._blocked:
            self._changed()

    def put(
        self,
        op_id: str,
        parent_id: str | None,
        type_: OperationType,
        name: str | None,
        status: OperationStatus,
        **fields: Any,
    ) -> Checkpoint:
        """The mutation that records operation `op_id` of this execution."""
        return Checkpoint(
            self.execution_id, op_id, parent_id, str(type_), name, str(status), **fields
        )

    @contextmanager
    def working(self) -> Iterator[None]:
        """`begin_work` and `end_work` around a block."""
        self.begin_work()
        try:
            yield
        finally:
            self.end_work()

    # -- values --------------------------------------------------------------

    def serialize(
        self,
        value: Any,
        codec: SerDes | None,
        op_id: str | None,
        what: str,
        whose: str | None = None,
    ) -> bytes:
        """`value` as stored bytes; an error names it as `what` (followed by `whose`,
        joined only if there is an error to report)."""
        codec = codec or self.serdes
        ctx = None if type(codec) in _CONTEXT_FREE else SerDesContext(self.execution_id, op_id)
        try:
            data = codec.serialize(value, ctx)
        except _serdes.SerDesError as exc:
            raise SerDesError(f"{_label(what, whose)} cannot be serialized: {exc}") from exc
        if len(data) > self.limits.payload_limit:
            raise PayloadTooLarge(len(data), self.limits.payload_limit, _label(what, whose))
        return data

    def stored(self, value: Any, data: bytes, codec: SerDes | None, op_id: str | None) -> Any:
        """What `value`, just stored as `data`, returns: exactly what a replay reads back.

        A codec may name types whose values come back unchanged (`exact_types`); such a
        value is returned as it is, anything else is read back from `data`."""
        exact = self._exact_types if codec is None else getattr(codec, "exact_types", ())
        if type(value) in exact:
            return value
        codec = codec or self.serdes
        return self.deserialize(data, codec, op_id)

    def deserialize(self, data: bytes | None, codec: SerDes | None, op_id: str | None) -> Any:
        if data is None:
            return None
        codec = codec or self.serdes
        ctx = None if type(codec) in _CONTEXT_FREE else SerDesContext(self.execution_id, op_id)
        try:
            return codec.deserialize(data, ctx)
        except _serdes.SerDesError as exc:
            raise SerDesError(f"stored value of operation {op_id} cannot be read: {exc}") from exc

    def encode_error(self, info: ErrorInfo) -> bytes:
        """The stored form of an error: data that cannot be serialized is kept as its
        repr, and an error larger than the payload limit is shortened to fit, so that a
        failure is always recorded."""
        try:
            data = self.error_serdes.serialize(info.to_dict())
        except _serdes.SerDesError:
            info = replace(info, data=repr(info.data))
            data = self.error_serdes.serialize(info.to_dict())
        if len(data) > self.limits.payload_limit:
            data = self.error_serdes.serialize(shortened(info, self.limits.payload_limit).to_dict())
        return data

    def decode_error(self, data: bytes | None) -> Exception:
        if data is None:
            return error_from_info(ErrorInfo(kind="", error_type="Error", message="unknown error"))
        try:
            raw = self.error_serdes.deserialize(data)
            return error_from_info(ErrorInfo.from_dict(raw))
        except (_serdes.SerDesError, TypeError) as exc:
            return SerDesError(f"stored error cannot be read: {exc}")

    def outcome(self, cp: Checkpoint, codec: SerDes | None) -> Any:
        """The value a completed checkpoint returns, or raise its stored error."""
        if cp.error is not None and cp.result is None:
            raise self.decode_error(cp.error)
        return self.deserialize(cp.result, codec, cp.op_id)

    def diverged(self, what: str) -> NonDeterministicError:
        """The error for code that no longer matches the history (`what` says how); the
        first one is kept, so the execution fails even if user code catches it."""
        error = NonDeterministicError(f"execution {self.execution_id}: {what}")
        if self.fatal is None:
            self.fatal = error
        return error

    def nondeterminism(self, mismatch: Mismatch) -> NonDeterministicError:
        return self.diverged(mismatch.describe())

    def unasked(self, context_id: str | None = None) -> NonDeterministicError | None:
        """The error for code that ended context `context_id` (None: the execution)
        without asking for operations recorded in it before, or None."""
        described = self.journal.unasked(context_id)
        return None if described is None else self.diverged(described)

    # -- blocking and suspension -----------------------------------------------

    async def block(self, op_id: str, wake_at: float | None) -> None:
        """Wait until `wake_at` (or `wake(op_id)`); raises `Suspend` if the run suspends."""
        if wake_at is not None and wake_at <= self.clock.now():
            return
        if op_id in self._woken:  # woken between its last look and this wait
            self._woken.discard(op_id)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = None
        if wake_at is not None:
            timer = self.clock.call_at(wake_at, lambda: _resolve(future))
        self._blocked[op_id] = _Blocked(wake_at, future, timer)
        self._changed()
        try:
            await future
        finally:
            if timer is not None:
                timer.cancel()
            self._blocked.pop(op_id, None)
            self._changed()

    def wake(self, op_id: str) -> bool:
        """Wake a blocked operation (a callback was resolved in this process)."""
        if self.suspended:
            self.woken_while_suspending = True
            return True
        blocked = self._blocked.get(op_id)
        if blocked is not None:
            _resolve(blocked.future)
            return True
        if op_id in self._external:  # not blocked yet: its next `block` returns at once
            self._woken.add(op_id)
            return True
        return False

    def watch_external(self, op_id: str) -> None:
        """`op_id` waits on something outside this run: a callback, an invoked execution."""
        self._external.add(op_id)

    def unwatch_external(self, op_id: str) -> None:
        self._external.discard(op_id)
        self._woken.discard(op_id)

    def wake_external(self) -> None:
        """Something changed outside: operations waiting on it look at the database again."""
        if self.suspended:
            self.woken_while_suspending = True
        for op_id in list(self._external):
            self.wake(op_id)

    def wake_all(self) -> None:
        for blocked in list(self._blocked.values()):
            _resolve(blocked.future)

    def close(self) -> None:
        self.ended = True
        for blocked in self._blocked.values():
            if blocked.timer is not None:
                blocked.timer.cancel()

    def _changed(self) -> None:
        """Something that bears on suspension changed; while an operation is blocked,
        look again once the loop settles. (With nothing blocked there is nothing to
        look at: a later `block` counts as a change itself.)"""
        if not self._blocked:
            return
        self._generation += 1
        if not self._check_scheduled:
            self._check_scheduled = True
            asyncio.get_running_loop().call_soon(self._check, self._generation, 0)

    def _check(self, generation: int, ticks: int) -> None:
        if not self._blocked or self._in_flight or self.suspended:
            self._check_scheduled = False
            return
        if generation != self._generation:
            asyncio.get_running_loop().call_soon(self._check, self._generation, 0)
            return
        if ticks < _SETTLE_TICKS:
            asyncio.get_running_loop().call_soon(self._check, generation, ticks + 1)
            return
        self._check_scheduled = False
        self._all_blocked()

    def _all_blocked(self) -> None:
        wakes = [b.wake_at for b in self._blocked.values() if b.wake_at is not None]
        earliest = min(wakes, default=None)
        if earliest is not None and earliest - self.clock.now() <= self.limits.in_memory_wait:
            return  # a timer is armed and due soon: stay in memory
        self.suspended = True
        self.suspend_wake_at = earliest
        for blocked in list(self._blocked.values()):
            if not blocked.future.done():
                blocked.future.set_exception(Suspend())

    def blocked_ops(self) -> Sequence[str]:
        return list(self._blocked)


def _label(what: str, whose: str | None) -> str:
    return what if whose is None else f"{what} {whose}"


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
