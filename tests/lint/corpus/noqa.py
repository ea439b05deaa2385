"""`# noqa` silences findings on its line: all of them, or the codes it names."""

from __future__ import annotations

import os
import time

from durable_engine import DurableContext, Engine

engine = Engine("bad.db")


@engine.durable_function
async def silenced(ctx: DurableContext, _: None) -> list[object]:
    return [
        time.time(),  # noqa: DE101
        time.time(),  # noqa
        time.time(),  # NOQA:DE1
        time.time(),  # noqa: DE102  # expect: DE101
        [time.time(), os.getenv("X")],  # noqa: DE104  # expect: DE101
        [time.time(), os.getenv("X")],  # noqa: DE101, DE104
        "# noqa in a string is not a comment" and time.time(),  # expect: DE101
    ]
