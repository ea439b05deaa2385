"""The approval and job-polling examples, run as a user would from two terminals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def example(cwd: Path, name: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / name), *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def next_command(proc: subprocess.Popen[str], verb: str) -> list[str]:
    """Read the waiting process's output until it prints how to answer."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if f"human_approval.py {verb} " in line:
            return line.split()[2:4]
    raise AssertionError(f"the example ended without asking: {proc.communicate()}")


def answer(cwd: Path, verb: str, callback_id: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "human_approval.py"), verb, callback_id],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_manager_approves_from_a_second_terminal(tmp_path: Path) -> None:
    waiting = example(tmp_path, "human_approval.py", "--amount", "900")
    verb, callback_id = next_command(waiting, "approve")
    assert answer(tmp_path, verb, callback_id).strip() == "approved"
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert "'approved': True, 'by': 'manager'" in out


def test_late_manager_escalates_to_the_director_who_rejects(tmp_path: Path) -> None:
    waiting = example(
        tmp_path, "human_approval.py", "--timeout", "0.5", "--escalation-timeout", "120"
    )
    _, manager_id = next_command(waiting, "reject")
    _, director_id = next_command(waiting, "reject")  # the manager's half second passed
    assert director_id != manager_id
    late = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "human_approval.py"), "approve", manager_id],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert late.returncode == 1
    assert late.stderr.startswith("cannot answer: CallbackNotPending:")  # one line, no traceback
    assert len(late.stderr.strip().splitlines()) == 1
    answer(tmp_path, "reject", director_id)
    out, err = waiting.communicate(timeout=60)
    assert "'approved': False, 'by': 'director'" in out, err


def test_job_polling_runs_until_done(tmp_path: Path) -> None:
    proc = example(tmp_path, "job_polling.py", "1")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    polls = [line for line in out.splitlines() if line.startswith("poll ")]
    assert polls[-1].endswith("100%") and len(polls) >= 2
    assert "'state': 'DONE'" in out


def test_job_polling_killed_and_restarted_keeps_polling_the_same_job(tmp_path: Path) -> None:
    first = example(tmp_path, "job_polling.py", "3", "nightly")
    assert first.stdout is not None
    submitted = first.stdout.readline().split()
    assert submitted[0] == "submitted"
    for line in first.stdout:  # killed once it has polled: the job is under way
        if line.startswith("poll "):
            break
    first.kill()
    first.communicate(timeout=60)
    again = example(tmp_path, "job_polling.py", "3", "nightly")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert "submitted" not in out  # the job was not submitted a second time
    assert f"'job_id': '{submitted[1]}'" in out and "'state': 'DONE'" in out
