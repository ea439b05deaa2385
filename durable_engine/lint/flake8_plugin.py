"""The linter's checks as a flake8 plugin (codes DE...); flake8 applies `# noqa`,
`--select` and `--extend-ignore` itself.

Installed with the package, it is registered under the entry point
`flake8.extension`, so `flake8` runs it with no further set-up.
"""

from __future__ import annotations

import ast
import importlib.metadata
from collections.abc import Iterator

from ._visitor import check_tree

__all__ = ["DurableLintPlugin"]


def _version() -> str:
    try:
        return importlib.metadata.version("durable-engine")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "unknown"


class DurableLintPlugin:
    """A flake8 AST plugin: `run()` yields (line, column from 0, message, type)."""

    name = "durable-engine"
    version = _version()

    def __init__(self, tree: ast.AST, filename: str = "<unknown>") -> None:
        self.tree = tree
        self.filename = filename

    def run(self) -> Iterator[tuple[int, int, str, type[DurableLintPlugin]]]:
        if not isinstance(self.tree, ast.Module):
            return
        for line, col, code, message in check_tree(self.tree):
            yield line, col, f"{code} {message}", type(self)
