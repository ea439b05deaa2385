"""The environment for a pytest run in a subprocess: a run of its own, not a part of this
one (under `pytest -n`, xdist marks each worker's environment as such, and plugins such
as pytest-benchmark read that mark)."""

from __future__ import annotations

import os

__all__ = ["fresh_pytest_env"]


def fresh_pytest_env(**extra: str) -> dict[str, str]:
    """`os.environ` less what this pytest run set for itself, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "PYTEST_ADDOPTS" and not k.startswith("PYTEST_XDIST_")
    }
    env.update(extra)
    return env
