"""Every error path of the command line: one line on stderr, a non-zero exit, no traceback,
and a database that cannot be used is left byte-identical."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import serdes
from durable_engine import _cli as cli_module
from durable_engine import _worker as worker_module
from durable_engine._fs_check import MountInfo
from tests.cli.helpers import APP, callback_id, cli, env, wait_status, worker


def one_line_error(proc: object, code: int, starts: str) -> None:
    returncode, stderr = proc.returncode, proc.stderr  # type: ignore[attr-defined]
    assert returncode == code, stderr
    assert stderr.startswith(starts), stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "empty_app.py").write_text(
        "from durable_engine import Engine\nengine = Engine('app.db')\nnot_engine = 42\n"
    )
    cli(tmp_path, "start", "greet", "--app", "app:engine", "--input", '{"name": "a"}')
    return tmp_path


def waiting_on_its_callback(app_dir: Path) -> str:
    """Start `approve` and run a worker until it suspends on its callback; its id."""
    execution_id = cli(app_dir, "start", "approve", "--app", "app:engine").stdout.strip()
    proc = worker(app_dir)
    try:
        wait_status(app_dir, execution_id, "SUSPENDED")  # its callback exists now
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    return execution_id


def test_requests_that_fail_exit_1_with_one_line(app_dir: Path) -> None:
    done = waiting_on_its_callback(app_dir)
    cli(app_dir, "stop", done, "--db", "app.db")
    cases = [
        (["show", "nope", "--db", "app.db"], "error: ExecutionNotFound"),
        (["history", "nope", "--db", "app.db"], "error: ExecutionNotFound"),
        (["stop", "nope", "--db", "app.db"], "error: ExecutionNotFound"),
        (["stop", done, "--db", "app.db"], "error: ExecutionAlreadyEnded"),
        (["callback", "succeed", "nope", "--db", "app.db"], "error: CallbackNotFound"),
        (["callback", "fail", "nope", "--db", "app.db"], "error: CallbackNotFound"),
        (["callback", "heartbeat", "nope", "--db", "app.db"], "error: CallbackNotFound"),
        (["callback", "succeed", "x", "--result", "{", "--db", "app.db"], "error: --result is"),
        (["start", "greet", "--app", "app:engine", "--input", "{bad"], "error: --input is not"),
        (["start", "greet", "--app", "app:engine", "--input-file", "nope.json"], "error: cannot"),
        (["start", "nobody", "--app", "app:engine"], "error: FunctionNotRegistered"),
        (["start", "greet", "--app", "missing_mod:engine"], "error: cannot import"),
        (["start", "greet", "--app", "broken:engine"], "error: importing 'broken' raised"),
        (["start", "greet", "--app", "empty_app:nothing"], "error: module 'empty_app' has no"),
        (["start", "greet", "--app", "empty_app:not_engine"], "error: empty_app:not_engine is"),
        (["list", "--db", "missing.db"], "error: no database file at missing.db"),
        (["list", "--db", "."], "error: . is a directory, not a database file"),
        (["db", "check", "--db", "missing.db"], "error: StoreError: no database file"),
        (["worker", "--app", "empty_app:engine"], "error: empty_app:engine has no durable"),
        (["worker", "--app", "missing_mod:engine"], "error: cannot import"),
        (
            ["worker", "--app", "app:engine", "--db", "no/such/folder/x.db"],
            "error: StoreError: cannot create the database file ",
        ),
    ]
    for args, starts in cases:
        one_line_error(cli(app_dir, *args, check=False), 1, starts)
    in_folder = cli(app_dir, "worker", "--app", "app:engine", "--db", ".", check=False)
    one_line_error(in_folder, 1, "error: StoreError: ")
    assert in_folder.stderr.rstrip().endswith("is a directory, not a database file")
    # The callback of the stopped execution was cancelled: answering it is refused.
    conn = sqlite3.connect(app_dir / "app.db")
    (callback_id,) = conn.execute("SELECT callback_id FROM callbacks").fetchone()
    conn.close()
    for verb in ("succeed", "heartbeat"):
        proc = cli(app_dir, "callback", verb, callback_id, "--db", "app.db", check=False)
        one_line_error(proc, 1, "error: CallbackNotPending")


def test_answering_a_resolved_callback_again_exits_1_and_changes_nothing(app_dir: Path) -> None:
    waiting_on_its_callback(app_dir)
    cid = callback_id(app_dir)
    cli(app_dir, "callback", "succeed", cid, "--result", '"yes"', "--db", "app.db")
    for args in (["succeed", cid, "--result", '"no"'], ["fail", cid], ["heartbeat", cid]):
        again = cli(app_dir, "callback", *args, "--db", "app.db", check=False)
        one_line_error(again, 1, "error: CallbackAlreadyResolved")
    conn = sqlite3.connect(app_dir / "app.db")
    rows = conn.execute("SELECT status, result FROM callbacks").fetchall()
    conn.close()
    assert [status for status, _ in rows] == ["SUCCEEDED"]
    assert serdes.loads(rows[0][1]) == "yes"  # the first answer stands


def test_a_reader_that_goes_away_ends_the_command_quietly(app_dir: Path) -> None:
    """`durable-engine history ID --json | head -c 100`: the pipe closes before the
    output is written. The command stops without a word, as `head` wanted."""
    for args in (["list", "--json"], ["history", _greeted(app_dir), "--json"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "durable_engine", *args, "--db", "app.db"],
            cwd=app_dir,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        proc.stdout.close()  # long before Python has started and written anything
        _, stderr = proc.communicate(timeout=60)
        assert (proc.returncode, stderr) == (1, "")


def _greeted(app_dir: Path) -> str:
    listed = json.loads(cli(app_dir, "list", "--db", "app.db", "--json").stdout)
    return str(listed[0]["execution_id"])


def test_bad_usage_exits_2(app_dir: Path) -> None:
    for args in (
        [],
        ["frobnicate"],
        ["list", "--status", "SOMETIMES", "--db", "app.db"],
        ["list", "--limit", "0", "--db", "app.db"],
        ["start", "greet", "--app", "app:engine", "--timeout", "-1"],
        ["start", "greet", "--app", "app:engine", "--input", "1", "--input-file", "f"],
        ["start", "greet"],
        ["worker"],
        ["callback", "maybe", "id"],
        ["worker", "--app", "app:engine", "--concurrency", "0"],
        ["worker", "--app", "app:engine", "--grace-seconds", "-1"],
    ):
        proc = cli(app_dir, *args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    one_line_error(cli(app_dir, "start", "greet", "--app", "app", check=False), 2, "error: --app")


JUNK = b"this is not a database, just some bytes " * 200


def _corrupt_copy(src: Path, dest: Path) -> bytes:
    """A real database with pages in the middle overwritten: the header still reads fine."""
    conn = sqlite3.connect(src)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    shutil.copy(src, dest)
    data = bytearray(dest.read_bytes())
    page = 4096
    assert len(data) >= 4 * page
    data[2 * page : 4 * page] = b"\xa5" * (2 * page)
    dest.write_bytes(bytes(data))
    return bytes(data)


_FORTY_STARTS = """
import asyncio
from app import engine

async def main():
    async with engine:
        for _ in range(40):
            await engine.start("greet", {"name": "x" * 900}, run_here=False)

asyncio.run(main())
"""


def test_a_database_that_cannot_be_used_is_refused_and_left_untouched(app_dir: Path) -> None:
    junk = app_dir / "junk.db"
    junk.write_bytes(JUNK)
    newer = app_dir / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    for table in ("executions", "operations", "callbacks", "workers", "t"):
        conn.execute(f"CREATE TABLE {table} (x)")
    conn.close()
    newer_bytes = newer.read_bytes()
    foreign = app_dir / "foreign.db"  # another application's database
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    conn.execute("INSERT INTO users (email) VALUES ('ana@example.com')")
    conn.commit()
    conn.close()
    foreign_bytes = foreign.read_bytes()
    # Enough rows for several pages, stored as `start` stores them, in one process: forty
    # `start` commands were forty interpreter start-ups, which under load ran past the
    # test's time limit.
    subprocess.run([sys.executable, "-c", _FORTY_STARTS], cwd=app_dir, env=env(), check=True)
    corrupt = app_dir / "corrupt.db"
    corrupt_bytes = _corrupt_copy(app_dir / "app.db", corrupt)

    cases = ((junk, JUNK), (newer, newer_bytes), (corrupt, corrupt_bytes), (foreign, foreign_bytes))
    for path, content in cases:
        proc = cli(app_dir, "worker", "--app", "app:engine", "--db", path.name, check=False)
        one_line_error(
            proc, 1, "error: DatabaseCorrupt" if path == corrupt else "error: StoreError"
        )
        assert path.read_bytes() == content, path
        check = cli(app_dir, "db", "check", "--db", path.name, "--json", check=False)
        assert check.returncode == 1, check.stderr
        assert path.read_bytes() == content, path
        if check.stdout:
            report = json.loads(check.stdout)
            assert report["ok"] is False
    assert (
        "newer version"
        in cli(app_dir, "worker", "--app", "app:engine", "--db", "newer.db", check=False).stderr
    )
    # Damage SQLite reports (quick_check lists it) or raises as it reads (a file with
    # incremental auto_vacuum checks its pointer map first): refused either way.
    damaged = cli(app_dir, "worker", "--app", "app:engine", "--db", "corrupt.db", check=False)
    assert "quick_check" in damaged.stderr or "malformed" in damaged.stderr
    for verb in ("worker", "list"):
        args = ["--app", "app:engine"] if verb == "worker" else []
        refused = cli(app_dir, verb, *args, "--db", "foreign.db", check=False)
        one_line_error(refused, 1, "error: StoreError")
        assert "not a durable_engine database: it holds another application" in refused.stderr
    assert foreign.read_bytes() == foreign_bytes
    one_line_error(cli(app_dir, "list", "--db", "junk.db", check=False), 1, "error: StoreError")
    assert junk.read_bytes() == JUNK
    (app_dir / "empty.db").write_bytes(b"")
    one_line_error(cli(app_dir, "list", "--db", "empty.db", check=False), 1, "error: ")
    assert (app_dir / "empty.db").read_bytes() == b""


def _as_a_plain_user(app_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line run without the power to ignore file permissions, which root
    has (it runs so under `setpriv`)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root, and no setpriv to drop CAP_DAC_OVERRIDE")
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "durable_engine", *args],
        cwd=app_dir,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_database_this_user_cannot_write_is_named_so_and_reading_verbs_still_read_it(
    app_dir: Path,
) -> None:
    db = app_dir / "app.db"
    for locked, message in ((db, "cannot be written by this user"), (app_dir, "its folder")):
        before = db.read_bytes()
        locked.chmod(0o555 if locked.is_dir() else 0o444)
        try:
            refused = _as_a_plain_user(app_dir, "rerun", "x", "--db", "app.db")
            check = _as_a_plain_user(app_dir, "db", "check", "--db", "app.db", "--json")
            listed = _as_a_plain_user(app_dir, "list", "--db", "app.db", "--json")
        finally:
            locked.chmod(0o755 if locked.is_dir() else 0o600)
        one_line_error(refused, 1, "error: StoreError")
        assert message in refused.stderr and "corrupt" not in refused.stderr
        assert check.returncode == 0, check.stdout + check.stderr
        assert sum(json.loads(check.stdout)["executions"].values()) == 1
        assert listed.returncode == 0, listed.stderr
        assert [e["function"] for e in json.loads(listed.stdout)] == ["greet"]
        assert db.read_bytes() == before


def test_a_wal_that_cannot_be_read_in_a_folder_this_user_cannot_write_is_named_so(
    app_dir: Path,
) -> None:
    # A -wal file holding transactions, and no -shm (another user's worker was killed and
    # the -shm file removed): reading them needs a -shm file this user cannot create.
    subprocess.run([sys.executable, "-c", _KILLED_WITH_A_WAL], cwd=app_dir, env=env(), check=True)
    (app_dir / "app.db-shm").unlink()
    wal = (app_dir / "app.db-wal").read_bytes()
    assert wal
    app_dir.chmod(0o555)
    try:
        refused = _as_a_plain_user(app_dir, "list", "--db", "app.db")
    finally:
        app_dir.chmod(0o755)
    one_line_error(refused, 1, "error: StoreError")
    assert "its -wal file holds transactions not yet copied into it" in refused.stderr
    assert (app_dir / "app.db-wal").read_bytes() == wal


_KILLED_WITH_A_WAL = """
import asyncio, os
from app import engine

async def main():
    async with engine:
        await engine.start("greet", {"name": "late"}, run_here=False)
        os._exit(0)

asyncio.run(main())
"""


def test_a_database_on_a_network_filesystem_is_refused_unless_allowed(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nfs = MountInfo("server:/export", str(app_dir), "nfs4")
    monkeypatch.setattr(worker_module, "network_mount", lambda path: nfs)
    monkeypatch.chdir(app_dir)
    monkeypatch.delenv("DURABLE_DB", raising=False)
    monkeypatch.delenv("DURABLE_ENGINE_DB", raising=False)
    before = (app_dir / "app.db").read_bytes()
    assert cli_module.main(["worker", "--app", "app:engine"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: StoreError:") and "network filesystem (nfs4" in err
    assert "--allow-network-fs" in err and len(err.strip().splitlines()) == 1
    assert cli_module.main(["list", "--db", "app.db"]) == 1
    assert "network filesystem" in capsys.readouterr().err
    assert (app_dir / "app.db").read_bytes() == before
    assert cli_module.main(["list", "--db", "app.db", "--json", "--allow-network-fs"]) == 0
    assert [e["function"] for e in json.loads(capsys.readouterr().out)] == ["greet"]
