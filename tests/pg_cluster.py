"""A throwaway PostgreSQL cluster for the tests, and a fresh database per test.

`initdb` into a temporary folder, a Unix socket beside it, no TCP; stopped and deleted
at the end of the session. The server refuses to run as root, so under root (CI) it
runs as the `postgres` user if there is one, else `nobody`. The binaries are found on
PATH, through `pg_config --bindir`, or under `/usr/lib/postgresql/*/bin`.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["Cluster", "find_bindir", "fresh_database", "missing_server", "running_cluster"]

_ids = itertools.count()


def find_bindir() -> Path | None:
    """The folder with `initdb`, `pg_ctl` and `postgres`, or None if there is none."""
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).parent)
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            )
            candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def missing_server(reason: str) -> None:
    """Skip: no PostgreSQL server to test against. Under CI=true that is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and the PostgreSQL tests cannot run: {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Cluster:
    folder: Path
    socket_dir: Path
    bindir: Path
    run_as: str | None
    """The user the server runs as (None: the current user)."""

    def url(self, database: str, **query: str) -> str:
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return f"postgresql://postgres@/{database}?host={self.socket_dir}{extra}"

    def admin_url(self) -> str:
        return self.url("postgres")

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), *args],
            check=True,
            capture_output=True,
            user=self.run_as,
        )

    durable: bool = False
    """Whether the server flushes to disk (fsync) as a production one does."""

    def start(self) -> None:
        options = f"-k {self.socket_dir} -c listen_addresses='' -c max_connections=300"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self.pg_ctl("-o", options, "-l", str(self.folder / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "-w", "stop")


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    missing_server("running as root and there is no postgres or nobody user to run the server")
    return None  # pragma: no cover


@contextlib.contextmanager
def running_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """A started cluster, stopped and deleted on exit (skips when there are no binaries).
    Tests run it without fsync; `durable` keeps it, for figures worth comparing."""
    bindir = find_bindir()
    if bindir is None:
        missing_server(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH, through "
            "pg_config --bindir or under /usr/lib/postgresql/*/bin"
        )
    assert bindir is not None
    user = _server_user()
    folder = Path(tempfile.mkdtemp(prefix="durable-pg-"))
    try:
        if user is not None:
            shutil.chown(folder, user)
        cluster = Cluster(
            folder=folder, socket_dir=folder, bindir=bindir, run_as=user, durable=durable
        )
        initdb = [str(bindir / "initdb"), "-D", str(folder / "data"), "-U", "postgres"]
        subprocess.run(
            [*initdb, "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            user=user,
        )
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                cluster.stop("immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def fresh_database(cluster: Cluster) -> AsyncIterator[str]:
    """A new empty database on `cluster` for one test, dropped afterwards; yields its URL."""
    import asyncpg

    name = f"t{os.getpid()}_{next(_ids)}"
    admin = await asyncpg.connect(cluster.admin_url())
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 STRATEGY FILE_COPY")
    finally:
        await admin.close()
    try:
        yield cluster.url(name)
    finally:
        admin = await asyncpg.connect(cluster.admin_url())
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()
