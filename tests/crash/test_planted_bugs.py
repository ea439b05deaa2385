"""The crash harness catches the bugs it claims to catch.

Each test runs one short trial whose workers apply a planted bug (`tests.crash.plant`)
and the same trial (same seed and profile) without it, side by side: the planted one
must report a violation of the invariant the bug breaks, the other none.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.crash.cluster import race_problem
from tests.crash.invariants import Outcome
from tests.crash.mix import PLANT_PROFILES as PROFILES
from tests.crash.mix import run_trial
from tests.crash.plant import EXPECTED


def _side_by_side(root: Path, plant: str, seed: int) -> tuple[Outcome, Outcome]:
    planted = dataclasses.replace(PROFILES[plant], plant=plant)
    # The plain twin runs its workers at synchronous=FULL: a FULL trial, too.
    plain = dataclasses.replace(PROFILES[plant], synchronous="FULL")
    with ThreadPoolExecutor(max_workers=2) as pool:
        bad = pool.submit(run_trial, root / "planted", seed, planted)
        good = pool.submit(run_trial, root / "plain", seed, plain)
        return bad.result(), good.result()


@pytest.mark.slow
@pytest.mark.parametrize("plant", list(PROFILES))
def test_the_harness_catches_a_planted_bug_and_passes_without_it(
    tmp_path: Path, plant: str
) -> None:
    bad, good = _side_by_side(tmp_path, plant, seed=1)
    phrase = EXPECTED[plant]
    assert [v for v in bad.violations if phrase in v], bad.violations
    assert good.violations == []
    assert good.full_trials == 1 and bad.full_trials == 0
    if plant != "early-timers":  # the disruptions the plant needs did happen
        assert bad.kills + bad.stops == 2 and good.kills + good.stops == 2


def test_two_answers_to_one_callback_must_be_one_taken_one_refused() -> None:
    refused = "durable-engine: CallbackAlreadyResolved: callback cb was already resolved"
    assert race_problem("cb", [(1, refused), (0, "")]) == (1, "")
    taken_twice, problem = race_problem("cb", [(0, ""), (0, "")])
    assert taken_twice == 0 and "2 answers taken" in problem
    down = "error: StoreError: cannot connect to PostgreSQL at postgresql://..."
    assert race_problem("cb", [(1, down), (0, "")]) == (1, "")  # the other was taken
    assert race_problem("cb", [(1, down), (1, down)]) == (None, "")  # send both again
    assert race_problem("cb", [(1, "Traceback (most recent call last)"), (0, "")])[1] != ""
    assert race_problem("cb", [(1, refused), (1, refused)]) == (
        None,
        "callback cb answered twice at once: 0 answers taken, 2 refused as already "
        "resolved, others: []",
    )
