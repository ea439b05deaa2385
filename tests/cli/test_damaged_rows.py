"""One row the readers cannot show never breaks a listing: `list`, `list --json`,
`show`, `history`, `export` and the web page show it with an error marker, and every
other row as before."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import serdes
from durable_engine import DurableContext, Engine
from durable_engine import _cli as cli_module
from durable_engine.web import create_app


def _nest(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def _make(db: Path) -> list[str]:
    """Three executions: the second's input as a version without the depth limit
    stored a 900-level list, the third's step result with a changed byte."""
    engine = Engine(db, in_memory_wait=0)

    @engine.durable_function(name="plain")
    async def plain(ctx: DurableContext, n: int) -> list[int]:
        return await ctx.step(lambda s: [n], name="wrap")

    async def main() -> list[str]:
        async with engine:
            handles = [await engine.start(plain, n) for n in range(3)]
            for h in handles:
                await h.result()
            return [h.execution_id for h in handles]

    ids = asyncio.run(main())
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "UPDATE executions SET input = ? WHERE execution_id = ?",
            (serdes.dumps(_nest(900)), ids[1]),
        )
        (data,) = conn.execute(
            "SELECT result FROM operations WHERE execution_id = ? AND op_id = '1'", (ids[2],)
        ).fetchone()
        conn.execute(
            "UPDATE operations SET result = ? WHERE execution_id = ? AND op_id = '1'",
            (data[:-1] + bytes([data[-1] ^ 0x01]), ids[2]),
        )
        conn.commit()
    finally:
        conn.close()
    return ids


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = cli_module.main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "unexpected" not in err
    return out


def test_the_command_line_lists_and_shows_every_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "app.db"
    ids = _make(db)
    table = _run(capsys, "list", "--db", str(db))
    assert all(eid in table for eid in ids)
    listed = {
        e["execution_id"]: e for e in json.loads(_run(capsys, "list", "--db", str(db), "--json"))
    }
    assert set(listed) == set(ids)
    assert listed[ids[0]]["input"] == 0 and listed[ids[0]]["result"] == [0]
    marker = listed[ids[1]]["input"]
    assert marker["kind"] == "SerDesError" and "deeper than 100 levels" in marker["message"]
    assert listed[ids[1]]["result"] == [1]
    shown = _run(capsys, "show", ids[1], "--db", str(db))
    assert "deeper than 100 levels" in shown
    assert "wrap" in _run(capsys, "history", ids[2], "--db", str(db))
    steps = json.dumps(json.loads(_run(capsys, "history", ids[2], "--db", str(db), "--json")))
    assert "DatabaseCorrupt" in steps and f"operation 1 of execution {ids[2]}" in steps
    exported = json.loads(_run(capsys, "export", ids[1], "--db", str(db)))
    assert exported  # the stored bytes, as they are


def test_the_web_page_lists_and_shows_every_row(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    ids = _make(db)
    with TestClient(create_app(db)) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert all(eid in page.text for eid in ids)
        deep = client.get(f"/executions/{ids[1]}")
        assert deep.status_code == 200 and "deeper than 100 levels" in deep.text
        damaged = client.get(f"/executions/{ids[2]}")
        assert damaged.status_code == 200 and "DatabaseCorrupt" in damaged.text


_APP = """
from durable_engine import DurableContext, Engine

engine = Engine("app.db")


@engine.durable_function(name="plain")
async def plain(ctx: DurableContext, n: int) -> list[int]:
    return await ctx.step(lambda s: [n], name="wrap")
"""


def test_the_deploy_check_reports_a_damaged_history_instead_of_a_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "app.db"
    ids = _make(db)
    (tmp_path / "damaged_rows_app.py").write_text(_APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    args = ["replay", "--all", "--include-finished", "5", "--app", "damaged_rows_app:engine"]
    code = cli_module.main([*args, "--db", str(db)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"DAMAGED {ids[2]} (SUCCEEDED): the stored result of operation 1" in out
    assert "3 execution(s)" in out and "1 damaged" in out
