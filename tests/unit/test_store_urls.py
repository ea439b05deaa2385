"""Which store a database name picks, and what the PostgreSQL URL's parts mean."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from durable_engine import Engine, PostgresStore, SqliteStore
from durable_engine._store import location, store_for
from durable_engine._store.postgres import parse_url


def test_a_postgres_url_picks_postgres_and_anything_else_sqlite(tmp_path: Path) -> None:
    assert isinstance(store_for("postgresql://app@db.internal/orders"), PostgresStore)
    assert isinstance(store_for("postgres://app@db.internal/orders"), PostgresStore)
    sqlite = store_for("sqlite:///orders.db")
    assert isinstance(sqlite, SqliteStore) and sqlite.path == "orders.db"
    assert location("sqlite:////var/lib/app/orders.db") == "/var/lib/app/orders.db"
    assert isinstance(store_for(str(tmp_path / "x.db")), SqliteStore)
    engine = Engine("sqlite:///orders.db")
    assert engine.path == "orders.db" and isinstance(engine.store, SqliteStore)
    pg = Engine("postgresql://app@db.internal/orders?schema=shop")
    assert isinstance(pg.store, PostgresStore) and pg.store.schema == "shop"


def test_the_schema_comes_out_of_the_url_and_the_rest_goes_to_the_driver() -> None:
    assert parse_url("postgresql://u:pw@h:5433/db?schema=shop&sslmode=require") == (
        "postgresql://u:pw@h:5433/db?sslmode=require",
        "shop",
    )
    assert parse_url("postgresql://u@/db?host=/run/pg") == (
        "postgresql://u@/db?host=/run/pg",
        "durable",
    )
    with pytest.raises(ValueError, match="names no schema"):
        parse_url("postgresql://u@h/db?schema=")
    with pytest.raises(ValueError, match="pool_size"):
        PostgresStore("postgresql://u@h/db", pool_size=0)


def test_an_engine_given_only_a_store_names_its_database() -> None:
    store = PostgresStore("postgresql://u@h/db")
    assert Engine(store=store).path == "postgresql://u@h/db"
    with pytest.raises(TypeError, match="needs a database"):
        Engine()


def test_the_package_imports_without_asyncpg() -> None:
    import subprocess

    code = (
        "import sys; sys.modules['asyncpg'] = None\n"
        "import durable_engine\n"
        "print(durable_engine.PostgresStore.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PostgresStore"
