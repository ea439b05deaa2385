"""The command line: `python -m durable_engine VERB ...`, also installed as `durable-engine`.

Verbs: worker, start, list, show, history, watch, callback (succeed|fail|heartbeat), event
send, schedule (list|pause|resume|delete|trigger), stop, resume, rerun, purge, replay (one
execution; `--all`, the deploy check), export, db (check|backup|vacuum|migrate|copy). Each
takes `--db PATH` or `--db URL` (`postgresql://...`; default: $DURABLE_ENGINE_DB, or the
older $DURABLE_DB, else the `--app` engine's own database, else ./durable.db) and `--json`
for machine-readable output; each takes `--app MODULE:ATTR` too, which brings that
engine's database with it, and `--check-on-open full|quick|none` (default: the `--app`
engine's, else quick). The verbs that only read (READ_ONLY_VERBS) open an SQLite file
read-only: they write nothing and never checkpoint its `-wal` file. The `lint` verb
reads workflow code and no database (see `durable-engine lint --help`). `list` shows the
newest executions first (`--reverse`: the oldest first). `--version` prints
the installed version. `ui` serves a web page on the database (the `web` extra).

Exit codes:
  0  success; a worker that stopped cleanly after SIGTERM or SIGINT
  1  an error, reported in one line on stderr: an unknown execution or callback id,
     bad JSON, a callback no longer pending, an unknown function, an execution that
     already ended, a replay that diverges from the history, an app that cannot be
     imported, or a database that cannot be used (missing, corrupt, not a database,
     newer schema, on a network filesystem, locked for too long); also `db check`
     finding a problem
  2  bad usage: unknown verb or option, a missing or malformed argument
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib.metadata
import json
import os
import sys
import traceback
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

from . import _display as display
from ._cli_schedules import add_schedule_arguments, schedule_command
from ._config import MAX_DURATION
from ._engine import Engine
from ._errors import (
    DatabaseCorrupt,
    DurableError,
    ExecutionNotFound,
    FunctionNotRegistered,
    NonDeterministicError,
)
from ._models import ExecutionInfo, ExecutionStatus
from ._store import SqliteStore, is_postgres
from ._store.integrity import CHECKS
from ._store.pg_copy import copy_database, migrate_database
from ._waiting import waits_for
from ._watch import watch
from ._worker import (
    AppError,
    UsageError,
    WorkerOptions,
    load_app,
    refuse_network_fs,
    resolve_db,
    run_worker,
)
from .lint._command import add_lint_command, run_lint

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
DEFAULT_DB = "durable.db"

READ_ONLY_VERBS = frozenset({"list", "show", "history", "watch", "export", "replay"})
"""The verbs that only read; `schedule list`, and `ui` without --allow-actions, too."""


def _reads_only(args: argparse.Namespace) -> bool:
    if args.command == "schedule":
        return bool(args.action == "list")
    if args.command == "ui":
        return not args.allow_actions
    return args.command in READ_ONLY_VERBS


class CommandError(Exception):
    """A request the command cannot carry out (exit 1)."""


_MAX_COUNT = 1_000_000_000


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    if value > _MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be at most {_MAX_COUNT}, not {text}")
    return value


def _seconds(text: str, *, zero: bool = True) -> float:
    """A finite number of seconds: 0 or more, or (with `zero=False`) more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value == float("inf") or not (value >= 0 if zero else value > 0):
        least = "0 or more" if zero else "more than 0"
        raise argparse.ArgumentTypeError(f"must be a number of seconds, {least}, not {text}")
    if value > MAX_DURATION.total_seconds():
        raise argparse.ArgumentTypeError(f"must be at most 1000 years of seconds, not {text}")
    return value


_positive_seconds = functools.partial(_seconds, zero=False)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _age(text: str) -> timedelta:
    """A length of time such as 30d, 12h, 15m, 90s or 2w (a number and a unit)."""
    number, unit = text[:-1], text[-1:].lower()
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"not a length of time: {text!r} (a number and a unit: s, m, h, d or w, e.g. 30d)"
        )
    return timedelta(seconds=value * _UNITS[unit])


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{what} is not valid JSON: {exc}") from exc


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False) if args.json else text)


def _engine_for(args: argparse.Namespace) -> Engine:
    """An engine on the chosen file that reads and writes but runs nothing: workers do."""
    app = load_app(args.app) if args.app else None
    path = resolve_db(app, args.db, DEFAULT_DB)
    engine = app or Engine(path)
    if path != engine.path:
        engine.retarget(path)
    engine.serve = False
    engine.read_only = _reads_only(args)
    if args.check_on_open is not None:
        engine.check_on_open = args.check_on_open
    if is_postgres(path):  # the server checks its own database as the store opens
        return engine
    if os.path.isdir(path):
        raise CommandError(f"{path} is a directory, not a database file")
    if args.command != "start" and not os.path.isfile(path):
        app_hint = "" if args.app else ", or pass --app MODULE:ATTR for that engine's file"
        raise CommandError(
            f"no database file at {path} (pass --db PATH or set $DURABLE_ENGINE_DB{app_hint}; "
            "`start` or a worker creates it)"
        )
    if args.command != "start" and os.path.getsize(path) == 0:
        raise CommandError(f"{path} is empty: `start` or a worker makes a database of it")
    refuse_network_fs(path, args.allow_network_fs)
    engine.allow_network_fs |= args.allow_network_fs
    engine.allow_shared_file |= args.allow_shared_file
    return engine


def _read_input(args: argparse.Namespace) -> Any:
    if args.input_file is not None:
        try:
            if args.input_file == "-":
                text = sys.stdin.read()
            else:
                with open(args.input_file, encoding="utf-8") as f:
                    text = f.read()
        except OSError as exc:
            raise CommandError(f"cannot read --input-file: {exc}") from exc
        return _parse_json(text, f"the input in {args.input_file}")
    if args.input is not None:
        return _parse_json(args.input, "--input")
    return None


async def _start(args: argparse.Namespace, engine: Engine) -> int:
    async with engine:
        handle = await engine.start(
            args.function,
            args.payload,
            execution_name=args.name,
            timeout=args.timeout,
            run_here=False,
        )
    _print(args, {"execution_id": handle.execution_id}, handle.execution_id)
    return EXIT_OK


async def _list(args: argparse.Namespace, engine: Engine) -> int:
    async with engine:
        infos = await engine.list_executions(
            status=args.status,
            function=args.function,
            name=args.name,
            limit=args.limit,
            newest_first=not args.reverse,
            version=args.version,
            unfinished=args.unfinished,
        )
    _print(args, [display.execution_json(i) for i in infos], display.executions_table(infos))
    return EXIT_OK


async def _find(engine: Engine, ref: str) -> ExecutionInfo:
    """The execution `ref` names: by its id, else by the name it was started with."""
    try:
        return await engine.get_execution(ref)
    except ExecutionNotFound:
        named = await engine.list_executions(name=ref)
        if not named:
            raise ExecutionNotFound(f"no execution with id or name {ref!r}") from None
        return named[0]


async def _show(args: argparse.Namespace, engine: Engine) -> int:
    async with engine:
        info = await _find(engine, args.execution)
        ops = [] if info.status.is_terminal else await engine.get_operations(info.execution_id)
    waits = waits_for(ops)
    _print(args, display.execution_json(info, waits), display.execution_table(info, waits))
    return EXIT_OK


async def _history(args: argparse.Namespace, engine: Engine) -> int:
    async with engine:
        info = await _find(engine, args.execution)
        ops = await engine.get_operations(info.execution_id, run_number=args.run)
    current = args.run is None or args.run == info.run_number
    waits = [] if info.status.is_terminal or not current else waits_for(ops)
    _print(args, display.history_json(ops, waits), display.history_table(ops, waits))
    return EXIT_OK


async def _callback(args: argparse.Namespace, engine: Engine) -> int:
    result = _parse_json(args.result, "--result") if args.result is not None else None
    data = _parse_json(args.data, "--data") if args.data is not None else None
    async with engine:
        if args.action == "succeed":
            await engine.send_callback_success(args.callback_id, result)
        elif args.action == "fail":
            await engine.send_callback_failure(
                args.callback_id,
                error_type=args.error_type or "",
                message=args.message or "",
                data=data,
            )
        else:
            await engine.send_callback_heartbeat(args.callback_id)
    _print(args, {"callback_id": args.callback_id, "sent": args.action}, "ok")
    return EXIT_OK


async def _event(args: argparse.Namespace, engine: Engine) -> int:
    payload = _parse_json(args.data, "--data") if args.data is not None else None
    async with engine:
        execution_id = (await _find(engine, args.execution)).execution_id
        await engine.send_event(execution_id, args.name, payload)
    _print(args, {"execution_id": execution_id, "event": args.name, "sent": True}, "ok")
    return EXIT_OK


async def _schedule(args: argparse.Namespace, engine: Engine) -> int:
    try:
        data, text = await schedule_command(args, engine)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _print(args, data, text)
    return EXIT_OK


async def _stop(args: argparse.Namespace, engine: Engine) -> int:
    async with engine:
        execution_id = (await _find(engine, args.execution)).execution_id
        await engine.stop(execution_id)
        info = await engine.get_execution(execution_id)
    _print(args, display.execution_json(info), f"stopped {execution_id}")
    return EXIT_OK


async def _resume(args: argparse.Namespace, engine: Engine) -> int:
    async with engine:
        info = await _find(engine, args.execution)
        await engine.resume(info.execution_id)
    text = (
        f"resumed {info.execution_id}: due now, for a worker that runs {info.function}"
        if info.status is ExecutionStatus.BLOCKED
        else f"{info.execution_id} is {info.status.value}, not BLOCKED: left as it is"
    )
    _print(args, display.execution_json(info), text)
    return EXIT_OK


async def _watch(args: argparse.Namespace, engine: Engine) -> int:
    async with engine:
        execution_id = (await _find(engine, args.execution)).execution_id
        info = await watch(engine, execution_id, as_json=args.json, interval=args.interval)
    return EXIT_OK if info.status is ExecutionStatus.SUCCEEDED else EXIT_ERROR


async def _rerun(args: argparse.Namespace, engine: Engine) -> int:
    async with engine:
        first = await _find(engine, args.execution)
        handle = await engine.rerun(first.execution_id)
        info = await engine.get_execution(handle.execution_id)
    text = f"{handle.execution_id} reruns {first.execution_id}, for a worker to run"
    _print(args, display.execution_json(info), text)
    return EXIT_OK


async def _purge(args: argparse.Namespace, engine: Engine) -> int:
    async with engine:
        count = await engine.purge(
            args.older_than,
            statuses=args.status,
            function=args.function,
            dry_run=args.dry_run,
        )
    done = "would purge" if args.dry_run else "purged"
    data = {"purged": 0 if args.dry_run else count, "dry_run": args.dry_run, "matched": count}
    _print(args, data, f"{done} {count} execution(s) that ended over {args.older_than} ago")
    return EXIT_OK


_ENDED_FROM_OUTSIDE = {ExecutionStatus.STOPPED: "stopped", ExecutionStatus.TIMED_OUT: "timed out"}


async def _export(args: argparse.Namespace, engine: Engine) -> int:
    async with engine:
        data = await engine.export_history((await _find(engine, args.execution)).execution_id)
    print(json.dumps(data, indent=1))  # the history file is JSON, with or without --json
    return EXIT_OK


async def _replay(args: argparse.Namespace, engine: Engine) -> int:
    from .testing._replay import replay_execution  # the test kit's replay, running nothing

    if args.all == (args.execution is not None):
        raise UsageError("replay: give an execution, or --all, not both")
    if not args.all and (args.function is not None or args.include_finished):
        raise UsageError("replay: --function and --include-finished go with --all")
    if args.all:
        return await _replay_all(args, engine)
    async with engine:
        info = await _find(engine, args.execution)
        try:
            value = await replay_execution(engine, info.execution_id)
            raised: Exception | None = None
        except NonDeterministicError as exc:
            if not args.json:
                raise  # one line on stderr, exit 1
            diverged = {"execution_id": info.execution_id, "status": info.status.value}
            _print(args, {**diverged, "deterministic": False, "divergence": str(exc)}, "")
            return EXIT_ERROR
        except Exception as exc:  # the execution's own recorded failure, raised again
            value, raised = None, exc
    data = {
        "execution_id": info.execution_id,
        "status": info.status.value,
        "deterministic": True,
        "result": display.jsonable(value),
        "error": display.error_json(raised),
    }
    outcome = display.readable(raised) if raised is not None else display.readable(value)
    if info.status in _ENDED_FROM_OUTSIDE:  # the replay stopped where it was ended
        ending = f" up to where it was {_ENDED_FROM_OUTSIDE[info.status]}"
    elif info.status.is_terminal:
        ending = f": {outcome}"
    else:
        ending = " so far (it has not ended)"
    text = f"replay of {info.execution_id} ({info.status.value}) matches its history{ending}"
    _print(args, data, text)
    return EXIT_OK


async def _replay_all(args: argparse.Namespace, engine: Engine) -> int:
    """The deploy check: every unfinished execution (and the newest finished ones of each
    function) replayed against the code, one line per execution that cannot go on."""
    from .testing._replay import replay_execution

    diverged: list[dict[str, Any]] = []
    not_registered: list[dict[str, Any]] = []
    damaged: list[dict[str, Any]] = []
    async with engine:
        targets = await _replay_targets(engine, args.function, args.include_finished)
        for info in targets:
            entry = {
                "execution_id": info.execution_id,
                "function": info.function,
                "version": info.version,
                "status": info.status.value,
            }
            try:
                await replay_execution(engine, info.execution_id)
            except NonDeterministicError as exc:
                diverged.append({**entry, "divergence": str(exc)})
            except FunctionNotRegistered as exc:
                not_registered.append({**entry, "reason": str(exc)})
            except DatabaseCorrupt as exc:  # a stored value changed: no replay says it matches
                damaged.append({**entry, "error": str(exc)})
            except Exception:
                pass  # the execution's own recorded failure, raised again: a match
    matched = len(targets) - len(diverged) - len(not_registered) - len(damaged)
    lines = [f"DIVERGES {d['execution_id']} ({d['status']}): {d['divergence']}" for d in diverged]
    lines += [
        f"CANNOT RUN {n['execution_id']} ({n['status']}): {n['reason']}" for n in not_registered
    ]
    lines += [f"DAMAGED {d['execution_id']} ({d['status']}): {d['error']}" for d in damaged]
    lines.append(
        f"replayed {len(targets)} execution(s) against this code: {matched} match, "
        f"{len(diverged)} diverge, {len(not_registered)} have no code here"
        + (f", {len(damaged)} damaged" if damaged else "")
    )
    data = {
        "replayed": len(targets),
        "matched": matched,
        "diverged": diverged,
        "not_registered": not_registered,
        "damaged": damaged,
    }
    _print(args, data, "\n".join(lines))
    return EXIT_ERROR if diverged or not_registered or damaged else EXIT_OK


async def _replay_targets(
    engine: Engine, function: str | None, finished: int
) -> list[ExecutionInfo]:
    """The unfinished executions (of `function`, if given), then the `finished` newest
    that ended by themselves of each function."""
    targets = await engine.list_executions(function=function, unfinished=True)
    names = [function] if function is not None else engine.registry.names()
    for name in names if finished else ():
        ended: list[ExecutionInfo] = []
        for status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED):
            ended += await engine.list_executions(status, name, limit=finished, newest_first=True)
        ended.sort(key=lambda info: (info.created_at, info.execution_id), reverse=True)
        targets += ended[:finished]
    return targets


def _db_check(args: argparse.Namespace) -> int:
    app = load_app(args.app) if args.app else None  # only for its engine's path
    path = resolve_db(app, args.db, DEFAULT_DB)
    if is_postgres(path):
        raise CommandError(
            f"db {args.action} works on SQLite files; a PostgreSQL database is checked and "
            "vacuumed by its server (e.g. amcheck, VACUUM)"
        )
    if args.action == "vacuum":
        vacuumed = SqliteStore.vacuum(path, args.check_on_open or "quick")
        data = {
            "mode": vacuumed.mode,
            "size_before": vacuumed.size_before,
            "size_after": vacuumed.size_after,
        }
        how = "PRAGMA incremental_vacuum" if vacuumed.mode == "incremental" else "VACUUM"
        text = (
            f"{how} ({vacuumed.mode}): {vacuumed.size_before} -> {vacuumed.size_after} bytes"
            f", {vacuumed.size_before - vacuumed.size_after} given back"
        )
        _print(args, data, text)
        return EXIT_OK
    report = SqliteStore.inspect(path, full=args.full)
    data = report.to_dict()
    _print(args, data, display.report_table(data))
    return EXIT_OK if report.ok else EXIT_ERROR


def _db_backup(args: argparse.Namespace) -> int:
    if args.path is None:
        raise UsageError("db backup needs PATH, the new file to write the copy to")
    app = load_app(args.app) if args.app else None  # only for its engine's path
    path = resolve_db(app, args.db, DEFAULT_DB)
    if is_postgres(path):
        raise CommandError(
            "db backup copies an SQLite file; back a PostgreSQL database up with its own "
            "tools (pg_dump, or a base backup with WAL archiving)"
        )
    refuse_network_fs(path, args.allow_network_fs)
    report = SqliteStore.backup(path, args.path, overwrite=args.force)
    text = f"backed up {report.source} to {report.target}: {report.size} bytes"
    _print(args, report.to_dict(), text)
    return EXIT_OK


def _db_copy(args: argparse.Namespace) -> int:
    if not args.source or not args.target:
        raise UsageError("db copy needs --from PATH (SQLite) and --to URL (PostgreSQL)")
    report = asyncio.run(copy_database(args.source, args.target))
    data = report.to_dict()
    counts = ", ".join(f"{n} {table}" for table, n in report.rows.items())
    _print(args, data, f"copied {report.source} to {report.target}: {counts}")
    return EXIT_OK


def _db_migrate(args: argparse.Namespace) -> int:
    app = load_app(args.app) if args.app else None  # only for its engine's database
    target = resolve_db(app, args.db, DEFAULT_DB)
    before, after = asyncio.run(migrate_database(target))
    text = (
        f"schema version {after}, already up to date"
        if before == after
        else f"schema version {before} -> {after}"
    )
    _print(args, {"database": target, "from": before, "to": after}, text)
    return EXIT_OK


_VERBS: dict[str, Callable[[argparse.Namespace, Engine], Coroutine[Any, Any, int]]] = {
    "start": _start,
    "list": _list,
    "show": _show,
    "history": _history,
    "callback": _callback,
    "event": _event,
    "schedule": _schedule,
    "stop": _stop,
    "resume": _resume,
    "replay": _replay,
    "export": _export,
    "watch": _watch,
    "rerun": _rerun,
    "purge": _purge,
}


_EXECUTION_HELP = "an execution's id, or the name it was started with (--name)"


def _version() -> str:
    """The installed distribution's version, else the package's own `__version__`."""
    try:
        return importlib.metadata.version("durable-engine")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        from . import __version__

        return __version__


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line on stderr (exit 2), not the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _Parser(
        prog="durable-engine",
        description="Run and inspect durable executions kept in one SQLite file.",
        epilog="Exit codes: 0 success, 1 error (one line on stderr), 2 bad usage.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="VERB")
    verbs = _Verbs(sub, _common_options())
    _add_run_commands(verbs)
    _add_inspect_commands(verbs)
    _add_control_commands(verbs)
    _add_check_commands(verbs)
    add_lint_command(sub)
    _add_ui_command(verbs)
    return parser


def _common_options() -> argparse.ArgumentParser:
    """The options every verb takes: --db, --json, --allow-network-fs."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="PATH",
        help=(
            "the database: a file, sqlite:///FILE or postgresql://USER@HOST/DB[?schema=NAME] "
            "(default: $DURABLE_ENGINE_DB or $DURABLE_DB, else the --app engine's database, "
            f"else {DEFAULT_DB})"
        ),
    )
    common.add_argument(
        "--json",
        action="store_true",
        help="print JSON instead of text (a worker's events are JSON lines on stderr either way)",
    )
    common.add_argument(
        "--allow-network-fs",
        action="store_true",
        help="open a database on NFS/SMB/sshfs/FUSE anyway (SQLite locking is unreliable there)",
    )
    common.add_argument(
        "--check-on-open",
        choices=CHECKS,
        help=(
            "check an SQLite file before anything is written: quick (PRAGMA quick_check), "
            "full (PRAGMA integrity_check, reads every index too) or none (default: the "
            "--app engine's check_on_open, else quick)"
        ),
    )
    common.add_argument(
        "--allow-shared-file",
        action="store_true",
        help="open a database file owned by another user or writable by group/others",
    )
    return common


@dataclass(frozen=True, slots=True)
class _Verbs:
    """Adds verbs to the parser, each with the common options."""

    sub: argparse._SubParsersAction[argparse.ArgumentParser]
    common: argparse.ArgumentParser

    def add(self, name: str, help: str, app: bool | None = False) -> argparse.ArgumentParser:
        """A verb's parser; `--app` is required if `app`, optional if False, absent if None."""
        p = self.sub.add_parser(name, help=help, description=help, parents=[self.common])
        if app is not None:
            p.add_argument(
                "--app",
                metavar="MODULE:ATTR",
                required=app,
                help=(
                    "the Engine the functions are registered on (and its serdes); without "
                    "--db and $DURABLE_ENGINE_DB, its database is the one used"
                ),
            )
        return p


def _add_run_commands(verbs: _Verbs) -> None:
    """The verbs that run executions: worker, start."""
    w = verbs.add("worker", "serve the functions of an Engine until SIGTERM/SIGINT", app=True)
    w.add_argument("--concurrency", type=_positive_int, help="most executions run at once")
    w.add_argument("--worker-id", help="this worker's name in leases and logs")
    w.add_argument(
        "--grace-seconds",
        type=_seconds,
        default=10.0,
        help="on a signal, how long running executions get to finish or suspend (default 10)",
    )
    s = verbs.add("start", "store a new execution for a worker to run; prints its id", app=True)
    s.add_argument("function", help="the name the durable function is registered under")
    given = s.add_mutually_exclusive_group()
    given.add_argument("--input", metavar="JSON", help="the input, as JSON")
    given.add_argument("--input-file", metavar="FILE", help="a JSON file, or - for stdin")
    s.add_argument("--name", help="an execution name: starting it again returns the same one")
    s.add_argument(
        "--timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="bound the whole execution, waits included",
    )


def _add_inspect_commands(verbs: _Verbs) -> None:
    """The verbs that read executions: list, show, history."""
    ls = verbs.add("list", "list executions, newest first")
    ls.add_argument(
        "--status",
        choices=[st.value for st in ExecutionStatus],
        type=str.upper,
        help="only executions in this status",
    )
    ls.add_argument("--function", help="only executions of this function")
    ls.add_argument("--name", help="the execution started with this name")
    ls.add_argument(
        "--limit", type=_positive_int, help="at most this many: the newest (--reverse: oldest)"
    )
    ls.add_argument("--reverse", action="store_true", help="oldest first")
    ls.add_argument(
        "--version",
        type=_positive_int,
        help="only executions started on this version of their function",
    )
    ls.add_argument(
        "--unfinished",
        action="store_true",
        help="only executions that have not ended (what still runs on a version)",
    )
    verbs.add("show", "one execution: status, input, result or error, timings").add_argument(
        "execution", help=_EXECUTION_HELP
    )
    history = verbs.add("history", "an execution's operations as a tree")
    history.add_argument("execution", help=_EXECUTION_HELP)
    history.add_argument(
        "--run",
        type=_positive_int,
        metavar="N",
        help="the operations of its run N, kept as it continued as new with keep_history "
        "(default: its current run)",
    )
    w = verbs.add("watch", "follow an execution until it ends; exit 0 if it SUCCEEDED, else 1")
    w.add_argument("execution", help=_EXECUTION_HELP)
    w.add_argument(
        "--interval",
        type=_positive_seconds,
        default=0.5,
        metavar="SECONDS",
        help="how often to read it (default 0.5)",
    )


def _add_control_commands(verbs: _Verbs) -> None:
    """The verbs that act on running executions: callback, event, stop, resume."""
    cb = verbs.add("callback", "answer a callback")
    cb.add_argument("action", choices=["succeed", "fail", "heartbeat"])
    cb.add_argument("callback_id", help="the id the workflow handed out (`history` shows it)")
    cb.add_argument("--result", metavar="JSON", help="succeed: the result")
    cb.add_argument("--error-type", help="fail: the error's type name")
    cb.add_argument("--message", help="fail: the error message")
    cb.add_argument("--data", metavar="JSON", help="fail: data attached to the error")
    ev = verbs.add("event", "send an event by name to an execution")
    ev.add_argument("action", choices=["send"])
    ev.add_argument("execution", help=_EXECUTION_HELP)
    ev.add_argument("name", help="the event's name, as the workflow's wait_for_event asks for it")
    ev.add_argument("--data", metavar="JSON", help="the payload (default: null)")
    add_schedule_arguments(
        verbs.add("schedule", "list, pause, resume, delete or trigger schedules (trigger: --app)")
    )
    verbs.add("stop", "stop an execution for good").add_argument("execution", help=_EXECUTION_HELP)
    verbs.add(
        "rerun", "start an execution that ended FAILED, TIMED_OUT or STOPPED again, as new"
    ).add_argument("execution", help=_EXECUTION_HELP)
    purge = verbs.add("purge", "delete ended executions for good, whole, oldest first")
    purge.add_argument(
        "--older-than", type=_age, required=True, metavar="AGE", help="ended over AGE ago: 30d"
    )
    purge.add_argument(
        "--status",
        nargs="+",
        action="extend",
        type=str.upper,
        choices=[st.value for st in ExecutionStatus if st.is_terminal],
        help="only executions that ended with one of these statuses",
    )
    purge.add_argument("--function", help="only executions of this function")
    purge.add_argument("--dry-run", action="store_true", help="count them, delete nothing")
    verbs.add("resume", "run a BLOCKED execution again on the code deployed now").add_argument(
        "execution", help=_EXECUTION_HELP
    )


def _add_check_commands(verbs: _Verbs) -> None:
    """The verbs that check, writing nothing: replay, export, db."""
    replay = verbs.add(
        "replay",
        "replay an execution's history against the current code, running nothing",
        app=True,
    )
    replay.add_argument("execution", nargs="?", help=_EXECUTION_HELP)
    replay.add_argument(
        "--all",
        action="store_true",
        help="the deploy check: every unfinished execution; exit 1 if one cannot go on",
    )
    replay.add_argument("--function", help="--all: only executions of this function")
    replay.add_argument(
        "--include-finished",
        type=_positive_int,
        default=0,
        metavar="N",
        help="--all: also the N newest executions of each function that ended by themselves",
    )
    verbs.add(
        "export", "print an execution's history as a JSON file to replay in tests"
    ).add_argument("execution", help=_EXECUTION_HELP)
    db = verbs.add(
        "db",
        "check an SQLite database without writing to it (check), copy a live SQLite file "
        "consistently into a new one (backup PATH), give an SQLite file's free space back "
        "(vacuum), bring a database's schema up to date (migrate), or copy an SQLite "
        "database into an empty PostgreSQL one (copy)",
    )
    db.add_argument("action", choices=["check", "backup", "vacuum", "migrate", "copy"])
    db.add_argument("path", nargs="?", metavar="PATH", help="backup: the new file to write")
    db.add_argument("--full", action="store_true", help="integrity_check instead of quick_check")
    db.add_argument("--force", action="store_true", help="backup: replace PATH if it exists")
    db.add_argument("--from", dest="source", metavar="PATH", help="copy: the SQLite database")
    db.add_argument("--to", dest="target", metavar="URL", help="copy: the PostgreSQL database")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"a port is from 1 to 65535, not {value}")
    return value


def _add_ui_command(verbs: _Verbs) -> None:
    """The verb that serves a web page: ui."""
    ui = verbs.add("ui", "serve a web page of the executions and pending callbacks")
    ui.add_argument("--host", default="127.0.0.1", help="the address to listen on (127.0.0.1)")
    ui.add_argument("--port", type=_port, default=8080, help="the port to listen on (8080)")
    ui.add_argument(
        "--allow-actions",
        action="store_true",
        help=(
            "let the page answer callbacks and stop, resume or rerun executions, with a "
            "token printed at start"
        ),
    )


def _ui(args: argparse.Namespace) -> int:
    try:
        from .web import serve
    except ModuleNotFoundError as exc:
        raise CommandError(str(exc)) from exc
    engine = _engine_for(args)
    return serve(engine, host=args.host, port=args.port, allow_actions=args.allow_actions)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _run_command(args: argparse.Namespace) -> int:
    if args.command == "worker":
        return run_worker(
            WorkerOptions(
                app=args.app,
                db=args.db,
                concurrency=args.concurrency,
                worker_id=args.worker_id,
                grace_seconds=args.grace_seconds,
                allow_network_fs=args.allow_network_fs,
                allow_shared_file=args.allow_shared_file,
                check_on_open=args.check_on_open,
            )
        )
    if args.command == "db" and args.action == "copy":
        return _db_copy(args)
    if args.command == "db" and args.action == "migrate":
        return _db_migrate(args)
    if args.command == "db" and args.action == "backup":
        return _db_backup(args)
    if args.command == "db" and args.path is not None:
        raise UsageError(f"db {args.action} takes no PATH (only db backup does)")
    if args.command == "db":
        return _db_check(args)
    if args.command == "lint":
        return run_lint(args)
    if args.command == "ui":
        return _ui(args)
    if args.command == "start":
        args.payload = _read_input(args)
    return asyncio.run(_VERBS[args.command](args, _engine_for(args)))


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that nothing more is written to the closed pipe
    (Python flushes stdout once more as it exits)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (never raises, never prints a traceback)."""
    parser = build_parser()
    given = sys.argv[1:] if argv is None else list(argv)
    for arg in given:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:  # bytes the file system encoding could not decode
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            print(f"error: an argument is not valid UTF-8: {shown!r}", file=sys.stderr)
            return EXIT_USAGE
    try:
        args = parser.parse_args(given)
    except SystemExit as exc:  # argparse: 2 on bad usage, 0 for --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        code = _run_command(args)
        sys.stdout.flush()  # a reader that went away shows here, not as Python exits
        return code
    except BrokenPipeError:  # `... | head`: the reader has what it wanted
        _drop_stdout()
        return EXIT_ERROR
    except UsageError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except DurableError as exc:
        print(f"error: {type(exc).__name__}: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except (AppError, CommandError) as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("DURABLE_DEBUG"):
            traceback.print_exc()
        print(f"error: unexpected {type(exc).__name__}: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
