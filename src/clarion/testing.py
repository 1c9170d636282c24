"""Test helpers users can import too: a real Clarion server on free loopback ports.

with running_server(tmp_path) as server:
    channel = grpc.insecure_channel(server.grpc_target)
    ... metadata=(("authorization", f"Key {server.admin_pat}"),)

The database follows one switch, ``CLARION_TEST_DATABASE``: unset or ``sqlite``, each data
directory gets its SQLite file; ``postgresql`` (the local server, user ``postgres``) or a
``postgresql://`` URL of a database to connect to for administration, and each data directory
gets a fresh PostgreSQL database of its own, dropped when the Python process exits.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clarion.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

TEST_ADMIN_PAT = "clarion-test-admin-pat"
TEST_DATABASE_ENV = "CLARION_TEST_DATABASE"
DEFAULT_POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True, slots=True)
class RunningServer:
    settings: Settings
    grpc_port: int
    http_port: int
    admin_pat: str
    port: int = 0  # the port serving gRPC and HTTP+JSON together, when asked for

    @property
    def shared_url(self) -> str:
        """The shared port's URL: HTTP+JSON there, and gRPC at ``127.0.0.1:port``."""
        scheme = "https" if self.settings.tls_enabled else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        scheme = "https" if self.settings.tls_enabled else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"


@contextmanager
def running_server(data_dir: Path, **settings: Any) -> Iterator[RunningServer]:
    """Serve ``data_dir`` on free ports from a background thread until the block ends."""
    from clarion.server.app import build_server

    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "http_port": 0,
        "grpc_port": 0,
        "data_dir": data_dir,
        "admin_pat": TEST_ADMIN_PAT,
        "shutdown_grace_seconds": 1,
    }
    options.update(settings)
    database_url = fresh_database_url(data_dir)
    if database_url is not None and "database_url" not in settings:
        options["database_url"] = database_url
    config = Settings(**options)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="clarion-test-server", daemon=True)
    thread.start()
    server = build_server(config)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
        admin_pat = config.admin_pat.get_secret_value() if config.admin_pat else ""
        yield RunningServer(config, server.grpc_port, server.http_port, admin_pat, server.port)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def database_under_test() -> str:
    """The backend tests run on: ``sqlite`` (the default) or ``postgresql``."""
    chosen = os.environ.get(TEST_DATABASE_ENV, "").strip() or "sqlite"
    if chosen.startswith("postgresql"):
        return "postgresql"
    if chosen != "sqlite":
        raise ValueError(f"{TEST_DATABASE_ENV}={chosen!r}: use sqlite, postgresql or a URL")
    return chosen


def fresh_database_url(data_dir: Path) -> str | None:
    """The database URL for a test server on ``data_dir``: None for SQLite in the directory,
    else a PostgreSQL database made for this directory (the same one on every call)."""
    if database_under_test() != "postgresql":
        return None
    return _postgres_databases.url_for(Path(data_dir))


def database_url_for(data_dir: Path) -> str:
    """The URL a test server on ``data_dir`` uses, the SQLite file's included (to inspect it)."""
    return fresh_database_url(data_dir) or f"sqlite:///{Path(data_dir) / 'clarion.db'}"


class _PostgresDatabases:
    """Fresh databases on a PostgreSQL server, one per data directory, dropped at exit."""

    def __init__(self) -> None:
        self._urls: dict[Path, str] = {}
        self._lock = threading.Lock()

    def url_for(self, data_dir: Path) -> str:
        key = data_dir.resolve()
        with self._lock:
            if key not in self._urls:
                if not self._urls:
                    atexit.register(self.drop_all)
                    self._drop_abandoned()
                self._urls[key] = self._create()
            return self._urls[key]

    def drop_all(self) -> None:
        with self._lock:
            names, self._urls = [_database_name(url) for url in self._urls.values()], {}
        if names:
            self._administer([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names])

    def _drop_abandoned(self) -> None:
        """Drop the databases of earlier runs on this machine whose process is gone (killed
        before its exit handler ran)."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self._admin_url())
        try:
            with engine.connect() as db:
                names = db.execute(
                    text("SELECT datname FROM pg_database WHERE datname LIKE 'clarion_test_%'")
                ).scalars()
                abandoned = [name for name in names if not _process_alive(name)]
        finally:
            engine.dispose()
        if abandoned:
            self._administer(
                [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in abandoned]
            )

    def _create(self) -> str:
        name = f"clarion_test_{os.getpid()}_{secrets.token_hex(4)}"
        self._administer([f'CREATE DATABASE "{name}"'])
        return self._admin_url().set(database=name).render_as_string(hide_password=False)

    def _administer(self, statements: list[str]) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self._admin_url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as db:
                for statement in statements:
                    db.execute(text(statement))
        finally:
            engine.dispose()

    @staticmethod
    def _admin_url() -> URL:
        from sqlalchemy.engine import make_url

        chosen = os.environ.get(TEST_DATABASE_ENV, "").strip()
        url = chosen if chosen.startswith("postgresql://") else DEFAULT_POSTGRES_ADMIN_URL
        return make_url(url).set(drivername="postgresql+psycopg")


def _process_alive(database: str) -> bool:
    """Whether the process named in ``clarion_test_<pid>_<random>`` still runs here."""
    pid = database.split("_")[2] if database.count("_") >= 3 else ""
    if not pid.isdigit():
        return True  # not named by this helper: leave it alone
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _database_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return str(make_url(url).database)


_postgres_databases = _PostgresDatabases()
