"""A determinism linter for workflow code: `durable-engine lint [PATHS]`.

It reads source (it imports and runs nothing) and reports, inside durable functions
and outside their step bodies, what gives another result when the workflow is
replayed: the wall clock, randomness, in-memory sleeps, the environment, file and
network I/O, processes, threads, module globals; and in step bodies, durable
operations and the workflow's context. Each rule has a code (`RULES`); `# noqa: CODE`
on a line silences it there. The same checks run as a flake8 plugin
(`durable_engine.lint.flake8_plugin`).

    report = lint_paths(["workflows/"])
    for finding in report.findings:
        print(finding)   # path:line:col: DE101 `datetime.datetime.now()` reads the wall clock...
"""

from __future__ import annotations

from ._check import Finding, LintReport, lint_paths, lint_source
from ._rules import RULES, Rule

__all__ = ["RULES", "Finding", "LintReport", "Rule", "lint_paths", "lint_source"]
