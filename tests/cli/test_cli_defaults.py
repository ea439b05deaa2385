"""What the command line does when nothing says otherwise: which database `--app` brings,
the order `list` shows, and `--version`."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from durable_engine import DurableContext, Engine
from tests.cli.helpers import APP, cli


def _started(folder: Path, *names: str) -> list[str]:
    """Start one `sleepy` execution per name with `--app` only, one after another; their ids."""
    return [
        cli(
            folder, "start", "sleepy", "--app", "app:engine", "--input", "3600", "--name", name
        ).stdout.strip()
        for name in names
    ]


def test_every_verb_given_app_uses_the_app_engines_database(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    [first, second] = _started(tmp_path, "nap-1", "nap-2")
    app = ("--app", "app:engine")

    listed = json.loads(cli(tmp_path, "list", *app, "--json").stdout)
    assert {e["execution_id"] for e in listed} == {first, second}
    shown = json.loads(cli(tmp_path, "show", "nap-1", *app, "--json").stdout)
    assert (shown["execution_id"], shown["status"]) == (first, "RUNNING")
    assert json.loads(cli(tmp_path, "history", first, *app, "--json").stdout) == []
    # The callback id is unknown in app.db: the error comes from that database.
    unknown = cli(tmp_path, "callback", "heartbeat", "nope", *app, check=False)
    assert (unknown.returncode, unknown.stderr.split(":")[:2]) == (
        1,
        ["error", " CallbackNotFound"],
    )
    stopped = json.loads(cli(tmp_path, "stop", "nap-2", *app, "--json").stdout)
    assert (stopped["execution_id"], stopped["status"]) == (second, "STOPPED")
    replayed = json.loads(cli(tmp_path, "replay", "nap-2", *app, "--json").stdout)
    assert replayed["execution_id"] == second
    checked = json.loads(cli(tmp_path, "db", "check", *app, "--json").stdout)
    assert (checked["path"], checked["ok"]) == ("app.db", True)
    assert checked["executions"] == {"RUNNING": 1, "STOPPED": 1}
    assert not (tmp_path / "durable.db").exists()


def test_db_given_wins_over_the_app_engines_database(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    _started(tmp_path, "nap-1")
    for verb in (["list"], ["show", "nap-1"], ["db", "check"]):
        other = cli(tmp_path, *verb, "--app", "app:engine", "--db", "other.db", check=False)
        assert other.returncode == 1, other.stderr
        assert "other.db" in other.stderr and "app.db" not in other.stderr


def test_without_app_or_db_the_missing_database_error_names_both(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    _started(tmp_path, "nap-1")
    missing = cli(tmp_path, "list", check=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: no database file at durable.db")
    assert "--db PATH" in missing.stderr and "--app MODULE:ATTR" in missing.stderr
    assert len(missing.stderr.splitlines()) == 1


def test_list_shows_the_newest_first_and_the_oldest_first_with_reverse(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    oldest, middle, newest = _started(tmp_path, "nap-1", "nap-2", "nap-3")

    def listed(*args: str) -> list[str]:
        out = json.loads(cli(tmp_path, "list", "--db", "app.db", "--json", *args).stdout)
        return [e["execution_id"] for e in out]

    assert listed() == [newest, middle, oldest]
    assert listed("--reverse") == [oldest, middle, newest]
    assert listed("--limit", "2") == [newest, middle]  # the two newest
    assert listed("--limit", "2", "--reverse") == [oldest, middle]  # the two oldest
    assert listed("--status", "running", "--limit", "1") == [newest]
    table = cli(tmp_path, "list", "--db", "app.db").stdout.splitlines()
    assert [row.split()[0] for row in table[1:]] == [newest, middle, oldest]
    table = cli(tmp_path, "list", "--db", "app.db", "--reverse").stdout.splitlines()
    assert [row.split()[0] for row in table[1:]] == [oldest, middle, newest]


def test_version_prints_the_installed_version_and_exits_0(tmp_path: Path) -> None:
    proc = cli(tmp_path, "--version")
    expected = importlib.metadata.version("durable-engine")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"durable-engine {expected}\n", "")


async def test_the_api_lists_oldest_first_unless_asked_for_the_newest_first(
    engine: Engine,
) -> None:
    @engine.durable_function(name="echo")
    async def echo(ctx: DurableContext, value: int) -> int:
        return value

    async with engine:
        for value in range(4):
            await engine.run(echo, value)  # one after another
        oldest = [i.input for i in await engine.list_executions()]
        newest = [i.input for i in await engine.list_executions(newest_first=True)]
        two = [i.input for i in await engine.list_executions(limit=2, newest_first=True)]
        with pytest.raises(TypeError, match="newest_first"):
            await engine.list_executions(newest_first="yes")  # type: ignore[arg-type]
    assert (oldest, newest, two) == ([0, 1, 2, 3], [3, 2, 1, 0], [3, 2])
