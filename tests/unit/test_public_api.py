"""The public API cannot drift by accident: `__all__` is complete, sorted, and imports."""

from __future__ import annotations

import inspect

import durable_engine
from durable_engine import _errors as errors


def test_all_is_sorted_unique_and_importable() -> None:
    names = durable_engine.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(durable_engine, name) is not None, name


def test_every_error_class_is_exported_under_durable_error() -> None:
    for name, obj in vars(errors).items():
        if (
            inspect.isclass(obj)
            and issubclass(obj, Exception)
            and obj.__module__ == errors.__name__
        ):
            if name == "ErrorInfo":
                continue
            assert issubclass(obj, durable_engine.DurableError), name
            assert name in durable_engine.__all__, name


def test_error_tree_docstring_names_every_error() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        obj = getattr(errors, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert name in doc, f"{name} missing from the error tree in errors.py"


def _public_modules() -> list[str]:
    """Modules a user imports: the package, the test kit, the workflow linter, the
    JSON log format and the web page (everything else is private)."""
    return [
        "durable_engine",
        "durable_engine.testing",
        "durable_engine.lint",
        "durable_engine.logging",
        "durable_engine.web",
    ]


def test_every_public_name_is_exported_and_every_exported_name_is_documented() -> None:
    import importlib

    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        exported = set(module.__all__)
        public = {
            name
            for name, obj in vars(module).items()
            if not name.startswith("_")
            and not inspect.ismodule(obj)
            and name not in {"annotations"}
            and (inspect.isclass(obj) or inspect.isfunction(obj))
        }
        assert public <= exported, f"{module_name}: not in __all__: {sorted(public - exported)}"
        for name in exported:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert inspect.getdoc(obj), f"{module_name}.{name} has no docstring"


def test_internal_modules_are_private() -> None:
    import pkgutil

    for info in pkgutil.iter_modules(durable_engine.__path__):
        assert info.name.startswith("_") or info.name in ("testing", "lint", "logging", "web"), (
            info.name
        )
    import durable_engine.lint as lint
    import durable_engine.testing as testing

    for info in pkgutil.iter_modules(testing.__path__):
        assert info.name.startswith("_") or info.name == "pytest_plugin", info.name
    for info in pkgutil.iter_modules(lint.__path__):
        assert info.name.startswith("_") or info.name == "flake8_plugin", info.name
