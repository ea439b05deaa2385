"""OpenTelemetry: one trace per execution, spans per run and operation, the metrics."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from durable_engine import (
    DurableContext,
    Engine,
    RetryStrategyConfig,
    StepConfig,
    Telemetry,
    create_retry_strategy,
)
from tests.telemetry.spans import trace_tree

RETRY_ONCE = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(max_attempts=3, initial_delay=timedelta(seconds=0))
    )
)


def _attr(span: ReadableSpan, key: str) -> Any:
    """The span's attribute `durable_engine.<key>`."""
    return (span.attributes or {}).get(f"durable_engine.{key}")


class Otel:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.telemetry = Telemetry(
            tracer_provider=tracer_provider,
            meter_provider=MeterProvider(metric_readers=[self.reader]),
        )

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Each metric's points: (attributes, value; a histogram's count and sum)."""
        data = self.reader.get_metrics_data()
        out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value: Any = getattr(point, "value", None)
                        if value is None:
                            value = (getattr(point, "count", None), getattr(point, "sum", None))
                        attributes = dict(point.attributes or {})
                        out.setdefault(metric.name, []).append((attributes, value))
        return out


@pytest.fixture
def otel() -> Otel:
    return Otel()


def build(db: Path, otel: Otel) -> Engine:
    engine = Engine(db, in_memory_wait=0, telemetry=otel.telemetry)
    flaky: list[int] = []

    def fail_once(_: object) -> str:
        flaky.append(1)
        if len(flaky) == 1:
            raise ConnectionError("first attempt fails")
        return "ok"

    @engine.durable_function(name="child")
    async def child(ctx: DurableContext, n: int) -> int:
        return await ctx.step(lambda _: n * 2, name="double")

    @engine.durable_function(name="parent")
    async def parent(ctx: DurableContext, _: None) -> list[Any]:
        first = await ctx.step(fail_once, name="flaky", config=RETRY_ONCE)
        await ctx.wait(timedelta(milliseconds=1), name="pause")
        batch = await ctx.parallel(
            [lambda c: c.step(lambda _: 1, name="a"), lambda c: c.step(lambda _: 2, name="b")],
            name="fan",
        )
        doubled = await ctx.invoke("child", 21, name="call-child")
        answer = await ctx.wait_for_callback(lambda _id, _s: None, name="approval")
        return [first, batch.get_results(), doubled, answer]

    return engine


async def _answer_when_pending(engine: Engine, execution_id: str) -> None:
    while True:
        for op in (await engine.get_operations(execution_id))[-1:]:
            for node in op.walk():
                if node.type.value == "CALLBACK" and node.ref and node.status.value == "STARTED":
                    await engine.send_callback_success(node.ref, "yes")
                    return
        await asyncio.sleep(0.01)


async def test_an_execution_is_one_trace_with_a_span_per_run_and_operation(
    tmp_path: Path, otel: Otel
) -> None:
    engine = build(tmp_path / "t.db", otel)
    async with engine:
        handle = await engine.start("parent", None, execution_name="traced")
        await _answer_when_pending(engine, handle.execution_id)
        assert await handle.result() == ["ok", [1, 2], 42, "yes"]
    spans = otel.finished()
    ours = [s for s in spans if _attr(s, "execution_id") == handle.execution_id]
    traces = {s.context.trace_id for s in ours}
    assert len(traces) == 1  # across every run of it
    [start] = [s for s in ours if s.name == "durable_engine.start parent"]
    runs = [s for s in ours if s.name == "durable_engine.run parent"]
    assert len(runs) >= 3  # it suspended at the wait, the invoke and the callback
    assert {r.parent.span_id for r in runs if r.parent} == {start.context.span_id}
    assert _attr(runs[-1], "outcome") == "SUCCEEDED"
    assert "SUSPENDED" in [_attr(r, "outcome") for r in runs]
    attempts = [
        (_attr(s, "attempt"), _attr(s, "outcome"))
        for s in ours
        if s.name == "durable_engine.step flaky"
    ]
    assert attempts == [(1, "failed"), (2, "succeeded")]
    names = {s.name for s in ours}
    assert {
        "durable_engine.wait pause",
        "durable_engine.parallel fan",
        "durable_engine.branch 1/1" if False else "durable_engine.step a",
        "durable_engine.invoke call-child",
        "durable_engine.context approval",
        "durable_engine.callback_wait approval",
    } <= names, names
    branches = [s for s in ours if s.name.startswith("durable_engine.branch")]
    [fan] = [s for s in ours if s.name == "durable_engine.parallel fan"]
    assert len(branches) == 2 and {b.parent.span_id for b in branches if b.parent} == {
        fan.context.span_id
    }
    step_a = next(s for s in ours if s.name == "durable_engine.step a")
    assert step_a.parent is not None and step_a.parent.span_id in {
        b.context.span_id for b in branches
    }
    assert _attr(step_a, "operation_id").startswith(_attr(fan, "operation_id") + "/")
    # The invoked execution has a trace of its own, linked to the span it was invoked in.
    [child_start] = [s for s in spans if s.name == "durable_engine.start child"]
    assert child_start.context.trace_id not in traces
    [link] = child_start.links
    assert link.context.trace_id in traces
    print(trace_tree([s for s in spans if s.context.trace_id in traces]))


async def test_metrics_count_executions_attempts_commits_and_callbacks(
    tmp_path: Path, otel: Otel
) -> None:
    engine = build(tmp_path / "m.db", otel)
    async with engine:
        handle = await engine.start("parent", None)
        await _answer_when_pending(engine, handle.execution_id)
        await handle.result()
    got = otel.metrics()
    started = {a["durable_engine.function"]: v for a, v in got["durable_engine.executions.started"]}
    assert started == {"parent": 1, "child": 1}
    ended = {
        (a["durable_engine.function"], a["durable_engine.status"]): v
        for a, v in got["durable_engine.executions.ended"]
    }
    assert ended == {("parent", "SUCCEEDED"): 1, ("child", "SUCCEEDED"): 1}
    attempts = {
        (a["durable_engine.function"], a["durable_engine.outcome"]): v
        for a, v in got["durable_engine.step.attempts"]
    }
    assert attempts[("parent", "failed")] == 1
    assert [v for _, v in got["durable_engine.step.retries"]] == [1]
    [(_, (commits, _seconds))] = got["durable_engine.checkpoint.commit.duration"]
    [(_, (batches, writes))] = got["durable_engine.checkpoint.batch.size"]
    assert commits == batches > 0 and writes >= batches
    [(attrs, (answered, _))] = got["durable_engine.callback.wait.duration"]
    assert answered == 1 and attrs == {"durable_engine.function": "parent"}
    assert "durable_engine.executions.waiting" in got
    assert "durable_engine.executions.suspended" in got


async def test_off_by_default_and_a_bad_value_is_a_type_error(tmp_path: Path) -> None:
    assert Engine(tmp_path / "x.db").executor.telemetry is None
    with pytest.raises(TypeError, match="telemetry must be True, False or a Telemetry"):
        Engine(tmp_path / "x.db", telemetry="yes")  # type: ignore[arg-type]
