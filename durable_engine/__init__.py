"""durable_engine: durable execution for asyncio, kept in one SQLite file."""

from __future__ import annotations

from ._batch_config import BatchItem as BatchItem
from ._batch_config import BatchItemStatus as BatchItemStatus
from ._batch_config import BatchResult as BatchResult
from ._batch_config import CompletionConfig as CompletionConfig
from ._batch_config import CompletionReason as CompletionReason
from ._batch_config import ItemBatcher as ItemBatcher
from ._batch_config import MapConfig as MapConfig
from ._batch_config import ParallelBranch as ParallelBranch
from ._batch_config import ParallelConfig as ParallelConfig
from ._clock import Clock as Clock
from ._clock import SystemClock as SystemClock
from ._config import JitterStrategy as JitterStrategy
from ._config import StepConfig as StepConfig
from ._config import StepSemantics as StepSemantics
from ._context import DurableContext as DurableContext
from ._engine import DurableFunction as DurableFunction
from ._engine import Engine as Engine
from ._engine import ExecutionHandle as ExecutionHandle
from ._errors import CallbackAlreadyResolved as CallbackAlreadyResolved
from ._errors import CallbackError as CallbackError
from ._errors import CallbackFailedError as CallbackFailedError
from ._errors import CallbackNotFound as CallbackNotFound
from ._errors import CallbackNotPending as CallbackNotPending
from ._errors import CallbackTimeoutError as CallbackTimeoutError
from ._errors import ChildContextError as ChildContextError
from ._errors import CompensationError as CompensationError
from ._errors import ContinueAsNewError as ContinueAsNewError
from ._errors import DatabaseCorrupt as DatabaseCorrupt
from ._errors import DatabaseLocked as DatabaseLocked
from ._errors import DiskFull as DiskFull
from ._errors import DurableError as DurableError
from ._errors import ErrorWithInfo as ErrorWithInfo
from ._errors import EventTimeoutError as EventTimeoutError
from ._errors import ExecutionAlreadyEnded as ExecutionAlreadyEnded
from ._errors import ExecutionAlreadyExists as ExecutionAlreadyExists
from ._errors import ExecutionFailedError as ExecutionFailedError
from ._errors import ExecutionNotFound as ExecutionNotFound
from ._errors import ExecutionNotRerunnable as ExecutionNotRerunnable
from ._errors import ExecutionStopped as ExecutionStopped
from ._errors import ExecutionTimedOut as ExecutionTimedOut
from ._errors import FunctionNotRegistered as FunctionNotRegistered
from ._errors import InvalidInput as InvalidInput
from ._errors import InvokeError as InvokeError
from ._errors import NonDeterministicError as NonDeterministicError
from ._errors import OperationInStepError as OperationInStepError
from ._errors import PayloadTooLarge as PayloadTooLarge
from ._errors import RunNotKept as RunNotKept
from ._errors import ScheduleNotFound as ScheduleNotFound
from ._errors import SerDesError as SerDesError
from ._errors import StepError as StepError
from ._errors import StepInterruptedError as StepInterruptedError
from ._errors import StoreError as StoreError
from ._errors import StoreIOError as StoreIOError
from ._errors import WaitForConditionError as WaitForConditionError
from ._errors import WithRetryError as WithRetryError
from ._health import Health as Health
from ._history_file import HistoryFileError as HistoryFileError
from ._models import ExecutionInfo as ExecutionInfo
from ._models import ExecutionStatus as ExecutionStatus
from ._models import OperationStatus as OperationStatus
from ._models import OperationType as OperationType
from ._operations.callback import Callback as Callback
from ._operations.callback import CallbackConfig as CallbackConfig
from ._operations.callback import WaitForCallbackConfig as WaitForCallbackConfig
from ._operations.condition import WaitForConditionConfig as WaitForConditionConfig
from ._operations.condition import WaitForConditionDecision as WaitForConditionDecision
from ._operations.condition import WaitStrategyConfig as WaitStrategyConfig
from ._operations.condition import create_wait_strategy as create_wait_strategy
from ._operations.invoke import InvokeConfig as InvokeConfig
from ._operations.saga import Saga as Saga
from ._retry import RetryDecision as RetryDecision
from ._retry import RetryPresets as RetryPresets
from ._retry import RetryStrategyConfig as RetryStrategyConfig
from ._retry import create_linear_retry_strategy as create_linear_retry_strategy
from ._retry import create_retry_strategy as create_retry_strategy
from ._schedules import ScheduleInfo as ScheduleInfo
from ._step_context import StepContext as StepContext
from ._step_context import durable_step as durable_step
from ._store import PostgresStore as PostgresStore
from ._store import SqliteStore as SqliteStore
from ._store import Store as Store
from ._telemetry import Telemetry as Telemetry
from ._views import AttemptInfo as AttemptInfo
from ._views import OperationInfo as OperationInfo

__version__ = "0.1.0"

__all__ = [
    "AttemptInfo",
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "Callback",
    "CallbackAlreadyResolved",
    "CallbackConfig",
    "CallbackError",
    "CallbackFailedError",
    "CallbackNotFound",
    "CallbackNotPending",
    "CallbackTimeoutError",
    "ChildContextError",
    "Clock",
    "CompensationError",
    "CompletionConfig",
    "CompletionReason",
    "ContinueAsNewError",
    "DatabaseCorrupt",
    "DatabaseLocked",
    "DiskFull",
    "DurableContext",
    "DurableError",
    "DurableFunction",
    "Engine",
    "ErrorWithInfo",
    "EventTimeoutError",
    "ExecutionAlreadyEnded",
    "ExecutionAlreadyExists",
    "ExecutionFailedError",
    "ExecutionHandle",
    "ExecutionInfo",
    "ExecutionNotFound",
    "ExecutionNotRerunnable",
    "ExecutionStatus",
    "ExecutionStopped",
    "ExecutionTimedOut",
    "FunctionNotRegistered",
    "Health",
    "HistoryFileError",
    "InvalidInput",
    "InvokeConfig",
    "InvokeError",
    "ItemBatcher",
    "JitterStrategy",
    "MapConfig",
    "NonDeterministicError",
    "OperationInStepError",
    "OperationInfo",
    "OperationStatus",
    "OperationType",
    "ParallelBranch",
    "ParallelConfig",
    "PayloadTooLarge",
    "PostgresStore",
    "RetryDecision",
    "RetryPresets",
    "RetryStrategyConfig",
    "RunNotKept",
    "Saga",
    "ScheduleInfo",
    "ScheduleNotFound",
    "SerDesError",
    "SqliteStore",
    "StepConfig",
    "StepContext",
    "StepError",
    "StepInterruptedError",
    "StepSemantics",
    "Store",
    "StoreError",
    "StoreIOError",
    "SystemClock",
    "Telemetry",
    "WaitForCallbackConfig",
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitForConditionError",
    "WaitStrategyConfig",
    "WithRetryError",
    "create_linear_retry_strategy",
    "create_retry_strategy",
    "create_wait_strategy",
    "durable_step",
]
