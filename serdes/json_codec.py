"""A JSON codec, for people who want to read stored values with `sqlite3`.

Plain JSON values stay plain: `{"n":1,"tags":["a"]}`. Other types become tagged
objects, `{"$type": "<tag>", "v": ...}`:

- `tuple`, `set`, `frozenset`: `"v"` is the list of items
- `dict` that is not plain (a key that is not a string, or a key named "$type"):
  `"v"` is the list of `[key, value]` pairs
- `bytes` and `bytearray`: base64 text (`"bytes"`, `"bytearray"`); a `memoryview` is
  written as the bytes it holds and read back as `bytes`, as the msgpack codec does
- `float` nan/inf/-inf: that text; `int` too large for JSON readers: hex text
  (`"int"`); `str` holding a surrogate code point, which UTF-8 JSON cannot carry:
  base64 of its UTF-8 bytes written with "surrogatepass" (`"str"`)
- `datetime`, `date`, `time`, `timedelta`, `decimal`, `uuid`: the forms of
  `serdes._types` (ISO text for dates and times)
- a registered class: `{"$type": "object", "class": "<tag>", "v": <encoded>}`
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from ._core import (
    CODEC_JSON,
    HEADER_SIZE,
    Buffer,
    SerDesContext,
    SerDesError,
    make_header,
    shortened,
)
from ._paths import describe_failure
from ._reader import read_any
from ._types import STD_BY_TAG, STD_BY_TYPE
from .registry import DEFAULT_REGISTRY, TypeRegistry

__all__ = ["JsonSerDes"]

_HEADER = make_header(CODEC_JSON)
_TAG = "$type"
_INT_LIMIT = 1 << 13_000  # well under the 4300-digit limit of int <-> str conversions
_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class _Unregistered(Exception):
    pass


def _tagged_float(v: float) -> dict[str, Any]:
    return {_TAG: "float", "v": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}


def _dumps(plain: Any) -> str:
    return json.dumps(plain, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _tagged_str(text: str) -> dict[str, Any]:
    raw = text.encode("utf-8", "surrogatepass")
    return {_TAG: "str", "v": base64.b64encode(raw).decode("ascii")}


class JsonSerDes:
    """Readable UTF-8 JSON with the same extended types as the msgpack codec."""

    def __init__(self, registry: TypeRegistry | None = None) -> None:
        self.registry = registry if registry is not None else DEFAULT_REGISTRY

    def serialize(self, value: object, ctx: SerDesContext | None = None) -> bytes:
        return _HEADER + self.encode_body(value)

    def encode_body(self, value: object) -> bytes:
        """The JSON bytes of `value`, without the header."""
        try:
            try:
                return _dumps(self._to_json(value, False)).encode()
            except UnicodeEncodeError:  # a surrogate somewhere: tag the strings holding one
                return _dumps(self._to_json(value, True)).encode()
        except SerDesError:
            raise
        except Exception as exc:
            cause = None if isinstance(exc, _Unregistered) else exc
            raise SerDesError(describe_failure(value, self.registry, exc)) from cause

    def decode_body(self, body: Buffer) -> object:
        """The value of JSON bytes written by `encode_body`."""
        try:
            return json.loads(bytes(body).decode("utf-8"), object_hook=self._from_tagged)
        except SerDesError:
            raise
        except Exception as exc:
            raise SerDesError(f"cannot read JSON data: {shortened(exc)}") from exc

    def deserialize(self, data: bytes, ctx: SerDesContext | None = None) -> object:
        if type(data) is bytes and data[:HEADER_SIZE] == _HEADER:
            return self.decode_body(data[HEADER_SIZE:])
        return read_any(data, self.registry)  # another codec's, or compressed

    def _to_json(self, v: Any, tag_surrogates: bool) -> Any:
        t = type(v)
        if t is str:
            return _tagged_str(v) if tag_surrogates and _has_surrogate(v) else v
        if t is bool or v is None:
            return v
        if t is int:
            return v if -_INT_LIMIT < v < _INT_LIMIT else {_TAG: "int", "v": hex(v)}
        if t is float:
            return v if math.isfinite(v) else _tagged_float(v)
        if t is list:
            return [self._to_json(x, tag_surrogates) for x in v]
        if t is dict:
            if (
                _TAG not in v
                and all(type(k) is str for k in v)
                and not (tag_surrogates and any(_has_surrogate(k) for k in v))
            ):
                return {k: self._to_json(x, tag_surrogates) for k, x in v.items()}
            return {
                _TAG: "dict",
                "v": [
                    [self._to_json(k, tag_surrogates), self._to_json(x, tag_surrogates)]
                    for k, x in v.items()
                ],
            }
        if t is tuple or t is set or t is frozenset:
            return {_TAG: t.__name__, "v": [self._to_json(x, tag_surrogates) for x in v]}
        if t is bytes or t is memoryview:  # a memoryview is stored as the bytes it holds
            return {_TAG: "bytes", "v": base64.b64encode(v).decode("ascii")}
        if t is bytearray:
            return {_TAG: "bytearray", "v": base64.b64encode(v).decode("ascii")}
        std = STD_BY_TYPE.get(t)
        if std is not None:
            return {_TAG: std.tag, "v": std.encode(v)}
        codec = self.registry.for_type(t)
        if codec is None:
            raise _Unregistered(v)
        payload = self._to_json(codec.encode(v), tag_surrogates)
        return {_TAG: "object", "class": codec.tag, "v": payload}

    def _from_tagged(self, obj: dict[str, Any]) -> Any:
        """json's object_hook: called for each object, innermost first."""
        tag = obj.get(_TAG)
        if tag is None:
            return obj
        raw: Any = obj.get("v")
        if tag == "tuple":
            return tuple(raw)
        if tag == "dict":
            return dict(raw)
        if tag == "object":
            name = obj.get("class")
            codec = self.registry.for_tag(name)
            try:
                return codec.decode(raw)
            except SerDesError:
                raise
            except Exception as exc:
                raise SerDesError(f"cannot restore {name}: {shortened(exc)}") from exc
        std = STD_BY_TAG.get(tag)
        if std is not None:
            return std.decode(raw)
        if tag == "bytes":
            return base64.b64decode(raw, validate=True)
        if tag == "bytearray":
            return bytearray(base64.b64decode(raw, validate=True))
        if tag == "set":
            return set(raw)
        if tag == "frozenset":
            return frozenset(raw)
        if tag == "float":
            return _FLOATS[raw]
        if tag == "int":
            return int(raw, 16)
        if tag == "str":
            return base64.b64decode(raw, validate=True).decode("utf-8", "surrogatepass")
        raise SerDesError(f"unknown stored type {tag!r}")
