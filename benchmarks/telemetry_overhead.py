"""What the OpenTelemetry hooks cost the checkpoint benchmark, against a baseline commit.

    python benchmarks/telemetry_overhead.py [--baseline main] [--rounds 5] [--json PATH]

Runs the checkpoint benchmark's two engine cases (N sequential async steps in one
execution; M executions of 10 steps started at once) in a fresh process per
measurement, alternating the modes round by round so that a load that comes and goes
on the machine falls on all of them alike:

- baseline: the code of `--baseline` (extracted with `git archive`), without the hooks;
- off: this tree, telemetry off (the default);
- not installed: this tree, telemetry off, with `opentelemetry` made unimportable;
- on: this tree, `telemetry=True` with the SDK's providers and no exporter (for reference).

Prints the median of each mode, and its difference from the baseline's median.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.abc
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODES = ("baseline", "off", "not installed", "on")
CASES = ("sequential_async_steps", "concurrent_checkpoints")


class _NoOpenTelemetry(importlib.abc.MetaPathFinder):
    """Makes `import opentelemetry` fail, as if the extra were not installed."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"{name} is not installed (hidden by the benchmark)")
        return None


def _child(mode: str, steps: int, executions: int) -> None:
    """Measure once in this process, with `sys.path` already set; print JSON."""
    if mode == "not installed":
        sys.meta_path.insert(0, _NoOpenTelemetry())
    sys.path.insert(0, str(Path.cwd() / "benchmarks"))
    import checkpoint_throughput as bench

    if mode == "on":
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider

        trace.set_tracer_provider(TracerProvider())
        metrics.set_meter_provider(MeterProvider())
        bench.Engine = functools.partial(bench.Engine, telemetry=True)  # type: ignore[misc]

    async def measure() -> dict[str, float]:
        with tempfile.TemporaryDirectory() as tmp:
            return {
                "sequential_async_steps": await bench.sequential_steps(
                    os.path.join(tmp, "a.db"), steps, sync=False
                ),
                "concurrent_checkpoints": await bench.concurrent_executions(
                    os.path.join(tmp, "b.db"), executions, 10
                ),
            }

    print(json.dumps(asyncio.run(measure())))


def _extract(ref: str, into: Path) -> None:
    archive = into / "baseline.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "archive", ref, "durable_engine", "serdes", "benchmarks"],
            cwd=ROOT,
            stdout=out,
            check=True,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")


def _run(tree: Path, mode: str, args: argparse.Namespace) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            mode,
            "--steps",
            str(args.steps),
            "--executions",
            str(args.executions),
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git ref to compare against")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--executions", type=int, default=300)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        _child(args.child, args.steps, args.executions)
        return
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Path(tmp)
        _extract(args.baseline, baseline)
        for round_ in range(args.rounds):
            for mode in MODES:
                tree = baseline if mode == "baseline" else ROOT
                runs[mode].append(_run(tree, mode, args))
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    medians = {
        mode: {case: statistics.median(r[case] for r in runs[mode]) for case in CASES}
        for mode in MODES
    }
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; cores {os.cpu_count()}")
    print(f"{'mode':<15}" + "".join(f"{case:>36}" for case in CASES))
    for mode in MODES:
        cells = []
        for case in CASES:
            value, base = medians[mode][case], medians["baseline"][case]
            cells.append(f"{value:>18,.0f}/s ({(value / base - 1) * 100:+6.1f}%)")
        print(f"{mode:<15}" + "".join(f"{c:>36}" for c in cells))
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "baseline": args.baseline,
                    "rounds": args.rounds,
                    "steps": args.steps,
                    "executions": args.executions,
                    "load_average": load,
                    "runs": runs,
                    "medians": medians,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
