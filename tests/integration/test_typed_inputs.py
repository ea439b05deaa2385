"""A durable function's input annotation is honoured: a dict given to `start` becomes
the dataclass or pydantic model it asks for, on the first run and on every resume,
and an input that does not fit is refused at `start`, before anything is stored."""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import pytest

import serdes
from durable_engine import DurableContext, Engine, InvalidInput
from tests.cli.helpers import cli, wait_status, worker


@dataclass
class Line:
    sku: str
    quantity: int = 1


@dataclass
class Customer:
    name: str


@dataclass
class Order:
    id: int
    customer: Customer
    lines: list[Line] = field(default_factory=list)
    note: Customer | None = None


class Invoice(pydantic.BaseModel):
    number: int
    lines: list[str]


serdes.register(Invoice)  # an Invoice given to `start` is stored as one


async def test_a_dict_becomes_the_dataclass_on_the_first_run_and_on_resume(
    engine: Engine,
) -> None:
    seen: list[tuple[str, str, list[str]]] = []

    @engine.durable_function
    async def ship(ctx: DurableContext, order: Order) -> str:
        seen.append(
            (
                type(order).__name__,
                type(order.customer).__name__,
                [type(x).__name__ for x in order.lines],
            )
        )
        await ctx.wait(0.5, name="pause")  # the execution leaves memory: a resume replays
        return f"{order.customer.name}: {sum(line.quantity for line in order.lines)}"

    given = {
        "id": 7,
        "customer": {"name": "ada"},
        "lines": [{"sku": "a", "quantity": 2}, {"sku": "b"}],
    }
    async with engine:
        handle = await engine.start(ship, given)
        assert await handle.result() == "ada: 3"
        info = await engine.get_execution(handle.execution_id)
    assert seen == [("Order", "Customer", ["Line", "Line"])] * 2
    assert info.input == given  # stored as given; made into an Order each time it runs


async def test_a_dict_becomes_the_pydantic_model_by_its_own_validation(engine: Engine) -> None:
    @engine.durable_function
    async def bill(ctx: DurableContext, invoice: Invoice) -> list[Any]:
        return [type(invoice).__name__, invoice.number, invoice.lines]

    async with engine:
        assert await engine.run(bill, {"number": "12", "lines": ["x"]}) == ["Invoice", 12, ["x"]]
        assert await engine.run(bill, Invoice(number=3, lines=[])) == ["Invoice", 3, []]
        registered = engine.function(bill.__qualname__)  # its registration runs it too
        assert await engine.run(registered, {"number": 4, "lines": []}) == ["Invoice", 4, []]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"customer": {"name": "ada"}}, "the input of 'ship' lacks fields Order needs: id"),
        (
            {"id": 1, "customer": {"name": "a"}, "colour": "red"},
            "has fields Order does not: colour",
        ),
        (
            {"id": 1, "customer": {}},
            "the input of 'ship'.customer lacks fields Customer needs: name",
        ),
        ([1, 2], "must be a Order or a dict of its fields, not list [1, 2]"),
        (None, "must be a Order or a dict of its fields, not NoneType None"),
    ],
)
async def test_an_input_that_does_not_fit_the_dataclass_is_refused_before_it_is_stored(
    engine: Engine, given: Any, message: str
) -> None:
    @engine.durable_function(name="ship")
    async def ship(ctx: DurableContext, order: Order) -> int:
        return order.id

    async with engine:
        with pytest.raises(InvalidInput) as caught:
            await engine.start(ship, given, execution_name="once")
        assert await engine.list_executions() == []
    assert message in str(caught.value)


async def test_an_input_that_does_not_fit_the_model_is_refused_with_pydantics_reasons(
    engine: Engine,
) -> None:
    @engine.durable_function(name="bill")
    async def bill(ctx: DurableContext, invoice: Invoice) -> int:
        return invoice.number

    async with engine:
        with pytest.raises(InvalidInput) as caught:
            await engine.start(bill, {"number": "twelve", "lines": []})
        assert await engine.list_executions() == []
    assert str(caught.value) == (
        "the input of 'bill' is not a valid Invoice: number: Input should be a valid integer, "
        "unable to parse string as an integer"
    )


async def test_other_annotations_and_optional_inputs_are_left_alone(engine: Engine) -> None:
    @engine.durable_function
    async def plain(ctx: DurableContext, data: dict[str, Any]) -> str:
        return type(data).__name__

    @engine.durable_function
    async def maybe(ctx: DurableContext, order: Order | None) -> str:
        return type(order).__name__

    async with engine:
        assert await engine.run(plain, {"id": 1}) == "dict"
        assert await engine.run(maybe, None) == "NoneType"
        assert await engine.run(maybe, {"id": 1, "customer": {"name": "b"}}) == "Order"


APP = """
from dataclasses import dataclass
from durable_engine import DurableContext, Engine

engine = Engine("app.db", in_memory_wait=0)

@dataclass
class Greeting:
    name: str
    times: int = 1

@engine.durable_function(name="greet")
async def greet(ctx: DurableContext, greeting: Greeting) -> str:
    return await ctx.step(lambda s: " ".join([f"hello {greeting.name}"] * greeting.times))
"""


def test_the_command_line_input_becomes_the_dataclass_or_is_refused(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    bad = cli(
        tmp_path, "start", "greet", "--app", "app:engine", "--input", '{"nom": "x"}', check=False
    )
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "error: InvalidInput: the input of 'greet' has fields Greeting does not: nom (its fields: "
        "name, times)"
    )
    assert json.loads(cli(tmp_path, "list", "--db", "app.db", "--json").stdout) == []
    started = cli(
        tmp_path, "start", "greet", "--app", "app:engine", "--input", '{"name": "ada", "times": 2}'
    )
    proc = worker(tmp_path)
    try:
        info = wait_status(tmp_path, started.stdout.strip(), "SUCCEEDED")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert info["result"] == "hello ada hello ada"
