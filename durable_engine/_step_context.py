"""What a step's body sees, and how a body is recognised and named.

Below the operations and the context: both use these, neither is imported here.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, MutableMapping
from types import FunctionType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from ._errors import OperationInStepError

__all__ = [
    "OperationInStepError",
    "ReplayAwareLogger",
    "StepContext",
    "durable_step",
    "is_async_callable",
    "step_name",
]

T = TypeVar("T")
P = ParamSpec("P")


class ReplayAwareLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that stays silent while its context runs code it ran before."""

    def __init__(
        self, logger: logging.Logger, replaying: Callable[[], bool], extra: dict[str, Any]
    ) -> None:
        super().__init__(logger, extra)
        self._replaying = replaying

    def isEnabledFor(self, level: int) -> bool:
        return not self._replaying() and self.logger.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self._replaying():
            return
        super().log(level, msg, *args, **kwargs)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


class StepContext:
    """What a step's body is given: its attempt number (from 1) and a logger."""

    __slots__ = ("_base_logger", "_logger", "attempt", "execution_id", "operation_id")

    def __init__(
        self, execution_id: str, operation_id: str, attempt: int, logger: logging.Logger
    ) -> None:
        self.execution_id = execution_id
        self.operation_id = operation_id
        self.attempt = attempt
        self._base_logger = logger
        self._logger: logging.LoggerAdapter[logging.Logger] | None = None

    def __repr__(self) -> str:
        return (
            f"StepContext(execution_id={self.execution_id!r}, "
            f"operation_id={self.operation_id!r}, attempt={self.attempt})"
        )

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose records carry the execution, operation and attempt."""
        if self._logger is None:
            self._logger = logging.LoggerAdapter(
                self._base_logger,
                {
                    "execution_id": self.execution_id,
                    "operation_id": self.operation_id,
                    "attempt": self.attempt,
                },
            )
        return self._logger


class _BoundStep(Generic[T]):
    """A `durable_step` function with its arguments bound, waiting for its StepContext."""

    __slots__ = ("_args", "_fn", "_kwargs", "is_async", "name")

    def __init__(
        self, fn: Callable[..., Any], name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self.name = name
        self.is_async = inspect.iscoroutinefunction(fn)

    def __call__(self, step_ctx: StepContext) -> T:
        result: T = self._fn(step_ctx, *self._args, **self._kwargs)
        return result


def durable_step(fn: Callable[Concatenate[StepContext, P], T]) -> Callable[P, _BoundStep[T]]:
    """Bind a step's arguments: `@durable_step def add(step_ctx, a, b)` then
    `await ctx.step(add(5, 3))`; the step's name defaults to the function's (see
    `step_name`). The binding takes `fn`'s parameters after the StepContext, with
    their types, and `ctx.step` returns what `fn` returns (awaited, for an `async def`)."""
    name = step_name(fn) or fn.__name__

    @functools.wraps(fn)
    def bind(*args: P.args, **kwargs: P.kwargs) -> _BoundStep[T]:
        return _BoundStep(fn, name, args, kwargs)

    return bind


def step_name(fn: Callable[..., Any]) -> str | None:
    """The name a step gets when none is given (a `durable_step`'s own): its function's
    qualified name, from the function it is defined in on (`Payments.charge`, not
    `charge`, so that replay tells two classes' `charge` apart). None for a lambda."""
    if isinstance(fn, _BoundStep):
        return fn.name
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(qualname, str):
        qualname = getattr(fn, "__name__", None)
        if not isinstance(qualname, str):
            return None
    name = qualname.rpartition("<locals>.")[2]
    return None if name.endswith("<lambda>") else name


def is_async_callable(fn: Callable[..., Any]) -> bool:
    if type(fn) is FunctionType and not fn.__dict__:  # plain: no wrapper, no marker
        return bool(fn.__code__.co_flags & inspect.CO_COROUTINE)
    if isinstance(fn, _BoundStep):
        return fn.is_async
    target = fn.func if isinstance(fn, functools.partial) else fn
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 - an object's async __call__
    )
