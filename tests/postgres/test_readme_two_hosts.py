"""The README's walk-through of two workers on one PostgreSQL database runs as written:
its app saved as the file it names, its commands run by bash against a throwaway
cluster (the URL it shows replaced by the cluster's), and each execution it starts
ends with the result the README says, run once, by one of the two workers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.samples import ROOT, samples_in
from tests.pg_cluster import Cluster

MARKER = "<!-- walk-through: two workers on one PostgreSQL database -->"


def _walk_through() -> tuple[str, str, list[str]]:
    """The app's code, the URL the commands name, and the commands (`$ ` lines)."""
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start = text.index(MARKER)
    block = re.search(r"```console\n(.*?)^```", text[start:], re.S | re.M)
    assert block is not None, "the walk-through's console block"
    commands = [line[2:] for line in block.group(1).splitlines() if line.startswith("$ ")]
    [app] = [s.code for s in samples_in(readme) if "greeter.db" in s.code]
    url = re.search(r"DURABLE_ENGINE_DB=(\S+)", commands[0])
    assert url is not None
    return app, url.group(1), commands


@pytest.mark.timeout(300)
def test_the_readme_walk_through_runs_two_workers_on_one_database(
    postgres_url: str, postgres_cluster: Cluster, tmp_path: Path
) -> None:
    app, shown_url, commands = _walk_through()
    assert app.count("greeter") == 1 and "greeter:engine" in commands[1]
    (tmp_path / "greeter.py").write_text(app)
    bin_dir = tmp_path / "bin"  # `durable-engine`, as `pip install` makes it
    bin_dir.mkdir()
    (bin_dir / "durable-engine").write_text(
        f'#!/bin/sh\nexec {sys.executable} -m durable_engine "$@"\n'
    )
    (bin_dir / "durable-engine").chmod(0o755)
    script = "\n".join(
        [
            "set -e",
            *(c.replace(shown_url, postgres_url) for c in commands),
            # Its own addition: the ids of both executions, then the workers stopped.
            "durable-engine list --app greeter:engine --json > listed.json",
            "kill -TERM $(jobs -p)",
            "wait",
        ]
    )
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), os.environ["PATH"]]),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("DURABLE_ENGINE_DB", None)
    env.pop("DURABLE_DB", None)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # `show ann` printed the result the README promises.
    assert re.search(r'result\s+"hello ann, from host-[ab]"', done.stdout), done.stdout
    listed = json.loads((tmp_path / "listed.json").read_text())
    results = sorted((e["name"], e["status"], e["result"]) for e in listed)
    assert [(n, s) for n, s, _ in results] == [("ann", "SUCCEEDED"), ("bob", "SUCCEEDED")]
    assert all(re.fullmatch(rf"hello {n}, from host-[ab]", r) for n, _, r in results), results
    # Both workers served (each wrote its start line), and each execution was claimed once.
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert {e["worker"] for e in events if e["event"] == "start"} == {"host-a", "host-b"}
    claims = sorted(e["execution_id"] for e in events if e["event"] == "claim")
    assert claims == sorted(e["execution_id"] for e in listed)
