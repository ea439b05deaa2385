"""A JSON codec, for people who want to read stored values with `sqlite3`.

Plain JSON values stay plain. Other types become tagged objects such as
`{"$type": "datetime", "v": [...]}`; a dict that is not plain (non-string keys, or
a key named "$type") is written as `{"$type": "dict", "v": [[key, value], ...]}`.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from ._core import CODEC_JSON, HEADER_SIZE, SerDesContext, SerDesError, make_header
from ._paths import _key_path, describe_unserializable
from ._types import STD_ENCODERS, decode_std
from .registry import DEFAULT_REGISTRY, TypeRegistry

__all__ = ["JsonSerDes"]

_HEADER = make_header(CODEC_JSON)
_TAG = "$type"


class _NotSerializable(Exception):
    def __init__(self, path: str, value: Any) -> None:
        super().__init__(path)
        self.path = path
        self.value = value


class JsonSerDes:
    """Readable JSON with the same extended types as the msgpack codec."""

    def __init__(self, registry: TypeRegistry | None = None) -> None:
        self.registry = registry or DEFAULT_REGISTRY

    def serialize(self, value: object, ctx: SerDesContext | None = None) -> bytes:
        return _HEADER + self.encode_body(value)

    def encode_body(self, value: object) -> bytes:
        try:
            plain = self._to_json(value, "$")
        except _NotSerializable as exc:
            raise SerDesError(describe_unserializable(exc.path, exc.value)) from None
        except RecursionError as exc:
            raise SerDesError("value is nested too deeply to serialize") from exc
        return json.dumps(
            plain, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()

    def decode_body(self, body: bytes | memoryview) -> object:
        try:
            return self._from_json(json.loads(bytes(body).decode("utf-8")))
        except SerDesError:
            raise
        except Exception as exc:
            raise SerDesError(f"cannot read JSON data: {exc}") from exc

    def deserialize(self, data: bytes, ctx: SerDesContext | None = None) -> object:
        if data[:HEADER_SIZE] == _HEADER:
            return self.decode_body(memoryview(data)[HEADER_SIZE:])
        from .api import loads

        return loads(data, registry=self.registry)

    def _to_json(self, v: Any, path: str) -> Any:
        t = type(v)
        if v is None or t is bool or t is str or t is int:
            return v
        if t is float:
            if math.isfinite(v):
                return v
            return {_TAG: "float", "v": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
        if t is list:
            return [self._to_json(x, f"{path}[{i}]") for i, x in enumerate(v)]
        if t is dict:
            if all(type(k) is str for k in v) and _TAG not in v:
                return {k: self._to_json(x, _key_path(path, k)) for k, x in v.items()}
            return {
                _TAG: "dict",
                "v": [
                    [self._to_json(k, f"{path}<key {k!r}>"), self._to_json(x, _key_path(path, k))]
                    for k, x in v.items()
                ],
            }
        if t in (tuple, set, frozenset):
            return {
                _TAG: t.__name__,
                "v": [self._to_json(x, f"{path}[{i}]") for i, x in enumerate(v)],
            }
        if t is bytes:
            return {_TAG: "bytes", "v": base64.b64encode(v).decode("ascii")}
        std = STD_ENCODERS.get(t)
        if std is not None:
            return {_TAG: std[0], "v": std[1](v)}
        codec = self.registry.for_type(t)
        if codec is not None:
            return {_TAG: "object", "class": codec.tag, "v": self._to_json(codec.encode(v), path)}
        raise _NotSerializable(path, v)

    def _from_json(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self._from_json(x) for x in v]
        if not isinstance(v, dict):
            return v
        tag = v.get(_TAG)
        if tag is None:
            return {k: self._from_json(x) for k, x in v.items()}
        raw: Any = v.get("v")
        if tag == "dict":
            return {self._from_json(k): self._from_json(x) for k, x in raw}
        if tag == "tuple":
            return tuple(self._from_json(x) for x in raw)
        if tag == "set":
            return {self._from_json(x) for x in raw}
        if tag == "frozenset":
            return frozenset(self._from_json(x) for x in raw)
        if tag == "float":
            return float(raw)
        if tag == "bytes":
            return base64.b64decode(raw, validate=True)
        if tag == "object":
            codec = self.registry.for_tag(v.get("class"))
            return codec.decode(self._from_json(raw))
        return decode_std(str(tag), raw)
