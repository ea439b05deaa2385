"""`durable-engine watch`: follow an execution until it ends.

Each change of its status or custom status is printed as it is seen (a line of text,
or with `--json` one JSON object per line); a custom status with `done` and `total`
(a mapping with those keys, or an object with those attributes) is drawn as a
progress bar. The execution is read every `interval` seconds: a read costs little,
and the custom status is committed with the execution's own writes anyway.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from . import _display as display
from ._engine import Engine
from ._models import ExecutionInfo, ExecutionStatus

__all__ = ["progress", "progress_bar", "watch"]

_BAR_WIDTH = 30


def progress(status: Any) -> tuple[float, float] | None:
    """`(done, total)` of a custom status that has both as numbers, else None."""
    if isinstance(status, Mapping):
        done, total = status.get("done"), status.get("total")
    else:
        done, total = getattr(status, "done", None), getattr(status, "total", None)
    numbers = all(
        isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n)
        for n in (done, total)
    )
    return (float(done), float(total)) if numbers else None  # type: ignore[arg-type]


def progress_bar(done: float, total: float, width: int = _BAR_WIDTH) -> str:
    """`[#########.....]  3/10  30%`: `done` out of `total`, clamped to the bar."""
    share = 1.0 if total <= 0 else min(max(done / total, 0.0), 1.0)
    filled = round(share * width)
    shown = f"{done:g}/{total:g}"
    return f"[{'#' * filled}{'.' * (width - filled)}] {shown} {share:4.0%}"


async def watch(
    engine: Engine,
    execution_id: str,
    *,
    as_json: bool,
    interval: float = 0.5,
    out: TextIO | None = None,
) -> ExecutionInfo:
    """Print each change of the execution until it ends; returns it as it ended."""
    stream = out or sys.stdout
    last: tuple[ExecutionStatus, str] | None = None
    while True:
        info = await engine.get_execution(execution_id)
        seen = (info.status, json.dumps(display.jsonable(info.custom_status), sort_keys=True))
        if seen != last:
            _show(stream, info, last, as_json)
            last = seen
        if info.status.is_terminal:
            return info
        await asyncio.sleep(interval)


def _show(
    out: TextIO, info: ExecutionInfo, last: tuple[ExecutionStatus, str] | None, as_json: bool
) -> None:
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    if as_json:
        line = {
            "at": now,
            "execution_id": info.execution_id,
            "status": info.status.value,
            "custom_status": display.jsonable(info.custom_status),
        }
        bar = progress(info.custom_status)
        if bar is not None:
            line["done"], line["total"] = bar
        if info.status.is_terminal:
            line["error"] = display.error_json(info.error)
        print(json.dumps(line, ensure_ascii=False), file=out, flush=True)
        return
    parts = [now[11:23]]
    if last is None or last[0] is not info.status:
        parts.append(info.status.value)
    bar = progress(info.custom_status)
    if bar is not None:
        parts.append(progress_bar(*bar))
    elif info.custom_status is not None:
        parts.append(display.readable(info.custom_status))
    if info.status.is_terminal and info.error is not None:
        parts.append(f"error: {display.readable(info.error)}")
    print("  ".join(parts), file=out, flush=True)
