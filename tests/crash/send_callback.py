"""Answer a callback from a process that has no workflow registered.

Usage: python -m tests.crash.send_callback DB CALLBACK_ID RESULT_JSON
"""

from __future__ import annotations

import asyncio
import json
import sys

from durable_engine import Engine


async def main() -> None:
    async with Engine(sys.argv[1]) as engine:
        await engine.send_callback_success(sys.argv[2], json.loads(sys.argv[3]))


if __name__ == "__main__":
    asyncio.run(main())
