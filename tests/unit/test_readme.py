"""The README's two commands are the ones CI and a newcomer run."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_readme_has_the_two_commands() -> None:
    run_example, run_tests = _commands()
    assert "examples/order_processing.py" in run_example
    assert "pytest" in run_tests


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, run_tests = _commands()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert run_tests in ci_lines


def test_examples_named_in_the_readme_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in set(re.findall(r"examples/[\w]+\.py", readme)):
        assert (ROOT / path).is_file(), path


def test_python_blocks_parse_and_import_names_that_exist() -> None:
    """Every Python snippet is valid (top-level await allowed: most are workflow bodies)
    and imports only public names the packages have."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) >= 5
    missing = []
    for block in blocks:
        tree = compile(
            block, "README.md", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module is not None:
                if node.module.split(".")[0] not in ("durable_engine", "serdes"):
                    continue
                module = importlib.import_module(node.module)
                missing += [
                    f"{node.module}.{a.name}" for a in node.names if not hasattr(module, a.name)
                ]
    assert missing == []
