"""The crash tests' persistence hook: a process that exits at its k-th persistence point.

An app module run by a crash test (`app`, `batch_app`, `worker_app`) calls
`install_from_environment()` as it is imported. With `DURABLE_CRASH_AT=k` in the
environment, that installs a store persistence hook which counts the points of every
store in the process, two per transaction (just before `COMMIT` and just after), and
calls `os._exit` at the k-th, as a SIGKILL at that instant would. Without the
variable nothing is installed. The engine itself never reads the variable.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable

from durable_engine import SqliteStore

__all__ = ["CRASH_EXIT_CODE", "ENV_VAR", "crash_at", "install_from_environment"]

ENV_VAR = "DURABLE_CRASH_AT"
CRASH_EXIT_CODE = 86
"""The exit status of a process that crashed on purpose."""


def crash_at(target: int) -> Callable[[str], None]:
    """A hook that ends the process at the `target`-th persistence point it sees."""
    counter = itertools.count(1)  # next() is atomic: stores' threads may share the hook

    def hook(where: str) -> None:
        point = next(counter)
        if point == target:
            sys.stderr.write(f'{{"event": "crash_point", "point": {point}, "where": "{where}"}}\n')
            sys.stderr.flush()
            os._exit(CRASH_EXIT_CODE)

    return hook


def install_from_environment() -> None:
    """Install `crash_at(k)` if `DURABLE_CRASH_AT=k` (k >= 1) is in the environment."""
    raw = os.environ.get(ENV_VAR, "")
    try:
        target = int(raw) if raw else 0
    except ValueError:
        target = 0
    if target > 0:
        SqliteStore.set_persistence_hook(crash_at(target))
