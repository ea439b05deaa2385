"""The execution page shows which run an execution is on."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from durable_engine import DurableContext, Engine
from durable_engine.web import create_app


async def test_the_execution_page_shows_the_run_number(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    engine = Engine(db)

    @engine.durable_function(name="again")
    async def again(ctx: DurableContext, n: int) -> int:
        if n < 3:
            await ctx.continue_as_new(n + 1)
        return n

    async with engine:
        handle = await engine.start("again", 1)
        assert await handle.result() == 3
    with TestClient(create_app(db)) as client:
        page = client.get(f"/executions/{handle.execution_id}").text
    assert '<dd id="run-number">3</dd>' in page
