"""Patch markers across real restarts: each deploy of the workflow is its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from durable_engine import Engine, OperationType

ROOT = Path(__file__).resolve().parents[2]


def deploy(
    version: int, db: Path, effects: Path, verb: str, *names: str
) -> list[dict[str, object]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.versioning.patch_app",
            str(version),
            str(db),
            str(effects),
            verb,
            *names,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


async def patch_ops(db: Path, execution_id: str) -> list[tuple[str, str | None]]:
    async with Engine(db) as engine:
        engine.serve = False
        return [
            (op.operation_id, op.name)
            for top in await engine.get_operations(execution_id)
            for op in top.walk()
            if op.type == OperationType.PATCH
        ]


async def test_executions_in_flight_keep_the_old_path_new_ones_take_the_patch(
    tmp_path: Path,
) -> None:
    db, effects = tmp_path / "app.db", tmp_path / "effects.log"
    deploy(1, db, effects, "leave", "old")  # went past the patch point on deploy 1
    assert effects.read_text().split() == ["a", "b"]

    finished = deploy(2, db, effects, "finish", "old", "new")

    assert [f["result"] for f in finished] == [["a", "b"], ["a", "c"]]
    assert effects.read_text().split() == ["a", "b", "a", "c"]  # nothing ran twice
    old_id, new_id = (str(f["id"]) for f in finished)
    assert await patch_ops(db, old_id) == []  # the old path records no marker
    assert await patch_ops(db, new_id) == [("2/1", "use-c")]


async def test_a_deprecated_patch_accepts_histories_with_and_without_the_marker(
    tmp_path: Path,
) -> None:
    db, effects = tmp_path / "app.db", tmp_path / "effects.log"
    deploy(2, db, effects, "leave", "marked")  # recorded the marker, then paused

    finished = deploy(3, db, effects, "finish", "marked", "fresh")

    assert [f["result"] for f in finished] == [["a", "c"], ["a", "c"]]
    assert effects.read_text().split() == ["a", "c", "a", "c"]
    marked_id, fresh_id = (str(f["id"]) for f in finished)
    assert await patch_ops(db, marked_id) == [("2/1", "use-c")]
    assert await patch_ops(db, fresh_id) == []  # a deprecated patch records nothing


async def test_a_patched_execution_replays_its_marker_on_every_resume(tmp_path: Path) -> None:
    db, effects = tmp_path / "app.db", tmp_path / "effects.log"
    deploy(2, db, effects, "leave", "again")
    finished = deploy(2, db, effects, "finish", "again")
    assert finished[0]["result"] == ["a", "c"]
    assert effects.read_text().split() == ["a", "c"]
    assert await patch_ops(db, str(finished[0]["id"])) == [("2/1", "use-c")]
