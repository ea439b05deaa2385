"""Each rule found with its code and line, and nothing found where the rules are kept."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from durable_engine.lint import RULES, Finding, lint_source

from .helpers import corpus_files, expected


def lint(source: str) -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in lint_source(textwrap.dedent(source))]


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_finds_exactly_what_each_file_expects(path: Path) -> None:
    found = [(f.line, f.code) for f in lint_source(path.read_bytes(), str(path))]
    assert found == expected(path)


def test_the_corpus_has_good_code_and_every_rule_broken() -> None:
    files = {p.name: expected(p) for p in corpus_files()}
    assert files["good_workflows.py"] == []
    assert {code for found in files.values() for _, code in found} == set(RULES)


def test_a_finding_says_where_what_and_what_to_use_instead() -> None:
    source = "import time\n@engine.durable_function\nasync def f(ctx, x):\n    time.sleep(1)\n"
    (finding,) = lint_source(source, "flow.py")
    assert finding == Finding(
        path="flow.py",
        line=4,
        col=5,
        code="DE103",
        message="`time.sleep()` sleeps in memory: the wait is lost if the process stops: "
        "use `await ctx.wait(seconds)`, a durable timer",
    )
    assert str(finding).startswith("flow.py:4:5: DE103 `time.sleep()` sleeps in memory")


def test_every_rule_message_names_what_to_use_instead() -> None:
    for rule in RULES.values():
        assert rule.code.startswith("DE") and rule.instead, rule
    assert "ctx.now()" in RULES["DE101"].instead
    assert "ctx.random()" in RULES["DE102"].instead
    assert "ctx.wait(" in RULES["DE103"].instead


@pytest.mark.parametrize(
    "decorator",
    [
        "@engine.durable_function",
        "@engine.durable_function(name='flow')",
        "@durable_function",
        "@app.engine.durable_function(name='flow', serdes=None)",
    ],
)
def test_every_form_of_the_decorator_makes_a_workflow(decorator: str) -> None:
    source = f"""
        import time
        {decorator}
        async def flow(context, x):
            return time.time()
    """
    assert lint(source) == [(5, "DE101")]


def test_plain_functions_and_code_outside_workflows_are_not_checked() -> None:
    assert (
        lint(
            """
            import os, time, random
            START = time.time()
            def helper(step):
                return os.environ["HOME"], random.random()
            async def not_a_workflow(x: int) -> None:
                time.sleep(x)
            """
        )
        == []
    )


def test_a_string_or_dotted_annotation_makes_a_workflow() -> None:
    source = """
        import time
        async def a(ctx: "DurableContext", x): time.sleep(1)
        async def b(ctx: durable_engine.DurableContext, x): time.sleep(1)
        async def c(ctx: "durable_engine.DurableContext", x): time.sleep(1)
    """
    assert lint(source) == [(3, "DE103"), (4, "DE103"), (5, "DE103")]


def test_a_parameter_named_like_a_module_is_not_that_module() -> None:
    source = """
        import time
        @engine.durable_function
        async def flow(ctx, time):
            return time.time()
    """
    assert lint(source) == []


def test_step_bodies_by_name_partial_or_annotation_are_exempt() -> None:
    source = """
        import functools, time
        from durable_engine import StepContext
        @engine.durable_function
        async def flow(ctx, x):
            def by_name(s):
                return time.time()
            def by_partial(s, n):
                return time.time() + n
            def by_annotation(s: StepContext):
                return time.time()
            def plain_helper():
                return time.time()
            await ctx.step(by_name)
            await ctx.step(functools.partial(by_partial, n=1))
            await ctx.step(fn=lambda s: time.time())
            return plain_helper()
    """
    assert lint(source) == [(13, "DE101")]


def test_arguments_of_a_step_call_are_workflow_code() -> None:
    source = """
        import time
        @engine.durable_function
        async def flow(ctx, x):
            await ctx.step(make_body(time.time()), name=f"at-{time.time()}")
    """
    assert lint(source) == [(5, "DE101"), (5, "DE101")]


def test_child_context_bodies_are_workflow_code() -> None:
    source = """
        import time
        @engine.durable_function
        async def flow(ctx, items):
            async def child(c):
                time.sleep(1)
                await c.step(lambda s: c.wait(1))
            await ctx.run_in_child_context(child)
            await ctx.parallel([lambda c: c.step(lambda s: c.now()), child])
            await ctx.map(items, lambda c, item, i, all: c.wait(time.time()))
    """
    assert lint(source) == [(6, "DE103"), (7, "DE201"), (9, "DE201"), (10, "DE101")]


def test_sleep_zero_only_yields_and_seeded_random_repeats() -> None:
    source = """
        import asyncio, anyio, random
        @engine.durable_function
        async def flow(ctx, x):
            await asyncio.sleep(0)
            await anyio.sleep(0.0)
            await asyncio.sleep(0.5)
            return random.Random(42).random(), random.Random(x)
    """
    assert lint(source) == [(7, "DE103")]


def test_a_global_read_is_fine_and_an_assignment_is_reported_in_every_form() -> None:
    source = """
        TOTAL = 0
        @engine.durable_function
        async def flow(ctx, x):
            global TOTAL
            seen = TOTAL
            TOTAL = seen + 1
            for TOTAL in range(2):
                pass
            del TOTAL
        @engine.durable_function
        async def other(ctx, x):
            TOTAL = 1  # a local of its own: no `global` here
            return TOTAL
    """
    assert lint(source) == [(7, "DE109"), (8, "DE109"), (10, "DE109")]


def test_a_step_body_may_use_its_own_parameters_named_ctx() -> None:
    source = """
        @engine.durable_function
        async def flow(ctx, x):
            await ctx.step(lambda ctx: ctx.attempt)
            def body(ctx):
                return ctx.logger
            await ctx.step(body)
    """
    assert lint(source) == []


def test_a_durable_step_given_the_context_is_reported_at_the_call_and_inside() -> None:
    source = """
        from durable_engine import DurableContext, durable_step
        @durable_step
        async def notify(step, ctx: DurableContext):
            ctx.logger.info("x")
            await ctx.create_callback()
    """
    assert lint(source) == [(5, "DE202"), (6, "DE201")]


def test_select_and_ignore_take_codes_and_prefixes() -> None:
    source = "import time, os\n@durable_function\nasync def f(ctx, x): time.time(); os.getenv('A')"
    assert [f.code for f in lint_source(source, select=["DE101"])] == ["DE101"]
    assert [f.code for f in lint_source(source, select=["de1"], ignore=["DE104"])] == ["DE101"]
    assert lint_source(source, ignore=["DE1"]) == []
    with pytest.raises(ValueError, match="no rule has the code 'XX1'"):
        lint_source(source, select=["XX1"])


def test_a_syntax_error_is_raised_for_the_caller() -> None:
    with pytest.raises(SyntaxError):
        lint_source("async def f(:\n", "broken.py")
