"""serdes has no import cycles, function-local imports included, and only
`serdes.dispatch` (and the package itself) import `serdes.dispatch`.

The check reads the source with `ast` rather than importing it, so that an import
inside a function, a class or an `if TYPE_CHECKING:` block counts like any other.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

PACKAGE = "serdes"
DISPATCH = f"{PACKAGE}.dispatch"
MAY_IMPORT_DISPATCH = {PACKAGE, DISPATCH}  # serdes/__init__.py and serdes/dispatch.py
DYNAMIC_IMPORTS = {"import_module", "__import__"}

Graph = dict[str, set[str]]


def package_dir() -> Path:
    """Where `serdes` is found, without running it (a cycle could break the import)."""
    spec = importlib.util.find_spec(PACKAGE)
    assert spec is not None and spec.submodule_search_locations is not None
    return Path(next(iter(spec.submodule_search_locations)))


def module_names(root: Path) -> dict[str, Path]:
    """The dotted name of every module of the package under `root`, and its file."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _base(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name a `from <dots><target> import ...` in `module` starts from."""
    parts = module.split(".")
    keep = len(parts) - level + (1 if is_package else 0)
    if keep < 1:
        raise AssertionError(f"{module}: relative import beyond the top-level package")
    return ".".join([*parts[:keep], *([target] if target else [])])


def _literal_import(node: ast.Call) -> str | None:
    """The module named by an `importlib.import_module("...")` or `__import__("...")` call."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in DYNAMIC_IMPORTS:
        return None
    first = node.args[0] if node.args else None
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)) or (
        first.value.startswith(".")
    ):
        raise AssertionError(f"line {node.lineno}: {name}() of a name this check cannot read")
    return first.value


Import = tuple[str, tuple[str, ...]]
"""`import a.b` as ("a.b", ()); `from a import b, c` as ("a", ("b", "c"))."""


def imports_of(module: str, path: Path) -> list[Import]:
    """Every import statement of `module`, at any nesting level, with absolute names."""
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _base(module, is_package, node.level, node.module)
            found.append((base, tuple(alias.name for alias in node.names)))
        elif isinstance(node, ast.Call) and (literal := _literal_import(node)) is not None:
            found.append((literal, ()))
    return found


def import_graph(root: Path) -> Graph:
    """For each module of the package, the modules of the package it imports.

    `from serdes import x` counts as importing serdes.x when that is a module, and the
    package itself (serdes/__init__.py) otherwise; a package's __init__ running before
    its submodules is not counted, as it has always started already.
    """
    modules = module_names(root)
    graph: Graph = {}
    for module, path in modules.items():
        targets = set()
        for base, names in imports_of(module, path):
            submodules = {f"{base}.{name}" for name in names} & modules.keys()
            targets |= submodules
            if len(submodules) < len(names) or not names:
                targets.add(base)
        graph[module] = {target for target in targets if target in modules} - {module}
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One import cycle of `graph` as [a, b, ..., a], or None when it is acyclic."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> list[str] | None:
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_stack:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in done and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)) is not None:
            return cycle
    return None


@pytest.fixture(scope="module")
def graph() -> Graph:
    return import_graph(package_dir())


def test_the_graph_sees_every_module(graph: Graph) -> None:
    assert {PACKAGE, DISPATCH, f"{PACKAGE}.msgpack_codec", f"{PACKAGE}._core"} <= graph.keys()
    assert DISPATCH in graph[PACKAGE]


def test_serdes_has_no_import_cycle(graph: Graph) -> None:
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in serdes: " + " -> ".join(cycle or [])


def test_only_dispatch_imports_dispatch(graph: Graph) -> None:
    importers = {module for module, targets in graph.items() if DISPATCH in targets}
    assert importers <= MAY_IMPORT_DISPATCH, (
        f"only {sorted(MAY_IMPORT_DISPATCH)} may import {DISPATCH}; also imported by "
        f"{sorted(importers - MAY_IMPORT_DISPATCH)}"
    )


def test_serdes_does_not_import_durable_engine() -> None:
    root = package_dir()
    for module, path in module_names(root).items():
        names = {base for base, _ in imports_of(module, path)}
        engine = {name for name in names if name.split(".")[0] == "durable_engine"}
        assert not engine, f"{module} imports {sorted(engine)}: serdes stands alone"


def test_the_check_finds_function_local_imports(tmp_path: Path) -> None:
    (tmp_path / "__init__.py").write_text("from .a import f\n")
    (tmp_path / "a.py").write_text("def f():\n    from .b import g\n    return g\n")
    (tmp_path / "b.py").write_text("from . import a\ng = 1\n")
    (tmp_path / "c.py").write_text("import importlib\nimportlib.import_module('serdes.a')\n")
    graph = import_graph(tmp_path)
    assert graph["serdes"] == {"serdes.a"}
    assert graph["serdes.a"] == {"serdes.b"}
    assert graph["serdes.b"] == {"serdes.a"}
    assert graph["serdes.c"] == {"serdes.a"}
    assert find_cycle(graph) == ["serdes.a", "serdes.b", "serdes.a"]


def test_codecs_read_the_blobs_of_others_through_dispatch() -> None:
    from serdes import JsonSerDes, MsgpackSerDes, PassThroughSerDes, ZstdSerDes, _reader, dispatch

    assert _reader._loads is dispatch.loads
    value = {"at": (1, 2.5), "b": b"\x00"}
    compressed_json = ZstdSerDes(JsonSerDes(), threshold=0).serialize([value] * 50)
    assert compressed_json[2:4] == b"\x02\x01"  # json, zstd
    assert MsgpackSerDes().deserialize(compressed_json) == [value] * 50
    assert JsonSerDes().deserialize(MsgpackSerDes().serialize(value)) == value
    assert PassThroughSerDes().deserialize(JsonSerDes().serialize(b"raw")) == b"raw"
