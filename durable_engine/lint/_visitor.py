"""The walk over a module's AST: which code is workflow code, and what in it breaks replay.

Code is in one of three modes. Module code and plain functions are *outside*: nothing
is checked there. A durable function (decorated `durable_function` in any form,
registered by a call `engine.durable_function(...)(fn)`, or taking a parameter
annotated `DurableContext`) is *workflow* code, run again from the top on every
replay: the determinism rules apply, and so do they in its nested functions and
lambdas, child-context bodies included. A *step* body (a function or lambda given to
`ctx.step`, `wait_for_callback`, `wait_for_condition` or `add_compensation`, a
`durable_step`, a nested function whose first parameter is annotated `StepContext`)
runs once and is exempt, but must not use the workflow's context.
"""

from __future__ import annotations

import ast
import enum
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ._rules import (
    ATTRIBUTES,
    CALLS,
    CHILD_BODY_ARGS,
    DURABLE_OPERATIONS,
    METHODS,
    NO_ARGUMENT_CALLS,
    PREFIXES,
    RULES,
    SLEEPS,
    STEP_BODY_ARGS,
)

__all__ = ["RawFinding", "check_tree"]

RawFinding = tuple[int, int, str, str]
"""(line, column from 0, code, message)."""

_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


class _Mode(enum.Enum):
    OUTSIDE = "outside"
    WORKFLOW = "workflow"
    STEP = "step"


class _Role(enum.Enum):
    """What a function or lambda is to the call it is given to."""

    STEP = "step"
    CHILD = "child"


@dataclass(frozen=True, slots=True)
class _Scope:
    mode: _Mode
    contexts: frozenset[str] = frozenset()
    """Names bound to a workflow's DurableContext here."""
    shadowed: frozenset[str] = frozenset()
    """Parameters that hide imported names (`async def wf(ctx, time)`)."""
    globals: frozenset[str] = frozenset()
    """Names the enclosing workflow function declared `global`."""
    step_bodies: frozenset[str] = frozenset()
    """Nested functions given by name as a step body."""
    child_bodies: frozenset[str] = frozenset()
    """Nested functions given by name as a child-context body."""


_OUTSIDE = _Scope(_Mode.OUTSIDE)


def check_tree(tree: ast.Module) -> list[RawFinding]:
    """Every finding in `tree`, in source order."""
    checker = _Checker(tree)
    for statement in tree.body:
        checker.visit(statement, _OUTSIDE)
    return sorted(checker.findings)


class _Checker:
    def __init__(self, tree: ast.Module) -> None:
        self.aliases = _aliases(tree)
        self.registered = _registered(tree)
        self.findings: list[RawFinding] = []

    def report(self, node: ast.expr | ast.arg, code: str, subject: str) -> None:
        message = RULES[code].message(f"`{subject}`")
        self.findings.append((node.lineno, node.col_offset, code, message))

    # -- the walk ------------------------------------------------------------------

    def visit(self, node: ast.AST, scope: _Scope) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.function(node, scope)
        elif isinstance(node, ast.Lambda):
            self.lambda_(node, scope, None)
        elif isinstance(node, ast.Call):
            self.call(node, scope)
        else:
            if isinstance(node, ast.Name):
                self.name(node, scope)
            elif isinstance(node, ast.Attribute) and scope.mode is _Mode.WORKFLOW:
                self.attribute(node, scope)
            self.visit_children(node, scope)

    def visit_children(self, node: ast.AST, scope: _Scope) -> None:
        for child in ast.iter_child_nodes(node):
            self.visit(child, scope)

    def function(self, node: _FunctionNode, scope: _Scope) -> None:
        for evaluated_here in (*node.decorator_list, *node.args.defaults, *node.args.kw_defaults):
            if evaluated_here is not None:
                self.visit(evaluated_here, scope)
        inner = self.function_scope(node, scope)
        for statement in node.body:
            self.visit(statement, inner)

    def function_scope(self, node: _FunctionNode, scope: _Scope) -> _Scope:
        params = _params(node.args)
        first = _first_param(node.args)
        contexts = frozenset(
            a.arg for a in _all_args(node.args) if _is_type(a.annotation, "DurableContext")
        )
        steppish = _decorated(node, "durable_step") or (
            first is not None and _is_type(first.annotation, "StepContext")
        )
        outer = scope.contexts - params
        shadowed = scope.shadowed | params
        if scope.mode is _Mode.STEP or steppish or node.name in scope.step_bodies:
            if scope.mode is _Mode.OUTSIDE:  # a durable_step: only what it is given
                outer = contexts
            return _Scope(_Mode.STEP, contexts=outer, shadowed=shadowed)
        durable = (
            _decorated(node, "durable_function")
            or node.name in self.registered
            or bool(contexts)
            or (scope.mode is _Mode.WORKFLOW and node.name in scope.child_bodies)
        )
        if scope.mode is _Mode.OUTSIDE and not durable:
            return replace(_OUTSIDE, shadowed=shadowed)
        if durable and first is not None:
            contexts |= {first.arg}
        steps, children = _bodies_named_in(node)
        return _Scope(
            _Mode.WORKFLOW,
            contexts=outer | contexts,
            shadowed=shadowed,
            globals=_declared_global(node),
            step_bodies=scope.step_bodies | steps,
            child_bodies=scope.child_bodies | children,
        )

    def lambda_(self, node: ast.Lambda, scope: _Scope, role: _Role | None) -> None:
        for default in (*node.args.defaults, *node.args.kw_defaults):
            if default is not None:
                self.visit(default, scope)
        params = _params(node.args)
        inner = replace(scope, contexts=scope.contexts - params, shadowed=scope.shadowed | params)
        if scope.mode is _Mode.WORKFLOW and role is _Role.STEP:
            inner = _Scope(_Mode.STEP, contexts=inner.contexts, shadowed=inner.shadowed)
        elif scope.mode is _Mode.WORKFLOW and role is _Role.CHILD:
            first = _first_param(node.args)
            if first is not None:
                inner = replace(inner, contexts=inner.contexts | {first.arg})
        self.visit(node.body, inner)

    def call(self, node: ast.Call, scope: _Scope) -> None:
        if scope.mode is _Mode.WORKFLOW:
            self.check_call(node, scope)
        func = node.func
        roles: dict[int, _Role] = {}  # id of an argument node -> what it is to this call
        reported = False
        if isinstance(func, ast.Attribute):
            if (
                scope.mode is _Mode.STEP
                and func.attr in DURABLE_OPERATIONS
                and isinstance(func.value, ast.Name)
                and func.value.id in scope.contexts
            ):
                self.report(node, "DE201", f"{func.value.id}.{func.attr}()")
                reported = True  # the context in it is not reported again as DE202
            roles = self.argument_roles(node, func, scope)
        if not reported:
            self.visit(func, scope)
        for argument in (*node.args, *(k.value for k in node.keywords)):
            role = roles.get(id(argument))
            if role is not None and isinstance(argument, ast.Lambda):
                self.lambda_(argument, scope, role)
            elif isinstance(argument, ast.List | ast.Tuple) and role is _Role.CHILD:
                for element in argument.elts:
                    if isinstance(element, ast.Lambda):
                        self.lambda_(element, scope, role)
                    else:
                        self.visit(element, scope)
            else:
                self.visit(argument, scope)

    def argument_roles(
        self, node: ast.Call, func: ast.Attribute, scope: _Scope
    ) -> dict[int, _Role]:
        for table, role in ((STEP_BODY_ARGS, _Role.STEP), (CHILD_BODY_ARGS, _Role.CHILD)):
            if func.attr in table:
                argument = _argument(node, *table[func.attr])
                if argument is None:
                    return {}
                if role is _Role.STEP and scope.mode is _Mode.WORKFLOW:
                    self.check_context_given_to_step(argument, scope)
                return {id(argument): role}
        return {}

    def check_context_given_to_step(self, argument: ast.expr, scope: _Scope) -> None:
        """`ctx.step(partial(body, ctx))`: the context handed to a step's body."""
        if isinstance(argument, ast.Lambda):
            return
        for node in ast.walk(argument):
            if isinstance(node, ast.Name) and node.id in scope.contexts:
                self.report(node, "DE202", node.id)

    # -- the rules -------------------------------------------------------------------

    def check_call(self, node: ast.Call, scope: _Scope) -> None:
        name = self.qualname(node.func, scope)
        if name is not None:
            code = _call_code(name, node)
            if code is not None:
                self.report(node, code, f"{name}()")
                return
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in METHODS:
            self.report(node, METHODS[func.attr], f".{func.attr}()")

    def name(self, node: ast.Name, scope: _Scope) -> None:
        if scope.mode is _Mode.STEP:
            if isinstance(node.ctx, ast.Load) and node.id in scope.contexts:
                self.report(node, "DE202", node.id)
        elif scope.mode is _Mode.WORKFLOW:
            if isinstance(node.ctx, ast.Store | ast.Del) and node.id in scope.globals:
                self.report(node, "DE109", node.id)
            elif isinstance(node.ctx, ast.Load):
                self.attribute(node, scope)

    def attribute(self, node: ast.Name | ast.Attribute, scope: _Scope) -> None:
        name = self.qualname(node, scope)
        if name in ATTRIBUTES:
            self.report(node, ATTRIBUTES[name], name)

    def qualname(self, node: ast.expr, scope: _Scope) -> str | None:
        """`node`'s fully qualified name through the file's imports, if it has one."""
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value, scope)
            return None if base is None else f"{base}.{node.attr}"
        if isinstance(node, ast.Name) and node.id not in scope.shadowed:
            return self.aliases.get(node.id, "open" if node.id == "open" else None)
        return None


def _call_code(name: str, node: ast.Call) -> str | None:
    """The rule a call to `name` breaks, if any."""
    if name in CALLS:
        return CALLS[name]
    if name in SLEEPS:
        first = node.args[0] if node.args else None
        yields_only = isinstance(first, ast.Constant) and first.value == 0
        return None if yields_only else SLEEPS[name]
    if name in NO_ARGUMENT_CALLS:
        return None if node.args or node.keywords else NO_ARGUMENT_CALLS[name]
    if name == "random.Random" and (node.args or node.keywords):
        return None  # a seeded generator repeats itself
    return next((code for prefix, code in PREFIXES.items() if name.startswith(prefix)), None)


def _argument(node: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(node.args) > position and not any(
        isinstance(a, ast.Starred) for a in node.args[: position + 1]
    ):
        return node.args[position]
    return next((k.value for k in node.keywords if k.arg == keyword), None)


def _aliases(tree: ast.Module) -> dict[str, str]:
    """What each imported name stands for: `import time as t` gives t -> time."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname is None:
                    head = alias.name.partition(".")[0]
                    aliases[head] = head
                else:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _registered(tree: ast.Module) -> frozenset[str]:
    """Functions registered by a call: `engine.durable_function(name="x")(fn)`."""
    return frozenset(
        node.args[0].id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _callable_name(node.func) == "durable_function"
        and node.args
        and isinstance(node.args[0], ast.Name)
    )


def _callable_name(node: ast.expr) -> str | None:
    """The last name of a decorator or callee: `durable_function` for
    `@engine.durable_function(name="x")`."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _decorated(node: _FunctionNode, name: str) -> bool:
    return any(_callable_name(d) == name for d in node.decorator_list)


def _is_type(annotation: ast.expr | None, name: str) -> bool:
    """Whether `annotation` names the class `name` (`X`, `module.X` or `"X"`)."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return annotation.value.strip().rpartition(".")[2] == name
    if isinstance(annotation, ast.Attribute):
        return annotation.attr == name
    return isinstance(annotation, ast.Name) and annotation.id == name


def _all_args(args: ast.arguments) -> list[ast.arg]:
    extra = [a for a in (args.vararg, args.kwarg) if a is not None]
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *extra]


def _params(args: ast.arguments) -> frozenset[str]:
    return frozenset(a.arg for a in _all_args(args))


def _first_param(args: ast.arguments) -> ast.arg | None:
    """The first positional parameter, past a method's `self` or `cls`."""
    positional = [*args.posonlyargs, *args.args]
    if positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    return positional[0] if positional else None


def _own_nodes(node: _FunctionNode) -> Iterator[ast.AST]:
    """The nodes of a function's body, not those of functions or classes nested in it."""
    stack: list[ast.AST] = list(node.body)
    while stack:
        current = stack.pop()
        yield current
        if not isinstance(current, _SCOPES):
            stack.extend(ast.iter_child_nodes(current))


def _declared_global(node: _FunctionNode) -> frozenset[str]:
    return frozenset(
        name for n in _own_nodes(node) if isinstance(n, ast.Global) for name in n.names
    )


def _bodies_named_in(node: _FunctionNode) -> tuple[frozenset[str], frozenset[str]]:
    """Names given as step bodies and as child-context bodies by calls in `node`
    (directly, in a list of branches, or as `functools.partial(name, ...)`)."""
    found: dict[int, set[str]] = {0: set(), 1: set()}
    for call in ast.walk(node):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
            continue
        for which, table in enumerate((STEP_BODY_ARGS, CHILD_BODY_ARGS)):
            if call.func.attr in table:
                argument = _argument(call, *table[call.func.attr])
                given = argument.elts if isinstance(argument, ast.List | ast.Tuple) else [argument]
                found[which].update(n for n in map(_function_named, given) if n is not None)
    return frozenset(found[0]), frozenset(found[1])


def _function_named(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Call) and _callable_name(node.func) == "partial" and node.args:
        node = node.args[0]
    return node.id if isinstance(node, ast.Name) else None
