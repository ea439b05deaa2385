"""Reading a blob of any codec, for a codec handed bytes that another codec wrote.

`MsgpackSerDes().deserialize` reads what `JsonSerDes` wrote, compressed blobs and raw
bytes too, as `serdes.loads` does (a stored value stays readable when the codec that
reads it changes). Picking the codec by the header is the work of `serdes.dispatch`,
the one module that knows every codec; a codec importing it would make an import
cycle. So dispatch hands its `loads` over here when it is imported, which `import
serdes` does before any codec can be used, and the codecs call `read_any`.
"""

from __future__ import annotations

from typing import Protocol

from ._core import Buffer
from .registry import TypeRegistry

__all__ = ["Loads", "install", "read_any"]


class Loads(Protocol):
    """The signature of `serdes.dispatch.loads`."""

    def __call__(self, data: Buffer, *, registry: TypeRegistry | None = None) -> object: ...


_loads: Loads | None = None


def install(loads: Loads) -> None:
    """Make `loads` the reader of blobs of any codec (called by serdes.dispatch)."""
    global _loads
    _loads = loads


def read_any(data: Buffer, registry: TypeRegistry | None = None) -> object:
    """The value of a blob of any codec of ours, read by its header."""
    if _loads is None:  # only while `serdes/__init__.py` has not run to its end
        raise RuntimeError("serdes.dispatch is not imported yet: import serdes first")
    return _loads(data, registry=registry)
