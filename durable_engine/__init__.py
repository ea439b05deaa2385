"""durable_engine: durable execution for asyncio, kept in one SQLite file."""

from __future__ import annotations

from .batch import BatchItem as BatchItem
from .batch import BatchItemStatus as BatchItemStatus
from .batch import BatchResult as BatchResult
from .batch import CompletionConfig as CompletionConfig
from .batch import CompletionReason as CompletionReason
from .batch import ItemBatcher as ItemBatcher
from .batch import MapConfig as MapConfig
from .batch import ParallelBranch as ParallelBranch
from .batch import ParallelConfig as ParallelConfig
from .clock import Clock as Clock
from .clock import SystemClock as SystemClock
from .config import JitterStrategy as JitterStrategy
from .config import StepConfig as StepConfig
from .config import StepSemantics as StepSemantics
from .context import DurableContext as DurableContext
from .context import StepContext as StepContext
from .context import durable_step as durable_step
from .engine import DurableFunction as DurableFunction
from .engine import Engine as Engine
from .engine import ExecutionHandle as ExecutionHandle
from .errors import CallbackAlreadyResolved as CallbackAlreadyResolved
from .errors import CallbackError as CallbackError
from .errors import CallbackFailedError as CallbackFailedError
from .errors import CallbackNotFound as CallbackNotFound
from .errors import CallbackNotPending as CallbackNotPending
from .errors import CallbackTimeoutError as CallbackTimeoutError
from .errors import ChildContextError as ChildContextError
from .errors import DatabaseCorrupt as DatabaseCorrupt
from .errors import DurableError as DurableError
from .errors import ErrorWithInfo as ErrorWithInfo
from .errors import ExecutionAlreadyEnded as ExecutionAlreadyEnded
from .errors import ExecutionAlreadyExists as ExecutionAlreadyExists
from .errors import ExecutionFailedError as ExecutionFailedError
from .errors import ExecutionNotFound as ExecutionNotFound
from .errors import ExecutionStopped as ExecutionStopped
from .errors import ExecutionTimedOut as ExecutionTimedOut
from .errors import FunctionNotRegistered as FunctionNotRegistered
from .errors import InvokeError as InvokeError
from .errors import NonDeterministicError as NonDeterministicError
from .errors import PayloadTooLarge as PayloadTooLarge
from .errors import SerDesError as SerDesError
from .errors import StepError as StepError
from .errors import StepInterruptedError as StepInterruptedError
from .errors import StoreError as StoreError
from .errors import WaitForConditionError as WaitForConditionError
from .models import ExecutionInfo as ExecutionInfo
from .models import ExecutionStatus as ExecutionStatus
from .models import OperationStatus as OperationStatus
from .models import OperationType as OperationType
from .operations.callback import Callback as Callback
from .operations.callback import CallbackConfig as CallbackConfig
from .operations.callback import WaitForCallbackConfig as WaitForCallbackConfig
from .operations.condition import WaitForConditionConfig as WaitForConditionConfig
from .operations.condition import WaitForConditionDecision as WaitForConditionDecision
from .operations.condition import WaitStrategyConfig as WaitStrategyConfig
from .operations.condition import create_wait_strategy as create_wait_strategy
from .operations.invoke import InvokeConfig as InvokeConfig
from .retry import RetryDecision as RetryDecision
from .retry import RetryPresets as RetryPresets
from .retry import RetryStrategyConfig as RetryStrategyConfig
from .retry import create_linear_retry_strategy as create_linear_retry_strategy
from .retry import create_retry_strategy as create_retry_strategy
from .store import SqliteStore as SqliteStore
from .store import Store as Store
from .views import OperationInfo as OperationInfo

__version__ = "0.1.0"

__all__ = [
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
    "CompletionConfig",
    "CompletionReason",
    "DatabaseCorrupt",
    "DurableContext",
    "DurableError",
    "DurableFunction",
    "Engine",
    "ErrorWithInfo",
    "ExecutionAlreadyEnded",
    "ExecutionAlreadyExists",
    "ExecutionFailedError",
    "ExecutionHandle",
    "ExecutionInfo",
    "ExecutionNotFound",
    "ExecutionStatus",
    "ExecutionStopped",
    "ExecutionTimedOut",
    "FunctionNotRegistered",
    "InvokeConfig",
    "InvokeError",
    "ItemBatcher",
    "JitterStrategy",
    "MapConfig",
    "NonDeterministicError",
    "OperationInfo",
    "OperationStatus",
    "OperationType",
    "ParallelBranch",
    "ParallelConfig",
    "PayloadTooLarge",
    "RetryDecision",
    "RetryPresets",
    "RetryStrategyConfig",
    "SerDesError",
    "SqliteStore",
    "StepConfig",
    "StepContext",
    "StepError",
    "StepInterruptedError",
    "StepSemantics",
    "Store",
    "StoreError",
    "SystemClock",
    "WaitForCallbackConfig",
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitForConditionError",
    "WaitStrategyConfig",
    "create_linear_retry_strategy",
    "create_retry_strategy",
    "create_wait_strategy",
    "durable_step",
]
