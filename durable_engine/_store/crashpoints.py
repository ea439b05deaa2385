"""A test hook: end the process abruptly at its k-th persistence point.

With `DURABLE_CRASH_AT=k` in the environment, the store's writer counts two points
per transaction, one just before `COMMIT` and one just after, and calls `os._exit`
when it reaches the k-th, as a SIGKILL at that instant would. Without the variable
a point costs one comparison.
"""

from __future__ import annotations

import os
import sys

__all__ = ["CRASH_EXIT_CODE", "ENV_VAR", "point"]

ENV_VAR = "DURABLE_CRASH_AT"
CRASH_EXIT_CODE = 86
"""The exit status of a process that crashed on purpose."""


def _target() -> int:
    raw = os.environ.get(ENV_VAR, "")
    try:
        return int(raw) if raw else 0
    except ValueError:
        return 0


_target_point = _target()
_count = 0


def point(where: str) -> None:
    """Count one persistence point; exit at once if it is the k-th."""
    global _count
    if not _target_point:
        return
    _count += 1
    if _count == _target_point:
        sys.stderr.write(f'{{"event": "crash_point", "point": {_count}, "where": "{where}"}}\n')
        sys.stderr.flush()
        os._exit(CRASH_EXIT_CODE)
