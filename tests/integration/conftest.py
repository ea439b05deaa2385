"""The integration suite runs on both stores: each test that takes the `engine` fixture
and does not read the SQLite file itself (`db_path`) runs once on a file and once on a
fresh PostgreSQL database. With DURABLE_TEST_STORE=postgres every `engine` test runs on
PostgreSQL alone."""

from __future__ import annotations

import os

import pytest

from tests.conftest import STORE_ENV

BOTH = ("sqlite", "postgres")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    if "engine" in names and "db_path" not in names and not os.environ.get(STORE_ENV):
        metafunc.parametrize("store_kind", BOTH)
