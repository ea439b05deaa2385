"""Which files to check: the paths given, directories searched for `*.py`."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["python_files"]

_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})


def python_files(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[str], list[str]]:
    """The files to check, in a stable order, and an error for each path that cannot be
    read. A file given by name is checked whatever its suffix; a directory is searched
    for `*.py`, skipping hidden folders, virtual environments and `__pycache__`."""
    files: dict[str, None] = {}
    errors: list[str] = []
    for given in paths:
        path = os.path.normpath(os.fspath(given))
        if os.path.isfile(path):
            files[path] = None
        elif os.path.isdir(path):
            files.update(dict.fromkeys(_search(path, errors)))
        elif os.path.lexists(path):
            errors.append(f"{path}: not a file or a directory")
        else:
            errors.append(f"{path}: no such file or directory")
    return list(files), errors


def _search(root: str, errors: list[str]) -> list[str]:
    found: list[str] = []

    def unreadable(exc: OSError) -> None:
        errors.append(f"{exc.filename}: cannot read the directory: {exc.strerror}")

    for folder, dirs, names in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not _skipped(Path(folder, d)))
        found.extend(
            os.path.normpath(os.path.join(folder, n))
            for n in sorted(names)
            if n.endswith(".py") and not n.startswith(".")
        )
    return found


def _skipped(folder: Path) -> bool:
    name = folder.name
    return (
        name.startswith(".")
        or name in _SKIPPED_DIRS
        or (folder / "pyvenv.cfg").is_file()  # a virtual environment, whatever its name
    )
