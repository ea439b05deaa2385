"""Worker processes on one database (a file, or a PostgreSQL URL), and the disruptions
done to them.

Also the plumbing the crash harnesses share: environment, starting executions from
this process, answering callbacks from another one, reading effects and statuses.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.crash.crash_hook import CRASH_EXIT_CODE, ENV_VAR
from tests.crash.plant import PLANT_VAR

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.crash.worker_app:engine"
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED")
_START_LOCK = threading.Lock()
N = TypeVar("N", int, float)


@dataclass
class Disruption:
    kind: str  # "kill", "stop", "crash", or "refused" (a worker that could not open the
    # database while its server was down, and exited 1 at once)
    pid: int
    at: float
    until: float | None = None


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    crash_at: int | None = None
    stopped_until: float | None = None
    ended: bool = False
    clock_offset: float = 0.0


def _env(
    effects: Path,
    lease: float,
    crash_at: int | None = None,
    body_seconds: float = 0.05,
    *,
    synchronous: str = "NORMAL",
    plant: str | None = None,
    clock_offset: float = 0.0,
    skew: str = "engine",
) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        "DURABLE_EFFECTS": str(effects),
        "DURABLE_LEASE": str(lease),
        "DURABLE_BODY_SECONDS": str(body_seconds),
        "DURABLE_SYNCHRONOUS": synchronous,
        "DURABLE_CLOCK_OFFSET": str(clock_offset),
        "DURABLE_CLOCK_SKEW": skew,
    }
    env.pop(ENV_VAR, None)
    env.pop(PLANT_VAR, None)
    if crash_at is not None:
        env[ENV_VAR] = str(crash_at)  # read by worker_app, which installs the crash hook
    if plant:
        env[PLANT_VAR] = plant  # read by worker_app, which breaks the engine with it
    return env


class Cluster:
    """Worker processes on one database, and what was done to them."""

    def __init__(self, root: Path, db: Path | str, effects: Path, lease: float) -> None:
        self.root, self.db, self.effects, self.lease = root, db, effects, lease
        self.workers: list[Worker] = []
        self.disruptions: list[Disruption] = []
        self.concurrency = 4
        self.body_seconds = 0.05
        self.synchronous = "NORMAL"
        self.plant: str | None = None
        self.clock_offsets: tuple[float, ...] = (0.0,)
        """The engine clocks of the "hosts": worker k runs on host k mod len(...)."""
        self.skew = "engine"
        """"engine": only the engine's clock is off; "host": the store's measure too."""
        self.outages: list[tuple[float, float]] = []
        """When the database server was down: (stopped, started again), wall times."""
        self.refused: list[Worker] = []
        """Workers that exited 1 at start, unable to open the database while it was down."""
        self._serial = 0
        (root / "logs").mkdir(exist_ok=True)

    def spawn(self, crash_at: int | None = None) -> Worker:
        self._serial += 1
        name = f"w{self._serial}"
        offset = self.clock_offsets[self._serial % len(self.clock_offsets)]
        log = self.root / "logs" / f"{name}.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "durable_engine",
                    "worker",
                    "--app",
                    APP,
                    "--db",
                    str(self.db),
                    "--worker-id",
                    name,
                    "--grace-seconds",
                    "2",
                    "--concurrency",
                    str(self.concurrency),
                ],
                cwd=ROOT,
                env=_env(
                    self.effects,
                    self.lease,
                    crash_at,
                    self.body_seconds,
                    synchronous=self.synchronous,
                    plant=self.plant,
                    clock_offset=offset,
                    skew=self.skew,
                ),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        worker = Worker(name, proc, log, crash_at, clock_offset=offset)
        self.workers.append(worker)
        return worker

    def live(self) -> list[Worker]:
        return [w for w in self.workers if not w.ended]

    def in_body(self, kinds: tuple[str, ...] | None = None) -> list[Worker]:
        """Running workers inside a step body now (its start recorded, not its end),
        of one of `kinds` if given."""
        open_runs: dict[tuple[Any, ...], int] = {}
        for rec in effects_of(self.effects, while_written=True):
            key = (rec["k"], rec["x"], rec["op"], rec["a"], rec["pid"])
            if rec["ph"] == "start" and (kinds is None or rec["k"] in kinds):
                open_runs[key] = rec["pid"]
            elif rec["ph"] in ("end", "fail"):
                open_runs.pop(key, None)
        pids = set(open_runs.values())
        return [w for w in self.live() if w.stopped_until is None and w.proc.pid in pids]

    def kill(self, worker: Worker) -> None:
        if worker.stopped_until is not None:
            worker.proc.send_signal(signal.SIGCONT)
            worker.stopped_until = None
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(timeout=30)
        worker.ended = True
        self.disruptions.append(Disruption("kill", worker.proc.pid, time.time()))

    def stop(self, worker: Worker, seconds: float) -> None:
        worker.proc.send_signal(signal.SIGSTOP)
        now = time.time()
        worker.stopped_until = now + seconds
        self.disruptions.append(Disruption("stop", worker.proc.pid, now, now + seconds))

    def tick(self) -> list[str]:
        """Resume stopped workers that are due; notice workers that exited by themselves."""
        problems = []
        now = time.time()
        for w in self.live():
            if w.stopped_until is not None and now >= w.stopped_until:
                w.proc.send_signal(signal.SIGCONT)
                w.stopped_until = None
            code = w.proc.poll()
            if code is None:
                continue
            w.ended = True
            if code == CRASH_EXIT_CODE and w.crash_at is not None:
                self.disruptions.append(Disruption("crash", w.proc.pid, time.time()))
            elif code == 1 and self._refused_at_start(w, now):
                self.disruptions.append(Disruption("refused", w.proc.pid, now))
                self.refused.append(w)
            else:
                problems.append(f"worker {w.name} exited by itself with {code}: {_tail(w.log)}")
        return problems

    def _refused_at_start(self, worker: Worker, now: float) -> bool:
        """Whether `worker` never got past opening the database (its log holds its
        "start" event and a StoreError line, nothing else) and ended during, or just
        after, a server outage: a worker exits 1 when it cannot open its database."""
        lines = [line for line in _text(worker.log).splitlines() if line.strip()]
        opened = len(lines) != 2 or '"event": "start"' not in lines[0]
        if opened or not lines[1].startswith("error: StoreError"):
            return False
        return any(down <= now <= up + 10.0 for down, up in self.outages)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        """Leave no process behind, whatever happened."""
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGCONT)
                w.proc.kill()
            w.proc.wait()

    def shutdown(self) -> list[str]:
        problems = []
        for w in self.live():
            if w.stopped_until is not None:
                w.proc.send_signal(signal.SIGCONT)
                w.stopped_until = None
        # A process still starting Python has no handler yet: let it reach its "start" line.
        end = time.monotonic() + 30
        while time.monotonic() < end and any(
            w.proc.poll() is None and '"event": "start"' not in _text(w.log) for w in self.live()
        ):
            time.sleep(0.02)
        for w in self.live():
            w.proc.send_signal(signal.SIGTERM)
        for w in self.live():
            try:
                code = w.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                code = w.proc.wait()
                problems.append(f"worker {w.name} did not stop on SIGTERM")
            w.ended = True
            if code == CRASH_EXIT_CODE and w.crash_at is not None:
                self.disruptions.append(Disruption("crash", w.proc.pid, time.time()))
            elif code != 0 and self._refused_at_start(w, time.time()):
                # It had found the server down and was exiting when SIGTERM came.
                self.disruptions.append(Disruption("refused", w.proc.pid, time.time()))
                self.refused.append(w)
            elif code != 0:
                problems.append(f"worker {w.name} exited {code} on SIGTERM: {_tail(w.log)}")
        return problems


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- starting executions and answering callbacks -------------------------------------


def start_executions(
    db: Path | str, effects: Path, lease: float, plan: list[tuple[str, N]]
) -> dict[str, tuple[str, N]]:
    """Store one execution per (function, n) for the workers to claim; returns them by id."""
    from tests.crash import worker_app

    engine = worker_app.engine

    async def go() -> dict[str, tuple[str, N]]:
        engine.retarget(db)
        engine.serve = False
        async with engine:
            started = {}
            for function, n in plan:
                handle = await engine.start(function, n, run_here=False)
                started[handle.execution_id] = (function, n)
            return started

    with _START_LOCK:  # one engine object serves every thread of a sweep
        return asyncio.run(go())


def send_callback(db: Path | str, callback_id: str, result: Any) -> subprocess.Popen[str]:
    """Answer a callback from another OS process, with the command line."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durable_engine",
            "callback",
            "succeed",
            callback_id,
            "--result",
            json.dumps(result),
            "--db",
            str(db),
        ],
        cwd=ROOT,
        env=_env(Path(os.devnull), 1.0),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


ALREADY = "CallbackAlreadyResolved"
"""The typed error the command line names when a callback was answered before."""


UNAVAILABLE = ("StoreError", "DatabaseLocked", "DiskFull", "StoreIOError")
"""Errors the command line names when the database could not take the answer now (the
server was down, the file stayed locked): the sender may try again."""


def race_problem(callback_id: str, results: list[tuple[int, str]]) -> tuple[int | None, str]:
    """Of answers sent at once to one callback, as (exit status, stderr): the index of
    the one taken, and '' if at most one was taken and each other was refused as
    already resolved (or found the database unavailable); else what went wrong. None
    and '' when none was taken because the database was unavailable: send again."""
    taken = [i for i, (code, _) in enumerate(results) if code == 0]
    refused = [i for i, (code, err) in enumerate(results) if code != 0 and ALREADY in err]
    unavailable = [
        i
        for i, (code, err) in enumerate(results)
        if code != 0 and i not in refused and any(f"error: {e}" in err for e in UNAVAILABLE)
    ]
    others = [
        f"exit {code}: {err.strip()[-300:]}"
        for i, (code, err) in enumerate(results)
        if i not in taken and i not in refused and i not in unavailable
    ]
    if len(taken) == 1 and not others:
        return taken[0], ""
    if not taken and not refused and not others:
        return None, ""  # the database could not be reached: nothing was taken
    return (
        taken[0] if taken else None,
        f"callback {callback_id} answered twice at once: {len(taken)} answers taken, "
        f"{len(refused)} refused as already resolved, others: {others}",
    )


def effects_of(path: Path, *, while_written: bool = False) -> list[dict[str, Any]]:
    """The records of the effects file; `while_written`: read while processes append
    to it, so a last line with no newline yet is left for the next read."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")
    if while_written:
        lines = lines[:-1]
    return [json.loads(line) for line in lines if line.strip()]


def statuses(db: Path | str) -> dict[str, str]:
    """Each execution's status ({} while the database cannot be read)."""
    if isinstance(db, str) and db.startswith("postgresql"):
        return _pg_statuses(db)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return dict(conn.execute("SELECT execution_id, status FROM executions").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


class CallbackAnswerer:
    """Answers, from other OS processes, every callback id a workflow handed out: two
    processes at once with different values, of which exactly one must be taken and
    the other refused with `CallbackAlreadyResolved`."""

    RACERS = 2

    def __init__(self, db: Path | str, effects: Path) -> None:
        self.db, self.effects = db, effects
        self.answered: set[str] = set()
        self.accepted: dict[str, list[Any]] = {}
        """Execution id -> the values taken for its callbacks."""
        self.races: list[tuple[str, str, list[Any], list[subprocess.Popen[str]]]] = []
        self.problems: list[str] = []

    def poll(self) -> None:
        for rec in effects_of(self.effects, while_written=True):
            if rec["k"] == "callback" and rec["callback_id"] not in self.answered:
                self.answered.add(rec["callback_id"])
                values = [{"approved": rec["n"], "by": i} for i in range(self.RACERS)]
                senders = [send_callback(self.db, rec["callback_id"], v) for v in values]
                self.races.append((rec["x"], rec["callback_id"], values, senders))
        for race in [r for r in self.races if all(p.poll() is not None for p in r[3])]:
            self._settle(race)

    def _settle(self, race: tuple[str, str, list[Any], list[subprocess.Popen[str]]]) -> None:
        self.races.remove(race)
        execution_id, callback_id, values, senders = race
        results = []
        for proc in senders:
            _, err = proc.communicate(timeout=60)
            results.append((proc.returncode, err))
        taken, problem = race_problem(callback_id, results)
        if taken is not None:
            self.accepted.setdefault(execution_id, []).append(values[taken])
        if problem:
            self.problems.append(problem)
        elif taken is None:  # the database was unavailable: answer again at the next poll
            self.answered.discard(callback_id)

    def finish(self) -> list[str]:
        for race in list(self.races):
            self._settle(race)
        return self.problems


def _pg_statuses(url: str) -> dict[str, str]:
    import asyncpg

    async def go() -> dict[str, str]:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            rows = await conn.fetch("SELECT execution_id, status FROM durable.executions")
        finally:
            await conn.close()
        return {r[0]: r[1] for r in rows}

    try:
        return asyncio.run(go())
    except (TimeoutError, OSError, asyncpg.PostgresError):  # the server restarts
        return {}


def all_ended(db: Path | str, started: int) -> bool:
    """Whether at least `started` executions exist and every one has ended."""
    found = statuses(db)
    return len(found) >= started and all(s in TERMINAL for s in found.values())
