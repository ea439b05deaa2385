"""A serializer for the instances of one class."""

from __future__ import annotations

from typing import Generic, TypeVar

from ._core import SerDesContext, SerDesError
from .msgpack_codec import MsgpackSerDes
from .registry import DEFAULT_REGISTRY, TypeRegistry

__all__ = ["ClassSerDes", "class_serdes"]

T = TypeVar("T")


class ClassSerDes(Generic[T]):
    """Serializes instances of one class, and checks that what it reads is one."""

    def __init__(self, cls: type[T], registry: TypeRegistry) -> None:
        self.cls = cls
        self.registry = registry
        self._inner = MsgpackSerDes(registry)

    def serialize(self, value: object, ctx: SerDesContext | None = None) -> bytes:
        if not isinstance(value, self.cls):
            raise SerDesError(
                f"this serializer takes {self.cls.__qualname__}, not {type(value).__name__}"
            )
        return self._inner.serialize(value, ctx)

    def deserialize(self, data: bytes, ctx: SerDesContext | None = None) -> T:
        value = self._inner.deserialize(data, ctx)
        if not isinstance(value, self.cls):
            raise SerDesError(
                f"stored value is {type(value).__name__}, not {self.cls.__qualname__}"
            )
        return value


def class_serdes(cls: type[T], *, registry: TypeRegistry | None = None) -> ClassSerDes[T]:
    """A serializer for instances of one class (registered first if it is not yet)."""
    reg = registry if registry is not None else DEFAULT_REGISTRY
    if cls not in reg:
        reg.register(cls)
    return ClassSerDes(cls, reg)
