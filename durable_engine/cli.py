"""The command line: a worker, and verbs to start, inspect, answer and stop executions.

Exit codes: 0 success; 1 an error the command reports (unknown id, bad JSON, a callback
that is not pending, a database that cannot be used); 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .engine import Engine
from .errors import DurableError
from .models import ExecutionInfo, ExecutionStatus
from .views import OperationInfo

__all__ = ["main"]

DEFAULT_DB = "durable.db"


class UsageError(Exception):
    """Bad arguments: exit 2."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, BaseException):
        return {"type": type(value).__name__, "message": str(value)}
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return f"<{type(value).__name__}> {value!r}"
    return value


def _execution_json(info: ExecutionInfo) -> dict[str, Any]:
    return {
        "execution_id": info.execution_id,
        "name": info.name,
        "function": info.function,
        "status": info.status.value,
        "created_at": _jsonable(info.created_at),
        "ended_at": _jsonable(info.ended_at),
        "parent_id": info.parent_id,
        "input": _jsonable(info.input),
        "result": _jsonable(info.result),
        "error": _jsonable(info.error),
    }


def _load_app(spec: str) -> Engine:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageError(f"--app takes MODULE:ATTR, not {spec!r}")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DurableError(f"cannot import {module_name!r}: {exc}") from exc
    engine = getattr(module, attr, None)
    if not isinstance(engine, Engine):
        raise DurableError(f"{spec} is not a durable_engine.Engine")
    return engine


def _engine(args: argparse.Namespace) -> Engine:
    """An engine that reads and writes but runs nothing: workers do that."""
    if getattr(args, "app", None):
        engine = _load_app(args.app)
        if args.db:
            engine.retarget(args.db)
    else:
        engine = Engine(args.db or os.environ.get("DURABLE_DB", DEFAULT_DB))
    engine.serve = False
    return engine


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DurableError(f"{what} is not valid JSON: {exc}") from exc


def _print_tree(ops: Sequence[OperationInfo], depth: int = 0) -> None:
    for op in ops:
        duration = "" if op.duration is None else f"{op.duration:.3f}s"
        started = op.started_at.isoformat(timespec="milliseconds") if op.started_at else ""
        ended = op.ended_at.isoformat(timespec="milliseconds") if op.ended_at else ""
        label = "  " * depth + f"{op.operation_id} {op.type.value} {op.name or ''}".rstrip()
        print(f"{label:40} {op.status.value:10} {op.attempt:>3} {started:29} {ended:29} {duration}")
        _print_tree(op.children, depth + 1)


def _tree_json(ops: Sequence[OperationInfo]) -> list[dict[str, Any]]:
    return [
        {
            "operation_id": op.operation_id,
            "type": op.type.value,
            "name": op.name,
            "status": op.status.value,
            "attempt": op.attempt,
            "started_at": _jsonable(op.started_at),
            "ended_at": _jsonable(op.ended_at),
            "duration": op.duration,
            "result": _jsonable(op.result),
            "error": _jsonable(op.error),
            "children": _tree_json(op.children),
        }
        for op in ops
    ]


async def _worker(args: argparse.Namespace) -> int:
    engine = _load_app(args.app)
    if args.db:
        engine.retarget(args.db)
    if args.concurrency:
        engine.max_concurrent_executions = args.concurrency
    if args.worker_id:
        engine.worker_id = args.worker_id
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with engine:
        _log("start", worker=engine.worker_id, db=engine.path, functions=engine.function_names())
        await stop.wait()
        _log("stopping", worker=engine.worker_id, grace_seconds=args.grace_seconds)
        await engine.drain(args.grace_seconds)
    _log("stopped", worker=engine.worker_id)
    return 0


def _log(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, default=str), file=sys.stderr, flush=True)


async def _run(args: argparse.Namespace) -> int:
    if args.command == "worker":
        return await _worker(args)
    engine = _engine(args)
    async with engine:
        if args.command == "start":
            payload = _parse_json(args.input, "the input") if args.input is not None else None
            handle = await engine.start(
                args.function, payload, execution_name=args.name, run_here=False
            )
            print(
                json.dumps({"execution_id": handle.execution_id})
                if args.json
                else handle.execution_id
            )
        elif args.command == "list":
            infos = await engine.list_executions(
                status=args.status, function=args.function, limit=args.limit
            )
            if args.json:
                print(json.dumps([_execution_json(i) for i in infos]))
            else:
                print(f"{'execution_id':34} {'name':20} {'function':24} {'status':10} created_at")
                for i in infos:
                    print(
                        f"{i.execution_id:34} {i.name or '':20} {i.function:24} "
                        f"{i.status.value:10} {i.created_at.isoformat(timespec='seconds')}"
                    )
        elif args.command == "show":
            info = await engine.get_execution(args.execution_id)
            if args.json:
                print(json.dumps(_execution_json(info)))
            else:
                for key, value in _execution_json(info).items():
                    print(f"{key:13} {value}")
        elif args.command == "history":
            ops = await engine.get_operations(args.execution_id)
            if args.json:
                print(json.dumps(_tree_json(ops)))
            else:
                _print_tree(ops)
        elif args.command == "callback":
            if args.action == "succeed":
                result = _parse_json(args.result, "--result") if args.result else None
                await engine.send_callback_success(args.callback_id, result)
            elif args.action == "fail":
                await engine.send_callback_failure(
                    args.callback_id, error_type=args.error_type or "", message=args.message or ""
                )
            else:
                await engine.send_callback_heartbeat(args.callback_id)
            print(json.dumps({"ok": True}) if args.json else "ok")
        elif args.command == "stop":
            await engine.stop(args.execution_id)
            print(json.dumps({"stopped": args.execution_id}) if args.json else "stopped")
        elif args.command == "db":
            report = await engine.check_database()
            print(
                json.dumps(report)
                if args.json
                else "\n".join(f"{k}: {v}" for k, v in report.items())
            )
            return 0 if report["integrity"] == "ok" else 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="durable-engine", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--db", help=f"the database file (default ${{DURABLE_DB}} or {DEFAULT_DB})")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    w = verb("worker", "run the functions registered on an Engine until SIGTERM/SIGINT")
    w.add_argument("--app", required=True, help="MODULE:ATTR of the Engine")
    w.add_argument("--concurrency", type=int, help="most executions run at once")
    w.add_argument("--worker-id")
    w.add_argument("--grace-seconds", type=float, default=10.0)
    s = verb("start", "start an execution (a worker runs it)")
    s.add_argument("function")
    s.add_argument("--app", required=True, help="MODULE:ATTR of the Engine")
    s.add_argument("--input")
    s.add_argument("--input-file")
    s.add_argument("--name")
    ls = verb("list", "list executions")
    ls.add_argument("--status", choices=[s.value for s in ExecutionStatus])
    ls.add_argument("--function")
    ls.add_argument("--limit", type=int)
    verb("show", "one execution").add_argument("execution_id")
    verb("history", "an execution's operations as a tree").add_argument("execution_id")
    cb = verb("callback", "answer a callback")
    cb.add_argument("action", choices=["succeed", "fail", "heartbeat"])
    cb.add_argument("callback_id")
    cb.add_argument("--result")
    cb.add_argument("--error-type")
    cb.add_argument("--message")
    verb("stop", "stop an execution for good").add_argument("execution_id")
    verb("db", "check the database").add_argument("action", choices=["check"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "input_file", None):
            with open(args.input_file) as f:
                args.input = f.read()
        return asyncio.run(_run(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (DurableError, OSError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
