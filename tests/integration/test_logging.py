"""Structured logs: one JSON record per lifecycle event, from `durable_engine.logging`."""

from __future__ import annotations

import io
import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import durable_engine
import durable_engine.logging as de_logging
from durable_engine import (
    DurableContext,
    Engine,
    ExecutionStatus,
    RetryPresets,
    StepConfig,
    StepError,
)
from tests.cli.helpers import cli, events, wait_status, worker
from tests.conftest import wait_for_status


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What a `json_handler` on the engine's logger writes, at INFO, during the test."""
    out = io.StringIO()
    handler = de_logging.json_handler(out, service="shop")
    logger = logging.getLogger(de_logging.LOGGER_NAME)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _records(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _events_of(out: io.StringIO, execution_id: str) -> list[dict[str, Any]]:
    return [r for r in _records(out) if r.get("execution_id") == execution_id]


def test_the_module_is_reachable_from_the_package() -> None:
    assert durable_engine.logging.json_handler is de_logging.json_handler
    assert de_logging.LOGGER_NAME == "durable_engine"


async def test_lifecycle_events_carry_id_function_status_and_the_error(
    engine: Engine, log_lines: io.StringIO
) -> None:
    @engine.durable_function(name="good")
    async def good(ctx: DurableContext, x: int) -> int:
        await ctx.wait(0.5, name="nap")  # suspends (in_memory_wait=0), then resumes
        return await ctx.step(lambda s: x + 1, name="add")

    @engine.durable_function(name="bad")
    async def bad(ctx: DurableContext, _: None) -> None:
        def boom(s: object) -> None:
            raise ValueError("no such <item>")

        await ctx.step(boom, name="boom", config=StepConfig(retry_strategy=RetryPresets.none()))

    @engine.durable_function(name="forever")
    async def forever(ctx: DurableContext, _: None) -> None:
        await ctx.wait(3600, name="long")

    async with engine:
        done = await engine.start(good, 1, execution_name="g-1")
        assert await done.result() == 2
        failing = await engine.start(bad)
        with pytest.raises(StepError):
            await failing.result()
        waiting = await engine.start(forever)
        await wait_for_status(waiting, ExecutionStatus.SUSPENDED)
        await engine.stop(waiting.execution_id)

    seen = _events_of(log_lines, done.execution_id)
    assert [(r["event"], r["status"]) for r in seen] == [
        ("create", "RUNNING"),
        ("suspend", "SUSPENDED"),
        ("claim", "RUNNING"),
        ("finish", "SUCCEEDED"),
    ]
    assert all(r["function"] == "good" and r["service"] == "shop" for r in seen)
    assert all(r["logger"] == "durable_engine" and r["level"] == "info" for r in seen)
    assert seen[0]["name"] == "g-1" and seen[1]["wake_at"].endswith("+00:00")
    assert "error_type" not in seen[-1]

    failed = _events_of(log_lines, failing.execution_id)
    assert [r["event"] for r in failed] == ["create", "finish"]
    assert failed[-1]["status"] == "FAILED"
    assert failed[-1]["error_type"] == "ValueError"
    assert failed[-1]["error_message"] == "no such <item>"

    stopped = _events_of(log_lines, waiting.execution_id)
    assert [(r["event"], r.get("status")) for r in stopped] == [
        ("create", "RUNNING"),
        ("suspend", "SUSPENDED"),
        ("finish", "STOPPED"),
    ]
    assert stopped[-1]["function"] == "forever"
    assert stopped[-1]["error_type"] == "ExecutionStopped"


async def test_a_timed_out_execution_finishes_with_its_error(
    engine: Engine, log_lines: io.StringIO
) -> None:
    @engine.durable_function(name="slow")
    async def slow(ctx: DurableContext, _: None) -> None:
        await ctx.wait(3600, name="long")

    async with engine:
        handle = await engine.start(slow, timeout=0.05)
        await wait_for_status(handle, ExecutionStatus.TIMED_OUT)
    ending = _events_of(log_lines, handle.execution_id)[-1]
    assert (ending["event"], ending["status"]) == ("finish", "TIMED_OUT")
    assert ending["error_type"] == "ExecutionTimedOut"


async def test_an_invoked_child_is_logged_as_created_by_its_parent(
    engine: Engine, log_lines: io.StringIO
) -> None:
    @engine.durable_function(name="child")
    async def child(ctx: DurableContext, x: int) -> int:
        return x * 2

    @engine.durable_function(name="parent")
    async def parent(ctx: DurableContext, x: int) -> int:
        result: int = await ctx.invoke("child", x, name="double")
        return result

    async with engine:
        handle = await engine.start(parent, 4)
        assert await handle.result() == 8
    created = [r for r in _records(log_lines) if r["event"] == "create"]
    assert [(r["function"], r.get("parent_id")) for r in created] == [
        ("parent", None),
        ("child", handle.execution_id),
    ]


async def test_workflow_logs_carry_their_execution_and_a_traceback(
    engine: Engine, log_lines: io.StringIO
) -> None:
    @engine.durable_function(name="chatty")
    async def chatty(ctx: DurableContext, _: None) -> None:
        ctx.logger.info("hello %s", "<there>")

        def body(s: durable_engine.StepContext) -> None:
            try:
                raise KeyError("k")
            except KeyError:
                s.logger.exception("step went wrong")

        await ctx.step(body, name="body")

    async with engine:
        handle = await engine.start(chatty)
        await handle.result()
    logs = [r for r in _records(log_lines) if r["event"] == "log"]
    assert [(r["message"], r["execution_id"]) for r in logs] == [
        ("hello <there>", handle.execution_id),
        ("step went wrong", handle.execution_id),
    ]
    assert logs[1]["level"] == "error" and logs[1]["operation_id"] == "1"
    assert logs[1]["attempt"] == 1 and "KeyError: 'k'" in logs[1]["traceback"]
    assert "traceback" not in logs[0] and logs[0]["service"] == "shop"


def test_the_formatter_writes_any_record_as_one_json_object() -> None:
    record = logging.LogRecord("app", logging.WARNING, __file__, 1, "line\nbreak %d", (7,), None)
    line = de_logging.JsonFormatter(host="h1").format(record)
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": json.loads(line)["ts"],
        "level": "warning",
        "logger": "app",
        "event": "log",
        "message": "line\nbreak 7",
        "host": "h1",
    }


FAILING_APP = """
from durable_engine import DurableContext, Engine, RetryPresets, StepConfig

engine = Engine("app.db", in_memory_wait=0)

@engine.durable_function(name="explode")
async def explode(ctx: DurableContext, _: None) -> None:
    def boom(s):
        raise RuntimeError("disk on fire")
    await ctx.step(boom, name="boom", config=StepConfig(retry_strategy=RetryPresets.none()))
"""


def test_the_worker_logs_a_failed_finish_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(FAILING_APP)
    execution_id = cli(tmp_path, "start", "explode", "--app", "app:engine").stdout.strip()
    proc = worker(tmp_path, "--grace-seconds", "1", "--worker-id", "w-log")
    try:
        wait_status(tmp_path, execution_id, "FAILED")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    seen = [e for e in events(err) if e.get("execution_id") == execution_id]
    assert [e["event"] for e in seen] == ["claim", "finish"]
    finish = seen[-1]
    assert finish["worker"] == "w-log" and finish["function"] == "explode"
    assert (finish["status"], finish["error_type"], finish["error_message"]) == (
        "FAILED",
        "RuntimeError",
        "disk on fire",
    )
