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
from .api import PassThroughSerDes as PassThroughSerDes
from .api import class_serdes as class_serdes
from .api import dumps as dumps
from .api import loads as loads
from .compression import ZstdSerDes as ZstdSerDes
from .json_codec import JsonSerDes as JsonSerDes
from .msgpack_codec import MsgpackSerDes as MsgpackSerDes
from .registry import DEFAULT_REGISTRY as DEFAULT_REGISTRY
from .registry import TypeRegistry as TypeRegistry
from .registry import register as register

__all__ = [
    "DEFAULT_REGISTRY",
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
