"""The same checks as a flake8 plugin: the class itself, its entry point, and flake8."""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from durable_engine.lint import lint_source
from durable_engine.lint.flake8_plugin import DurableLintPlugin
from tests.cli.helpers import ROOT, env

from .helpers import CORPUS, expected


def test_the_plugin_yields_what_the_linter_finds_with_flake8s_columns() -> None:
    path = CORPUS / "bad_state.py"
    source = path.read_text()
    plugin = DurableLintPlugin(ast.parse(source), str(path))
    results = list(plugin.run())
    assert [(line, msg.split()[0]) for line, _, msg, _ in results] == expected(path)
    for (line, col, msg, kind), finding in zip(results, lint_source(source), strict=True):
        assert (line, col + 1, msg) == (finding.line, finding.col, str(finding).split(": ", 1)[1])
        assert kind is DurableLintPlugin
    assert DurableLintPlugin.name == "durable-engine"
    assert isinstance(DurableLintPlugin.version, str)


def test_the_entry_point_names_the_plugin_under_its_code_prefix() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (code, target), *_ = project["entry-points"]["flake8.extension"].items()
    module, _, attr = target.partition(":")
    assert code == "DE"
    assert getattr(__import__(module, fromlist=[attr]), attr) is DurableLintPlugin


def test_flake8_runs_the_plugin_and_honours_noqa(tmp_path: Path) -> None:
    pytest.importorskip("flake8")
    installed = any(
        ep.value == "durable_engine.lint.flake8_plugin:DurableLintPlugin"
        for ep in importlib.metadata.entry_points(group="flake8.extension")
    )
    if not installed:  # run from a source tree: name the plugin to flake8 by hand
        (tmp_path / "setup.cfg").write_text(
            "[flake8:local-plugins]\n"
            "extension =\n    DE = durable_engine.lint.flake8_plugin:DurableLintPlugin\n"
        )
    (tmp_path / "flow.py").write_text(
        "import time\n\n\n"
        "@engine.durable_function\n"
        "async def flow(ctx, x):\n"
        "    time.sleep(x)\n"
        "    return time.time()  # noqa: DE101\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "flake8", "--select", "DE", "flow.py"],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        "flow.py:6:5: DE103 `time.sleep()` sleeps in memory: the wait is lost if the process "
        "stops: use `await ctx.wait(seconds)`, a durable timer"
    ]
