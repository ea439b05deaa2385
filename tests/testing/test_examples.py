"""The examples' workflows tested with the runner: their waits and timeouts take no time."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from durable_engine import ExecutionFailedError, ExecutionStatus, OperationStatus
from durable_engine.testing import DurableTestRunner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
START = datetime(2030, 3, 1, tzinfo=UTC)


def load(name: str) -> ModuleType:
    """Import examples/<name>.py on its own (its engine's file is never opened)."""
    module_name = f"_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # an example that opened its own file would show up here


# -- order processing ------------------------------------------------------------------


async def test_order_processing_runs_its_steps_and_cool_off() -> None:
    orders = load("order_processing")
    async with DurableTestRunner(orders.engine, start=START) as runner:
        result = await runner.run("process_order", {"orderId": "ORDER-9"})
        assert await runner.replay(result.execution_id) == result.result

    assert result.status is ExecutionStatus.SUCCEEDED
    assert result.result["orderId"] == "ORDER-9"
    assert result.result["status"] == "FINALIZED"
    assert [op.name for op in result.operations] == ["enrich", "cool-off", "finalize"]
    cool_off = result.get_wait("cool-off")
    assert (cool_off.started_at, cool_off.ended_at) == (START, START + timedelta(seconds=2))
    assert result.get_step("enrich").result["customerId"].startswith("CUST-")


async def test_order_processing_retries_a_flaky_enricher_on_virtual_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orders = load("order_processing")
    calls: list[str] = []

    async def flaky(order: dict[str, Any]) -> dict[str, Any]:
        calls.append(order["orderId"])
        if len(calls) < 3:
            raise TimeoutError("CRM did not answer")
        return {"customerId": "CUST-1"}

    monkeypatch.setitem(orders.ENRICHERS, "customer", flaky)
    async with DurableTestRunner(orders.engine, start=START) as runner:
        result = await runner.run("process_order", {"orderId": "ORDER-10"})
        elapsed = runner.clock.elapsed

    assert result.status is ExecutionStatus.SUCCEEDED
    assert calls == ["ORDER-10"] * 3
    enrich = result.get_step("enrich")
    assert (enrich.attempt, enrich.status) == (3, OperationStatus.SUCCEEDED)
    assert elapsed >= timedelta(seconds=2)  # the cool-off, plus the retry delays


async def test_order_processing_rejects_an_order_without_id() -> None:
    orders = load("order_processing")
    async with DurableTestRunner(orders.engine) as runner:
        result = await runner.run("process_order", {"orderId": " "})
    assert result.status is ExecutionStatus.FAILED
    assert isinstance(result.error, ExecutionFailedError)
    assert result.error.error_type == "ValueError"
    assert result.operations == ()


# -- human approval --------------------------------------------------------------------


def expense(amount: int = 1200) -> dict[str, Any]:
    day = 24 * 3600
    return {"requester": "sam", "amount": amount, "timeout": 2 * day, "escalation_timeout": day}


async def test_approval_answered_by_the_manager() -> None:
    approvals = load("human_approval")
    async with DurableTestRunner(approvals.engine, start=START) as runner:
        handle = await runner.start("expense_approval", expense())
        manager = await runner.wait_for_callback(handle, "manager-decision")
        await runner.advance(timedelta(days=1))  # a day to think, within the two allowed
        await runner.send_callback_success(manager.callback_id, {"approved": True})
        result = await runner.result(handle)
    assert result.result["approved"] is True and result.result["by"] == "manager"
    assert result.get_callback("manager-decision").ended_at == START + timedelta(days=1)


async def test_approval_escalates_past_a_silent_manager_to_the_director() -> None:
    approvals = load("human_approval")
    async with DurableTestRunner(approvals.engine, start=START) as runner:
        handle = await runner.start("expense_approval", expense())
        director = await runner.wait_for_callback(handle, "director-decision")
        assert runner.now() == START + timedelta(days=2)  # the manager's timeout, skipped
        await runner.send_callback_success(director.callback_id, {"approved": False})
        result = await runner.result(handle)
    assert result.result["by"] == "director" and result.result["approved"] is False
    assert result.get_callback("manager-decision").status is OperationStatus.TIMED_OUT


async def test_approval_times_out_when_nobody_answers() -> None:
    approvals = load("human_approval")
    async with DurableTestRunner(approvals.engine, start=START) as runner:
        result = await runner.run("expense_approval", expense())
        assert runner.now() == START + timedelta(days=3)
    assert result.result["approved"] is False
    assert result.result["by"] == "nobody (timed out)"


# -- job polling -----------------------------------------------------------------------


async def test_job_polling_follows_a_job_on_the_virtual_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jobs = load("job_polling")
    async with DurableTestRunner(jobs.engine, start=START) as runner:
        # The simulated job reads the time through the module: give it the virtual clock.
        monkeypatch.setattr(jobs, "time", SimpleNamespace(time=runner.clock.now))
        result = await runner.run("run_job", 20.0)
        elapsed = runner.clock.elapsed
    assert result.result["state"] == "DONE" and result.result["progress"] == 100
    polls = result.get_condition("until-done")
    assert polls.status is OperationStatus.SUCCEEDED
    assert polls.attempt > 5  # it backed off between polls, up to the 2-second cap
    assert timedelta(seconds=20) <= elapsed < timedelta(seconds=25)


# -- batch ETL -------------------------------------------------------------------------


async def test_batch_etl_both_shapes_load_the_same_totals() -> None:
    etl = load("batch_etl")
    job = {"records": 60, "batch_size": 25}
    async with DurableTestRunner(etl.engine, start=START) as runner:
        sliced = await runner.run("etl_in_slices", job)
        fanned = await runner.run("etl_fan_out", job)
    assert sliced.result == fanned.result
    assert sliced.result["rows"] == 60
    assert [op.name for op in sliced.operations] == [
        "extract",
        "transform-0-24",
        "breather-0",
        "transform-25-49",
        "breather-25",
        "transform-50-59",
        "load",
    ]
    mapped = fanned.get_operation("transform-all")
    assert len(mapped.children) == 60
    assert mapped.get_context("record-59").get_step("transform").result["id"] == 59
