"""Recorded values: now(), random() and uuid4() that replay returns unchanged."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .._journal import Completed, Mismatch
from .._models import OperationStatus, OperationType
from .._run import ExecutionRun

__all__ = ["recorded_now", "recorded_random", "recorded_uuid4"]

_rng = random.SystemRandom()


async def _recorded(
    run: ExecutionRun, op_id: str, parent_id: str | None, name: str, make: Callable[[], Any]
) -> Any:
    match run.resolve(op_id, OperationType.STEP, name):
        case Mismatch() as mismatch:
            raise run.nondeterminism(mismatch)
        case Completed(cp):
            return run.values.outcome(cp, None)
        case _:
            pass
    now = run.now()
    data = run.values.encode(make(), None, op_id, name)
    await run.checkpoint(
        run.put(
            op_id,
            parent_id,
            OperationType.STEP,
            name,
            OperationStatus.SUCCEEDED,
            result=data,
            started_at=now,
            ended_at=now,
        )
    )
    return run.values.decode(data, None, op_id)


async def recorded_now(run: ExecutionRun, op_id: str, parent_id: str | None) -> datetime:
    value: datetime = await _recorded(
        run, op_id, parent_id, "now", lambda: datetime.fromtimestamp(run.now(), UTC)
    )
    return value


async def recorded_random(run: ExecutionRun, op_id: str, parent_id: str | None) -> float:
    value: float = await _recorded(run, op_id, parent_id, "random", _rng.random)
    return value


async def recorded_uuid4(run: ExecutionRun, op_id: str, parent_id: str | None) -> uuid.UUID:
    value: uuid.UUID = await _recorded(run, op_id, parent_id, "uuid4", uuid.uuid4)
    return value
