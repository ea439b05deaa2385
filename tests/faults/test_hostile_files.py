"""Hostile files and inputs: planted schema objects, shared files, network mounts
through symlinks, names SQLite cannot keep, command-line arguments out of range."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import zstandard

from durable_engine import DurableContext, Engine, StoreError, _fs_check
from durable_engine import _cli as cli_module
from durable_engine._fs_check import MountInfo, network_mount
from serdes.compression import decompress
from tests.conftest import rows


async def _make_database(db: Path) -> None:
    engine = Engine(db)

    @engine.durable_function
    async def noop(ctx: DurableContext, _: None) -> str:
        return "ok"

    async with engine:
        await (await engine.start(noop, None)).result()


@pytest.mark.parametrize(
    "planted",
    [
        "CREATE TRIGGER spy AFTER INSERT ON operations BEGIN"
        " INSERT INTO executions (execution_id, function, status, created_at)"
        " VALUES ('planted', 'x', 'RUNNING', 0); END",
        "CREATE VIEW spy AS SELECT * FROM executions",
        "CREATE TABLE spy (x)",
        "CREATE INDEX spy ON executions (function)",
    ],
)
async def test_a_file_with_planted_schema_objects_is_refused_and_left_alone(
    db_path: Path, planted: str
) -> None:
    await _make_database(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute(planted)
    conn.commit()
    conn.close()
    before = rows(db_path, "SELECT execution_id, status FROM executions")
    with pytest.raises(StoreError, match=r"holds objects durable_engine did not make .*spy"):
        async with Engine(db_path):
            pass
    assert rows(db_path, "SELECT execution_id, status FROM executions") == before


async def test_a_file_writable_by_others_is_refused_unless_allowed(db_path: Path) -> None:
    await _make_database(db_path)
    os.chmod(db_path, 0o666)
    with pytest.raises(StoreError, match="can be written by its group or by others"):
        async with Engine(db_path):
            pass
    async with Engine(db_path, allow_shared_file=True) as engine:
        assert len(await engine.list_executions()) == 1


def test_a_file_owned_by_another_user_is_refused(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path.write_bytes(b"")
    os.chmod(db_path, 0o600)
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(db_path).st_uid + 1)
    with pytest.raises(StoreError, match="is owned by another user"):
        _fs_check.check_database_file(str(db_path), allow_network_fs=False, allow_shared_file=False)


def test_a_symlink_into_a_network_mount_is_on_that_mount(tmp_path: Path) -> None:
    link = tmp_path / "engine.db"
    link.symlink_to("/srv/share/engine.db")
    mounts = f"server:/export /srv/share nfs4 rw 0 0\n/dev/sda1 {tmp_path} ext4 rw 0 0\n"
    mount = network_mount(str(link), mounts)
    assert mount is not None and mount.fs_type == "nfs4"


async def test_an_engine_refuses_a_network_filesystem_unless_allowed(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nfs = MountInfo("server:/export", str(db_path.parent), "nfs4")
    monkeypatch.setattr(_fs_check, "network_mount", lambda path: nfs)
    with pytest.raises(StoreError, match=r"network filesystem \(nfs4"):
        async with Engine(db_path):
            pass
    assert not os.path.exists(db_path)  # noqa: ASYNC240 - a check, nothing waits on it
    async with Engine(db_path, allow_network_fs=True):
        pass


@pytest.mark.parametrize("bad", ["pay\x00ment", "pay\udcffment"])
async def test_names_sqlite_cannot_keep_are_refused(db_path: Path, bad: str) -> None:
    engine = Engine(db_path)
    with pytest.raises(ValueError, match="name must"):
        engine.durable_function(name=bad)

    @engine.durable_function
    async def noop(ctx: DurableContext, _: None) -> None:
        return None

    async with engine:
        with pytest.raises(ValueError, match="execution_name must"):
            await engine.start(noop, None, execution_name=bad)
        with pytest.raises(ValueError, match="execution_id must"):
            await engine.get_execution(bad)


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--db", "x.db", "--limit", str(10**30)],
        ["start", "greet", "--db", "x.db", "--app", "m:e", "--timeout", "1e300"],
        ["list", "--db", "x\udcff.db"],
        [],
    ],
)
def test_every_argument_error_is_one_line_and_exit_2(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_module.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert "unexpected" not in err


def test_zstd_without_a_declared_size_is_read_in_chunks() -> None:
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(b"x" * 300_000)
    assert zstandard.frame_content_size(frame) == -1
    assert decompress(frame) == b"x" * 300_000
