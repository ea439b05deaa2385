"""The durable functions an engine runs, by name, with their codecs."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from serdes import SerDes

from ._errors import FunctionNotRegistered

__all__ = ["DurableFunction", "Registry", "Workflow"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
In = TypeVar("In")
Out = TypeVar("Out")
Workflow = Callable[[Any, Any], Awaitable[Any]]
"""A durable function: `async def f(ctx, input)`."""


@dataclass(frozen=True, slots=True)
class DurableFunction(Generic[In, Out]):
    """A registered durable function: `DurableFunction[In, Out]` takes an input of type
    In and returns Out."""

    name: str
    fn: Callable[[Any, In], Awaitable[Out]]
    serdes: SerDes | None


class Registry:
    """Durable functions by name; each value of a function is stored with its codec,
    else the engine's."""

    def __init__(self, default_codec: SerDes) -> None:
        self.default_codec = default_codec
        self._functions: dict[str, DurableFunction[Any, Any]] = {}

    def register(self, fn: F, name: str | None, codec: SerDes | None) -> F:
        """Register `fn` under `name` (default: its `__qualname__`); the caller has
        checked `name` and `codec`."""
        if not inspect.iscoroutinefunction(cast(Any, fn)):
            raise TypeError(f"a durable function must be `async def`, not {fn!r}")
        _check_signature(fn)
        key = name or fn.__qualname__
        existing = self._functions.get(key)
        if existing is not None and existing.fn is not fn:
            raise ValueError(f"a different durable function is already registered as {key!r}")
        self._functions[key] = DurableFunction(key, fn, codec)
        return fn

    def functions(self) -> list[DurableFunction[Any, Any]]:
        """Every registered function, in registration order."""
        return list(self._functions.values())

    def names(self) -> list[str]:
        return list(self._functions)

    def get(self, name: str) -> DurableFunction[Any, Any]:
        """The function registered as `name`; FunctionNotRegistered if there is none."""
        try:
            return self._functions[name]
        except KeyError:
            known = ", ".join(sorted(self._functions)) or "none"
            raise FunctionNotRegistered(
                f"no durable function named {name!r} is registered on this engine (known: {known})"
            ) from None

    def resolve(
        self, fn_or_name: Callable[..., Any] | DurableFunction[Any, Any] | str
    ) -> DurableFunction[Any, Any]:
        """The registered function given by itself, its registration or its name."""
        if isinstance(fn_or_name, str):
            return self.get(fn_or_name)
        if isinstance(fn_or_name, DurableFunction):
            fn_or_name = fn_or_name.fn
        for registered in self._functions.values():
            if registered.fn is fn_or_name:
                return registered
        raise FunctionNotRegistered(
            f"{getattr(fn_or_name, '__qualname__', fn_or_name)!r} is not registered on this "
            "engine; decorate it with @engine.durable_function"
        )

    def codec(self, function: DurableFunction[Any, Any]) -> SerDes:
        """The codec values of `function` are stored with: its own, else the default."""
        return function.serdes or self.default_codec

    def codec_of(self, function: str) -> SerDes:
        """The codec of the function named `function` (the default for a function not
        registered here)."""
        registered = self._functions.get(function)
        return self.default_codec if registered is None else self.codec(registered)

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
