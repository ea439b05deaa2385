"""The `durable_runner` fixture, used by a test suite under pytest-asyncio strict and auto modes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.pytest_env import fresh_pytest_env

ROOT = Path(__file__).resolve().parents[2]

WORKFLOWS = """
from datetime import timedelta

from durable_engine import CallbackConfig, DurableContext, Engine

engine = Engine("never-opened.db")


@engine.durable_function(name="renewal")
async def renewal(ctx: DurableContext, user: str) -> str:
    await ctx.wait(timedelta(days=365), name="year")
    cb = await ctx.create_callback(name="confirm", config=CallbackConfig(timeout=timedelta(days=3)))
    answer = await cb.result()
    return f"{user}: {answer}"


async def reminder(ctx: DurableContext, days: int) -> int:
    await ctx.wait(timedelta(days=days))
    return days
"""

STRICT_TESTS = """
import pytest
from datetime import timedelta

from workflows import engine, reminder


@pytest.mark.asyncio
async def test_functions(durable_runner):
    async with durable_runner(reminder) as runner:
        result = await runner.run(reminder, 40)
        assert runner.clock.elapsed == timedelta(days=40)
    assert result.result == 40


@pytest.mark.asyncio
async def test_engine_and_callback(durable_runner):
    async with durable_runner(engine) as runner:
        handle = await runner.start("renewal", "kim")
        cb = await runner.wait_for_callback(handle, "confirm")
        await runner.send_callback_success(cb.callback_id, "yes")
        result = await runner.result(handle)
    assert result.result == "kim: yes"
    assert result.get_wait("year").duration == 365 * 86400


@pytest.mark.asyncio
async def test_options(durable_runner):
    async with durable_runner([reminder], skip_time=False) as runner:
        handle = await runner.start(reminder, 2)
        await runner.advance(timedelta(days=2))
        assert (await runner.result(handle)).result == 2
"""

AUTO_TESTS = """
from workflows import reminder


async def test_unmarked(durable_runner):
    async with durable_runner(reminder) as runner:
        assert (await runner.run(reminder, 3)).result == 3
"""


def run_pytest(
    tmp_path: Path, tests: str, *args: str, autoload: bool = True
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "workflows.py").write_text(WORKFLOWS)
    (tmp_path / "test_suite.py").write_text(tests)
    # A project that turns warnings into errors sets the loop scope: pytest-asyncio warns
    # while configuring if it is unset, and pytest 9.2 applies the filter there too.
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
    )
    env = fresh_pytest_env(PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    if autoload:
        env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    else:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("autoload", [True, False], ids=["with-entry-points", "explicit-only"])
def test_the_fixture_under_strict_mode(tmp_path: Path, autoload: bool) -> None:
    explicit = [] if autoload else ["-p", "pytest_asyncio.plugin"]
    done = run_pytest(
        tmp_path,
        STRICT_TESTS,
        *explicit,
        "-p",
        "durable_engine.testing.pytest_plugin",
        "--asyncio-mode=strict",
        autoload=autoload,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    assert not (tmp_path / "never-opened.db").exists()


def test_the_fixture_from_the_entry_point_under_auto_mode(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, AUTO_TESTS + STRICT_TESTS, "--asyncio-mode=auto")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_the_docs_test_example_runs_as_written_in_a_fresh_project(tmp_path: Path) -> None:
    """The example on the "Testing workflows" page, copied into a folder with no
    configuration at all, passes with what the `testing` extra installs."""
    page = (ROOT / "docs" / "testing.md").read_text()
    section = page.split("## An example test module", 1)[1].split("\n## ", 1)[0]
    [example] = [
        block for block in re.findall(r"```python\n(.*?)```", section, re.S) if "def test_" in block
    ]
    (tmp_path / "test_subscriptions.py").write_text(example)
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["testing"]
    assert {re.split(r"[<>=!~ ]", req)[0] for req in extra} >= {"pytest", "pytest-asyncio"}
    env = fresh_pytest_env(PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_subscriptions.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    tests = example.count("def test_")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{tests} passed" in done.stdout
    assert not (tmp_path / "subscriptions.db").exists()
