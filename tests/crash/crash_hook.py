"""The crash tests' persistence hook: a process that exits at its k-th persistence point.

An app module run by a crash test (`app`, `batch_app`, `worker_app`) calls
`install_from_environment()` as it is imported. With `DURABLE_CRASH_AT=k` in the
environment, that installs a store persistence hook which counts the points of every
store in the process, two per transaction (just before `COMMIT` and just after), and
calls `os._exit` at the k-th, as a SIGKILL at that instant would. With
`DURABLE_HOLD_AT=k` instead, the database thread stops at the k-th point for good
(a disk that hangs): nothing more is committed, and the test kills the process.
Without either variable nothing is installed. The engine itself never reads them.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Callable

from durable_engine import SqliteStore

__all__ = ["CRASH_EXIT_CODE", "ENV_VAR", "HOLD_VAR", "crash_at", "install_from_environment"]

ENV_VAR = "DURABLE_CRASH_AT"
HOLD_VAR = "DURABLE_HOLD_AT"
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


def hold_at(target: int) -> Callable[[str], None]:
    """A hook that stops the database thread for good at the `target`-th point."""
    counter = itertools.count(1)

    def hook(where: str) -> None:
        if next(counter) == target:
            threading.Event().wait()  # until the process is killed

    return hook


def _point(var: str) -> int:
    raw = os.environ.get(var, "")
    try:
        return int(raw) if raw else 0
    except ValueError:
        return 0


def install_from_environment() -> None:
    """Install `crash_at(k)` if `DURABLE_CRASH_AT=k` (k >= 1) is in the environment, or
    `hold_at(k)` if `DURABLE_HOLD_AT=k` is."""
    if (target := _point(ENV_VAR)) > 0:
        SqliteStore.set_persistence_hook(crash_at(target))
    elif (target := _point(HOLD_VAR)) > 0:
        SqliteStore.set_persistence_hook(hold_at(target))
