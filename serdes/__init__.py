"""serdes: values to bytes and back, with types kept, for storage that must last.

    data = serdes.dumps(value)          # msgpack behind a 4-byte header
    value = serdes.loads(data)          # reads anything any codec here wrote
    stored = serdes.seal(data)          # with a checksum: serdes.unseal checks it

Only registered classes are restored (`serdes.register(MyDataclass)`); stored data
never names a module to import, and nothing is pickled. Usable without durable_engine.
"""

from __future__ import annotations

from ._core import SerDes as SerDes
from ._core import SerDesContext as SerDesContext
from ._core import SerDesError as SerDesError
from .checksum import SEAL_SIZE as SEAL_SIZE
from .checksum import ChecksumMismatch as ChecksumMismatch
from .checksum import seal as seal
from .checksum import unseal as unseal
from .compression import MAX_DECOMPRESSED_SIZE as MAX_DECOMPRESSED_SIZE
from .compression import ZstdSerDes as ZstdSerDes
from .compression import check_expanded_size as check_expanded_size
from .depth import MAX_DEPTH as MAX_DEPTH
from .depth import deeper_than as deeper_than
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
    "MAX_DECOMPRESSED_SIZE",
    "MAX_DEPTH",
    "SEAL_SIZE",
    "ChecksumMismatch",
    "ClassSerDes",
    "JsonSerDes",
    "MsgpackSerDes",
    "PassThroughSerDes",
    "SerDes",
    "SerDesContext",
    "SerDesError",
    "TypeRegistry",
    "ZstdSerDes",
    "check_expanded_size",
    "class_serdes",
    "deeper_than",
    "dumps",
    "loads",
    "register",
    "seal",
    "unseal",
]
