"""The durable functions an engine runs, by name, with their codecs."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from serdes import SerDes

from ._errors import FunctionNotRegistered

__all__ = ["DurableFunction", "Registry", "Workflow", "function_key"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
In = TypeVar("In")
Out = TypeVar("Out")
Workflow = Callable[[Any, Any], Awaitable[Any]]
"""A durable function: `async def f(ctx, input)`."""


@dataclass(frozen=True, slots=True)
class DurableFunction(Generic[In, Out]):
    """A registered durable function: `DurableFunction[In, Out]` takes an input of type
    In and returns Out. An execution runs only on the version it started on."""

    name: str
    fn: Callable[[Any, In], Awaitable[Out]]
    serdes: SerDes | None
    version: int = 1

    @property
    def key(self) -> str:
        """`name@version`: what a worker claims executions by."""
        return function_key(self.name, self.version)


def function_key(name: str, version: int) -> str:
    """The key of version `version` of function `name`, as the store matches it."""
    return f"{name}@{version}"


class Registry:
    """Durable functions by name and version; each value of a function is stored with
    its codec, else the engine's."""

    def __init__(self, default_codec: SerDes) -> None:
        self.default_codec = default_codec
        self._functions: dict[str, dict[int, DurableFunction[Any, Any]]] = {}
        """Each name's versions, newest last."""

    def register(self, fn: F, name: str | None, codec: SerDes | None, version: int = 1) -> F:
        """Register `fn` as version `version` of `name` (default: its `__qualname__`);
        the caller has checked `name`, `codec` and `version`."""
        if not inspect.iscoroutinefunction(cast(Any, fn)):
            raise TypeError(f"a durable function must be `async def`, not {fn!r}")
        _check_signature(fn)
        key = name or fn.__qualname__
        versions = self._functions.setdefault(key, {})
        existing = versions.get(version)
        if existing is not None and existing.fn is not fn:
            raise ValueError(
                f"a different durable function is already registered as {key!r} version {version}"
            )
        versions[version] = DurableFunction(key, fn, codec, version)
        self._functions[key] = dict(sorted(versions.items()))
        return fn

    def functions(self) -> list[DurableFunction[Any, Any]]:
        """Every registered function and version, in registration order of the names."""
        return [f for versions in self._functions.values() for f in versions.values()]

    def names(self) -> list[str]:
        return list(self._functions)

    def keys(self) -> list[str]:
        """`name@version` of every registered version: what this engine can run."""
        return [f.key for f in self.functions()]

    def get(self, name: str, version: int | None = None) -> DurableFunction[Any, Any]:
        """Version `version` of the function registered as `name` (None: its newest);
        FunctionNotRegistered if there is none."""
        versions = self._functions.get(name)
        if versions is None:
            known = ", ".join(sorted(self._functions)) or "none"
            raise FunctionNotRegistered(
                f"no durable function named {name!r} is registered on this engine (known: {known})"
            )
        if version is None:
            return next(reversed(versions.values()))
        found = versions.get(version)
        if found is None:
            listed = ", ".join(str(v) for v in versions)
            raise FunctionNotRegistered(
                f"version {version} of durable function {name!r} is not registered on this "
                f"engine (registered: {listed})"
            )
        return found

    def resolve(
        self, fn_or_name: Callable[..., Any] | DurableFunction[Any, Any] | str
    ) -> DurableFunction[Any, Any]:
        """The registered function given by itself, its registration or its name."""
        if isinstance(fn_or_name, str):
            return self.get(fn_or_name)
        if isinstance(fn_or_name, DurableFunction):
            fn_or_name = fn_or_name.fn
        for registered in self.functions():
            if registered.fn is fn_or_name:
                return registered
        raise FunctionNotRegistered(
            f"{getattr(fn_or_name, '__qualname__', fn_or_name)!r} is not registered on this "
            "engine; decorate it with @engine.durable_function"
        )

    def codec(self, function: DurableFunction[Any, Any]) -> SerDes:
        """The codec values of `function` are stored with: its own, else the default."""
        return function.serdes or self.default_codec

    def codec_of(self, function: str, version: int | None = None) -> SerDes:
        """The codec of version `version` of the function named `function` (else of its
        newest version; the default for a function not registered here)."""
        versions = self._functions.get(function)
        if not versions:
            return self.default_codec
        registered = versions.get(version) if version is not None else None
        return self.codec(registered or next(reversed(versions.values())))

    def codec_for(self, function: str) -> SerDes:
        """The codec of `function`, which must be registered here."""
        return self.codec(self.get(function))


def _check_signature(fn: Callable[..., Any]) -> None:
    """Refuse at registration a function that cannot be called as `fn(ctx, input)`."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to read: the call will tell
        return
    try:
        signature.bind(None, None)
    except TypeError:
        raise TypeError(
            f"a durable function is called as f(ctx, input), which "
            f"{getattr(fn, '__qualname__', fn)}{signature} cannot take"
        ) from None
