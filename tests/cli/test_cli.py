"""The real `python -m durable_engine`: a worker and the verbs that drive it."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
from pathlib import Path

import pytest

from durable_engine._store.schema import SCHEMA_VERSION
from tests.cli.helpers import APP, callback_id, cli, events, show, wait_status, worker


def test_start_worker_list_show_history_callback_stop(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    greeting = cli(
        tmp_path,
        "start",
        "greet",
        "--app",
        "app:engine",
        "--input",
        '{"name": "ana"}',
        "--name",
        "g1",
    ).stdout.strip()
    again = cli(
        tmp_path,
        "start",
        "greet",
        "--app",
        "app:engine",
        "--input",
        '{"name": "ana"}',
        "--name",
        "g1",
        "--json",
    ).stdout
    assert json.loads(again) == {"execution_id": greeting}  # the same execution
    pending = json.loads(cli(tmp_path, "list", "--db", "app.db", "--json").stdout)
    assert [(e["execution_id"], e["name"], e["status"]) for e in pending] == [
        (greeting, "g1", "RUNNING")
    ]
    proc = worker(tmp_path, "--grace-seconds", "1", "--worker-id", "cli-w1")
    try:
        shown = wait_status(tmp_path, greeting, "SUCCEEDED")
        assert shown["result"] == "hello ana" and shown["input"] == {"name": "ana"}
        assert shown["error"] is None and shown["duration"] >= 0
        assert shown["created_at"].endswith("+00:00") and shown["ended_at"] >= shown["created_at"]
        text = cli(tmp_path, "show", greeting, "--db", "app.db").stdout
        assert "SUCCEEDED" in text and '"hello ana"' in text
        history = json.loads(cli(tmp_path, "history", greeting, "--db", "app.db", "--json").stdout)
        assert [(op["type"], op["name"], op["status"], op["attempt"]) for op in history] == [
            ("STEP", "say", "SUCCEEDED", 1)
        ]
        assert history[0]["result"] == "hello ana" and history[0]["duration"] >= 0
        assert "1 say" in cli(tmp_path, "history", greeting, "--db", "app.db").stdout

        waiting = cli(tmp_path, "start", "approve", "--app", "app:engine").stdout.strip()
        wait_status(tmp_path, waiting, "SUSPENDED")
        cid = callback_id(tmp_path)
        # An operator finds the id to answer with in the history.
        asked = json.loads(cli(tmp_path, "history", waiting, "--db", "app.db", "--json").stdout)
        assert [(op["type"], op["ref"]) for op in asked] == [("CALLBACK", cid)]
        assert asked[0]["waits_for"] == f"callback {asked[0]['name']}: {cid}"
        table = cli(tmp_path, "history", waiting, "--db", "app.db").stdout.splitlines()
        assert table[0].split()[-2:] == ["REF", "WAITS_FOR"]
        assert table[1].endswith(f"{cid}  callback {asked[0]['name']}: {cid}")
        # show says in one line what it waits for.
        shown = show(tmp_path, waiting)
        assert [(w["kind"], w["callback_id"]) for w in shown["waits_for"]] == [("callback", cid)]
        text = cli(tmp_path, "show", waiting, "--db", "app.db").stdout
        assert f"waits_for     callback {asked[0]['name']}: {cid}" in text.splitlines()
        cli(tmp_path, "callback", "heartbeat", cid, "--db", "app.db")
        cli(tmp_path, "callback", "succeed", cid, "--result", '{"ok": 1}', "--db", "app.db")
        assert wait_status(tmp_path, waiting, "SUCCEEDED")["result"] == {"ok": 1}

        stopped = cli(tmp_path, "start", "sleepy", "--app", "app:engine", "--input", "3600")
        stopped_id = stopped.stdout.strip()
        wait_status(tmp_path, stopped_id, "SUSPENDED")
        # When it wakes, in the text too (the timer's due time), and the replay so far.
        asleep = json.loads(cli(tmp_path, "history", stopped_id, "--db", "app.db", "--json").stdout)
        table = cli(tmp_path, "history", stopped_id, "--db", "app.db").stdout.splitlines()
        assert table[0].split()[-2:] == ["WAKE_AT", "WAITS_FOR"] and asleep[0]["wake_at"]
        assert asleep[0]["waits_for"].startswith("a timer (")
        assert table[1].endswith(f"{asleep[0]['wake_at']}  {asleep[0]['waits_for']}")
        replayed = cli(tmp_path, "replay", stopped_id, "--app", "app:engine").stdout
        assert replayed.strip() == (
            f"replay of {stopped_id} (SUSPENDED) matches its history so far (it has not ended)"
        )
        out = json.loads(cli(tmp_path, "stop", stopped_id, "--db", "app.db", "--json").stdout)
        assert out["status"] == "STOPPED"
        assert out["error"]["kind"] == "ExecutionStopped"
        listed = cli(tmp_path, "list", "--db", "app.db", "--status", "stopped", "--json").stdout
        assert [e["execution_id"] for e in json.loads(listed)] == [stopped_id]
        table = cli(tmp_path, "list", "--db", "app.db", "--limit", "2").stdout.splitlines()
        assert table[0].split() == [
            "EXECUTION_ID",
            "NAME",
            "FUNCTION",
            "STATUS",
            "CREATED_AT",
            "ENDED_AT",
        ]
        assert len(table) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    seen = events(err)
    assert all(e["worker"] == "cli-w1" for e in seen)
    names = [e["event"] for e in seen]
    assert names[0] == "start" and names[-2:] == ["stopping", "stop"]
    assert {"claim", "suspend", "finish"} <= set(names)
    assert [e["status"] for e in seen if e["event"] == "finish"] == ["SUCCEEDED", "SUCCEEDED"]
    # The stopped execution stays stopped: its timer was cancelled, nothing resumes it.
    assert show(tmp_path, stopped_id)["status"] == "STOPPED"
    history = json.loads(cli(tmp_path, "history", stopped_id, "--db", "app.db", "--json").stdout)
    assert [(op["type"], op["status"]) for op in history] == [("WAIT", "CANCELLED")]
    check = json.loads(cli(tmp_path, "db", "check", "--db", "app.db", "--json").stdout)
    assert check["integrity"] == "ok" and check["ok"] is True
    assert check["schema_version"] == SCHEMA_VERSION
    assert check["executions"] == {"STOPPED": 1, "SUCCEEDED": 2}


def test_timeout_failure_callback_input_file_and_values_json_cannot_hold(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "input.json").write_text("3600")
    timed = cli(
        tmp_path,
        "start",
        "sleepy",
        "--app",
        "app:engine",
        "--input-file",
        "input.json",
        "--timeout",
        "0.5",
    ).stdout.strip()
    odd = cli(tmp_path, "start", "odd_values", "--app", "app:engine").stdout.strip()
    rejected = cli(
        tmp_path, "start", "approve", "--app", "app:engine", "--input-file", "-", stdin="null"
    ).stdout.strip()
    proc = worker(tmp_path, "--grace-seconds", "1")
    try:
        shown = wait_status(tmp_path, timed, "TIMED_OUT")
        assert shown["error"]["kind"] == "ExecutionTimedOut"
        assert "passed its timeout" in shown["error"]["message"]
        shown = wait_status(tmp_path, odd, "SUCCEEDED")
        assert shown["result"] == {
            "at": "<datetime> 2030-01-02T03:04:05+00:00",
            "price": "<Decimal> 9.99",
            "tags": "<set> {'a'}",
            "ok": [1, 2.5, None],
        }
        table = cli(tmp_path, "show", odd, "--db", "app.db").stdout
        assert "Decimal('9.99')" in table and "datetime.datetime(2030, 1, 2" in table
        wait_status(tmp_path, rejected, "SUSPENDED")
        cli(
            tmp_path,
            "callback",
            "fail",
            callback_id(tmp_path),
            "--error-type",
            "Rejected",
            "--message",
            "over budget",
            "--db",
            "app.db",
        )
        shown = wait_status(tmp_path, rejected, "FAILED")
        assert shown["error"]["type"] == "Rejected"
        assert "over budget" in shown["error"]["message"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert events(err)[-2]["signal"] == "SIGINT"


def test_sigterm_lets_a_running_step_finish_within_the_grace_period(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    running = cli(
        tmp_path, "start", "slow_step", "--app", "app:engine", "--input", "1.0"
    ).stdout.strip()
    proc = worker(tmp_path, "--grace-seconds", "20")
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # read until the worker has claimed the execution
        seen.append(json.loads(line))
        if seen[-1]["event"] == "claim":
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    names = [e["event"] for e in seen + events(err)]
    assert names.index("stopping") < names.index("finish") < names.index("stop")
    assert show(tmp_path, running)["result"] == "slept"


@pytest.mark.parametrize(
    ("function", "sig"),
    [("slow_step", signal.SIGTERM), ("slow_sync_step", signal.SIGINT)],
    ids=["async-step", "sync-step-in-a-thread"],
)
def test_a_step_longer_than_the_grace_period_is_released_for_another_worker(
    tmp_path: Path, function: str, sig: signal.Signals
) -> None:
    # The step sleeps far longer than the test waits: the worker must exit without
    # waiting for it (a thread cannot be cancelled) and leave the execution to others.
    (tmp_path / "app.py").write_text(APP)
    running = cli(tmp_path, "start", function, "--app", "app:engine", "--input", "600").stdout
    first = worker(tmp_path, "--grace-seconds", "0.2")
    assert first.stderr is not None
    for line in first.stderr:
        if json.loads(line)["event"] == "claim":
            break
    first.send_signal(sig)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert events(err)[-1]["event"] == "stop"
    assert events(err)[-1]["released_running"] == 1
    conn = sqlite3.connect(tmp_path / "app.db")
    try:
        owner, status = conn.execute("SELECT owner, status FROM executions").fetchone()
    finally:
        conn.close()
    assert (owner, status) == (None, "SUSPENDED")  # released, due now, for any worker
    assert show(tmp_path, running.strip())["status"] == "SUSPENDED"


def test_db_defaults_to_durable_db_env_then_durable_db_in_the_folder(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    env_db = tmp_path / "from-env.db"
    started = cli(
        tmp_path,
        "start",
        "greet",
        "--app",
        "app:engine",
        "--input",
        '{"name": "x"}',
        extra_env={"DURABLE_DB": str(env_db)},
    ).stdout.strip()
    listed = cli(tmp_path, "list", "--json", extra_env={"DURABLE_DB": str(env_db)}).stdout
    assert [e["execution_id"] for e in json.loads(listed)] == [started]
    assert not (tmp_path / "app.db").exists()
    missing = cli(tmp_path, "list", check=False)
    assert missing.returncode == 1
    assert "no database file at durable.db" in missing.stderr


def test_replay_checks_the_history_against_the_current_code(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    done = cli(
        tmp_path, "start", "greet", "--app", "app:engine", "--input", '{"name": "bo"}'
    ).stdout.strip()
    proc = worker(tmp_path, "--grace-seconds", "1")
    try:
        wait_status(tmp_path, done, "SUCCEEDED")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    same = json.loads(cli(tmp_path, "replay", done, "--app", "app:engine", "--json").stdout)
    assert same == {
        "execution_id": done,
        "status": "SUCCEEDED",
        "deterministic": True,
        "result": "hello bo",
        "error": None,
    }
    (tmp_path / "app.py").write_text(APP.replace('name="say"', 'name="shout"'))
    changed = cli(tmp_path, "replay", done, "--app", "app:engine", check=False)
    assert changed.returncode == 1
    assert changed.stderr.startswith("error: NonDeterministicError:") and "shout" in changed.stderr
    as_json = cli(tmp_path, "replay", done, "--app", "app:engine", "--json", check=False)
    assert as_json.returncode == 1
    diverged = json.loads(as_json.stdout)  # a script reading stdout learns why, too
    assert (diverged["execution_id"], diverged["deterministic"]) == (done, False)
    assert "shout" in diverged["divergence"] and diverged["status"] == "SUCCEEDED"


def test_replay_of_a_stopped_execution_stops_where_it_was_stopped(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    napping = cli(
        tmp_path, "start", "sleepy", "--app", "app:engine", "--input", "3600"
    ).stdout.strip()
    proc = worker(tmp_path, "--grace-seconds", "1")
    try:
        wait_status(tmp_path, napping, "SUSPENDED")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    cli(tmp_path, "stop", napping, "--app", "app:engine")
    replayed = cli(tmp_path, "replay", napping, "--app", "app:engine").stdout.strip()
    assert replayed == (
        f"replay of {napping} (STOPPED) matches its history up to where it was stopped"
    )
    data = json.loads(cli(tmp_path, "replay", napping, "--app", "app:engine", "--json").stdout)
    assert (data["deterministic"], data["result"], data["error"]) == (True, None, None)


def test_an_execution_is_found_by_the_name_it_was_started_with(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    named = cli(
        tmp_path, "start", "sleepy", "--app", "app:engine", "--input", "3600", "--name", "nap-1"
    ).stdout.strip()
    cli(tmp_path, "start", "sleepy", "--app", "app:engine", "--input", "60", "--name", "nap-2")
    shown = json.loads(cli(tmp_path, "show", "nap-1", "--db", "app.db", "--json").stdout)
    assert (shown["execution_id"], shown["name"], shown["input"]) == (named, "nap-1", 3600)
    listed = json.loads(cli(tmp_path, "list", "--name", "nap-1", "--db", "app.db", "--json").stdout)
    assert [e["execution_id"] for e in listed] == [named]
    assert json.loads(cli(tmp_path, "history", "nap-1", "--db", "app.db", "--json").stdout) == []
    stopped = json.loads(cli(tmp_path, "stop", "nap-1", "--db", "app.db", "--json").stdout)
    assert (stopped["execution_id"], stopped["status"]) == (named, "STOPPED")
    assert show(tmp_path, named)["status"] == "STOPPED"
    other = [e for e in json.loads(cli(tmp_path, "list", "--db", "app.db", "--json").stdout)]
    assert [(e["name"], e["status"]) for e in other] == [("nap-2", "RUNNING"), ("nap-1", "STOPPED")]
    missing = cli(tmp_path, "show", "nap-3", "--db", "app.db", check=False)
    assert missing.returncode == 1
    assert missing.stderr == "error: ExecutionNotFound: no execution with id or name 'nap-3'\n"


def test_a_database_locked_by_another_process_for_a_while_is_waited_for(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    cli(tmp_path, "start", "greet", "--app", "app:engine", "--input", '{"name": "a"}')
    holder = sqlite3.connect(tmp_path / "app.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held by this test process
    timer = threading.Timer(1.5, holder.execute, args=("COMMIT",))
    timer.start()
    try:
        late = cli(
            tmp_path,
            "start",
            "greet",
            "--app",
            "app:engine",
            "--input",
            '{"name": "b"}',
            check=False,
        )
    finally:
        timer.join()
        holder.close()
    assert late.returncode == 0, late.stderr
    listed = json.loads(cli(tmp_path, "list", "--db", "app.db", "--reverse", "--json").stdout)
    assert [e["input"] for e in listed] == [{"name": "a"}, {"name": "b"}]
