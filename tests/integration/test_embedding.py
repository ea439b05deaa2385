"""An engine inside a service: callers that give up, a loop that shuts down around it,
and workflow code that raises what an engine does not expect."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionAlreadyExists,
    ExecutionFailedError,
    ExecutionHandle,
    ExecutionStatus,
    RetryPresets,
    StepConfig,
    StepContext,
    StepError,
)
from tests.conftest import Effects, rows, wait_for_status

ROOT = Path(__file__).resolve().parents[2]


async def test_a_start_cancelled_while_its_execution_is_created_still_runs_it(
    engine: Engine, effects: Effects
) -> None:
    """A request handler with a deadline, or a client that went away: the caller is
    cancelled while start() waits for the commit. The execution exists then, owned by
    this engine, and no other worker would take it: it must run here."""

    def charge(step: StepContext) -> str:
        effects.record("charged")
        return "charged"

    @engine.durable_function
    async def order(ctx: DurableContext, n: int) -> str:
        return str(await ctx.step(charge, name="charge"))

    async with engine:
        caller = asyncio.create_task(engine.run(order, 1, execution_name="order-1"))
        await asyncio.sleep(0)  # start() is waiting for its commit
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        retried = await engine.start(order, 1, execution_name="order-1")  # the client retries
        assert await retried.result() == "charged"
    assert effects.count("charged") == 1


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "service.py"
    path.write_text(textwrap.dedent(body))
    return path


def _finished(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Its output once it exits; killed (and the test failed) if it hangs."""
    try:
        return proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise


def _run(script: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=script.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


SERVICE = """
    import asyncio, sys
    from durable_engine import Engine

    engine = Engine("service.db")

    @engine.durable_function(name="nap")
    async def nap(ctx, seconds):
        await ctx.wait(seconds, name="nap")
        return "rested"

    async def serve(ready):
        async with engine:
            await engine.start("nap", 3600, execution_name="long-nap")
            ready.set()
            await asyncio.Event().wait()  # serve for ever

    async def main():
        ready = asyncio.Event()
        server = asyncio.create_task(serve(ready))
        await ready.wait()
        print("ready", flush=True)
        if sys.argv[1] == "return":
            return  # asyncio.run cancels the server, engine and all, as it ends
        await asyncio.Event().wait()

    asyncio.run(main())
    print("exited", flush=True)
"""


@pytest.mark.parametrize("ending", ["return", "sigint"])
def test_a_service_whose_loop_ends_around_the_engine_exits(tmp_path: Path, ending: str) -> None:
    """The engine runs in a background task; the program returns, or gets Ctrl-C, and
    asyncio cancels every task at once, the engine's own writer among them."""
    proc = _run(_script(tmp_path, SERVICE), ending)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    if ending == "sigint":
        proc.send_signal(signal.SIGINT)
    out, err = _finished(proc)
    if ending == "return":
        assert (proc.returncode, out.strip()) == (0, "exited"), err
    else:
        assert proc.returncode != 0 and "KeyboardInterrupt" in err
    # The execution is still there, unfinished: the next engine on the file resumes it.
    asyncio.run(_resumed_to_its_wait(tmp_path / "service.db"))


async def _resumed_to_its_wait(db: Path) -> None:
    engine = Engine(db)

    @engine.durable_function(name="nap")
    async def nap(ctx: DurableContext, seconds: float) -> str:
        await ctx.wait(seconds, name="nap")
        return "rested"

    async with engine:
        [info] = await engine.list_executions(name="long-nap")
        await wait_for_status(ExecutionHandle(engine, info.execution_id), ExecutionStatus.SUSPENDED)
        [op] = await engine.get_operations(info.execution_id)
        assert (op.name, op.status.value) == ("nap", "STARTED")


EXITING_STEP = """
    import asyncio, os, sys
    from durable_engine import Engine

    engine = Engine("exit.db")

    def shut_down(step):
        if not os.path.exists("exited-once"):
            open("exited-once", "w").close()
            sys.exit(3)  # a library that gives up on the whole process
        return "done"

    @engine.durable_function(name="flow")
    async def flow(ctx, _):
        return await ctx.step(shut_down, name="shut-down")

    async def main():
        async with engine:
            print(await engine.run("flow", None, execution_name="once"), flush=True)

    asyncio.run(main())
"""


def test_sys_exit_inside_a_step_ends_the_process_and_the_execution_resumes(
    tmp_path: Path,
) -> None:
    script = _script(tmp_path, EXITING_STEP)
    first = _run(script)
    out, err = _finished(first)
    assert first.returncode == 3, err
    assert "never retrieved" not in err  # the exit is the caller's to see, reported once
    second = _run(script)
    out, err = _finished(second)
    assert (second.returncode, out.strip()) == (0, "done"), err


async def test_a_cancelled_error_from_inside_a_step_is_an_error_like_any_other(
    engine: Engine,
) -> None:
    """The body awaited a task that was cancelled: the step fails (and is retried); the
    engine does not take it for its own cancellation and leave the execution hanging."""
    attempts: list[int] = []

    async def body(step: StepContext) -> str:
        attempts.append(step.attempt)
        helper = asyncio.create_task(asyncio.sleep(60, "slept"))
        helper.cancel()
        return await helper

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> str:
        retry_once = StepConfig(retry_strategy=RetryPresets.fixed(0.01))
        try:
            return str(await ctx.step(body, name="body", config=retry_once))
        except StepError as exc:
            return f"{exc.error_type} after {len(attempts)}"

    async with engine:
        assert await engine.run(flow) == f"CancelledError after {len(attempts)}"
    assert len(attempts) > 1


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for this one")


async def test_errors_that_cannot_be_printed_or_are_huge_are_still_recorded(
    db_path: Path,
) -> None:
    engine = Engine(db_path, in_memory_wait=0, payload_limit=64 * 1024)
    no_retry = StepConfig(retry_strategy=RetryPresets.none())

    def huge(step: StepContext) -> None:
        raise ValueError("x" * 10_000_000)

    @engine.durable_function
    async def flow(ctx: DurableContext, where: str) -> Any:
        if where == "workflow":
            raise _Unprintable()
        if where == "step":
            return await ctx.step(lambda s: (_ for _ in ()).throw(_Unprintable()), name="bad")
        return await ctx.step(huge, name="huge", config=no_retry)

    async with engine:
        for where in ("workflow", "huge"):
            info = await engine.wait_for((await engine.start(flow, where)).execution_id)
            assert info.status is ExecutionStatus.FAILED
            assert isinstance(info.error, ExecutionFailedError | StepError)
        unprintable = await engine.wait_for((await engine.start(flow, "workflow")).execution_id)
        assert "str() of the _Unprintable raised RuntimeError" in str(unprintable.error)
        big = await engine.wait_for((await engine.start(flow, "huge")).execution_id)
        assert "characters cut" in str(big.error) and len(str(big.error)) < 64 * 1024
    for table in ("operations", "executions"):
        [(largest,)] = rows(db_path, f"SELECT MAX(length(error)) FROM {table}")
        assert isinstance(largest, int) and largest <= 64 * 1024


@pytest.mark.parametrize("body", ["async", "sync"])
async def test_an_operation_inside_a_step_body_fails_the_step_at_once(
    engine: Engine, body: str
) -> None:
    """It would be recorded as the workflow's own next operation, and fail replay. An
    operation called from other code while a body waits is fine."""
    tries: list[int] = []

    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> list[str]:
        async def outer(step: StepContext) -> None:
            tries.append(step.attempt)
            await asyncio.sleep(0.01)  # meanwhile the gathered step below is called
            await ctx.step(lambda s: 1, name="inner")

        def outer_sync(step: StepContext) -> None:
            tries.append(step.attempt)
            ctx.step(lambda s: 1, name="inner").close()

        async def beside() -> str:
            await asyncio.sleep(0)
            return str(await ctx.step(lambda s: "fine", name="beside"))

        async def failed() -> str:
            try:
                await ctx.step(outer if body == "async" else outer_sync, name="outer")
            except StepError as exc:
                return exc.message
            return "accepted"

        return list(await asyncio.gather(failed(), beside()))

    async with engine:
        message, beside = await engine.run(flow)
        assert "inside a step's body" in message and beside == "fine"
        ops = await engine.get_operations((await engine.list_executions())[0].execution_id)
        assert [(op.name, op.attempt, op.children) for op in ops] == [
            ("outer", 1, []),
            ("beside", 1, []),
        ]
    assert tries == [1]  # not retried: it would fail the same way


async def test_inputs_equal_in_python_but_of_other_types_are_other_inputs(
    engine: Engine,
) -> None:
    @engine.durable_function
    async def flow(ctx: DurableContext, x: Any) -> Any:
        return x

    async with engine:
        first = await engine.start(flow, 1, execution_name="n")
        for other in (True, 1.0, [1], {"a": 1}):
            with pytest.raises(ExecutionAlreadyExists):
                await engine.start(flow, other, execution_name="n")
        again = await engine.start(flow, 1, execution_name="n")
        assert again.execution_id == first.execution_id
        await engine.start(flow, {"a": 1, "b": [1, 2.5]}, execution_name="m")
        reordered = {"b": [1, 2.5], "a": 1}
        assert (await engine.start(flow, reordered, execution_name="m")).execution_id


async def test_an_engine_closed_or_not_yet_open_says_so(engine: Engine) -> None:
    @engine.durable_function
    async def flow(ctx: DurableContext, _: None) -> None:
        await ctx.wait(3600)

    with pytest.raises(RuntimeError, match="not open"):
        await engine.list_executions()
    async with engine:
        with pytest.raises(RuntimeError, match="already open"):
            async with engine:
                pass
        handle = await engine.start(flow)
        waiter = asyncio.create_task(handle.result())
        await asyncio.sleep(0.05)
    with pytest.raises(RuntimeError, match="closed before the execution ended"):
        await waiter
    with pytest.raises(RuntimeError, match="not open"):
        await engine.get_execution(handle.execution_id)


async def test_sync_step_bodies_run_in_at_most_max_step_threads_threads(db_path: Path) -> None:
    """A thousand blocking bodies at once must not make a thousand threads: they queue
    for the engine's `max_step_threads`, and every one of them still runs."""
    engine = Engine(db_path, max_step_threads=2)
    lock = threading.Lock()
    inside = [0]
    most = [0]
    names: set[str] = set()

    def blocking(step: StepContext) -> int:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            names.add(threading.current_thread().name)
        time.sleep(0.01)  # a blocking call: the next bodies queue meanwhile
        with lock:
            inside[0] -= 1
        return step.attempt

    @engine.durable_function
    async def fan_out(ctx: DurableContext, count: int) -> int:
        async def one(child: DurableContext, item: int, index: int, items: Any) -> int:
            return int(await child.step(blocking, name=f"block-{item}"))

        return sum((await ctx.map(range(count), one)).get_results())

    async with engine:
        assert await engine.run(fan_out, 12) == 12
    assert most[0] == 2
    assert len(names) == 2 and all(name.startswith("durable-step") for name in names)


async def test_closing_an_engine_leaves_no_task_of_its_own_behind(db_path: Path) -> None:
    """Every task the engine starts (runs, branches, the scheduler's loops) has an
    owner, and closing waits for all of them: a service's loop is left as it was."""
    engine = Engine(db_path)

    @engine.durable_function
    async def waits(ctx: DurableContext, _: None) -> None:
        await ctx.parallel([lambda c: c.wait(3600), lambda c: c.wait(7200)])

    before = asyncio.all_tasks()
    async with engine:
        await engine.start(waits)
        await engine.start(waits)
        assert len(asyncio.all_tasks() - before) > 1
    assert asyncio.all_tasks() - before == set()
