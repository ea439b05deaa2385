"""mypy sees that `ctx.continue_as_new` never returns: a function may end with it, and
code after it is unreachable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cli.helpers import ROOT

SAMPLE = """
from __future__ import annotations

from durable_engine import DurableContext, Engine

engine = Engine("typed.db")


@engine.durable_function
async def loop(ctx: DurableContext, n: int) -> int:
    if n > 10:
        return n
    await ctx.continue_as_new(n + 1)


@engine.durable_function
async def after(ctx: DurableContext, n: int) -> int:
    await ctx.continue_as_new(n + 1)
    return n
"""


def test_mypy_knows_continue_as_new_never_returns(tmp_path: Path) -> None:
    (tmp_path / "sample.py").write_text(SAMPLE)
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--strict", "--warn-unreachable"),
            *("--no-error-summary", "--config-file", str(ROOT / "pyproject.toml"), "sample.py"),
        ],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Only the sample's own lines: with --warn-unreachable mypy may also report defensive
    # checks inside the engine's source, which is on MYPYPATH here.
    errors = [
        line
        for line in proc.stdout.splitlines()
        if line.startswith("sample.py:") and ": error:" in line
    ]
    # No "Missing return statement" for `loop`; the `return` after the call is unreachable.
    assert len(errors) == 1, proc.stdout
    assert "sample.py:19: error: Statement is unreachable" in errors[0]
