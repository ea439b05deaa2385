"""The deploy check (`replay --all`), `export`, and golden histories in the test kit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from durable_engine import (
    DurableContext,
    Engine,
    ExecutionStatus,
    HistoryFileError,
    NonDeterministicError,
)
from durable_engine.testing import DurableTestRunner
from tests.cli.helpers import cli
from tests.conftest import wait_for_status

APP = """
from durable_engine import Engine

engine = Engine("unused.db")

@engine.durable_function(name="order")
async def order(ctx, item):
    {body}
    return str(await ctx.step(lambda _: f"shipped {{item}}", name="ship"))
"""
PAUSE = '\n    await ctx.wait(3600 if item != "quick" else 0, name="pause")'
BODIES = {
    "v1": 'await ctx.step(lambda _: "reserved", name="reserve")' + PAUSE,
    "renamed": 'await ctx.step(lambda _: "charged", name="charge")' + PAUSE,
    "patched": 'await ctx.step(lambda _: "reserved", name="reserve")'
    + PAUSE
    + '\n    if await ctx.patched("notify"):'
    + '\n        await ctx.step(lambda _: "notified", name="notify")',
}


async def v1(ctx: DurableContext, item: str) -> str:
    await ctx.step(lambda _: "reserved", name="reserve")
    await ctx.wait(3600 if item != "quick" else 0, name="pause")
    return str(await ctx.step(lambda _: f"shipped {item}", name="ship"))


async def renamed(ctx: DurableContext, item: str) -> str:
    await ctx.step(lambda _: "charged", name="charge")
    await ctx.wait(3600 if item != "quick" else 0, name="pause")
    return str(await ctx.step(lambda _: f"shipped {item}", name="ship"))


@pytest.fixture
async def deployed(tmp_path: Path) -> dict[str, str]:
    """A database with two executions waiting an hour and one finished, all on v1, and
    an app module for each later deploy; the executions' ids by input."""
    for deploy, body in BODIES.items():
        (tmp_path / f"app_{deploy}.py").write_text(APP.format(body=body))
    engine = Engine(tmp_path / "app.db", in_memory_wait=0)
    engine.durable_function(name="order")(v1)
    ids = {}
    async with engine:
        for item in ("a", "b"):
            handle = await engine.start("order", item)
            await wait_for_status(handle, ExecutionStatus.SUSPENDED)
            ids[item] = handle.execution_id
        quick = await engine.start("order", "quick")
        assert await quick.result() == "shipped quick"
        ids["quick"] = quick.execution_id
    return ids


def check(folder: Path, deploy: str, *args: str) -> Any:
    done = cli(
        folder,
        *("replay", "--all", "--app", f"app_{deploy}:engine", "--db", "app.db", *args),
        check=False,
    )
    return done


async def test_a_diverging_deploy_fails_the_check_naming_each_execution(
    tmp_path: Path, deployed: dict[str, str]
) -> None:
    done = check(tmp_path, "renamed")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert sorted(line.split()[1] for line in lines[:-1]) == sorted([deployed["a"], deployed["b"]])
    assert all(line.startswith("DIVERGES") and "'charge'" in line for line in lines[:-1])
    assert lines[-1] == (
        "replayed 2 execution(s) against this code: 0 match, 2 diverge, 0 have no code here"
    )

    with_finished = json.loads(
        check(tmp_path, "renamed", "--include-finished", "5", "--json").stdout
    )
    assert with_finished["replayed"] == 3 and with_finished["matched"] == 0
    assert {d["execution_id"] for d in with_finished["diverged"]} == set(deployed.values())


async def test_a_patched_deploy_passes_and_the_old_one_still_does(
    tmp_path: Path, deployed: dict[str, str]
) -> None:
    for deploy in ("patched", "v1"):
        done = check(tmp_path, deploy, "--include-finished", "1")
        assert done.returncode == 0, done.stdout
        assert done.stdout.splitlines() == [
            "replayed 3 execution(s) against this code: 3 match, 0 diverge, 0 have no code here"
        ]


async def test_replay_takes_an_execution_or_all_not_both(
    tmp_path: Path, deployed: dict[str, str]
) -> None:
    app = ("--app", "app_v1:engine", "--db", "app.db")
    both = cli(tmp_path, "replay", deployed["a"], "--all", *app, check=False)
    assert both.returncode == 2 and "not both" in both.stderr
    stray = cli(tmp_path, "replay", deployed["a"], "--function", "order", *app, check=False)
    assert stray.returncode == 2 and "go with --all" in stray.stderr


async def test_an_exported_history_replays_in_the_test_kit(
    tmp_path: Path, deployed: dict[str, str]
) -> None:
    for item in ("a", "quick"):
        exported = cli(tmp_path, "export", deployed[item], "--db", "app.db").stdout
        (tmp_path / f"{item}.json").write_text(exported)
        assert json.loads(exported)["format"] == "durable-engine-history"

    async with DurableTestRunner({"order": v1}) as runner:
        assert await runner.replay_history(tmp_path / "a.json") is None  # waits still
        assert await runner.replay_history(tmp_path / "quick.json", v1) == "shipped quick"
        with pytest.raises(NonDeterministicError, match=r"'reserve'.*'charge'"):
            await runner.replay_history(tmp_path / "a.json", renamed)
        (tmp_path / "bad.json").write_text('{"format": "something else"}')
        with pytest.raises(HistoryFileError, match="not a durable_engine history"):
            await runner.replay_history(tmp_path / "bad.json", v1)
