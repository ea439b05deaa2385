"""The durable functions an engine runs, by name, with their codecs."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from serdes import SerDes

from ._errors import FunctionNotRegistered

__all__ = ["DurableFunction", "Registry", "Workflow"]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
Workflow = Callable[[Any, Any], Awaitable[Any]]
"""A durable function: `async def f(ctx, input)`."""


@dataclass(frozen=True, slots=True)
class DurableFunction:
    """A registered durable function."""

    name: str
    fn: Workflow
    serdes: SerDes | None


class Registry:
    """Durable functions by name; each value of a function is stored with its codec,
    else the engine's."""

    def __init__(self, default_codec: SerDes) -> None:
        self.default_codec = default_codec
        self._functions: dict[str, DurableFunction] = {}

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

    def functions(self) -> list[DurableFunction]:
        """Every registered function, in registration order."""
        return list(self._functions.values())

    def names(self) -> list[str]:
        return list(self._functions)

    def get(self, name: str) -> DurableFunction:
        """The function registered as `name`; FunctionNotRegistered if there is none."""
        try:
            return self._functions[name]
        except KeyError:
            known = ", ".join(sorted(self._functions)) or "none"
            raise FunctionNotRegistered(
                f"no durable function named {name!r} is registered on this engine (known: {known})"
            ) from None

    def resolve(self, fn_or_name: Callable[..., Any] | str) -> DurableFunction:
        """The registered function given by itself or by its name."""
        if isinstance(fn_or_name, str):
            return self.get(fn_or_name)
        for registered in self._functions.values():
            if registered.fn is fn_or_name:
                return registered
        raise FunctionNotRegistered(
            f"{getattr(fn_or_name, '__qualname__', fn_or_name)!r} is not registered on this "
            "engine; decorate it with @engine.durable_function"
        )

    def codec(self, function: DurableFunction) -> SerDes:
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
