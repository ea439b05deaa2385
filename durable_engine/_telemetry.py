"""OpenTelemetry traces and metrics of executions (the optional extra `otel`).

Off unless an engine is made with `telemetry=True` (the global tracer and meter
providers) or `telemetry=Telemetry(...)` (providers of its own). Off, the engine holds
None where it would hold a `Telemetry`, and each hook is one `is None` test; the
`opentelemetry` packages are imported only when a `Telemetry` is made.

One trace per execution, whatever process runs it: a `durable_engine.start` span is
made as the execution is created (a new root, linked to the span current at the start
or, for an invoked execution, to the invoking run's span), and its context is stored
with the execution. Every run, in any process, is a child of that span, and each
operation a run executes is a child of its run (or of the context it runs in).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from typing import Any, Final

from ._models import ExecutionRecord, OperationType
from ._suspension import Suspend

__all__ = ["OperationSpan", "Telemetry", "telemetry_from"]

SCOPE: Final = "durable_engine"
"""The instrumentation scope's name (the tracer's and the meter's)."""

EXECUTION_ID: Final = "durable_engine.execution_id"
FUNCTION: Final = "durable_engine.function"
VERSION: Final = "durable_engine.version"
OPERATION_ID: Final = "durable_engine.operation_id"
OPERATION_NAME: Final = "durable_engine.operation_name"
OPERATION_TYPE: Final = "durable_engine.operation_type"
ATTEMPT: Final = "durable_engine.attempt"
OUTCOME: Final = "durable_engine.outcome"
STATUS: Final = "durable_engine.status"
TAKEN_FROM: Final = "durable_engine.taken_from"

_ENDED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT"})

_MISSING = (
    "telemetry needs the OpenTelemetry API: install the `otel` extra "
    '(pip install "durable-engine[otel]"), or opentelemetry-api itself'
)


class Telemetry:
    """Where an engine's spans and metrics go: `tracer_provider` and `meter_provider`
    (None: OpenTelemetry's global ones, as set with `trace.set_tracer_provider`).

    `Engine(..., telemetry=True)` makes one with the global providers. Raises
    ImportError if `opentelemetry-api` is not installed. `sample_interval` is how often,
    in seconds, an open engine counts the executions waiting to run and suspended."""

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        sample_interval: float = 10.0,
    ) -> None:
        try:
            from opentelemetry import context, metrics, trace
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )
        except ImportError as exc:
            raise ImportError(_MISSING) from exc
        if not sample_interval > 0:
            raise ValueError(f"sample_interval must be above 0 seconds, not {sample_interval!r}")
        self.sample_interval = float(sample_interval)
        self._trace = trace
        self._context = context
        self._propagator = TraceContextTextMapPropagator()
        self.tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self._started = meter.create_counter(
            "durable_engine.executions.started",
            unit="{execution}",
            description="Executions created, by function",
        )
        self._ended = meter.create_counter(
            "durable_engine.executions.ended",
            unit="{execution}",
            description="Executions that ended in a run here, by function and status",
        )
        self._attempts = meter.create_counter(
            "durable_engine.step.attempts",
            unit="{attempt}",
            description="Step attempts run, by function and outcome",
        )
        self._retries = meter.create_counter(
            "durable_engine.step.retries",
            unit="{retry}",
            description="Failed step attempts that the retry strategy retries, by function",
        )
        self._commit = meter.create_histogram(
            "durable_engine.checkpoint.commit.duration",
            unit="s",
            description="Time to commit one group of checkpoints",
        )
        self._batch = meter.create_histogram(
            "durable_engine.checkpoint.batch.size",
            unit="{write}",
            description="Writes committed together in one transaction",
        )
        self._callback_wait = meter.create_histogram(
            "durable_engine.callback.wait.duration",
            unit="s",
            description="Time from a callback's creation to its answer",
        )
        self._takeovers = meter.create_counter(
            "durable_engine.lease.takeovers",
            unit="{execution}",
            description="Executions taken over from a worker whose lease expired",
        )
        self.due = 0
        self.suspended = 0
        meter.create_observable_gauge(
            "durable_engine.executions.waiting",
            callbacks=[self._observe_due],
            unit="{execution}",
            description="Executions due and waiting for a worker to run them",
        )
        meter.create_observable_gauge(
            "durable_engine.executions.suspended",
            callbacks=[self._observe_suspended],
            unit="{execution}",
            description="Executions suspended (waiting for a timer, a callback, a child)",
        )

    # -- gauges ----------------------------------------------------------------

    def _observe_due(self, _options: Any) -> list[Any]:
        from opentelemetry.metrics import Observation

        return [Observation(self.due)]

    def _observe_suspended(self, _options: Any) -> list[Any]:
        from opentelemetry.metrics import Observation

        return [Observation(self.suspended)]

    async def sample(self, count: Any, now: Any) -> None:
        """Every `sample_interval` seconds, `await count(now())` for the gauges'
        `(due, suspended)`; runs until cancelled. A failed count keeps the last one."""
        while True:
            with contextlib.suppress(Exception):  # a gauge must not stop the engine
                self.due, self.suspended = await count(now())
            await asyncio.sleep(self.sample_interval)

    # -- traces ------------------------------------------------------------------

    def new_trace(self, execution_id: str, function: str) -> str:
        """Begin the trace of a new execution: a `durable_engine.start` root span linked
        to the current span, if any; the trace context to store with the execution."""
        trace = self._trace
        current = trace.get_current_span().get_span_context()
        links = [trace.Link(current)] if current.is_valid else []
        span = self.tracer.start_span(
            f"durable_engine.start {function}",
            context=self._context.Context(),  # a new trace, not the caller's
            links=links,
            attributes={EXECUTION_ID: execution_id, FUNCTION: function},
        )
        span.end()
        self._started.add(1, {FUNCTION: function})
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, context=trace.set_span_in_context(span))
        return json.dumps(carrier, sort_keys=True)

    def start_run(self, record: ExecutionRecord) -> RunSpan:
        """A span for one run of `record`, child of its stored trace context, made the
        current span until `RunSpan.end`."""
        parent = None
        if record.trace_context:
            try:
                parent = self._propagator.extract(json.loads(record.trace_context))
            except ValueError:
                parent = None
        attributes: dict[str, Any] = {
            EXECUTION_ID: record.execution_id,
            FUNCTION: record.function,
            VERSION: record.version,
        }
        if record.taken_from is not None:
            attributes[TAKEN_FROM] = record.taken_from
            self._takeovers.add(1, {FUNCTION: record.function})
        span = self.tracer.start_span(
            f"durable_engine.run {record.function}", context=parent, attributes=attributes
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        return RunSpan(self, span, token, record.function)

    def operation(
        self,
        record: ExecutionRecord,
        op_id: str,
        type_: OperationType,
        name: str | None,
        attempt: int | None = None,
        kind: str | None = None,
    ) -> OperationSpan:
        """A span for an operation this run executes (`kind` names it, default its type
        in lower case), made the current span until `OperationSpan.end`."""
        label = kind or type_.value.lower()
        attributes: dict[str, Any] = {
            EXECUTION_ID: record.execution_id,
            FUNCTION: record.function,
            OPERATION_ID: op_id,
            OPERATION_TYPE: type_.value,
        }
        if name is not None:
            attributes[OPERATION_NAME] = name
        if attempt is not None:
            attributes[ATTEMPT] = attempt
        span = self.tracer.start_span(
            f"durable_engine.{label} {name or op_id}", attributes=attributes
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        step = record.function if type_ is OperationType.STEP else None
        return OperationSpan(self, span, token, step)

    def start_attempt(
        self, record: ExecutionRecord, op_id: str, name: str | None, attempt: int
    ) -> OperationSpan:
        """The span of one attempt of a step (counted in `durable_engine.step.attempts`
        as it ends)."""
        return self.operation(record, op_id, OperationType.STEP, name, attempt)

    async def traced(
        self,
        awaitable: Awaitable[Any],
        record: ExecutionRecord,
        op_id: str,
        type_: OperationType,
        name: str | None,
        kind: str | None = None,
    ) -> Any:
        """Await `awaitable` inside an operation's span; its outcome is how it ended."""
        span = self.operation(record, op_id, type_, name, kind=kind)
        try:
            value = await awaitable
        except BaseException as exc:
            span.end_with(exc)
            raise
        span.end("succeeded")
        return value

    # -- metrics fed from elsewhere ----------------------------------------------

    def retried(self, record: ExecutionRecord) -> None:
        """A step attempt failed and will be retried."""
        self._retries.add(1, {FUNCTION: record.function})

    def commit_observed(self, seconds: float, writes: int) -> None:
        """A group commit took `seconds` and carried `writes` queued writes."""
        self._commit.record(seconds)
        self._batch.record(writes)

    def callback_answered(self, function: str | None, seconds: float) -> None:
        """A callback was answered `seconds` after it was created."""
        self._callback_wait.record(seconds, {} if function is None else {FUNCTION: function})

    def _ended_run(self, function: str, status: str) -> None:
        if status in _ENDED:
            self._ended.add(1, {FUNCTION: function, STATUS: status})


class _Span:
    __slots__ = ("_done", "_span", "_telemetry", "_token")

    def __init__(self, telemetry: Telemetry, span: Any, token: Any) -> None:
        self._telemetry = telemetry
        self._span = span
        self._token = token
        self._done = False

    def _close(self, outcome: str, error: BaseException | None) -> bool:
        if self._done:
            return False
        self._done = True
        span = self._span
        span.set_attribute(OUTCOME, outcome)
        if error is not None and outcome in ("failed", "FAILED", "TIMED_OUT"):
            span.record_exception(error)
            span.set_status(self._telemetry._trace.StatusCode.ERROR, str(error))
        elif outcome in ("FAILED", "TIMED_OUT"):
            span.set_status(self._telemetry._trace.StatusCode.ERROR, outcome)
        span.end()
        with contextlib.suppress(ValueError):  # ended from another context: it still ended
            self._telemetry._context.detach(self._token)
        return True


class OperationSpan(_Span):
    """An operation's span while it runs."""

    __slots__ = ("_step_function",)

    def __init__(
        self, telemetry: Telemetry, span: Any, token: Any, step_function: str | None
    ) -> None:
        super().__init__(telemetry, span, token)
        self._step_function = step_function

    def end(self, outcome: str, error: BaseException | None = None) -> None:
        """End the span with `outcome` (succeeded, failed, suspended, cancelled); a second
        call does nothing."""
        if self._close(outcome, error) and self._step_function is not None:
            self._telemetry._attempts.add(1, {FUNCTION: self._step_function, OUTCOME: outcome})

    def end_with(self, exc: BaseException) -> None:
        """End the span for an operation left by `exc`."""
        if isinstance(exc, Suspend):
            self.end("suspended")
        elif isinstance(exc, asyncio.CancelledError) or not isinstance(exc, Exception):
            self.end("cancelled")
        else:
            self.end("failed", exc)


class RunSpan(_Span):
    """A run's span while it runs."""

    __slots__ = ("_function",)

    def __init__(self, telemetry: Telemetry, span: Any, token: Any, function: str) -> None:
        super().__init__(telemetry, span, token)
        self._function = function

    def end(self, outcome: str, error: BaseException | None = None) -> None:
        """End the run's span with how the run ended (a `RunOutcome` value)."""
        if self._close(outcome, error):
            self._telemetry._ended_run(self._function, outcome)


def telemetry_from(telemetry: bool | Telemetry | None) -> Telemetry | None:
    """The `Telemetry` an engine's `telemetry` argument asks for (None: off)."""
    if telemetry is None or telemetry is False:
        return None
    if telemetry is True:
        return Telemetry()
    if isinstance(telemetry, Telemetry):
        return telemetry
    raise TypeError(f"telemetry must be True, False or a Telemetry, not {type(telemetry).__name__}")
