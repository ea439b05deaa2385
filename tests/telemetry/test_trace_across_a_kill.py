"""A trace that spans a SIGKILL and a resume in another process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")

from tests.crash.harness import ROOT, wait_until


def _spawn(tmp: Path, mode: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.telemetry.otel_app",
            str(tmp / "db"),
            str(tmp / f"spans-{mode}.jsonl"),
            str(tmp / "effects"),
            mode,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _spans(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_runs_before_and_after_a_kill_share_the_executions_trace(tmp_path: Path) -> None:
    effects = tmp_path / "effects"
    first = _spawn(tmp_path, "start")
    wait_until(
        lambda: effects.exists() and "second:start" in effects.read_text().split(),
        "the second step to begin",
        first,
    )
    first.send_signal(signal.SIGKILL)
    first.communicate()
    second = _spawn(tmp_path, "resume")
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert effects.read_text().split() == ["first", "second:start", "second:resume"]

    before = _spans(tmp_path / "spans-start.jsonl")
    after = _spans(tmp_path / "spans-resume.jsonl")
    [start] = [s for s in before if s["name"] == "durable_engine.start traced"]
    assert [s["name"] for s in before if s["name"] != start["name"]] == [
        "durable_engine.step first"  # the run and the second step died with the process
    ]
    [run] = [s for s in after if s["name"] == "durable_engine.run traced"]
    assert [s["name"] for s in after] == ["durable_engine.step second", "durable_engine.run traced"]
    assert {s["trace_id"] for s in before + after} == {start["trace_id"]}
    assert run["parent_span_id"] == start["span_id"]
    assert run["attributes"]["durable_engine.outcome"] == "SUCCEEDED"  # type: ignore[index]
    assert run["attributes"]["durable_engine.taken_from"]  # type: ignore[index]
    for process, spans in (("killed", before), ("resumed", after)):  # shown with -s
        for span in spans:
            print(process, span["trace_id"], span["span_id"], span["parent_span_id"], span["name"])
