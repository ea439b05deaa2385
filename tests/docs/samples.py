"""The code samples of README.md and docs/: where they are, what they are, how to run one.

The rules every sample follows:

- A ```python block is a complete program. It runs as `python sample.py` in a fresh
  empty folder, with PYTHONPATH the repository's root, and must exit 0.
- A block that defines pytest tests (a line starting `def test_` or `async def test_`)
  is a test module instead: it is saved as `test_sample.py` and run with pytest, and
  every test in it must pass.
- A ```text block that follows a program, with nothing between them but blank lines
  and at most one line of prose ending in ":", is what the program prints: its stdout
  must match, where `...` stands for any text (doctest's ELLIPSIS).
"""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.pytest_env import fresh_pytest_env

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_TEST = re.compile(r"^(async )?def test_", re.M)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """One ```python block, and the output shown after it, if any."""

    path: Path
    line: int
    code: str
    output: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def is_test_module(self) -> bool:
        return _TEST.search(self.code) is not None


def documents() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _is_caption(gap: str) -> bool:
    """Between a program and its output: blank, or one line of prose ending in ':'."""
    lines = [line for line in gap.splitlines() if line.strip()]
    return not lines or (len(lines) == 1 and lines[0].rstrip().endswith(":"))


def samples_in(path: Path) -> list[Sample]:
    """The ```python blocks of one Markdown file, each with the output shown after it."""
    text = path.read_text(encoding="utf-8")
    fences = list(_FENCE.finditer(text))
    found = []
    for i, fence in enumerate(fences):
        if fence.group(1) != "python":
            continue
        after = fences[i + 1] if i + 1 < len(fences) else None
        output = None
        if (
            after is not None
            and after.group(1) == "text"
            and _is_caption(text[fence.end() : after.start()])
        ):
            output = after.group(2)
        line = text.count("\n", 0, fence.start()) + 1
        found.append(Sample(path=path, line=line, code=fence.group(2), output=output))
    return found


def all_samples() -> list[Sample]:
    return [sample for path in documents() for sample in samples_in(path)]


def run(sample: Sample, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run the sample in `folder` (empty) as its kind says; returns the finished process."""
    env = fresh_pytest_env(PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    if sample.is_test_module:
        (folder / "test_sample.py").write_text(sample.code, encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    else:
        (folder / "sample.py").write_text(sample.code, encoding="utf-8")
        command = [sys.executable, "sample.py"]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=80)


def output_matches(shown: str, printed: str) -> bool:
    """True if the program printed what the page shows (`...` matching any text)."""
    checker = doctest.OutputChecker()
    return checker.check_output(shown, printed, doctest.ELLIPSIS)
