"""The `schedule` verb: list, pause, resume, delete and trigger schedules."""

from __future__ import annotations

import argparse
from typing import Any

from ._engine import Engine
from ._schedules import ScheduleInfo

__all__ = ["add_schedule_arguments", "schedule_command"]


def add_schedule_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "pause", "resume", "delete", "trigger"])
    p.add_argument("name", nargs="?", help="the schedule's name (all but list)")


def _json(info: ScheduleInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "function": info.function,
        "cron": info.cron,
        "timezone": info.timezone,
        "catchup": info.catchup,
        "paused": info.paused,
        "next_fire_at": info.next_fire_at.isoformat(),
        "fired_at": None if info.fired_at is None else info.fired_at.isoformat(),
    }


def _table(schedules: list[ScheduleInfo]) -> str:
    rows = [("NAME", "FUNCTION", "CRON", "TIMEZONE", "CATCHUP", "STATE", "NEXT")]
    for s in schedules:
        state = "paused" if s.paused else "active"
        next_at = s.next_fire_at.isoformat(timespec="seconds")
        rows.append((s.name, s.function, s.cron, s.timezone, s.catchup, state, next_at))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)  # fmt: skip


async def schedule_command(args: argparse.Namespace, engine: Engine) -> tuple[Any, str]:
    """What the verb prints: its JSON, and its text."""
    if args.action != "list" and not args.name:
        raise ValueError(f"schedule {args.action} needs the schedule's name")
    async with engine:
        if args.action == "list":
            listed = await engine.list_schedules()
            return [_json(s) for s in listed], _table(listed)
        if args.action == "pause":
            info = await engine.pause_schedule(args.name)
        elif args.action == "resume":
            info = await engine.resume_schedule(args.name)
        elif args.action == "delete":
            await engine.delete_schedule(args.name)
            return {"name": args.name, "deleted": True}, "ok"
        else:
            handle = await engine.trigger_schedule(args.name)
            data = {"name": args.name, "execution_id": handle.execution_id}
            return data, handle.execution_id
    return _json(info), "ok"
