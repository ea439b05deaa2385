"""Execution ids: unique, and sorting by creation time."""

from __future__ import annotations

import os
import random
import secrets
import time

__all__ = ["new_execution_id"]

_ids = random.Random(secrets.randbits(128))
_ids_pid = os.getpid()


def new_execution_id() -> str:
    """A unique id that sorts by creation time, so concurrent executions' rows sit together.

    The random half comes from a generator seeded from the OS once per process (and
    again in a forked child, which it notices by its pid): an id is not a secret, and
    a system call per id is slow."""
    global _ids_pid
    if os.getpid() != _ids_pid:
        _ids_pid = os.getpid()
        _ids.seed(secrets.randbits(128))
    return f"{time.time_ns():016x}{_ids.getrandbits(64):016x}"
