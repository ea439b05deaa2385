"""`durable-engine lint [PATHS]`: the verb's options, and what it prints.

Exit codes: 0 nothing found, 1 something found, 2 bad usage or a path that cannot be
checked (missing, unreadable, not Python that parses).
"""

from __future__ import annotations

import argparse
import json
import sys

from ._check import LintReport, check_codes, lint_paths
from ._rules import RULES

__all__ = ["add_lint_command", "run_lint"]

EXIT_CLEAN = 0
EXIT_FOUND = 1
EXIT_USAGE = 2


def _codes(text: str) -> list[str]:
    try:
        return list(check_codes(code for code in text.split(",") if code.strip()))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_lint_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `lint` verb to the command line's verbs."""
    about = "check workflow code for what breaks replay (reads the files, runs nothing)"
    rules = "\n".join(f"  {r.code}  {r.name}" for r in RULES.values())
    p = sub.add_parser(
        "lint",
        help=about,
        description=about,
        epilog=f"rules:\n{rules}\n\nexit codes: 0 nothing found, 1 something found, "
        "2 bad usage or a path that cannot be checked",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths", nargs="*", default=["."], metavar="PATH", help="files or folders (default: .)"
    )
    p.add_argument(
        "--format", choices=["text", "json"], default="text", help="how to print findings"
    )
    p.add_argument(
        "--select",
        type=_codes,
        action="extend",
        default=[],
        metavar="CODES",
        help="only these codes or prefixes, comma-separated (DE101,DE2)",
    )
    p.add_argument(
        "--ignore",
        type=_codes,
        action="extend",
        default=[],
        metavar="CODES",
        help="not these codes or prefixes, comma-separated",
    )


def run_lint(args: argparse.Namespace) -> int:
    """Lint the paths `args` names, print the findings; returns the exit code."""
    report = lint_paths(args.paths, select=args.select, ignore=args.ignore)
    if args.format == "json":
        print(json.dumps([f.to_dict() for f in report.findings], indent=2))
    else:
        for finding in report.findings:
            print(finding)
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    print(_summary(report), file=sys.stderr)
    if report.errors:
        return EXIT_USAGE
    return EXIT_FOUND if report.findings else EXIT_CLEAN


def _summary(report: LintReport) -> str:
    found = len(report.findings)
    parts = [
        f"{found} problem{'s' if found != 1 else ''} found" if found else "no problems found",
        f"{report.files} file{'s' if report.files != 1 else ''} checked",
    ]
    if report.errors:
        parts.append(f"{len(report.errors)} could not be")
    return ", ".join(parts)
