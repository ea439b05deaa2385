"""A durable function's input as its annotation asks for it.

When the input parameter (the one after the context) is annotated as a dataclass or
a pydantic model, a dict (the JSON the command line was given, say) becomes that
type: a pydantic model by its own validation, a dataclass by its fields, with nested
dataclasses and models (also in `list[...]`, `dict[str, ...]` and `X | None`) made
too. An instance of the type is taken as it is; any other annotation is not looked
at. The stored input stays what `start` was given, so it is made again, the same
way, each time the function runs.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types
import typing
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import InvalidInput

__all__ = ["parse_input"]

_UNSET = object()
_targets: weakref.WeakKeyDictionary[Callable[..., Any], Any] = weakref.WeakKeyDictionary()


def parse_input(fn: Callable[..., Any], value: Any, function: str) -> Any:
    """`value` as `fn`'s input annotation asks; InvalidInput if it does not fit."""
    try:
        target = _targets.get(fn, _UNSET)
    except TypeError:  # not weakly referable: look each time
        target = _input_annotation(fn)
    else:
        if target is _UNSET:
            target = _targets[fn] = _input_annotation(fn)
    if target is None:
        return value
    return _convert(target, value, f"the input of {function!r}")


def _input_annotation(fn: Callable[..., Any]) -> Any:
    """The annotation of `fn`'s input parameter, if it names a class to make; else None."""
    try:
        parameters = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        hints = typing.get_type_hints(fn)
    except Exception:  # no signature, or an annotation that does not resolve: leave it
        return None
    if len(parameters) < 2 or parameters[1].name not in hints:
        return None
    annotation = hints[parameters[1].name]
    return annotation if _makes_something(annotation) else None


def _makes_something(annotation: Any) -> bool:
    if _kind(annotation) is not None:
        return True
    return any(_makes_something(arg) for arg in typing.get_args(annotation))


def _kind(tp: Any) -> str | None:
    if not isinstance(tp, type):
        return None
    if dataclasses.is_dataclass(tp):
        return "dataclass"
    pydantic = sys.modules.get("pydantic")  # only a model's module has imported it
    if pydantic is not None and issubclass(tp, pydantic.BaseModel):
        return "pydantic"
    return None


def _convert(tp: Any, value: Any, where: str) -> Any:
    kind = _kind(tp)
    if kind is not None:
        if isinstance(value, tp):
            return value
        return _pydantic(tp, value, where) if kind == "pydantic" else _dataclass(tp, value, where)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        made = [a for a in args if a is not type(None) and _kind(a) is not None]
        if len(made) == 1 and isinstance(value, Mapping):
            return _convert(made[0], value, where)
        return value
    if origin is list and args and isinstance(value, list):
        return [_convert(args[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if origin is dict and len(args) == 2 and isinstance(value, Mapping):
        return {k: _convert(args[1], v, f"{where}[{k!r}]") for k, v in value.items()}
    return value


def _pydantic(tp: type[Any], value: Any, where: str) -> Any:
    pydantic = sys.modules["pydantic"]
    try:
        return tp.model_validate(value)
    except pydantic.ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'the whole'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"{where} is not a valid {tp.__qualname__}: {reasons}") from None


def _dataclass(tp: type[Any], value: Any, where: str) -> Any:
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"{where} must be a {tp.__qualname__} or a dict of its fields, "
            f"not {type(value).__name__} {value!r}"
        )
    fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
    unknown = [str(k) for k in value if k not in fields]
    if unknown:
        raise InvalidInput(
            f"{where} has fields {tp.__qualname__} does not: {', '.join(unknown)} "
            f"(its fields: {', '.join(fields)})"
        )
    missing = [
        name
        for name, f in fields.items()
        if name not in value
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise InvalidInput(f"{where} lacks fields {tp.__qualname__} needs: {', '.join(missing)}")
    try:
        hints = typing.get_type_hints(tp)
    except Exception:  # an annotation that does not resolve: the fields as given
        hints = {}
    made = {
        name: _convert(hints.get(name, Any), item, f"{where}.{name}")
        for name, item in value.items()
    }
    try:
        return tp(**made)
    except (TypeError, ValueError) as exc:  # its own __post_init__ checks
        raise InvalidInput(f"{where} is not a valid {tp.__qualname__}: {exc}") from exc
