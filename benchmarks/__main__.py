"""Run the benchmark suite: `python -m benchmarks [--quick] [--only NAME] [--runs N]`.

Prints one table (Markdown) with every row's figure beside its baseline measured in
the same run, its target and whether it is met, and the machine's load average; and
writes the same as JSON (`--json PATH`, default benchmarks/results/latest.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from .rows import ROWS
from .suite import format_table, load, report, run_rows

_DEFAULT_JSON = Path(__file__).parent / "results" / "latest.json"


def _parser() -> argparse.ArgumentParser:
    names = ", ".join(row.name for row in ROWS)
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure durable_engine beside its baselines; print a table, write JSON.",
        epilog=f"rows: {names}",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes, 3 runs a row: about a minute"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only these rows (repeat, or a comma-separated list)",
    )
    parser.add_argument(
        "--runs", type=int, help="fresh engines per row, median kept (default 5; quick 3)"
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every size by this (e.g. 0.01 for a smoke run); default 1",
    )
    parser.add_argument(
        "--json", type=Path, default=_DEFAULT_JSON, help=f"where to write (default {_DEFAULT_JSON})"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    rows = list(ROWS)
    if args.only:
        wanted = [name.strip() for item in args.only for name in item.split(",") if name.strip()]
        known = {row.name for row in ROWS}
        unknown = [name for name in wanted if name not in known]
        if unknown:
            parser.error(f"no row named {', '.join(unknown)}; rows: {', '.join(sorted(known))}")
        rows = [row for row in ROWS if row.name in wanted]
    runs = args.runs if args.runs is not None else (3 if args.quick else 5)
    if runs < 1:
        parser.error("--runs must be at least 1")
    if not args.scale > 0:
        parser.error("--scale must be greater than 0")
    started_at = datetime.now().astimezone()
    before = load()
    began = time.perf_counter()
    results = run_rows(
        rows,
        quick=args.quick,
        scale=args.scale,
        runs=runs,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    document = report(
        results,
        mode="quick" if args.quick else "full",
        scale=args.scale,
        runs=runs,
        load_before=before,
        load_after=load(),
        started_at=started_at,
        seconds=time.perf_counter() - began,
    )
    print(format_table(results, document))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
