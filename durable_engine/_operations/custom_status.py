"""`ctx.set_custom_status`: a value the outside reads to see how far an execution has come.

It is not an operation: it takes no id and leaves no record in the history. The value
is serialized at the call, with the execution's codec and payload limit, so a value
that cannot be stored raises there; the run keeps the bytes and commits the latest
with its next write (a checkpoint, its suspension or its end).
"""

from __future__ import annotations

from typing import Any

from .._run import ExecutionRun

__all__ = ["set_custom_status"]


def set_custom_status(run: ExecutionRun, value: Any) -> None:
    """Serialize `value` and keep it as the run's custom status."""
    run.set_custom_status(run.values.encode(value, None, None, "the custom status"))
