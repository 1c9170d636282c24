"""What several unit tests share: a clock moved by hand, and a SQLite database with one app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from clarion.storage.accounts import AppRecord, UserRecord
from clarion.storage.engine import create_db_engine, migrate
from clarion.storage.sql import SqlAccountStore


class Clock:
    """A ``time.monotonic`` stand-in that moves only when a test moves ``now``."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def photos_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database holding user ``ana`` and her app ``photos``."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    store = SqlAccountStore(engine)
    store.create_user(UserRecord("ana"))
    store.create_apps([AppRecord("ana", "photos")])
    yield engine
    engine.dispose()
