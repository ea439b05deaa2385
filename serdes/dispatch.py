"""`dumps` with the default codec, and `loads`, which reads any blob by its header.

The one module that knows every codec: the codecs read blobs of the others through
`serdes._reader`, which `loads` is installed in below.
"""

from __future__ import annotations

from ._core import (
    CODEC_CUSTOM,
    CODEC_JSON,
    CODEC_MSGPACK,
    HEADER_SIZE,
    TRANSFORM_ZSTD,
    Buffer,
    SerDesError,
    make_header,
    read_header,
)
from ._reader import install
from .checksum import unseal
from .compression import MAX_DECOMPRESSED_SIZE, decompress
from .json_codec import JsonSerDes
from .msgpack_codec import MsgpackSerDes
from .registry import DEFAULT_REGISTRY, TypeRegistry

__all__ = ["dumps", "loads"]

_MSGPACK_HEADER = make_header(CODEC_MSGPACK)
_DEFAULT = MsgpackSerDes(DEFAULT_REGISTRY)


def _msgpack(registry: TypeRegistry) -> MsgpackSerDes:
    return registry.cached(MsgpackSerDes, lambda: MsgpackSerDes(registry))


def _json(registry: TypeRegistry) -> JsonSerDes:
    return registry.cached(JsonSerDes, lambda: JsonSerDes(registry))


def dumps(value: object, *, registry: TypeRegistry | None = None) -> bytes:
    """Serialize with the default codec (msgpack), classes from `registry` or the default."""
    return (_DEFAULT if registry is None else _msgpack(registry)).serialize(value)


def loads(
    data: Buffer, *, registry: TypeRegistry | None = None, max_size: int = MAX_DECOMPRESSED_SIZE
) -> object:
    """Deserialize anything any codec of ours wrote, compressed (to at most `max_size`
    bytes once decompressed) or not, sealed (its checksum checked: `ChecksumMismatch` if
    it changed) or not."""
    data = unseal(data)
    if registry is None and type(data) is bytes and data[:HEADER_SIZE] == _MSGPACK_HEADER:
        return _DEFAULT.decode_body(data[HEADER_SIZE:])
    header = read_header(data)
    body: Buffer = data[HEADER_SIZE:]
    if header.transform == TRANSFORM_ZSTD:
        body = decompress(body, max_size)
    reg = registry if registry is not None else DEFAULT_REGISTRY
    if header.codec == CODEC_MSGPACK:
        return _msgpack(reg).decode_body(body)
    if header.codec == CODEC_JSON:
        return _json(reg).decode_body(body)
    if header.codec == CODEC_CUSTOM:
        raise SerDesError(
            "these bytes were written by a serializer from outside serdes (wrapped by "
            "ZstdSerDes): read them with that ZstdSerDes"
        )
    return bytes(body)


install(loads)
