"""`# noqa` silences a line: every code (bare), or the codes and prefixes it names."""

from __future__ import annotations

import textwrap

from durable_engine.lint import lint_source

SOURCE = """
import os, time
@engine.durable_function
async def flow(ctx, x):
    a = time.time()  # noqa: DE101
    b = time.time()  # noqa
    c = time.time()  # NOQA:de1
    d = time.time()  # noqa: DE102
    e = [time.time(), os.getenv("X")]  # noqa: DE104
    f = [time.time(), os.getenv("X")]  # noqa: DE101, DE104
    g = [time.time(), os.getenv("X")]  # noqa:DE101 DE104 because the input says so
    h = "# noqa" and time.time()
    i = time.time()  # noqa: B004 - another linter's code
    j = (
        time.time()  # noqa: DE101
    )
"""


def test_noqa_silences_the_named_codes_on_its_own_line() -> None:
    found = [(f.line, f.code) for f in lint_source(textwrap.dedent(SOURCE))]
    assert found == [(8, "DE101"), (9, "DE101"), (12, "DE101"), (13, "DE101")]


def test_noqa_on_another_line_silences_nothing() -> None:
    source = "import time\n# noqa\n@durable_function\nasync def f(ctx, x):\n    time.time()\n"
    assert [(f.line, f.code) for f in lint_source(source)] == [(5, "DE101")]
