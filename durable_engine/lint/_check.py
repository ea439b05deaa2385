"""Checking source text and files: findings, silenced by `# noqa`, chosen by code."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ._files import python_files
from ._noqa import is_silenced, silenced_lines
from ._rules import RULES
from ._visitor import check_tree

__all__ = ["Finding", "LintReport", "check_codes", "lint_paths", "lint_source"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One thing found: where (line and column from 1), the rule's code, the message."""

    path: str
    line: int
    col: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The finding as `--format json` prints it."""
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LintReport:
    """What `lint_paths` found, and the files it could not check (one line each)."""

    findings: tuple[Finding, ...]
    errors: tuple[str, ...]
    files: int
    """How many files were checked (read and parsed)."""


def check_codes(codes: Iterable[str]) -> tuple[str, ...]:
    """`codes` in upper case; ValueError for one that starts no rule's code."""
    checked = tuple(code.strip().upper() for code in codes)
    for code in checked:
        if not code or not any(known.startswith(code) for known in RULES):
            raise ValueError(f"no rule has the code {code!r} (known: {', '.join(RULES)})")
    return checked


def lint_source(
    source: str | bytes,
    path: str = "<source>",
    *,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> list[Finding]:
    """The findings in one module's source, in line order; `select` keeps only codes
    starting with one of its prefixes, `ignore` drops them. Raises SyntaxError (or
    ValueError for a null byte) if the source does not parse."""
    select, ignore = check_codes(select), check_codes(ignore)
    tree = ast.parse(source, filename=path)
    silenced = silenced_lines(source)
    return [
        Finding(path=path, line=line, col=col + 1, code=code, message=message)
        for line, col, code, message in check_tree(tree)
        if (not select or code.startswith(select))
        and not code.startswith(ignore)
        and not is_silenced(silenced, line, code)
    ]


def lint_paths(
    paths: Iterable[str | os.PathLike[str]] = (".",),
    *,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
) -> LintReport:
    """Check every file given and every `*.py` under each directory given; a path that
    cannot be read or a file that does not parse is reported in `errors`."""
    select, ignore = check_codes(select), check_codes(ignore)
    files, errors = python_files(paths)
    findings: list[Finding] = []
    checked = 0
    for file in files:
        try:
            with open(file, "rb") as f:
                source = f.read()
        except OSError as exc:
            errors.append(f"{file}: cannot read: {exc.strerror}")
            continue
        try:
            findings += lint_source(source, file, select=select, ignore=ignore)
            checked += 1
        except SyntaxError as exc:
            where = f"{file}:{exc.lineno or 0}:{exc.offset or 0}"
            errors.append(f"{where}: cannot parse: {exc.msg}")
        except ValueError as exc:  # a null byte in the source
            errors.append(f"{file}: cannot parse: {exc}")
    return LintReport(findings=tuple(findings), errors=tuple(errors), files=checked)
