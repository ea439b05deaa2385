"""Callbacks: an id handed to the outside world, and a durable wait for its answer."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from serdes import SerDes

from .._config import (
    Duration,
    RetryStrategy,
    check_callable,
    check_serdes,
    to_seconds,
)
from .._errors import CallbackTimeoutError, ErrorInfo
from .._journal import Completed, Execute, Mismatch, Resume
from .._models import Checkpoint, OperationStatus, OperationType
from .._run import ExecutionRun

__all__ = [
    "Callback",
    "CallbackConfig",
    "WaitForCallbackConfig",
    "create_callback",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackConfig:
    """`timeout`: the whole wait; `heartbeat_timeout`: the longest gap between heartbeats."""

    timeout: Duration | None = None
    heartbeat_timeout: Duration | None = None
    serdes: SerDes | None = None

    def __post_init__(self) -> None:
        _check_limits(self.timeout, self.heartbeat_timeout, self.serdes)


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitForCallbackConfig:
    """A CallbackConfig's fields, and the retry strategy of the step that submits the id."""

    timeout: Duration | None = None
    heartbeat_timeout: Duration | None = None
    retry_strategy: RetryStrategy | None = None
    serdes: SerDes | None = None

    def __post_init__(self) -> None:
        _check_limits(self.timeout, self.heartbeat_timeout, self.serdes)
        check_callable(self.retry_strategy, "retry_strategy", optional=True)


def _check_limits(
    timeout: Duration | None, heartbeat_timeout: Duration | None, codec: SerDes | None
) -> None:
    if timeout is not None:
        to_seconds(timeout, what="timeout")
    if heartbeat_timeout is not None:
        to_seconds(heartbeat_timeout, what="heartbeat_timeout")
    check_serdes(codec)


class Callback:
    """A pending answer from outside; `callback_id` is what the outside world sends back."""

    def __init__(
        self, run: ExecutionRun, op_id: str, callback_id: str, codec: SerDes | None
    ) -> None:
        self._run = run
        self._op_id = op_id
        self.callback_id = callback_id
        self._codec = codec

    def __repr__(self) -> str:
        return f"Callback(operation={self._op_id!r})"

    async def result(self) -> Any:
        """Wait (durably, leaving memory if nothing else runs) for the answer."""
        run, op_id = self._run, self._op_id
        cp = run.journal.get(op_id)
        assert cp is not None
        if cp.status == OperationStatus.STARTED:
            answered = _answer(run, cp)
            if run.telemetry is not None:
                answered = run.telemetry.traced(
                    answered, run.record, op_id, OperationType.CALLBACK, cp.name, "callback_wait"
                )
            cp = await answered
        if cp.status == OperationStatus.TIMED_OUT:
            raise CallbackTimeoutError(f"callback {cp.name or op_id} timed out")
        return run.values.answer(cp, self._codec)


async def _answer(run: ExecutionRun, cp: Checkpoint) -> Checkpoint:
    """Wait for the callback of `cp` (STARTED) to be answered or time out; as stored then."""
    op_id = cp.op_id
    # Watch before looking, so an answer that lands in between still wakes us.
    run.waits.watch_external(op_id)
    try:
        cp = await _refresh(run, cp)
        while cp.status == OperationStatus.STARTED:
            await run.block(op_id, cp.wake_at)
            cp = await _refresh(run, cp)
    finally:
        run.waits.unwatch_external(op_id)
    return cp


async def _refresh(run: ExecutionRun, cp: Checkpoint) -> Checkpoint:
    """The callback's operation as stored now, timing it out if its deadline passed."""
    if cp.wake_at is not None and run.now() >= cp.wake_at:
        info = ErrorInfo(
            kind="CallbackTimeoutError",
            error_type="CallbackTimeoutError",
            message=f"callback {cp.name or cp.op_id} timed out",
        )
        return await run.time_out_callback(cp, run.values.encode_error(info))
    fresh = await run.reload(cp.op_id)
    assert fresh is not None
    return fresh


async def create_callback(
    run: ExecutionRun,
    op_id: str,
    parent_id: str | None,
    name: str | None,
    config: CallbackConfig | None,
) -> Callback:
    cfg = config or CallbackConfig()
    match run.resolve(op_id, OperationType.CALLBACK, name):
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed(cp) | Resume(cp):
            return Callback(run, op_id, cp.ref or "", cfg.serdes)
        case Execute():
            pass
    # 256 random bits; the prefix keeps an id from starting with "-", which a command
    # line would take for an option.
    callback_id = "cb_" + secrets.token_urlsafe(32)
    now = run.now()
    timeout_at = None if cfg.timeout is None else now + to_seconds(cfg.timeout, what="timeout")
    heartbeat = (
        None
        if cfg.heartbeat_timeout is None
        else to_seconds(cfg.heartbeat_timeout, what="heartbeat_timeout")
    )
    deadlines = [t for t in (timeout_at, None if heartbeat is None else now + heartbeat) if t]
    put = run.put(
        op_id,
        parent_id,
        OperationType.CALLBACK,
        name,
        OperationStatus.STARTED,
        started_at=now,
        wake_at=min(deadlines, default=None),
        ref=callback_id,
    )
    await run.start_callback(
        put, created_at=now, timeout_at=timeout_at, heartbeat_timeout=heartbeat
    )
    return Callback(run, op_id, callback_id, cfg.serdes)
