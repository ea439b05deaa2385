"""Every error a user of durable_engine can catch, under one root.

    DurableError
    ├── ErrorWithInfo                 carries error_type, message, stack_trace, data
    │   ├── StepError                 a step failed (retries exhausted or not retryable)
    │   │   └── StepInterruptedError  an at-most-once attempt was cut off by a crash
    │   ├── ExecutionFailedError      workflow code raised an error of its own
    │   ├── ChildContextError         a child context's function raised an error of its own
    │   ├── CallbackFailedError       the sender of a callback reported a failure
    │   ├── InvokeError               an invoked child execution failed
    │   ├── WaitForConditionError     wait_for_condition ran out of attempts
    │   ├── WithRetryError            a with_retry block gave up (attempts exhausted, not retryable)
    │   └── CompensationError         a saga's compensation failed for good
    ├── CallbackTimeoutError          a callback's timeout or heartbeat timeout passed
    ├── EventTimeoutError             wait_for_event's timeout passed with no event
    ├── ExecutionTimedOut             the execution passed its total timeout
    ├── ExecutionStopped              the execution was stopped from outside
    ├── NonDeterministicError         the code asked for a different operation than recorded
    ├── ExecutionNotFound
    ├── ExecutionAlreadyExists        same execution_name, different function or input
    ├── ExecutionAlreadyEnded         stop() or send_event() of an execution that had already ended
    ├── ExecutionNotRerunnable        rerun() of one that did not end FAILED, TIMED_OUT or STOPPED
    ├── FunctionNotRegistered
    ├── ScheduleNotFound              no schedule has that name
    ├── InvalidInput                  an input that does not fit the function's input annotation
    ├── OperationInStepError          an operation was called inside a step's body
    ├── ContinueAsNewError            continue_as_new called outside the workflow's own context
    ├── RunNotKept                    get_operations(run_number=) of a run not kept
    ├── CallbackError
    │   ├── CallbackNotFound
    │   ├── CallbackAlreadyResolved
    │   └── CallbackNotPending
    ├── PayloadTooLarge
    ├── StoreError                    the database cannot be used (corrupt, newer schema, locked)
    │   ├── DatabaseCorrupt           a damaged file (at open or in use), or a bad value checksum
    │   ├── DatabaseLocked            another process held the write lock past the busy timeout
    │   ├── DiskFull                  the file system (or the file's size limit) is full
    │   └── StoreIOError              the operating system failed a read or write of the file
    └── SerDesError                   a value cannot be (de)serialized (also a serdes.SerDesError)

Errors that cross the database (a step's failure, an execution's failure) are stored
as an `ErrorInfo` and rebuilt as the same class with the same attributes on replay.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, replace
from typing import Any

import serdes

__all__ = [
    "CallbackAlreadyResolved",
    "CallbackError",
    "CallbackFailedError",
    "CallbackNotFound",
    "CallbackNotPending",
    "CallbackTimeoutError",
    "ChildContextError",
    "CompensationError",
    "ContinueAsNewError",
    "DatabaseCorrupt",
    "DatabaseLocked",
    "DiskFull",
    "DurableError",
    "ErrorInfo",
    "ErrorWithInfo",
    "EventTimeoutError",
    "ExecutionAlreadyEnded",
    "ExecutionAlreadyExists",
    "ExecutionFailedError",
    "ExecutionNotFound",
    "ExecutionNotRerunnable",
    "ExecutionStopped",
    "ExecutionTimedOut",
    "FunctionNotRegistered",
    "InvalidInput",
    "InvokeError",
    "NonDeterministicError",
    "OperationInStepError",
    "PayloadTooLarge",
    "RunNotKept",
    "ScheduleNotFound",
    "SerDesError",
    "StepError",
    "StepInterruptedError",
    "StoreError",
    "StoreIOError",
    "WaitForConditionError",
    "WithRetryError",
    "shortened",
]


class DurableError(Exception):
    """Root of every error raised by durable_engine."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """The stored form of an error: its class of ours, the original type, message, trace."""

    kind: str
    error_type: str
    message: str
    stack_trace: str = ""
    data: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "error_type": self.error_type,
            "message": self.message,
            "stack_trace": self.stack_trace,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> ErrorInfo:
        if not isinstance(raw, dict):
            raise TypeError(f"stored error is not a mapping: {type(raw).__name__}")
        return cls(
            kind=str(raw.get("kind", "ExecutionFailedError")),
            error_type=str(raw.get("error_type", "")),
            message=str(raw.get("message", "")),
            stack_trace=str(raw.get("stack_trace", "")),
            data=raw.get("data"),
        )


class ErrorWithInfo(DurableError):
    """An error that carries the original error's type name, message and trace."""

    def __init__(
        self,
        message: str = "",
        *,
        error_type: str = "",
        stack_trace: str = "",
        data: Any = None,
    ) -> None:
        self.error_type = error_type or type(self).__name__
        self.message = message
        self.stack_trace = stack_trace
        self.data = data
        super().__init__(f"{self.error_type}: {message}" if error_type else message)

    def to_info(self) -> ErrorInfo:
        return ErrorInfo(
            kind=type(self).__name__,
            error_type=self.error_type,
            message=self.message,
            stack_trace=self.stack_trace,
            data=self.data,
        )


class StepError(ErrorWithInfo):
    """A step failed; `error_type` names the original exception class."""


class StepInterruptedError(StepError):
    """An at-most-once step attempt started but its outcome was never recorded."""


class ExecutionFailedError(ErrorWithInfo):
    """The workflow function itself raised an error that is not one of ours."""


class ChildContextError(ErrorWithInfo):
    """A child context's function raised an error that is not one of ours."""


class CallbackFailedError(ErrorWithInfo):
    """The callback was resolved with `send_callback_failure`."""


class InvokeError(ErrorWithInfo):
    """An invoked child execution ended in failure; carries the child's error."""


class WaitForConditionError(ErrorWithInfo):
    """wait_for_condition stopped before its condition was met."""


class WithRetryError(ErrorWithInfo):
    """A `with_retry` block failed: its retry strategy gave up, or would not retry the
    error. `error_type`, `message` and `stack_trace` are those of the last attempt's
    error (for a step that failed inside it, the step's original error)."""


class CompensationError(ErrorWithInfo):
    """A saga's compensation failed and its retry strategy gave up; `data["failed"]`
    names every compensation that did not finish."""


class CallbackTimeoutError(DurableError):
    """A callback's timeout or heartbeat timeout passed before it was resolved."""


class EventTimeoutError(DurableError):
    """`wait_for_event` waited its whole timeout and no event of that name came."""


class ExecutionTimedOut(DurableError):
    """The execution ran past its total timeout."""


class ExecutionStopped(DurableError):
    """The execution was stopped from outside."""


class NonDeterministicError(DurableError):
    """The workflow asked for an operation that differs from the recorded one."""


class ExecutionNotFound(DurableError):
    """No execution has that id."""


class ExecutionAlreadyExists(DurableError):
    """An execution with that name exists for another function or another input."""


class ExecutionAlreadyEnded(DurableError):
    """The execution had already ended: nothing was changed."""


class ExecutionNotRerunnable(DurableError):
    """`rerun` of an execution that has not ended FAILED, TIMED_OUT or STOPPED (it still
    runs, or it succeeded): nothing was started. `status` is its status."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class ScheduleNotFound(DurableError):
    """No schedule has that name."""


class FunctionNotRegistered(DurableError):
    """No durable function of that name is registered on this engine."""


class InvalidInput(DurableError, ValueError):
    """An input that does not fit the dataclass or pydantic model a durable function's
    input is annotated with (raised by `start`, before anything is stored)."""


class CallbackError(DurableError):
    """A callback id cannot be resolved."""


class CallbackNotFound(CallbackError):
    """No callback has that id."""


class CallbackAlreadyResolved(CallbackError):
    """The callback was already resolved."""


class CallbackNotPending(CallbackError):
    """The callback timed out, or its execution ended or was stopped."""


class PayloadTooLarge(DurableError):
    """A serialized value is larger than the engine's payload limit."""

    def __init__(self, size: int, limit: int, what: str = "value") -> None:
        self.size = size
        self.limit = limit
        self.what = what
        super().__init__(
            f"{what} is {size} bytes serialized, over the payload limit of {limit} bytes"
        )


class StoreError(DurableError):
    """The database cannot be used: corrupt, not a database, newer schema, or locked."""


class DatabaseCorrupt(StoreError):
    """The database is damaged: found by the check on open (nothing was written to it),
    by SQLite while in use, or because a stored value's checksum does not match its
    bytes (then `execution_id` and `operation_id` name it, where known). Retrying
    cannot help."""

    def __init__(
        self, message: str, *, execution_id: str | None = None, operation_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.execution_id = execution_id
        self.operation_id = operation_id


class DatabaseLocked(StoreError):
    """Another process held the database's write lock for longer than the busy timeout.
    Transient: the engine's own checkpoint writes wait and retry; a call from outside
    (`start`, `stop`, answering a callback) raises it once the busy timeout has passed."""


class DiskFull(StoreError):
    """The database could not grow: its file system is full (or the file reached its
    size limit). Transient: writes are retried until space is freed."""


class StoreIOError(StoreError):
    """The operating system failed a read or write of the database file (SQLITE_IOERR).
    Transient: writes are retried; if it persists, look at the disk and its logs."""


class SerDesError(DurableError, serdes.SerDesError):
    """A value cannot be serialized or deserialized; also a `serdes.SerDesError`."""


class Unreadable(BaseException):
    """A value the execution stored cannot be read in this process (its app lacks a
    registered class, say): unwinds the run, which hands the execution back for a
    worker that can read it. A BaseException, like suspension: workflow code's
    `except Exception` must not take it for the workflow's own failure."""

    def __init__(self, error: SerDesError) -> None:
        super().__init__(str(error))
        self.error = error


class StoreFailed(BaseException):
    """A write of a run failed with a `StoreError` that retrying did not cure (the store
    closed, the file is damaged or read-only): unwinds the run without recording
    anything, and the execution is handed back. A BaseException, like `Unreadable`: a
    store's failure is never the step's or the workflow's own."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error


# Errors stored with their class and rebuilt on replay with the same attributes.
_INFO_KINDS: dict[str, type[ErrorWithInfo]] = {
    cls.__name__: cls
    for cls in (
        StepError,
        StepInterruptedError,
        ExecutionFailedError,
        ChildContextError,
        CallbackFailedError,
        InvokeError,
        WaitForConditionError,
        WithRetryError,
        CompensationError,
    )
}
# Errors stored by class and message only.
_PLAIN_KINDS: dict[str, type[DurableError]] = {
    cls.__name__: cls
    for cls in (
        CallbackTimeoutError,
        ExecutionTimedOut,
        ExecutionStopped,
        NonDeterministicError,
        FunctionNotRegistered,
        SerDesError,
    )
}


def format_trace(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def error_info(exc: BaseException, *, default_kind: str = "ExecutionFailedError") -> ErrorInfo:
    """The stored form of any exception."""
    if isinstance(exc, ErrorWithInfo):
        return exc.to_info()
    if isinstance(exc, PayloadTooLarge):
        return ErrorInfo(
            kind="PayloadTooLarge",
            error_type="PayloadTooLarge",
            message=str(exc),
            data={"size": exc.size, "limit": exc.limit, "what": exc.what},
        )
    name = type(exc).__name__
    kind = name if name in _PLAIN_KINDS else default_kind
    return ErrorInfo(
        kind=kind, error_type=name, message=_message(exc), stack_trace=format_trace(exc)
    )


def _message(exc: BaseException) -> str:
    """`str(exc)`, or a note saying it failed: an error must be storable whatever it is."""
    try:
        return str(exc)
    except Exception as failure:
        return f"<str() of the {type(exc).__name__} raised {type(failure).__name__}>"


def shortened(info: ErrorInfo, limit: int) -> ErrorInfo:
    """`info` with its message and stack trace cut to fit about `limit` characters in
    all (the start and the end of each are kept), and data over that shown by repr."""
    budget = max(limit // 4, 200)
    data = info.data
    if data is not None and len(repr(data)) > budget:
        data = _cut(repr(data), budget)
    return replace(
        info,
        message=_cut(info.message, budget),
        stack_trace=_cut(info.stack_trace, budget),
        data=data,
    )


def _cut(text: str, budget: int) -> str:
    if len(text) <= budget:
        return text
    keep = budget // 2
    return f"{text[:keep]}... [{len(text) - 2 * keep} characters cut] ...{text[-keep:]}"


def error_from_info(info: ErrorInfo) -> Exception:
    """Rebuild the exception a stored `ErrorInfo` describes."""
    if info.kind in _INFO_KINDS:
        return _INFO_KINDS[info.kind](
            info.message,
            error_type=info.error_type,
            stack_trace=info.stack_trace,
            data=info.data,
        )
    if info.kind == "PayloadTooLarge" and isinstance(info.data, dict):
        return PayloadTooLarge(
            int(info.data.get("size", 0)),
            int(info.data.get("limit", 0)),
            str(info.data.get("what", "value")),
        )
    plain = _PLAIN_KINDS.get(info.kind)
    if plain is not None:
        return plain(info.message)
    return ExecutionFailedError(
        info.message, error_type=info.error_type, stack_trace=info.stack_trace, data=info.data
    )


class OperationInStepError(DurableError, RuntimeError):
    """A durable operation was called inside a step's body: a body runs once and only
    its result is recorded, so it cannot hold operations."""


class ContinueAsNewError(DurableError, RuntimeError):
    """`ctx.continue_as_new` was called where it cannot end the run: inside a step's
    body, a child context, a parallel or map branch or a with_retry block. Call it from
    the workflow function's own context."""


class RunNotKept(DurableError, LookupError):
    """The operations of the run asked for are not stored: the execution has no such
    run, or that run continued as new without `keep_history=True`."""
