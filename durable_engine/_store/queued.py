"""What the writers of both stores do alike with the writes queued for them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

__all__ = ["fail_later_writes"]

J = TypeVar("J", bound=tuple[Any, ...])
"""A queued job: `(future, function or None, fence or None, mutation or None)`."""


def fail_later_writes(pending: list[J], failed: Sequence[J], error: BaseException) -> list[J]:
    """The jobs of `pending` that stay queued once the batch `failed` failed with `error`.

    One execution's writes land in the order they were queued: a write of an execution
    that had a write in `failed`, queued while that batch was applied, fails with it
    rather than land without it."""
    executions = {job[2].execution_id for job in failed if job[2] is not None}
    if not executions:
        return pending
    kept = []
    for job in pending:
        fence = job[2]
        if fence is not None and fence.execution_id in executions:
            if not job[0].done():
                job[0].set_exception(error)
        else:
            kept.append(job)
    return kept
