"""pytest plugin: the `durable_runner` fixture.

Installed with durable_engine (entry point `durable_engine`), or loaded with
`-p durable_engine.testing.pytest_plugin`. The fixture is a plain factory, so it
works under pytest-asyncio's strict and auto modes alike (and needs no async
fixture support); the runner it makes is entered in the async test itself:

    async def test_order(durable_runner):
        async with durable_runner(process_order, charge_card) as runner:
            result = await runner.run(process_order, {"id": 1})
        assert result.status == "SUCCEEDED"

`durable_runner(engine)` takes an `Engine`'s registered functions instead;
keyword arguments (`skip_time=False`, `start=...`) go to `DurableTestRunner`.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest

from .._engine import Engine
from ._runner import DurableRunnerFactory, DurableTestRunner

__all__ = ["DurableRunnerFactory", "durable_runner"]

_ENTRY_POINT = "durable_engine"


@pytest.fixture
def durable_runner() -> DurableRunnerFactory:
    """`durable_runner(fn, ...)` or `durable_runner(engine)`: a `DurableTestRunner`
    on a private in-memory database and a virtual clock, to enter with `async with`."""

    def make(*functions: Any, **options: Any) -> DurableTestRunner:
        if len(functions) == 1 and isinstance(functions[0], Engine | Mapping):
            return DurableTestRunner(functions[0], **options)
        flat: list[Callable[..., Awaitable[Any]]] = []
        for item in functions:
            if isinstance(item, Engine | Mapping):
                raise TypeError("pass an Engine or a mapping on its own to durable_runner()")
            if callable(item):
                flat.append(item)
            else:
                flat.extend(item)
        return DurableTestRunner(flat, **options)

    return make


def pytest_plugin_registered(plugin: object, manager: pytest.PytestPluginManager) -> None:
    """Loaded by module name (`-p ...pytest_plugin`) while the entry point is installed
    too: block the entry point's name, as pluggy refuses one module under two names."""
    if plugin is not sys.modules[__name__]:
        return
    if manager.get_name(plugin) != _ENTRY_POINT and not manager.has_plugin(_ENTRY_POINT):
        manager.set_blocked(_ENTRY_POINT)
