"""The credential cache in front of the key and app tables, on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clarion.server.auth import CredentialCache
from clarion.storage.base import PERSONAL_ACCESS_TOKEN, AppRecord, KeyRecord, UserRecord
from clarion.storage.engine import create_db_engine, migrate
from clarion.storage.sql import SqlStore


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    store = SqlStore(engine)
    store.create_user(UserRecord("ana"))
    store.create_apps([AppRecord("ana", "photos")])
    yield store
    store.close()


def pat(token_hash: str) -> KeyRecord:
    return KeyRecord("ref-" + token_hash, token_hash, "ana", PERSONAL_ACCESS_TOKEN)


def test_a_found_key_is_trusted_until_its_time_runs_out(store: SqlStore) -> None:
    clock = Clock()
    cache = CredentialCache(store, ttl_seconds=2.0, clock=clock)
    store.create_key(pat("h1"))

    assert cache.find_key("h1") is not None
    store.delete_key("ana", "ref-h1")  # as another process would
    assert cache.find_key("h1") is not None
    clock.now += 2.0
    assert cache.find_key("h1") is None


def test_a_missing_key_is_not_remembered(store: SqlStore) -> None:
    cache = CredentialCache(store, ttl_seconds=60.0, clock=Clock())

    assert cache.find_key("h2") is None
    store.create_key(pat("h2"))  # by the CLI, say
    assert cache.find_key("h2") is not None


def test_forget_drops_keys_and_apps(store: SqlStore) -> None:
    cache = CredentialCache(store, ttl_seconds=60.0, clock=Clock())
    store.create_key(pat("h3"))
    assert cache.find_key("h3") is not None
    assert cache.get_app("ana", "photos") is not None

    store.delete_key("ana", "ref-h3")
    store.delete_app("ana", "photos")
    cache.forget()

    assert cache.find_key("h3") is None
    assert cache.get_app("ana", "photos") is None


def test_no_time_to_live_reads_every_time(store: SqlStore) -> None:
    cache = CredentialCache(store, ttl_seconds=0.0, clock=Clock())
    store.create_key(pat("h4"))
    assert cache.find_key("h4") is not None

    store.delete_key("ana", "ref-h4")
    assert cache.find_key("h4") is None
