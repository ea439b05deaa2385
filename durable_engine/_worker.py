"""A worker process: serves the functions registered on a user's `Engine` until a signal.

`python -m durable_engine worker --app MODULE:ATTR` imports the module (the current
folder is on the import path), checks the database without writing to it, then runs
the engine's scheduler: it resumes due work, claims executions with a lease, and logs
one JSON line per lifecycle event on stderr (`durable_engine.logging.JsonFormatter`).
On SIGTERM or SIGINT it stops claiming, gives running executions `--grace-seconds` to
finish or suspend, releases its leases and exits 0; a second signal cuts the grace
period short. A sync step body still running in a thread then is abandoned, as if the
process had been killed.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from ._engine import Engine
from ._errors import StoreError
from ._events import emit
from ._fs_check import network_mount
from ._jsonlog import json_handler
from ._store import is_postgres, location

__all__ = ["AppError", "WorkerOptions", "load_app", "run_worker"]

DB_ENV = "DURABLE_ENGINE_DB"
OLD_DB_ENV = "DURABLE_DB"
"""The older name of DB_ENV, still read when DB_ENV is not set."""


class AppError(Exception):
    """The `--app` module cannot be imported or holds no Engine."""


class UsageError(Exception):
    """The command line is malformed."""


def load_app(spec: str) -> Engine:
    """Import `MODULE:ATTR` (the current folder first on the path) and return its Engine."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageError(f"--app takes MODULE:ATTR (e.g. shop.workflows:engine), not {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise AppError(f"cannot import {module_name!r}: {exc}") from exc
    except Exception as exc:
        raise AppError(f"importing {module_name!r} raised {type(exc).__name__}: {exc}") from exc
    engine = getattr(module, attr, None)
    if engine is None:
        raise AppError(f"module {module_name!r} has no attribute {attr!r}")
    if not isinstance(engine, Engine):
        raise AppError(f"{spec} is a {type(engine).__name__}, not a durable_engine.Engine")
    return engine


def resolve_db(engine: Engine | None, db: str | None, default: str) -> str:
    """`--db`, else $DURABLE_ENGINE_DB (or the older $DURABLE_DB), else the app engine's
    own database, else `default`: a path or a URL (`sqlite:///...`, `postgresql://...`)."""
    if db:
        return location(db)
    for name in (DB_ENV, OLD_DB_ENV):
        if os.environ.get(name):
            return location(os.environ[name])
    if engine is not None:
        return engine.path
    return default


def refuse_network_fs(path: str, allow: bool) -> None:
    """Raise StoreError if `path` is on a network filesystem and that was not allowed."""
    mount = network_mount(path)
    if mount is not None and not allow:
        raise StoreError(
            f"{path} is on a network filesystem ({mount.fs_type} mounted at "
            f"{mount.mount_point}), where SQLite's file locking is unreliable and several "
            "workers can corrupt the database; move it to a local disk, or pass "
            "--allow-network-fs if only one machine ever opens it"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    app: str
    db: str | None = None
    concurrency: int | None = None
    worker_id: str | None = None
    grace_seconds: float = 10.0
    allow_network_fs: bool = False
    allow_shared_file: bool = False
    check_on_open: str | None = None
    """How the database file is checked before anything is written (None: as the app's
    engine says, "quick" unless it says otherwise)."""


def prepare(options: WorkerOptions) -> Engine:
    """Import the app and check its database, writing nothing; raises on any problem."""
    engine = load_app(options.app)
    path = resolve_db(engine, options.db, engine.path)
    if not path.startswith((":memory:", "file:")) and not is_postgres(path):
        path = os.path.abspath(path)
    if path != engine.path:
        engine.retarget(path)
    engine.serve = True
    engine.read_only = False
    if not engine.function_names():
        raise AppError(f"{options.app} has no durable functions registered: nothing to serve")
    if options.check_on_open is not None:
        engine.check_on_open = options.check_on_open
    if not is_postgres(engine.path):  # a server's database has no file here to check
        refuse_network_fs(engine.path, options.allow_network_fs)
    engine.check_database()  # the check opening runs, here before the start is announced
    engine.allow_network_fs |= options.allow_network_fs
    engine.allow_shared_file |= options.allow_shared_file
    if options.concurrency:
        engine.max_concurrent_executions = options.concurrency
    if options.worker_id:
        engine.worker_id = options.worker_id
    return engine


async def serve(engine: Engine, grace_seconds: float, early: Sequence[str] = ()) -> int:
    """Run until SIGTERM/SIGINT, drain for `grace_seconds`, release leases; returns 0.

    `early` names signals received before the loop could handle them: stop at once."""
    logger = engine.logger
    handler = json_handler(sys.stderr, worker=engine.worker_id)
    logger.addHandler(handler)
    previous_level, previous_propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    loop = asyncio.get_running_loop()
    stop, force = asyncio.Event(), asyncio.Event()
    received: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig.name)
        (force if stop.is_set() else stop).set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    if early:
        received.extend(early)
        stop.set()
    try:
        # Announced before opening: the engine claims its first work as it opens.
        emit(
            logger,
            "start",
            db=engine.path,
            pid=os.getpid(),
            functions=sorted(engine.function_names()),
            concurrency=engine.max_concurrent_executions,
            lease_seconds=engine.lease,
        )
        async with engine:
            await stop.wait()
            emit(logger, "stopping", signal=received[0], grace_seconds=grace_seconds)
            started = time.monotonic()
            await _drain_unless_forced(engine, grace_seconds, force)
            still_running = engine.max_concurrent_executions - engine.executor.capacity()
        emit(
            logger,
            "stop",
            drained_seconds=round(time.monotonic() - started, 3),
            released_running=still_running,
        )
        return 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
        logger.propagate = previous_propagate


async def _drain_unless_forced(engine: Engine, grace: float, force: asyncio.Event) -> None:
    """Give running executions `grace` seconds, cut short by a second signal."""
    async with anyio.create_task_group() as group:

        async def on_force() -> None:
            await force.wait()
            group.cancel_scope.cancel()

        group.start_soon(on_force, name="durable-force")
        await engine.drain(grace)
        group.cancel_scope.cancel()


def run_worker(options: WorkerOptions) -> int:
    """Prepare and serve; raises AppError, UsageError or DurableError before serving."""
    early: list[str] = []

    def on_early_signal(signum: int, frame: object) -> None:
        early.append(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_early_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        engine = prepare(options)
        code = _run_leaving_threads(serve(engine, options.grace_seconds, early))
    except OSError as exc:
        raise StoreError(f"the database cannot be used: {exc}") from exc
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _exit_past_busy_threads(code)
    return code


def _run_leaving_threads(main: Coroutine[Any, Any, int]) -> int:
    """`asyncio.run(main)`, except that it does not wait for the default executor's
    threads: a sync step body still running in one belongs to an execution this worker
    has released, and its outcome can no longer be recorded."""
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            left = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()  # shuts the default executor down without waiting for it


def _exit_past_busy_threads(code: int) -> None:
    """Exit now if a step body still runs in a thread, rather than when it returns.

    Python waits for such threads as it exits: a step stuck for an hour would hold the
    process (and a second signal) for that hour. The worker has released its leases,
    so the step is abandoned, as if the process had been killed, and runs again
    wherever its execution resumes."""
    idle_exit = time.monotonic() + 0.5  # idle executor threads end at once
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.daemon:
            continue
        thread.join(max(0.0, idle_exit - time.monotonic()))
        if thread.is_alive():
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
