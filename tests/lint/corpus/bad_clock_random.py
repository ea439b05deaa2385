"""Workflows that read the clock or draw random numbers outside their steps."""

from __future__ import annotations

import datetime as dtmod
import os
import random
import secrets
import time
import uuid
from datetime import date, datetime

from durable_engine import DurableContext, Engine

engine = Engine("bad.db")


@engine.durable_function
async def clock(ctx: DurableContext, _: None) -> list[object]:
    return [
        datetime.now(),  # expect: DE101
        datetime.utcnow(),  # expect: DE101
        datetime.today(),  # expect: DE101
        date.today(),  # expect: DE101
        dtmod.datetime.now(dtmod.UTC),  # expect: DE101
        time.time(),  # expect: DE101
        time.monotonic(),  # expect: DE101
        time.perf_counter(),  # expect: DE101
        time.gmtime(),  # expect: DE101
        time.gmtime(0),  # a given instant: fine
    ]


@engine.durable_function(name="dice")
async def dice(ctx: DurableContext, _: None) -> list[object]:
    return [
        random.random(),  # expect: DE102
        random.choice([1, 2]),  # expect: DE102
        random.Random(),  # expect: DE102
        uuid.uuid4(),  # expect: DE102
        uuid.uuid1(),  # expect: DE102
        uuid.uuid5(uuid.NAMESPACE_DNS, "example.com"),  # derived from its input: fine
        secrets.token_hex(8),  # expect: DE102
        os.urandom(8),  # expect: DE102
    ]
