"""The one value path: a value to the bytes the store keeps, and back.

Everything the engine stores of a user's values passes through a `ValueConverter`:
the codec is chosen (an operation's own, else the function's, else the engine's),
the payload limit is applied, errors are encoded so that a failure is always
recorded, and stored bytes come back as values or as the exceptions they hold.
Every value is stored sealed with a checksum (`serdes.seal`) that reading checks: a
value whose bytes changed is `DatabaseCorrupt`, naming its execution and operation,
never another value. Bytes stored before sealing existed read as they always did.
The store below sees only bytes; the run, the operations, the engine's public
calls and the views above all come here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

import serdes as _serdes
from serdes import (
    MAX_DEPTH,
    SEAL_SIZE,
    ChecksumMismatch,
    SerDes,
    SerDesContext,
    TypeRegistry,
    seal,
    unseal,
)

from ._errors import (
    DatabaseCorrupt,
    ErrorInfo,
    PayloadTooLarge,
    SerDesError,
    StoreFailed,
    Unreadable,
    error_from_info,
    shortened,
)
from ._models import Checkpoint

__all__ = ["ValueConverter"]

_NO_LIMIT = 1 << 62

# The serdes package's own codecs never read the context they are given, so a value
# they code needs none made for it. (Exact types: a subclass may read it.)
_CONTEXT_FREE = frozenset({_serdes.MsgpackSerDes, _serdes.JsonSerDes, _serdes.PassThroughSerDes})


class ValueConverter:
    """Values to stored bytes and back, for one codec and payload limit (and, once
    bound with `bind`, one execution, named in the context a codec is given)."""

    __slots__ = ("_exact_types", "codec", "error_codec", "execution_id", "payload_limit")

    def __init__(
        self,
        codec: SerDes,
        *,
        payload_limit: int,
        error_codec: SerDes | None = None,
        execution_id: str = "",
    ) -> None:
        self.codec = codec
        self.payload_limit = payload_limit
        self.error_codec: SerDes = error_codec or _serdes.MsgpackSerDes()
        self.execution_id = execution_id
        self._exact_types: Collection[type[Any]] = getattr(codec, "exact_types", ())

    def bind(self, execution_id: str, codec: SerDes | None = None) -> ValueConverter:
        """This converter for one execution, with its function's codec if given. (A
        copy of the slots, made for every run and every result read.)"""
        bound = object.__new__(ValueConverter)
        bound.payload_limit = self.payload_limit
        bound.error_codec = self.error_codec
        bound.execution_id = execution_id
        if codec is None or codec is self.codec:
            bound.codec, bound._exact_types = self.codec, self._exact_types
        else:
            bound.codec, bound._exact_types = codec, getattr(codec, "exact_types", ())
        return bound

    # -- values ----------------------------------------------------------------

    def encode(
        self,
        value: Any,
        codec: SerDes | None = None,
        op_id: str | None = None,
        what: str = "the value",
        whose: str | None = None,
    ) -> bytes:
        """`value` as stored bytes, or SerDesError / PayloadTooLarge before anything is
        stored; an error names the value as `what` (followed by `whose`, joined only
        when there is an error to report)."""
        codec = codec or self.codec
        # Written out here and in `decode`, not a helper: every step passes both.
        ctx = None if type(codec) in _CONTEXT_FREE else SerDesContext(self.execution_id, op_id)
        try:
            data = codec.serialize(value, ctx)
        except _serdes.SerDesError as exc:
            raise SerDesError(f"{_label(what, whose)} cannot be serialized: {exc}") from exc
        if len(data) > self.payload_limit:
            raise PayloadTooLarge(len(data), self.payload_limit, _label(what, whose))
        expanded = _serdes.check_expanded_size(data, _NO_LIMIT)  # compressed: as declared
        if expanded > self.payload_limit:
            label = f"{_label(what, whose)} (decompressed)"
            raise PayloadTooLarge(expanded, self.payload_limit, label)
        if _serdes.deeper_than(value, MAX_DEPTH, data, _registry(codec)):
            raise SerDesError(
                f"{_label(what, whose)} cannot be stored: it nests deeper than {MAX_DEPTH} "
                "levels (lists, dicts, tuples, sets and registered classes inside one "
                "another), the most a stored value may"
            )
        return seal(data)

    def size(self, value: Any, op_id: str | None, what: str) -> int:
        """The bytes `value` takes with the codec, as a user counts them: without the
        frame of its checksum (as `PayloadTooLarge` counts them too)."""
        return len(self.encode(value, None, op_id, what)) - SEAL_SIZE

    def decode(
        self,
        data: bytes | None,
        codec: SerDes | None = None,
        op_id: str | None = None,
        what: str = "value",
    ) -> Any:
        """The value stored as `data` (`what` names it in an error); DatabaseCorrupt if
        its bytes changed, SerDesError if it cannot be read."""
        if data is None:
            return None
        return self._read(self.unsealed(data, op_id, what), codec, op_id)

    def _read(self, data: bytes, codec: SerDes | None, op_id: str | None) -> Any:
        codec = codec or self.codec
        ctx = None if type(codec) in _CONTEXT_FREE else SerDesContext(self.execution_id, op_id)
        try:
            return codec.deserialize(data, ctx)
        except _serdes.SerDesError as exc:
            where = "stored value" if op_id is None else f"stored value of operation {op_id}"
            raise SerDesError(f"{where} cannot be read: {exc}") from exc

    def unsealed(self, data: bytes, op_id: str | None, what: str) -> bytes:
        """The bytes a codec wrote, their checksum checked (unsealed bytes, stored
        before sealing existed, as they are): DatabaseCorrupt naming the value if they
        changed since, SerDesError if they would decompress to more than the payload
        limit (found before anything that size is allocated)."""
        try:
            data = unseal(data)  # type: ignore[assignment]  # bytes in, bytes out
        except ChecksumMismatch as exc:
            raise self.corrupt(exc, op_id, what) from None
        try:
            _serdes.check_expanded_size(data, self.payload_limit)
        except _serdes.SerDesError as exc:
            raise SerDesError(
                f"{self._where(what, op_id)} cannot be read with a payload limit of "
                f"{self.payload_limit:,} bytes (a larger payload_limit reads it): {exc}"
            ) from None
        return data

    def _where(self, what: str, op_id: str | None) -> str:
        where = f"the stored {what}"
        if op_id is not None:
            where += f" of operation {op_id}"
        if self.execution_id:
            where += f" of execution {self.execution_id}"
        return where

    def corrupt(self, exc: Exception, op_id: str | None, what: str) -> DatabaseCorrupt:
        """The error of a stored value whose bytes changed after they were written."""
        return DatabaseCorrupt(
            f"{self._where(what, op_id)} is damaged ({exc}); the database file was changed outside "
            "durable_engine or by its disk: restore it from a backup",
            execution_id=self.execution_id or None,
            operation_id=op_id,
        )

    def stored(self, value: Any, data: bytes, codec: SerDes | None, op_id: str | None) -> Any:
        """What `value`, just stored as `data` (by `encode`), returns: exactly what a
        replay reads back.

        A codec may name types whose values come back unchanged (`exact_types`); such a
        value is returned as it is, anything else is read back from `data`."""
        exact = self._exact_types if codec is None else getattr(codec, "exact_types", ())
        if type(value) in exact:
            return value
        return self._read(data[SEAL_SIZE:], codec, op_id)  # sealed by `encode` just now

    def view_for(
        self, execution_id: str, data: bytes | None, codec: SerDes, what: str = "value"
    ) -> Any:
        """`view` of a value of an execution of a function with `codec`."""
        return self.bind(execution_id, codec).view(data, what=what)

    def view(
        self,
        data: bytes | None,
        codec: SerDes | None = None,
        op_id: str | None = None,
        what: str = "value",
    ) -> Any:
        """A stored value as a user looking at it sees it. Read with `codec` (the
        function's), else by the header every codec of serdes writes, with `codec`'s
        registry of classes if it has one: a step, a condition or a callback may have
        written it with a codec of its own, which is in the workflow's code, not here.
        A SerDesError saying why stands in its place if neither can read it (a codec
        from outside serdes, or a class registered only in that codec's registry).
        DatabaseCorrupt stands in the place of a value whose bytes changed."""
        if data is None:
            return None
        try:
            data = self.unsealed(data, op_id, what)
        except (DatabaseCorrupt, SerDesError) as exc:
            return exc
        registry = _registry(codec or self.codec)
        try:
            value = self._read(data, codec, op_id)
        except Exception:  # a codec of the user's own raises what it likes
            try:
                value = _serdes.loads(data, registry=registry)
            except _serdes.SerDesError as exc:
                return SerDesError(
                    "stored value cannot be read without the codec that wrote it (one given "
                    f"as serdes= to a step, a condition or a callback): {exc}"
                )
        if _serdes.deeper_than(value, MAX_DEPTH, data, registry):  # stored by an older version
            return SerDesError(
                f"{self._where(what, op_id)} nests deeper than {MAX_DEPTH} levels, the most "
                "a stored value may: it is not shown (a run still reads it)"
            )
        return value

    # -- errors ------------------------------------------------------------------

    def encode_error(self, info: ErrorInfo) -> bytes:
        """The stored form of an error: data that cannot be serialized is kept as its
        repr, and an error larger than the payload limit is shortened to fit, so that a
        failure is always recorded."""
        if info.data is not None and _serdes.deeper_than(info.data, MAX_DEPTH):
            kind = type(info.data).__name__
            info = replace(info, data=f"<{kind} nested deeper than {MAX_DEPTH} levels>")
        try:
            data = self.error_codec.serialize(info.to_dict())
        except _serdes.SerDesError:
            info = replace(info, data=repr(info.data))
            data = self.error_codec.serialize(info.to_dict())
        if len(data) > self.payload_limit:
            data = self.error_codec.serialize(shortened(info, self.payload_limit).to_dict())
        return seal(data)

    def encode_error_exactly(self, info: ErrorInfo, what: str) -> bytes:
        """The stored form of an error someone sends (a callback's failure): refused with
        SerDesError or PayloadTooLarge rather than altered, so the sender knows."""
        if info.data is not None and _serdes.deeper_than(info.data, MAX_DEPTH):
            raise SerDesError(f"the data of {what} nests deeper than {MAX_DEPTH} levels")
        try:
            data = self.error_codec.serialize(info.to_dict())
        except _serdes.SerDesError as exc:
            raise SerDesError(f"the data of {what} cannot be serialized: {exc}") from exc
        if len(data) > self.payload_limit:
            raise PayloadTooLarge(len(data), self.payload_limit, what)
        return seal(data)

    def decode_error(self, data: bytes | None, op_id: str | None = None) -> Exception:
        """The exception a stored error raises; a SerDesError if it cannot be read, a
        DatabaseCorrupt if its bytes changed."""
        if data is None:
            return error_from_info(ErrorInfo(kind="", error_type="Error", message="unknown error"))
        try:
            data = self.unsealed(data, op_id, "error")
        except (DatabaseCorrupt, SerDesError) as exc:
            return exc
        try:
            return error_from_info(ErrorInfo.from_dict(self.error_codec.deserialize(data)))
        except (_serdes.SerDesError, TypeError) as exc:
            return SerDesError(f"stored error cannot be read: {exc}")

    def error_info(self, data: bytes) -> ErrorInfo | None:
        """The stored error's fields, or None if they cannot be read (or changed)."""
        try:
            return ErrorInfo.from_dict(self.error_codec.deserialize(self.unsealed(data, None, "")))
        except (_serdes.SerDesError, TypeError, DatabaseCorrupt):
            return None

    def outcome(self, cp: Checkpoint, codec: SerDes | None) -> Any:
        """The value a completed checkpoint returns, or raise its stored error; a value
        or error that cannot be read here raises Unreadable (the run hands its
        execution back), not an error the workflow would take for its own."""
        if cp.error is not None and cp.result is None:
            error = self.decode_error(cp.error, cp.op_id)
            if isinstance(error, DatabaseCorrupt):
                raise StoreFailed(error)
            if isinstance(error, SerDesError):
                raise Unreadable(error)
            raise error
        return self.stored_value(cp.result, codec, cp.op_id)

    def answer(self, cp: Checkpoint, codec: SerDes | None) -> Any:
        """A callback's answer, or raise its stored failure. Any process may have sent
        it, with the codec it had (the function's, if it registers the function, else its
        engine's): read with `codec` first, else by the header every codec of serdes
        writes, with `codec`'s registry of classes if it has one."""
        if cp.result is None:
            return self.outcome(cp, codec)
        try:
            data = self.unsealed(cp.result, cp.op_id, "answer")
        except DatabaseCorrupt as exc:
            raise StoreFailed(exc) from None
        except SerDesError as exc:
            raise Unreadable(exc) from None
        try:
            return self._read(data, codec, cp.op_id)
        except Exception:  # a codec of the user's own raises what it likes
            registry = getattr(codec or self.codec, "registry", None)
        try:
            return _serdes.loads(data, registry=registry)
        except _serdes.SerDesError as exc:
            what = f"the answer to callback {cp.op_id} cannot be read: {exc}"
            raise Unreadable(SerDesError(what)) from exc

    def stored_value(self, data: bytes | None, codec: SerDes | None, op_id: str | None) -> Any:
        """A value this execution stored, read for its run: Unreadable if it cannot be,
        StoreFailed (the run stops, the execution is handed back) if its bytes changed:
        neither is an error workflow code could take for its own."""
        try:
            return self.decode(data, codec, op_id, "result" if op_id is not None else "input")
        except SerDesError as exc:
            raise Unreadable(exc) from exc
        except DatabaseCorrupt as exc:
            raise StoreFailed(exc) from None


def _registry(codec: SerDes) -> TypeRegistry | None:
    """The registry of classes of a codec of serdes (of the codec a ZstdSerDes wraps)."""
    registry = getattr(codec, "registry", None)
    if registry is None and isinstance(codec, _serdes.ZstdSerDes):
        registry = getattr(codec.inner, "registry", None)
    return registry if isinstance(registry, TypeRegistry) else None


def _label(what: str, whose: str | None) -> str:
    return what if whose is None else f"{what} {whose}"
