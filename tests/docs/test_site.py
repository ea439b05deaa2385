"""The documentation site builds with `mkdocs build --strict`, and its reference is whole."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import durable_engine
from durable_engine._cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _verbs() -> list[str]:
    """The verbs of the command's parser, in the order it lists them."""
    [verbs] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return list(verbs.choices)


def _need_mkdocs() -> None:
    """Skip without the `docs` extra, except in CI, where a skip would hide a broken site."""
    missing = [
        name
        for name in ("mkdocs", "material", "mkdocstrings")
        if not importlib.util.find_spec(name)
    ]
    if not missing:
        return
    reason = f"the docs extra is not installed (no {', '.join(missing)}): pip install -e '.[docs]'"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must build the docs site, but {reason}")
    pytest.skip(reason)


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    _need_mkdocs()
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    cli = (site / "reference" / "cli" / "index.html").read_text()
    for verb in _verbs():
        assert f"usage: durable-engine {verb}" in cli, verb  # generated from the parser
    api = (site / "reference" / "api" / "index.html").read_text()
    assert 'id="durable_engine.Engine.start"' in api  # generated from the docstrings


def test_the_api_reference_lists_every_public_name() -> None:
    page = (ROOT / "docs" / "reference" / "api.md").read_text()
    listed = re.findall(r"^::: durable_engine\.(\w+)$", page, re.M)
    assert sorted(listed) == sorted(durable_engine.__all__)


def test_the_cli_reference_is_generated_from_every_verb_of_the_parser() -> None:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)

    page = hooks.cli_reference(build_parser())
    assert re.findall(r"^## `(\S+)`$", page, re.M) == _verbs()
    assert {"worker", "start", "callback", "replay", "db"} <= set(_verbs())
    assert "| `--db PATH` |" in page and "| `--grace-seconds GRACE_SECONDS` |" in page
    assert "<!-- cli-reference -->" in (ROOT / "docs" / "reference" / "cli.md").read_text()
