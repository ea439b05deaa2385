"""How the command line shows values: JSON when it holds them exactly, else tagged or repr."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from durable_engine._display import jsonable, readable
from durable_engine._errors import StepError


def test_plain_json_values_pass_through() -> None:
    value = {"a": [1, 2.5, None, True, "x"], "b": {"c": "d"}}
    assert jsonable(value) == value
    assert readable(value) == json.dumps(value)


def test_values_json_cannot_hold_are_tagged_inside_their_containers() -> None:
    value = {
        "at": datetime(2030, 1, 2, tzinfo=UTC),
        "n": [Decimal("1.10"), (1, 2), b"\x00", math.nan],
        "id": UUID(int=1),
        3: "int key",
    }
    shown = jsonable({"inner": value["n"], "at": value["at"], "id": value["id"]})
    assert shown == {
        "inner": ["<Decimal> 1.10", "<tuple> (1, 2)", "<bytes> b'\\x00'", "<float> nan"],
        "at": "<datetime> 2030-01-02T00:00:00+00:00",
        "id": "<UUID> 00000000-0000-0000-0000-000000000001",
    }
    assert jsonable(value).startswith("<dict> {")  # a non-string key: the whole dict
    json.dumps(shown)
    assert readable(value) == repr(value)


def test_errors_show_their_kind_type_and_message() -> None:
    error = StepError("card declined", error_type="PaymentError", stack_trace="trace")
    assert jsonable(error) == {
        "kind": "StepError",
        "type": "PaymentError",
        "message": "card declined",
        "stack_trace": "trace",
    }
    assert readable(error) == "StepError (PaymentError): card declined"
