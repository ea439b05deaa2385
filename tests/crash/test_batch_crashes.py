"""parallel and map survive SIGKILL: same result, effects at most once more per kill."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from tests.crash.harness import finish, integrity, kill, lines, operation_rows, spawn, wait_until

APP = "tests.crash.batch_app"


def _count(effects: Path, suffix: str) -> int:
    return sum(line.endswith(suffix) for line in lines(effects))


def _done(effects: Path, items: int) -> bool:
    return _count(effects, " after") >= items


def test_nested_map_killed_three_times_gives_the_right_result(tmp_path: Path) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    count, kills = 9, 0
    proc = spawn(db, effects, "start", "nested_fan", "fan", str(count), module=APP)
    for done in (1, 4, 7):
        wait_until(partial(_done, effects, done), f"{done} items done", proc)
        kill(proc)
        kills += 1
        proc = spawn(db, effects, "resume", "fan", module=APP)
    assert finish(proc) == {"result": [n + n * n for n in range(count)]}
    log = lines(effects)
    assert sum(line.startswith("process resume") for line in log) == kills
    for n in range(count):
        for phase in ("before", "left", "right", "after"):
            runs = log.count(f"item {n} {phase}")
            assert 1 <= runs <= 1 + kills, (n, phase, runs)
    assert integrity(db) == "ok"


def test_early_completion_is_decided_once_across_kills(tmp_path: Path) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    count = 5
    first = spawn(db, effects, "start", "first_wins", "race", str(count), module=APP)
    wait_until(lambda: _count(effects, " start") >= count, "every item waiting", first)
    kill(first)
    second = spawn(db, effects, "resume", "race", module=APP)
    wait_until(lambda: "item 0 done" in lines(effects), "the winner", second)
    kill(second)
    third = spawn(db, effects, "resume", "race", module=APP)
    assert finish(third) == {
        "result": {
            "reason": "MIN_SUCCESSFUL_REACHED",
            "statuses": ["SUCCEEDED"] + ["CANCELLED"] * (count - 1),
            "results": [0],
        }
    }
    log = lines(effects)
    assert 1 <= log.count("item 0 done") <= 3
    for n in range(1, count):
        assert log.count(f"item {n} start") <= 3
        assert f"item {n} done" not in log  # cancelled while waiting, never resumed
    assert 1 <= log.count("after the race") <= 2
    rows = {op: (type_, status) for op, type_, status, _ in operation_rows(db)}
    assert rows["1"] == ("MAP", "SUCCEEDED")
    for n in range(1, count):  # recorded as cancelled, and so is the wait each was in
        assert rows[f"1/{n + 1}"] == ("CONTEXT", "CANCELLED")
        assert rows[f"1/{n + 1}/1"] == ("STEP", "SUCCEEDED")
        assert rows[f"1/{n + 1}/2"] == ("WAIT", "CANCELLED")
        assert f"1/{n + 1}/3" not in rows
    assert integrity(db) == "ok"
