"""Without PostgreSQL server binaries its tests skip, saying why; under CI=true they fail."""

from __future__ import annotations

import pytest
from _pytest.outcomes import Failed, Skipped

from tests import pg_cluster


@pytest.mark.parametrize(("ci", "outcome"), [("", Skipped), ("true", Failed)])
def test_missing_server_binaries(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(pg_cluster, "find_bindir", lambda: None)
    monkeypatch.setenv("CI", ci)
    with (
        pytest.raises(outcome, match="no PostgreSQL server binaries"),
        pg_cluster.running_cluster(),
    ):
        pass  # pragma: no cover - never entered
