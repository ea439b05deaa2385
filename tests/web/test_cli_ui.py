"""`durable-engine ui`: its arguments and errors, as a user types them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cli.helpers import cli, env


def test_bad_ports_are_usage_errors(tmp_path: Path) -> None:
    for port in ("0", "70000", "http"):
        proc = cli(tmp_path, "ui", "--db", "app.db", "--port", port, check=False)
        assert proc.returncode == 2 and "--port" in proc.stderr


def test_a_missing_database_is_one_line_on_stderr(tmp_path: Path) -> None:
    proc = cli(tmp_path, "ui", "--db", "none.db", check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: no database file at none.db")
    assert not (tmp_path / "none.db").exists()  # looking creates nothing


def test_without_the_web_extra_it_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "app.db").write_bytes(b"")
    hide = (
        "import sys; sys.modules['starlette'] = None; "
        "from durable_engine._cli import main; sys.exit(main(['ui', '--db', 'app.db']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", hide], cwd=tmp_path, env=env(), capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: durable_engine.web needs the `web` extra")
    assert 'pip install "durable-engine[web]"' in proc.stderr
