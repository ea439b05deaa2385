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
