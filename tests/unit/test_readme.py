"""The README's two commands are the ones CI and a newcomer run; its links lead somewhere.

Its Python samples, and the docs', are run by tests/docs/test_samples.py."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_readme_has_the_two_commands() -> None:
    run_example, run_tests = _commands()
    assert run_example.startswith("python -m venv .venv && . .venv/bin/activate && ")
    assert "examples/order_processing.py" in run_example
    assert "pytest" in run_tests


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, run_tests = _commands()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert run_tests in ci_lines


def test_examples_named_in_the_readme_and_the_docs_exist() -> None:
    pages = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    named = {path for page in pages for path in re.findall(r"examples/\w+\.py", page.read_text())}
    assert named
    assert sorted(p for p in named if not (ROOT / p).is_file()) == []


def test_the_readmes_links_lead_to_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = {t.split("#", 1)[0] for t in re.findall(r"\]\(([^)]+)\)", readme)}
    local = {t for t in targets if "://" not in t}
    assert {"docs/index.md", "LICENSE", "ARCHITECTURE.md"} <= local
    assert sorted(t for t in local if not (ROOT / t).exists()) == []
