"""A damaged database file is refused before anything is written to it, the same way
by an `Engine`, a worker and the command line: `check_on_open` ("quick" by default,
"full" or "none")."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_engine import DatabaseCorrupt, Engine, SqliteStore, StoreError
from tests.cli.helpers import APP, cli
from tests.faults.damage import (
    NAMES,
    break_name_index,
    corrupt_pages,
    files,
    make_database,
    unchanged,
)


async def test_an_engine_refuses_a_corrupt_page_and_writes_nothing(db_path: Path) -> None:
    await make_database(db_path)
    corrupt_pages(db_path)
    before = files(db_path)
    for check in ("quick", "full"):
        with pytest.raises(DatabaseCorrupt, match=r"(?i)nothing was written"):
            async with Engine(db_path, check_on_open=check):
                pass
        assert unchanged(db_path, before), check
    assert isinstance(DatabaseCorrupt("x"), StoreError)


async def test_full_finds_a_broken_unique_index_that_quick_does_not(db_path: Path) -> None:
    ids = await make_database(db_path)
    break_name_index(db_path)
    before = files(db_path)
    with pytest.raises(
        DatabaseCorrupt,
        match=r"failed PRAGMA integrity_check: row \d+ missing from index "
        r"sqlite_autoindex_executions_2",
    ):
        async with Engine(db_path, check_on_open="full"):
            pass
    assert unchanged(db_path, before)
    # What quick_check reads is sound: the default lets the file in (the index is wrong
    # only where no page structure shows it), and so does "none", which reads nothing.
    report = SqliteStore.preflight(db_path, "quick")
    assert report is not None and report.integrity == ["ok"]
    for check in ("quick", "none"):
        async with Engine(db_path, check_on_open=check, read_only=True) as engine:
            assert len(await engine.list_executions()) == len(ids)
    assert unchanged(db_path, before)


def test_check_on_open_takes_three_values() -> None:
    assert Engine(":memory:").check_on_open == "quick"
    with pytest.raises(ValueError, match='check_on_open must be "quick", "full" or "none"'):
        Engine(":memory:", check_on_open="thorough")
    engine = Engine(":memory:")
    with pytest.raises(ValueError, match="check_on_open must be"):
        engine.check_on_open = "yes"


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


async def test_the_worker_and_the_command_line_refuse_a_damaged_file(app_dir: Path) -> None:
    corrupt = app_dir / "corrupt.db"
    ids = await make_database(corrupt)
    corrupt_pages(corrupt)
    broken = app_dir / "index.db"
    await make_database(broken)
    break_name_index(broken)
    saved = {p: files(p) for p in (corrupt, broken)}
    start = ["start", "greet", "--app", "app:engine", "--input", '{"name": "x"}']
    cases = [
        (corrupt, ["worker", "--app", "app:engine"]),
        (corrupt, start),
        (corrupt, ["stop", ids[0]]),
        (corrupt, ["list"]),
        (broken, ["worker", "--app", "app:engine", "--check-on-open", "full"]),
        (broken, [*start, "--check-on-open", "full"]),
        (broken, ["list", "--check-on-open", "full"]),
        (broken, ["stop", NAMES[0], "--check-on-open", "full"]),
    ]
    for path, args in cases:
        proc = cli(app_dir, *args, "--db", path.name, check=False)
        assert proc.returncode == 1, (args, proc.stderr)
        assert proc.stderr.startswith("error: DatabaseCorrupt: "), (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert unchanged(path, saved[path]), args
    assert "missing from index sqlite_autoindex_executions_2" in proc.stderr
    # The check the worker runs is the one an Engine runs: an engine's own setting
    # is used when the command line gives none.
    (app_dir / "full_app.py").write_text(
        APP.replace("in_memory_wait=0", 'in_memory_wait=0, check_on_open="full"')
    )
    proc = cli(app_dir, "worker", "--app", "full_app:engine", "--db", broken.name, check=False)
    assert proc.returncode == 1 and "DatabaseCorrupt" in proc.stderr, proc.stderr
    assert unchanged(broken, saved[broken])
