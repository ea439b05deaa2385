"""The invariants every crash trial checks, from effects, worker logs and the database.

- every execution ends SUCCEEDED with its fault-free result, and at most one
  worker ever logged finishing it;
- every at-least-once body ran, and each extra run is explained: its process was
  killed or crashed, or logged that it lost its lease, after the run began; no key
  has more extra runs than there were disruptions;
- no at-most-once body ran twice in one attempt;
- no timer fired early: a WAIT ended at or after its stored wake_at, the step
  after it started after that instant, and a retry started at least the retry
  delay after a failed attempt;
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
                events.append(event)
    return events


Starts = dict[tuple[str, str, str, int], list[dict[str, Any]]]
"""The runs of each step attempt: (kind, execution, operation, attempt) -> start records."""
OpRows = dict[tuple[str, str], tuple[str, str, int, Any, Any]]
"""(execution, operation) -> (type, status, attempt, wake_at, ended_at) as stored."""


def check(
    db: Path,
    effects: Path,
    started: dict[str, tuple[str, int]],
    cluster: Cluster,
    outcome: Outcome,
    problems: list[str],
) -> None:
    v = outcome.violations
    v.extend(problems)
    rows, ops = _read_database(db, v)
    _check_results(effects, started, rows, ops, outcome)
    died, losses = _check_worker_logs(cluster, outcome)
    disrupted = len(cluster.disruptions) + sum(len(x) for x in losses.values())

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
    _check_timers(starts, op_rows, v)
    _check_retries(recs, starts, v)


def _read_database(db: Path, v: list[str]) -> tuple[list[Any], list[Any]]:
    """The executions' and operations' rows, after checking the file's integrity."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
        if integrity != [("ok",)]:
            v.append(f"integrity_check: {integrity}")
        rows = conn.execute(
            "SELECT execution_id, function, status, input, result, parent_id FROM executions"
        ).fetchall()
        ops = conn.execute(
            "SELECT execution_id, op_id, type, status, attempt, wake_at, ended_at, result"
            " FROM operations"
        ).fetchall()
    finally:
        conn.close()
    return rows, ops


def _check_results(
    effects: Path,
    started: dict[str, tuple[str, int]],
    rows: list[Any],
    ops: list[Any],
    outcome: Outcome,
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
            losses[e["pid"]].append(_parse_ts(e["ts"]))
        if e.get("event") == "log" and e.get("level") in ("error", "critical"):
            v.append(f"worker logged an error: {e.get('message')} {e.get('traceback', '')[-300:]}")
    died = {d.pid: d.at for d in cluster.disruptions if d.kind in ("kill", "crash")}
    outcome.kills += sum(1 for d in cluster.disruptions if d.kind == "kill")
    outcome.crashes += sum(1 for d in cluster.disruptions if d.kind == "crash")
    outcome.stops += sum(1 for d in cluster.disruptions if d.kind == "stop")
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
