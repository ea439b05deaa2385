"""Imports under other names, and imports inside the workflow, are followed."""

from __future__ import annotations

import time as t
from datetime import datetime as dt
from os import environ
from os import getenv as env
from random import randint as roll
from time import sleep

from durable_engine import DurableContext
from durable_engine import Engine as DurableEngine

engine = DurableEngine("bad.db")


async def child_body(context: DurableContext, item: int) -> list[object]:
    """Workflow code by its annotation."""
    import uuid as u

    return [
        dt.now(),  # expect: DE101
        t.time(),  # expect: DE101
        environ["HOME"],  # expect: DE104
        env("HOME"),  # expect: DE104
        roll(1, 6),  # expect: DE102
        u.uuid4(),  # expect: DE102
    ]


async def registered_by_call(ctx: object, _: None) -> None:
    sleep(1)  # expect: DE103


engine.durable_function(name="by-call")(registered_by_call)


class Orders:
    async def handle(self, ctx: DurableContext, order: int) -> None:
        """A method taking a context is workflow code too."""
        sleep(order)  # expect: DE103
