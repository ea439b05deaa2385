"""Sagas: compensations registered as a block goes, run durably in reverse when it fails.

Registering a compensation records nothing: `add_compensation` is plain workflow
code, so every run of the workflow registers the same compensations in the same
order, after the same steps. What is recorded is the undoing: a child context
(`compensate-<saga name>`) numbered where the compensation starts, holding one step
per compensation, the last registered first. A replay finds each finished
compensation's record and does not run it again; the first one without an outcome
runs, so a crash mid-compensation resumes with the compensation not yet done.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, final

from .._config import (
    JitterStrategy,
    RetryStrategy,
    StepConfig,
    check_callable,
    check_name,
    exponential_delay,
)
from .._errors import CompensationError, ErrorWithInfo, NonDeterministicError
from .._retry import RetryDecision, apply_jitter
from .._run import ExecutionRun
from .._step_context import StepContext, step_name
from .child import ContextFactory, run_child
from .step import run_step

__all__ = ["Saga", "retry_until_done"]


def retry_until_done(error: BaseException, attempt: int) -> RetryDecision:
    """A compensation's default retry strategy: no attempt limit (a compensation must
    finish), 1 s doubling up to 5 minutes between attempts, half jitter."""
    return RetryDecision.retry(
        apply_jitter(exponential_delay(1.0, 2.0, attempt, 300.0), JitterStrategy.HALF)
    )


@dataclass(frozen=True, slots=True)
class _Compensation:
    fn: Callable[[StepContext], Any]
    name: str | None
    config: StepConfig


@final
class Saga:
    """Compensations for the steps of a block, run in reverse order if it fails.

        async with ctx.saga(name="checkout") as saga:
            reservation = await ctx.step(reserve(cart))
            saga.add_compensation(release(reservation), name="release")
            payment = await ctx.step(charge(cart))
            saga.add_compensation(refund(payment), name="refund")
            await ctx.step(ship(cart))  # if this fails: refund, then release

    When the block raises an `Exception`, each compensation runs as a durable step
    (`fn(step_ctx)`, sync or async, like a step body), the last registered first,
    each retried by its strategy until it succeeds or the strategy gives up; then the
    block's error goes on up. If one gives up, the others still run and
    `CompensationError` is raised instead. `await saga.compensate()` runs them at any
    time without an error. Leaving the block normally runs nothing.
    """

    __slots__ = ("_entries", "_make_context", "_name", "_next_id", "_parent_id", "_run")

    def __init__(
        self,
        run: ExecutionRun,
        parent_id: str | None,
        next_id: Callable[[], str],
        make_context: ContextFactory,
        name: str | None,
    ) -> None:
        self._run = run
        self._parent_id = parent_id
        self._next_id = next_id
        self._make_context = make_context
        self._name = name
        self._entries: list[_Compensation] = []

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def compensations(self) -> list[str | None]:
        """The names of the compensations registered and not run yet, in order."""
        return [entry.name for entry in self._entries]

    def add_compensation(
        self,
        fn: Callable[[StepContext], Any],
        *,
        name: str | None = None,
        retry_strategy: RetryStrategy | None = None,
    ) -> None:
        """Register `fn(step_ctx)` to undo what the block did so far (call it right after
        the step it undoes). `name` defaults to the function's name; `retry_strategy`
        to retrying with backoff and no attempt limit."""
        check_callable(fn, "fn")
        check_name(name)
        check_callable(retry_strategy, "retry_strategy", optional=True)
        config = StepConfig(retry_strategy=retry_strategy or retry_until_done)
        self._entries.append(_Compensation(fn, name if name is not None else step_name(fn), config))

    def compensate(self) -> Coroutine[Any, Any, None]:
        """Run the registered compensations now, the last registered first, and forget
        them. With none registered, nothing is recorded."""
        return self._undo(None)

    def _undo(self, cause: BaseException | None) -> Coroutine[Any, Any, None]:
        entries, self._entries = self._entries[::-1], []
        if not entries:
            return _nothing()
        op_id = self._next_id()  # numbered now, where the compensation starts
        label = "compensate" if self._name is None else f"compensate-{self._name}"
        return run_child(
            self._run,
            op_id,
            self._parent_id,
            lambda _: _run_all(self._run, op_id, self._name, entries, cause),
            label,
            self._make_context,
        )

    async def __aenter__(self) -> Saga:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Only the block's own failures are undone: not the engine unwinding a run
        # (suspension, cancellation, a lost lease), nor code that no longer replays.
        if (
            not isinstance(exc, Exception)
            or isinstance(exc, NonDeterministicError)
            or self._run.fatal is not None
        ):
            return
        await self._undo(exc)  # then the block's error goes on up


async def _nothing() -> None:
    return None


async def _run_all(
    run: ExecutionRun,
    op_id: str,
    saga: str | None,
    entries: list[_Compensation],
    cause: BaseException | None,
) -> None:
    """Each compensation as step `op_id/i`, in the order given; every one is tried even if
    one before it gave up."""
    failed: list[tuple[str, BaseException]] = []
    for index, entry in enumerate(entries, start=1):
        try:
            await run_step(run, f"{op_id}/{index}", op_id, entry.fn, entry.name, entry.config)
        except Exception as exc:
            if run.fatal is not None or isinstance(exc, NonDeterministicError):
                raise
            failed.append((entry.name or f"{op_id}/{index}", exc))
    if failed:
        raise _failure(saga, failed, cause) from failed[0][1]


def _failure(
    saga: str | None, failed: list[tuple[str, BaseException]], cause: BaseException | None
) -> CompensationError:
    listed = "; ".join(f"{name} ({_described(exc)})" for name, exc in failed)
    after = "" if cause is None else f", after the block raised {_described(cause)}"
    where = "saga" if saga is None else f"saga {saga}"
    return CompensationError(
        f"{where}: {len(failed)} compensation(s) did not finish: {listed}{after}",
        error_type="CompensationError",
        data={"failed": [name for name, _ in failed]},
    )


def _described(exc: BaseException) -> str:
    if isinstance(exc, ErrorWithInfo):
        return f"{exc.error_type}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
