"""The invariants every crash trial checks, from effects, worker logs and the database.

- every execution ends SUCCEEDED with its fault-free result, and at most one
  worker ever logged finishing it;
- every at-least-once body ran, and each extra run is explained: its process was
  killed or crashed, or logged that it lost its lease, after the run began; no key
  has more extra runs than there were disruptions;
- no at-most-once body ran twice in one attempt;
- no timer fired early, judged twice: on the effects' own clock (the step after a
  wait started at least the wait's duration, less `TIMER_TOLERANCE`, after the step
  before it ended: whatever the engine stored), and against the stored instants (a
  WAIT ended at or after its wake_at, the step after it started after that
  instant); a retry started at least the retry delay after a failed attempt;
- no stale write landed: no stored step result was made by a run that began before
  its execution was taken over from its process and ended after that;
- every callback answered twice at once took exactly one answer (the other was
  refused as already resolved), and the workflow saw that one;
- deferred steps (`defer_commit=True`) form one unbroken chain: each stored result
  names the run of the step before it, and is what the workflow saw;
- `PRAGMA integrity_check` is ok, and every worker stopped with exit code 0.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.crash.cluster import Cluster, effects_of

_EPS = 0.01
TIMER_TOLERANCE = 0.005
"""Seconds a wait may look short by on the effects' clock: the float rounding of two
`time.time()` readings on one host, nothing more."""


@dataclass
class Outcome:
    """What one trial saw; `violations` is empty when every invariant held."""

    executions: int = 0
    kills: int = 0
    stops: int = 0
    crashes: int = 0
    takeovers: int = 0
    lease_lost: int = 0
    extra_alo_runs: int = 0
    interrupted_amo: int = 0
    callbacks_sent: int = 0
    server_restarts: int = 0
    refused_starts: int = 0
    full_trials: int = 0
    seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        for name in (
            "executions",
            "kills",
            "stops",
            "crashes",
            "takeovers",
            "lease_lost",
            "extra_alo_runs",
            "interrupted_amo",
            "callbacks_sent",
            "server_restarts",
            "refused_starts",
            "full_trials",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.seconds += other.seconds
        self.violations.extend(other.violations)


def _parse_ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def worker_events(cluster: Cluster) -> list[dict[str, Any]]:
    events = []
    for w in cluster.workers:
        for line in w.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by SIGKILL
                event["pid"] = w.proc.pid
                if "ts" in event:  # on the true clock, also for a host whose clock is off
                    skewed = cluster.skew == "host"
                    event["t"] = _parse_ts(event["ts"]) - (w.clock_offset if skewed else 0.0)
                events.append(event)
    return events


Starts = dict[tuple[str, str, str, int], list[dict[str, Any]]]
"""The runs of each step attempt: (kind, execution, operation, attempt) -> start records."""
OpRows = dict[tuple[str, str], tuple[str, str, int, Any, Any]]
"""(execution, operation) -> (type, status, attempt, wake_at, ended_at) as stored."""


def check(
    db: Path | str,
    effects: Path,
    started: dict[str, tuple[str, int]],
    cluster: Cluster,
    outcome: Outcome,
    problems: list[str],
    answers: dict[str, list[Any]] | None = None,
) -> None:
    """Check every invariant; `answers`: the callback answers taken, by execution."""
    v = outcome.violations
    v.extend(problems)
    rows, ops = read_database(db, v)
    _check_results(effects, started, rows, ops, outcome, answers)
    died, losses = _check_worker_logs(cluster, outcome)
    ran = [d for d in cluster.disruptions if d.kind != "refused"]  # those never ran a body
    disrupted = len(ran) + sum(len(x) for x in losses.values())

    def explained(rec: dict[str, Any]) -> bool:
        pid, t = rec["pid"], rec["t"]
        if pid in died and died[pid] + _EPS >= t:
            return True
        return any(at + _EPS >= t for at in losses.get(pid, []))

    recs = effects_of(effects)
    starts: Starts = defaultdict(list)
    for rec in recs:
        if rec["ph"] == "start":
            starts[(rec["k"], rec["x"], rec["op"], rec["a"])].append(rec)
    op_rows: OpRows = {
        (x, op): (typ, st, att, wake, ended) for x, op, typ, st, att, wake, ended, _ in ops
    }
    _check_runs(starts, op_rows, explained, disrupted, outcome)
    if cluster.skew == "host" or not any(cluster.clock_offsets):
        # With only the engines' clocks off, each stored instant is on the clock of the
        # engine that wrote it, not the effects': the effects' clock judges alone.
        _check_timers(starts, op_rows, v)
    _check_waits_on_effects_clock(recs, v)
    _check_retries(recs, starts, v)
    _check_stale_writes(recs, ops, cluster, v)


_EXECUTIONS = "SELECT execution_id, function, status, input, result, parent_id FROM executions"
_OPERATIONS = (
    "SELECT execution_id, op_id, type, status, attempt, wake_at, ended_at, result FROM operations"
)


def read_database(db: Path | str, v: list[str]) -> tuple[list[Any], list[Any]]:
    """The executions' and operations' rows, after checking a file's integrity."""
    if isinstance(db, str) and db.startswith("postgresql"):
        return _read_postgres(db)
    conn = sqlite3.connect(db, timeout=10)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
        if integrity != [("ok",)]:
            v.append(f"integrity_check: {integrity}")
        rows = conn.execute(_EXECUTIONS).fetchall()
        ops = conn.execute(_OPERATIONS).fetchall()
    finally:
        conn.close()
    return rows, ops


def _read_postgres(url: str) -> tuple[list[Any], list[Any]]:
    import asyncio

    import asyncpg

    async def go() -> tuple[list[Any], list[Any]]:
        conn = await asyncpg.connect(url, server_settings={"search_path": "durable"})
        try:
            rows = [tuple(r) for r in await conn.fetch(_EXECUTIONS)]
            ops = [tuple(r) for r in await conn.fetch(_OPERATIONS)]
        finally:
            await conn.close()
        return rows, ops

    return asyncio.run(go())


def _check_results(
    effects: Path,
    started: dict[str, tuple[str, int]],
    rows: list[Any],
    ops: list[Any],
    outcome: Outcome,
    answers: dict[str, list[Any]] | None,
) -> None:
    """Every execution is there and ended SUCCEEDED with its fault-free result."""
    import serdes
    from tests.crash.worker_app import expected

    v = outcome.violations
    codec = serdes.MsgpackSerDes()
    ends = {
        (rec["x"], rec["op"], rec["tok"])
        for rec in effects_of(effects)
        if rec["ph"] == "end" and "tok" in rec
    }
    outcome.executions = len(rows)
    ids = {r[0] for r in rows}
    for execution_id in started:
        if execution_id not in ids:
            v.append(f"execution {execution_id} vanished")
    for execution_id, function, status, raw_input, raw_result, _parent in rows:
        n: Any = codec.deserialize(raw_input)
        if status != "SUCCEEDED":
            v.append(f"{function}({n}) {execution_id} ended {status}")
            continue
        result = codec.deserialize(raw_result)
        if function == "traced":
            v.extend(_check_traced(execution_id, n, result, ops, ends, codec))
            continue
        if function == "deferred":
            v.extend(_check_deferred(execution_id, n, result, ops, ends, codec))
            continue
        if function == "approval" and isinstance(result, dict):
            taken = (answers or {}).get(execution_id, [])
            answer = result.get("answer")
            if answers is not None and answer not in taken:
                v.append(
                    f"approval({n}) {execution_id} saw the callback answer {answer!r}, "
                    f"not the one taken ({taken!r})"
                )
            if isinstance(answer, dict) and set(answer) == {"approved", "by"}:
                result = {**result, "answer": {"approved": answer["approved"]}}
        if result != expected(function, n):
            v.append(f"{function}({n}) gave {result!r}, not {expected(function, n)!r}")


def _check_worker_logs(
    cluster: Cluster, outcome: Outcome
) -> tuple[dict[int, float], dict[int, list[float]]]:
    """Count the disruptions; returns when each process died, and when each lost a lease."""
    v = outcome.violations
    events = worker_events(cluster)
    finishes = Counter(e["execution_id"] for e in events if e.get("event") == "finish")
    for execution_id, count in finishes.items():
        if count > 1:
            v.append(f"execution {execution_id} was logged finished {count} times")
    outcome.takeovers += sum(1 for e in events if e.get("event") == "takeover")
    losses: dict[int, list[float]] = defaultdict(list)
    for e in events:
        if e.get("event") in ("lease_lost", "worker_lease_lost"):
            outcome.lease_lost += 1
            losses[e["pid"]].append(e["t"])
        if e.get("event") == "log" and e.get("level") in ("error", "critical"):
            v.append(f"worker logged an error: {e.get('message')} {e.get('traceback', '')[-300:]}")
    died = {d.pid: d.at for d in cluster.disruptions if d.kind in ("kill", "crash")}
    outcome.kills += sum(1 for d in cluster.disruptions if d.kind == "kill")
    outcome.crashes += sum(1 for d in cluster.disruptions if d.kind == "crash")
    outcome.stops += sum(1 for d in cluster.disruptions if d.kind == "stop")
    outcome.refused_starts += sum(1 for d in cluster.disruptions if d.kind == "refused")
    return died, losses


def _check_runs(
    starts: Starts,
    op_rows: OpRows,
    explained: Callable[[dict[str, Any]], bool],
    disrupted: int,
    outcome: Outcome,
) -> None:
    """At-most-once bodies ran once per attempt; extra at-least-once runs are explained."""
    v = outcome.violations
    for (kind, x, op, attempt), runs in starts.items():
        if kind == "amo" and len(runs) > 1:
            v.append(f"at-most-once {x} {op} attempt {attempt} ran {len(runs)} times")
        if kind in ("alo", "fired", "flaky", "callback") and len(runs) > 1:
            outcome.extra_alo_runs += len(runs) - 1
            unexplained = [r for r in runs if not explained(r)]
            if len(unexplained) > 1:
                v.append(
                    f"at-least-once {x} {op} attempt {attempt} ran {len(runs)} times, "
                    f"{len(unexplained)} not explained by a kill or a lost lease"
                )
            if len(runs) - 1 > disrupted:
                v.append(f"{x} {op} ran {len(runs)} times with {disrupted} disruptions")
    for (x, op), (typ, status, attempt, _wake, _ended) in op_rows.items():
        if typ != "STEP" or status != "SUCCEEDED":
            continue
        kinds = {k for (k, xx, oo, a) in starts if xx == x and oo == op and a == attempt}
        if not kinds:
            v.append(f"step {x} {op} succeeded at attempt {attempt} with no run recorded")
        if "amo" in kinds and attempt > 1:
            outcome.interrupted_amo += attempt - 1


def _check_timers(starts: Starts, op_rows: OpRows, v: list[str]) -> None:
    """A WAIT ends at or after its instant; the step after it starts after it too."""
    for (x, op), (typ, status, _att, wake, ended) in op_rows.items():
        if typ == "WAIT" and status == "SUCCEEDED" and (ended is None or ended < wake):
            v.append(f"wait {x} {op} ended at {ended}, before its instant {wake}")
    for (kind, x, op, _a), runs in starts.items():
        if kind != "fired":
            continue
        prefix, _, last = op.rpartition("/")
        wait_op = f"{prefix}/{int(last) - 1}" if prefix else str(int(last) - 1)
        wait = op_rows.get((x, wait_op))
        if wait is None or wait[0] != "WAIT":
            v.append(f"no wait recorded before {x} {op}")
            continue
        for r in runs:
            if r["t"] < wait[3]:
                v.append(f"{x} {op} ran at {r['t']}, before the wait's instant {wait[3]}")


def _check_waits_on_effects_clock(recs: list[dict[str, Any]], v: list[str]) -> None:
    """The step after a wait started at least the wait's duration after the step before
    it ended, both read from the effects (the workflow process's wall clock): a timer
    that fired early shows here even if the engine stored the early instant."""
    marked: dict[tuple[str, str], tuple[float, float]] = {}
    fired: dict[tuple[str, str], float] = {}
    for rec in recs:
        if "mark" in rec and rec["ph"] == "end":
            key = (rec["x"], rec["mark"])
            before = marked.get(key)
            if before is None or rec["t"] < before[0]:  # the earliest end: the lenient one
                marked[key] = (rec["t"], float(rec["d"]))
        if "fired" in rec and rec["ph"] == "start":
            key = (rec["x"], rec["fired"])
            fired[key] = min(rec["t"], fired.get(key, rec["t"]))
    for (x, label), began in fired.items():
        if (x, label) not in marked:
            v.append(f"timer {label} of {x}: the step after it ran, the step before it never ended")
            continue
        ended, seconds = marked[(x, label)]
        if began - ended < seconds - TIMER_TOLERANCE:
            v.append(
                f"timer {label} of {x} fired early: the step after it started "
                f"{began - ended:.3f}s after the step before it ended, the wait is {seconds}s"
            )


def _check_stale_writes(
    recs: list[dict[str, Any]], ops: list[Any], cluster: Cluster, v: list[str]
) -> None:
    """No stored step result was made by a run that began before its execution was taken
    over from that run's process and ended after it: the fence refuses such writes."""
    pids = {w.name: w.proc.pid for w in cluster.workers}
    taken: dict[tuple[str, int], list[float]] = defaultdict(list)
    for e in worker_events(cluster):
        if e.get("event") == "takeover" and e.get("previous_owner") in pids:
            taken[(e["execution_id"], pids[e["previous_owner"]])].append(e["t"])
    if not taken:
        return
    runs: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for rec in recs:
        if "tok" in rec:
            runs[rec["tok"]][rec["ph"]] = rec
    import serdes

    codec = serdes.MsgpackSerDes()
    for x, op, typ, status, *_, res in ops:
        if typ != "STEP" or status != "SUCCEEDED" or res is None:
            continue
        value = codec.deserialize(res)
        if not isinstance(value, str):
            continue
        run = runs.get(value.rpartition(">")[2])
        if run is None or "start" not in run or "end" not in run:
            continue
        pid, began, ended = run["end"]["pid"], run["start"]["t"], run["end"]["t"]
        for at in taken.get((x, pid), []):
            if began + _EPS < at < ended - _EPS:
                v.append(
                    f"stale write: {x} step {op} holds the result of a run by pid {pid} "
                    f"({began:.3f}..{ended:.3f}) that the execution was taken from at {at:.3f}"
                )


def _check_retries(recs: list[dict[str, Any]], starts: Starts, v: list[str]) -> None:
    """A retry starts at least the retry delay after the failed attempt before it."""
    from tests.crash.worker_app import RETRY_DELAY

    fails = defaultdict(list)
    for rec in recs:
        if rec["k"] == "flaky" and rec["ph"] == "fail":
            fails[(rec["x"], rec["op"], rec["a"])].append(rec["t"])
    for (kind, x, op, attempt), runs in starts.items():
        if kind != "flaky" or attempt < 2:
            continue
        first = min(r["t"] for r in runs)
        earlier = fails.get((x, op, attempt - 1), [])
        if not any(f + RETRY_DELAY <= first + 1e-3 for f in earlier):
            v.append(f"retry {x} {op} attempt {attempt} started {first} too soon after {earlier}")


def _check_traced(
    execution_id: str,
    n: Any,
    result: Any,
    ops: list[tuple[Any, ...]],
    ends: set[tuple[str, str, str]],
    codec: Any,
) -> list[str]:
    """The tokens the workflow saw are the stored step results, each from a finished run."""
    if not isinstance(result, dict) or result.get("n") != n:
        return [f"traced({n}) {execution_id} gave {result!r}"]
    stored = {
        op: codec.deserialize(res)
        for x, op, typ, *_, res in ops
        if x == execution_id and typ == "STEP"
    }
    problems = []
    for op, token in result["tokens"].items():
        if stored.get(op) != token:
            problems.append(
                f"traced {execution_id} step {op}: the workflow saw {token} but the database "
                f"holds {stored.get(op)} (a stale write landed)"
            )
        if (execution_id, op, token) not in ends:
            problems.append(f"traced {execution_id} step {op}: no finished run made {token}")
    return problems


def _check_deferred(
    execution_id: str,
    n: Any,
    result: Any,
    ops: list[tuple[Any, ...]],
    ends: set[tuple[str, str, str]],
    codec: Any,
) -> list[str]:
    """The deferred steps' links, as stored in operation order, are what the workflow
    returned, each from a finished run, and each names the run of the one before it."""
    if not isinstance(result, dict) or result.get("n") != n:
        return [f"deferred({n}) {execution_id} gave {result!r}"]
    stored = sorted(
        (int(op), codec.deserialize(res))
        for x, op, typ, *_, res in ops
        if x == execution_id and typ == "STEP" and op != "4"  # 4: the at-most-once step
    )
    links = [link for _, link in stored]
    problems = []
    if links != result["links"]:
        problems.append(
            f"deferred {execution_id}: the workflow saw {result['links']} but the "
            f"database holds {links}"
        )
    previous = "start"
    for op, link in stored:
        before, _, token = str(link).partition(">")
        if before != previous:
            problems.append(
                f"deferred {execution_id} step {op}: names {before} as the run before it, "
                f"but that step's stored run is {previous} (the chain broke)"
            )
        if (execution_id, str(op), token) not in ends:
            problems.append(f"deferred {execution_id} step {op}: no finished run made {token}")
        previous = token
    return problems
