"""`DurableContext`: the front door of every durable operation.

Each operation gets its id when it is called, not when it is first awaited:
`ctx.step(...)` returns an awaitable that already holds its id, so
`asyncio.gather(ctx.step(a), ctx.step(b))` numbers a and b in call order on every run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from datetime import datetime
from typing import Any, NoReturn, TypeVar, overload

from ._batch_config import BatchResult, MapConfig, ParallelBranch, ParallelConfig
from ._config import (
    Duration,
    RetryStrategy,
    StepConfig,
    check_callable,
    check_instance,
    check_name,
    to_seconds,
)
from ._errors import ExecutionAlreadyEnded, NonDeterministicError
from ._operations import callback as _callback
from ._operations import child as _child
from ._operations import condition as _condition
from ._operations import continue_as_new as _continue_as_new
from ._operations import custom_status as _custom_status
from ._operations import event as _event
from ._operations import invoke as _invoke
from ._operations import parallel_map as _batch
from ._operations import patch as _patch
from ._operations import retry_block as _retry_block
from ._operations import step as _step
from ._operations import values as _values
from ._operations import wait as _wait
from ._operations.callback import Callback, CallbackConfig, WaitForCallbackConfig
from ._operations.condition import WaitForConditionConfig
from ._operations.invoke import InvokeConfig
from ._operations.saga import Saga
from ._run import ExecutionRun
from ._step_context import (
    OperationInStepError,
    ReplayAwareLogger,
    StepContext,
    durable_step,
    step_name,
)
from ._suspension import RunState

__all__ = ["DurableContext", "StepContext", "durable_step"]

_ENDED = RunState.ENDED

T = TypeVar("T")


class DurableContext:
    """The handle a durable function uses for every operation it wants checkpointed."""

    __slots__ = ("_counter", "_logger", "_parent_id", "_rerun", "_run")

    def __init__(
        self, run: ExecutionRun, parent_id: str | None = None, *, rerun: bool = False
    ) -> None:
        self._run = run
        self._parent_id = parent_id
        self._counter = 0
        self._logger: logging.LoggerAdapter[logging.Logger] | None = None
        self._rerun = rerun
        """A child context that finished before, running again to rebuild its result."""

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger that is silent while replaying; records carry the execution id."""
        if self._logger is None:
            run = self._run
            self._logger = ReplayAwareLogger(
                run.logger,
                self.is_replaying,
                {"execution_id": run.execution_id, "context_id": self._parent_id},
            )
        return self._logger

    @property
    def execution_id(self) -> str:
        return self._run.execution_id

    @property
    def context_id(self) -> str | None:
        """This context's operation id (None for the root context)."""
        return self._parent_id

    def is_replaying(self) -> bool:
        """True while this context runs code that a run before this one ran already: it
        recorded operations further on in this context."""
        return self._rerun or self._run.journal.recorded_beyond(self._parent_id, self._counter)

    def _next_id(self) -> str:
        run = self._run
        # Read on every operation: the state itself, not the `ended` property.
        if (
            (run.in_body and run.inside_body())
            or run.fatal is not None
            or run.waits.state is _ENDED
        ):
            self._refuse()
        self._counter += 1
        parent, counter = self._parent_id, self._counter
        op_id = str(counter) if parent is None else f"{parent}/{counter}"
        run.journal.asked(op_id)  # when called, not when it runs: a task may start it later
        return op_id

    def _upcoming_id(self) -> str:
        """The id the next operation will get, checked as `_next_id` checks it."""
        run = self._run
        if (
            (run.in_body and run.inside_body())
            or run.fatal is not None
            or run.waits.state is _ENDED
        ):
            self._refuse()
        counter = self._counter + 1
        return str(counter) if self._parent_id is None else f"{self._parent_id}/{counter}"

    def _refuse(self) -> None:
        """Raise the error for an operation this context cannot take now."""
        run = self._run
        if run.in_body and run.inside_body():
            raise OperationInStepError(
                "an operation was called inside a step's body: a body runs once and only "
                "its result is recorded, so it cannot hold operations; call them from the "
                "workflow, or group them with ctx.run_in_child_context"
            )
        if run.waits.state is _ENDED:
            raise ExecutionAlreadyEnded(
                f"this run of execution {run.execution_id} is over (it ended, suspended "
                "or was taken over): a context is used only while its workflow runs, "
                "not from a task that outlives it"
            )
        raise NonDeterministicError(str(run.fatal))  # bound to fail: run nothing new

    # -- operations --------------------------------------------------------------

    @overload
    def step(
        self,
        fn: Callable[[StepContext], Awaitable[T]],
        name: str | None = ...,
        config: StepConfig | None = ...,
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def step(
        self,
        fn: Callable[[StepContext], T],
        name: str | None = ...,
        config: StepConfig | None = ...,
    ) -> Coroutine[Any, Any, T]: ...

    def step(
        self,
        fn: Callable[[StepContext], Any],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Run `fn(step_ctx)` once, checkpoint its result or error, retry per the config."""
        # One guard: on the usual path a builtin call and two identity tests. Which
        # argument is wrong is worked out off this path.
        if (
            not callable(fn)
            or (type(name) is not str and name is not None)
            or (config is not None and type(config) is not StepConfig)
        ):
            _check_step_call(fn, name, config)
        if name is None:
            name = step_name(fn)
        return _step.run_step(self._run, self._next_id(), self._parent_id, fn, name, config)

    def wait(self, duration: Duration, name: str | None = None) -> Coroutine[Any, Any, None]:
        """A durable timer: the execution may leave memory until it is due."""
        check_name(name)
        seconds = to_seconds(duration, what="wait duration")
        return _wait.run_wait(self._run, self._next_id(), self._parent_id, seconds, name)

    def wait_for_event(
        self, name: str, *, timeout: Duration | None = None
    ) -> Coroutine[Any, Any, Any]:
        """The payload of the next event `name` sent to this execution
        (`engine.send_event`): one kept for it, or the next to come; the execution may
        leave memory meanwhile. Raises EventTimeoutError once `timeout` passes first."""
        if type(name) is not str or not name:
            raise TypeError(f"the event name must be a non-empty str, not {name!r}")
        seconds = None if timeout is None else to_seconds(timeout, what="event timeout")
        return _event.wait_for_event(self._run, self._next_id(), self._parent_id, name, seconds)

    def run_in_child_context(
        self, fn: Callable[[DurableContext], Awaitable[T]], name: str | None = None
    ) -> Coroutine[Any, Any, T]:
        """Run `fn(child_ctx)` with its own operation numbering under this operation's id."""
        check_callable(fn, "fn")
        check_name(name)
        return _child.run_child(self._run, self._next_id(), self._parent_id, fn, name, self._child)

    def with_retry(
        self,
        fn: Callable[[DurableContext], Awaitable[T]],
        *,
        name: str | None = None,
        retry_strategy: RetryStrategy | None = None,
    ) -> Coroutine[Any, Any, T]:
        """Run `fn(child_ctx)` as a child context; if it raises, `retry_strategy` (a
        step's default if None) decides, and after a durable delay the block runs again
        in a fresh child context. WithRetryError once the strategy stops."""
        check_callable(fn, "fn")
        check_name(name)
        check_callable(retry_strategy, "retry_strategy", optional=True)
        return _retry_block.run_with_retry(
            self._run, self._next_id(), self._parent_id, fn, name, retry_strategy, self._child
        )

    def saga(self, name: str | None = None) -> Saga:
        """A saga for `async with`: `saga.add_compensation(fn)` after each step to undo;
        if the block raises, the compensations run as durable steps in reverse order."""
        check_name(name)
        return Saga(self._run, self._parent_id, self._next_id, self._child, name)

    def parallel(
        self,
        branches: Sequence[Callable[[DurableContext], Awaitable[Any]] | ParallelBranch[Any]],
        name: str | None = None,
        config: ParallelConfig | None = None,
    ) -> Coroutine[Any, Any, BatchResult[Any]]:
        """Run each branch in its own child context; returns every outcome in input order."""
        listed = _listed(branches, "branches")
        for index, branch in enumerate(listed):
            if not (isinstance(branch, ParallelBranch) or callable(branch)):
                raise TypeError(
                    f"branches[{index}] must be an async callable (ctx) or a ParallelBranch, "
                    f"not {type(branch).__name__} {branch!r}"
                )
        check_name(name)
        check_instance(config, ParallelConfig, "config", optional=True)
        return _batch.run_parallel(
            self._run,
            self._next_id(),
            self._parent_id,
            self._child,
            listed,
            name,
            config or ParallelConfig(),
        )

    def map(
        self,
        items: Sequence[T],
        fn: Callable[[DurableContext, Any, int, Sequence[T]], Awaitable[Any]],
        name: str | None = None,
        config: MapConfig | None = None,
    ) -> Coroutine[Any, Any, BatchResult[Any]]:
        """Run `fn(child_ctx, item, index, items)` for each item (or each batch of items,
        with an `ItemBatcher`) in its own child context; results in input order."""
        listed = _listed(items, "items")
        check_callable(fn, "fn")
        check_name(name)
        check_instance(config, MapConfig, "config", optional=True)
        return _batch.run_map(
            self._run,
            self._next_id(),
            self._parent_id,
            self._child,
            listed,
            fn,
            name,
            config or MapConfig(),
        )

    def create_callback(
        self, name: str | None = None, config: CallbackConfig | None = None
    ) -> Coroutine[Any, Any, Callback]:
        """A callback whose `callback_id` the outside world answers with
        `engine.send_callback_success/failure`; `await cb.result()` waits durably."""
        check_name(name)
        check_instance(config, CallbackConfig, "config", optional=True)
        return _callback.create_callback(self._run, self._next_id(), self._parent_id, name, config)

    def wait_for_callback(
        self,
        submitter: Callable[[str, StepContext], Any],
        name: str | None = None,
        config: WaitForCallbackConfig | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Create a callback, run `submitter(callback_id, step_ctx)` as a step, wait for it."""
        check_callable(submitter, "submitter")
        check_name(name)
        check_instance(config, WaitForCallbackConfig, "config", optional=True)
        return self._wait_for_callback(submitter, name, config or WaitForCallbackConfig())

    def wait_for_condition(
        self,
        check: Callable[[Any, StepContext], Any],
        config: WaitForConditionConfig,
        name: str | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Poll `check(state, check_ctx)` until the wait strategy stops; returns the last state."""
        check_callable(check, "check")
        check_instance(config, WaitForConditionConfig, "config")
        check_name(name)
        return _condition.run_condition(
            self._run, self._next_id(), self._parent_id, check, config, name
        )

    def invoke(
        self,
        function_name: str,
        payload: Any = None,
        name: str | None = None,
        config: InvokeConfig | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Start the registered durable function as a child execution; return its result
        (raise InvokeError with its error). The parent suspends while the child runs."""
        check_instance(function_name, str, "function_name")
        check_name(name)
        check_instance(config, InvokeConfig, "config", optional=True)
        return _invoke.run_invoke(
            self._run, self._next_id(), self._parent_id, function_name, payload, name, config
        )

    async def _wait_for_callback(
        self,
        submitter: Callable[[str, StepContext], Any],
        name: str | None,
        cfg: WaitForCallbackConfig,
    ) -> Any:
        """A child context that creates the callback, hands its id to `submitter` in a
        step, and waits for the answer."""

        async def body(child: DurableContext) -> Any:
            callback = await child.create_callback(
                name=name,
                config=CallbackConfig(
                    timeout=cfg.timeout, heartbeat_timeout=cfg.heartbeat_timeout, serdes=cfg.serdes
                ),
            )

            async def submit(step: StepContext) -> None:
                # What the submitter returns (a client's response, say) is not part of
                # the answer: it is not stored, so it need not be serializable.
                await _step.call_body(self._run.threads, submitter, callback.callback_id, step)

            await child.step(
                submit, name="submit", config=StepConfig(retry_strategy=cfg.retry_strategy)
            )
            return await callback.result()

        return await self.run_in_child_context(body, name=name)

    def patched(self, patch_id: str) -> Coroutine[Any, Any, bool]:
        """Which path changed code takes here: True for an execution that reaches this
        point for the first time under this code (a marker is recorded), False for one
        whose history went past it without the marker (it took the old path and keeps
        taking it). See the docs' "Changing workflow code"."""
        check_patch_id(patch_id)
        op_id = self._upcoming_id()
        if not _patch.new_path(self._run, op_id, self._parent_id, self._counter, patch_id):
            return _patch.old_path()
        return _patch.record_marker(self._run, self._next_id(), self._parent_id, patch_id)

    def deprecate_patch(self, patch_id: str) -> Coroutine[Any, Any, None]:
        """The second deploy of a patch, once every execution left took the new path:
        accepts histories with or without the marker of `patch_id`, and records none."""
        check_patch_id(patch_id)
        if _patch.holds_marker(self._run, self._upcoming_id(), patch_id):
            self._next_id()  # the marker's id: the operations after it keep theirs
        return _patch.passed()

    def set_custom_status(self, value: Any) -> None:
        """Publish `value` (anything the execution's codec stores) as the execution's
        custom status, read from outside as `ExecutionInfo.custom_status`. It is
        serialized now (a value that cannot be stored raises SerDesError or
        PayloadTooLarge here) and committed with the next checkpoint, at the latest
        when the execution suspends or ends. Not an operation: it takes no id."""
        self._upcoming_id()  # refused where an operation would be
        _custom_status.set_custom_status(self._run, value)

    async def continue_as_new(self, input: Any, *, keep_history: bool = False) -> NoReturn:
        """End this run and start the execution afresh, same id and name, with `input`
        and an empty history: `ExecutionInfo.run_number` goes up by one. Never returns.

        The old run's operations are dropped, or kept (`keep_history=True`) for
        `engine.get_operations(id, run_number=n)` until the execution is purged; its
        pending callbacks and timers are cancelled; events sent by name and not yet
        received carry over. Custom status and the execution's timeout carry over too.
        Call it from the workflow function's own context: anywhere else (a step body, a
        child context, a branch) raises ContinueAsNewError. `input` that cannot be
        stored raises SerDesError or PayloadTooLarge here."""
        await _continue_as_new.continue_as_new(self._run, self._parent_id, input, keep_history)

    def _child(self, op_id: str, rerun: bool) -> DurableContext:
        """The context of child operation `op_id` (`rerun`: it finished before, and runs
        again to rebuild a result too large to store)."""
        return DurableContext(self._run, op_id, rerun=rerun)

    def now(self) -> Coroutine[Any, Any, datetime]:
        """The current time (aware UTC), recorded so replay sees the same instant."""
        return _values.recorded_now(self._run, self._next_id(), self._parent_id)

    def random(self) -> Coroutine[Any, Any, float]:
        """A random float in [0, 1), recorded so replay sees the same number."""
        return _values.recorded_random(self._run, self._next_id(), self._parent_id)

    def uuid4(self) -> Coroutine[Any, Any, uuid.UUID]:
        """A random UUID, recorded so replay sees the same one."""
        return _values.recorded_uuid4(self._run, self._next_id(), self._parent_id)


def check_patch_id(patch_id: object) -> None:
    if not isinstance(patch_id, str) or not patch_id:
        raise TypeError(f"patch_id must be a non-empty str, not {patch_id!r}")


def _check_step_call(fn: object, name: object, config: object) -> None:
    """Raise the TypeError that says which of `ctx.step`'s arguments is wrong."""
    check_callable(fn, "fn")
    check_name(name)
    check_instance(config, StepConfig, "config", optional=True)


def _listed(values: object, what: str) -> list[Any]:
    if not isinstance(values, Iterable):
        raise TypeError(f"{what} must be a sequence, not {type(values).__name__} {values!r}")
    return list(values)
