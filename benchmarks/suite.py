"""The suite's machinery: rows, targets, medians of fresh runs, the table and the JSON.

A `Row` is one line of the performance table: a workload measured beside its
baseline in the same run, a target from the issue that set it, and the size it
runs at in a full pass and in a quick one. `run_rows` measures each row `runs`
times (each run a fresh engine on a fresh database file), keeps the median of the
workload and of the baseline, and notes the machine's load average around it.
"""

from __future__ import annotations

import math
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["Row", "RowResult", "Sample", "Target", "format_table", "report", "run_rows"]


@dataclass(frozen=True, slots=True)
class Target:
    """What a row must reach: `value` or `ratio` (value / baseline) `op` `threshold`."""

    op: Literal[">=", "<"]
    threshold: float
    on: Literal["value", "ratio"] = "value"
    text: str = ""
    """The target as the issue states it."""

    def met(self, value: float, ratio: float | None) -> bool:
        measured = value if self.on == "value" else ratio
        if measured is None or math.isnan(measured):
            return False
        return measured >= self.threshold if self.op == ">=" else measured < self.threshold


@dataclass(frozen=True, slots=True)
class Sample:
    """One run of a row: the workload's figure, its baseline's, and anything else seen."""

    value: float
    baseline: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table."""

    name: str
    title: str
    """The workload, with `{n}` for its size."""
    unit: str
    baseline: str
    """What the baseline is, with `{n}` for its size."""
    baseline_unit: str
    target: Target
    full: int
    """The size of a full pass (executions, steps, operations or timers)."""
    quick: int
    """The size of a quick pass."""
    measure: Callable[[int], Sample]
    """One run at a size: a fresh engine, a fresh file, the baseline beside it."""
    minimum: int = 1
    """The smallest size that still measures this workload (`--scale` stops here)."""
    ratio: bool = True
    """Whether value / baseline means something (a throughput against the raw limit);
    the row's ratio is the median of its runs' ratios."""
    unavailable: Callable[[], str | None] | None = None
    """Why the row cannot run here (an optional package missing), or None."""
    note: Callable[[Sequence[dict[str, Any]]], tuple[str, bool]] | None = None
    """From the runs' details: a note for the table, and whether the rest of the
    target (beyond the figure) holds."""

    def size(self, quick: bool, scale: float) -> int:
        return max(self.minimum, round((self.quick if quick else self.full) * scale))


@dataclass(slots=True)
class RowResult:
    """A row's medians over its runs, or why it was skipped."""

    row: Row
    size: int
    status: Literal["met", "not met", "skipped"]
    value: float | None = None
    baseline: float | None = None
    ratio: float | None = None
    values: list[float] = field(default_factory=list)
    baselines: list[float] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None
    seconds: float = 0.0
    reason: str | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        row = self.row
        return {
            "name": row.name,
            "title": row.title.format(n=f"{self.size:,}"),
            "size": self.size,
            "unit": row.unit,
            "value": self.value,
            "baseline": {
                "what": row.baseline.format(n=f"{self.size:,}"),
                "unit": row.baseline_unit,
                "value": self.baseline,
            },
            "ratio": self.ratio,
            "target": {
                "text": row.target.text,
                "on": row.target.on,
                "op": row.target.op,
                "threshold": row.target.threshold,
            },
            "status": self.status,
            "reason": self.reason,
            "note": self.note,
            "runs": self.values,
            "baseline_runs": self.baselines,
            "details": self.details,
            "load_before": self.load_before,
            "load_after": self.load_after,
            "seconds": round(self.seconds, 3),
        }


def load() -> tuple[float, float, float]:
    """The machine's load average over 1, 5 and 15 minutes."""
    one, five, fifteen = os.getloadavg()
    return (round(one, 2), round(five, 2), round(fifteen, 2))


def run_rows(
    rows: Sequence[Row],
    *,
    quick: bool,
    scale: float,
    runs: int,
    progress: Callable[[str], None] = lambda line: None,
) -> list[RowResult]:
    """Measure each row `runs` times; the medians, with the load around each row."""
    results = []
    for row in rows:
        size = row.size(quick, scale)
        reason = row.unavailable() if row.unavailable is not None else None
        if reason is not None:
            progress(f"{row.name}: skipped ({reason})")
            results.append(RowResult(row, size, "skipped", reason=reason))
            continue
        result = RowResult(row, size, "not met", load_before=load())
        began = time.perf_counter()
        for i in range(runs):
            sample = row.measure(size)
            result.values.append(sample.value)
            result.baselines.append(sample.baseline)
            result.details.append(sample.details)
            progress(
                f"{row.name} run {i + 1}/{runs}: {_number(sample.value)} {row.unit}"
                f" (baseline {_number(sample.baseline)} {row.baseline_unit})"
            )
        result.seconds = time.perf_counter() - began
        result.load_after = load()
        result.value = statistics.median(result.values)
        result.baseline = statistics.median(result.baselines)
        if row.ratio and all(result.baselines):
            # Each run's figure against its own baseline, measured beside it: the
            # median of those ratios, so that load that came and went between runs
            # cancels out rather than pairing a figure with another run's baseline.
            result.ratio = statistics.median(
                v / b for v, b in zip(result.values, result.baselines, strict=True)
            )
        holds = row.target.met(result.value, result.ratio)
        if row.note is not None:
            result.note, rest_holds = row.note(result.details)
            holds = holds and rest_holds
        result.status = "met" if holds else "not met"
        results.append(result)
    return results


def report(
    results: Sequence[RowResult],
    *,
    mode: str,
    scale: float,
    runs: int,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    started_at: datetime,
    seconds: float,
) -> dict[str, Any]:
    """The JSON document of a pass."""
    return {
        "suite": "durable_engine benchmarks",
        "mode": mode,
        "scale": scale,
        "runs": runs,
        "statistic": "median",
        "started_at": started_at.astimezone(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "machine": {
            "python": platform.python_version(),
            "implementation": sys.implementation.name,
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "load_before": load_before,
        "load_after": load_after,
        "rows": [r.to_json() for r in results],
    }


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def format_table(results: Sequence[RowResult], document: dict[str, Any]) -> str:
    """The pass as a Markdown table, with the machine and its load above it."""
    machine = document["machine"]
    lines = [
        f"durable_engine benchmarks: {document['mode']} pass, median of {document['runs']} "
        f"fresh engine(s) per row, scale {document['scale']:g}; python {machine['python']}, "
        f"sqlite {machine['sqlite']}, {machine['cpus']} cpus",
        f"load average (1, 5, 15 min) before: {_load(document['load_before'])}; "
        f"after: {_load(document['load_after'])}",
        "",
        "| row | workload | figure | baseline (same run) | ratio | target | status | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        row = r.row
        title = row.title.format(n=f"{r.size:,}")
        if r.status == "skipped":
            lines.append(
                f"| {row.name} | {title} | - | - | - | {row.target.text} | "
                f"skipped: {r.reason} | - |"
            )
            continue
        baseline = f"{row.baseline.format(n=f'{r.size:,}')}: {_number(r.baseline)} "
        baseline += row.baseline_unit
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        shown_load = "-"
        if r.load_before is not None and r.load_after is not None:
            shown_load = f"{r.load_before[0]:.2f} -> {r.load_after[0]:.2f}"
        lines.append(
            f"| {row.name} | {title} | {_number(r.value)} {row.unit} | {baseline} | {ratio} "
            f"| {row.target.text} | {r.status}{f' ({r.note})' if r.note else ''} | {shown_load} |"
        )
    return "\n".join(lines)


def _load(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)
