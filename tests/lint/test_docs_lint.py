"""The linter's page says what the linter really does: every rule, its real output."""

from __future__ import annotations

import re
from pathlib import Path

from durable_engine.lint import RULES
from tests.cli.helpers import ROOT, cli

PAGE = ROOT / "docs" / "guide" / "lint.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_the_page_lists_every_rule_with_what_to_use_instead() -> None:
    rows = {
        m.group(1): m.group(0) for m in re.finditer(r"^\| (DE\d+) \|.*$", PAGE.read_text(), re.M)
    }
    assert sorted(rows) == sorted(RULES)
    for code, rule in RULES.items():
        assert f"| {rule.name} |" in rows[code]


def test_the_output_shown_on_the_page_is_the_linters(tmp_path: Path) -> None:
    bad, fixed, *_ = _blocks("python")
    shown = next(
        b for b in _blocks("console") if b.startswith("$ durable-engine lint checkout.py\n")
    )
    (tmp_path / "checkout.py").write_text(bad)
    proc = cli(tmp_path, "lint", "checkout.py", check=False)
    assert proc.returncode == 1
    assert shown == f"$ durable-engine lint checkout.py\n{proc.stdout}{proc.stderr}$ echo $?\n1\n"
    (tmp_path / "checkout.py").write_text(fixed)
    assert cli(tmp_path, "lint", "checkout.py").stdout == ""
