"""`durable-engine lint` as a user runs it: output, JSON, exit codes, what it searches."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import ROOT, cli

from .helpers import CORPUS, expected

BAD = """\
import time
from durable_engine import DurableContext, Engine

engine = Engine("x.db")

@engine.durable_function
async def flow(ctx: DurableContext, x: int) -> float:
    time.sleep(x)
    return time.time()  # noqa: DE101
"""


def test_findings_are_printed_one_a_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(BAD)
    proc = cli(tmp_path, "lint", "flow.py", check=False)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "flow.py:8:5: DE103 `time.sleep()` sleeps in memory: the wait is lost if the process "
        "stops: use `await ctx.wait(seconds)`, a durable timer"
    ]
    assert "1 problem found, 1 file checked" in proc.stderr


def test_json_lists_every_finding_of_the_corpus(tmp_path: Path) -> None:
    proc = cli(ROOT, "lint", str(CORPUS), "--format", "json", check=False)
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)
    assert all(
        set(f) == {"path", "line", "col", "code", "message"} and f["message"] for f in findings
    )
    got = sorted((Path(f["path"]).name, f["line"], f["code"]) for f in findings)
    want = sorted((p.name, line, code) for p in CORPUS.glob("*.py") for line, code in expected(p))
    assert got == want


def test_select_and_ignore(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(BAD)
    assert cli(tmp_path, "lint", "--select", "DE101,DE102", check=False).returncode == 0
    assert cli(tmp_path, "lint", "--ignore", "DE1", check=False).returncode == 0
    proc = cli(tmp_path, "lint", "--select", "DE1", "--ignore", "DE101", check=False)
    assert proc.returncode == 1 and "DE103" in proc.stdout


def test_clean_code_exits_0_with_an_empty_json_list(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(BAD.replace("    time.sleep(x)\n", ""))
    proc = cli(tmp_path, "lint", "--format", "json")
    assert json.loads(proc.stdout) == []
    assert "no problems found, 1 file checked" in proc.stderr


def test_the_current_folder_by_default_skipping_hidden_folders_and_venvs(
    tmp_path: Path,
) -> None:
    for folder in (".hidden", "venv-any-name", "pkg/__pycache__", "pkg"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "flow.py").write_text(BAD)
    (tmp_path / "venv-any-name" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "notes.txt").write_text(BAD)
    proc = cli(tmp_path, "lint", "--format", "json", check=False)
    assert proc.returncode == 1
    assert [f["path"] for f in json.loads(proc.stdout)] == ["pkg/flow.py"]


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    proc = cli(tmp_path, "lint", "nowhere.py", check=False)
    assert proc.returncode == 2
    assert "error: nowhere.py: no such file or directory" in proc.stderr


def test_a_syntax_error_is_reported_with_its_place_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("x = 1\nasync def f(:\n")
    (tmp_path / "flow.py").write_text(BAD)
    proc = cli(tmp_path, "lint", ".", check=False)
    assert proc.returncode == 2
    assert "error: broken.py:2:" in proc.stderr and "cannot parse" in proc.stderr
    assert "DE103" in proc.stdout  # the other files are still checked


def test_an_unknown_code_is_a_usage_error(tmp_path: Path) -> None:
    proc = cli(tmp_path, "lint", "--select", "E501", check=False)
    assert proc.returncode == 2
    assert "no rule has the code 'E501'" in proc.stderr


def test_every_example_passes_clean() -> None:
    proc = cli(ROOT, "lint", "examples")
    assert proc.stdout == ""
    assert "no problems found" in proc.stderr
    assert f"{len(list((ROOT / 'examples').glob('*.py')))} files checked" in proc.stderr


def test_help_lists_every_rule(tmp_path: Path) -> None:
    out = cli(tmp_path, "lint", "--help").stdout
    for code in ("DE101", "DE109", "DE201", "DE202"):
        assert code in out
