"""serdes: values to bytes and back, with types kept, for storage that must last.

    data = serdes.dumps(value)          # msgpack behind a 4-byte header
    value = serdes.loads(data)          # reads anything any codec here wrote

Only registered classes are restored (`serdes.register(MyDataclass)`); stored data
never names a module to import, and nothing is pickled. Usable without durable_engine.
"""

from __future__ import annotations

from ._core import SerDes as SerDes
from ._core import SerDesContext as SerDesContext
from ._core import SerDesError as SerDesError
from .compression import ZstdSerDes as ZstdSerDes
from .dispatch import dumps as dumps
from .dispatch import loads as loads
from .json_codec import JsonSerDes as JsonSerDes
from .msgpack_codec import MsgpackSerDes as MsgpackSerDes
from .passthrough import PassThroughSerDes as PassThroughSerDes
from .per_class import ClassSerDes as ClassSerDes
from .per_class import class_serdes as class_serdes
from .registry import DEFAULT_REGISTRY as DEFAULT_REGISTRY
from .registry import TypeRegistry as TypeRegistry
from .registry import register as register

__all__ = [
    "DEFAULT_REGISTRY",
    "ClassSerDes",
    "JsonSerDes",
    "MsgpackSerDes",
    "PassThroughSerDes",
    "SerDes",
    "SerDesContext",
    "SerDesError",
    "TypeRegistry",
    "ZstdSerDes",
    "class_serdes",
    "dumps",
    "loads",
    "register",
]
