"""The credential cache in front of the key and app tables, on a real SQLite store."""

from __future__ import annotations

from dataclasses import replace

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from sqlalchemy import Engine

from clarion.errors import Unauthenticated
from clarion.protocol.descriptor import MethodSpec, v2_methods
from clarion.server.auth import Authenticator, CredentialCache
from clarion.services.apps import PUBLIC
from clarion.services.tokens import hash_token
from clarion.storage.accounts import PERSONAL_ACCESS_TOKEN, AppRecord, KeyRecord, UserRecord
from clarion.storage.collaborators import CollaboratorRecord
from clarion.storage.sql import SqlAccountStore
from tests.unit.conftest import Clock


@pytest.fixture
def store(photos_engine: Engine) -> SqlAccountStore:
    return SqlAccountStore(photos_engine)


def pat(token_hash: str) -> KeyRecord:
    return KeyRecord("ref-" + token_hash, token_hash, "ana", PERSONAL_ACCESS_TOKEN)


def test_a_found_key_is_trusted_until_its_time_runs_out(store: SqlAccountStore) -> None:
    clock = Clock()
    cache = CredentialCache(store, ttl_seconds=2.0, clock=clock)
    store.create_key(pat("h1"))

    assert cache.find_key("h1") is not None
    store.delete_key("ana", "ref-h1")  # as another process would
    assert cache.find_key("h1") is not None
    clock.now += 2.0
    assert cache.find_key("h1") is None


def test_a_missing_key_is_not_remembered(store: SqlAccountStore) -> None:
    cache = CredentialCache(store, ttl_seconds=60.0, clock=Clock())

    assert cache.find_key("h2") is None
    store.create_key(pat("h2"))  # by the CLI, say
    assert cache.find_key("h2") is not None


def test_forget_drops_keys_and_apps(store: SqlAccountStore) -> None:
    cache = CredentialCache(store, ttl_seconds=60.0, clock=Clock())
    store.create_key(pat("h3"))
    assert cache.find_key("h3") is not None
    assert cache.get_app("ana", "photos") is not None

    store.delete_key("ana", "ref-h3")
    store.delete_app("ana", "photos")
    cache.forget()

    assert cache.find_key("h3") is None
    assert cache.get_app("ana", "photos") is None


def test_no_time_to_live_reads_every_time(store: SqlAccountStore) -> None:
    cache = CredentialCache(store, ttl_seconds=0.0, clock=Clock())
    store.create_key(pat("h4"))
    assert cache.find_key("h4") is not None

    store.delete_key("ana", "ref-h4")
    assert cache.find_key("h4") is None


def predict_call() -> tuple[MethodSpec, service_pb2.PostModelOutputsRequest]:
    request = service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="ana", app_id="photos")
    )
    return v2_methods()["PostModelOutputs"], request


def test_authenticate_cached_answers_only_from_the_cache(store: SqlAccountStore) -> None:
    """The dispatcher authenticates cached credentials on the event loop: that path must not
    read the database, and must refuse what the full path refuses."""
    clock = Clock()
    authenticator = Authenticator(store, cache_seconds=2.0, clock=clock)
    store.create_key(replace(pat(hash_token("t1")), scopes=("All",)))
    method, request = predict_call()
    metadata = {"authorization": "Key t1"}

    assert authenticator.authenticate_cached(method, request, metadata, "r1") is None
    authenticator.authenticate(method, request, metadata, "r2")  # reads both, caches both
    ctx = authenticator.authenticate_cached(method, request, metadata, "r3")
    assert ctx is not None and ctx.app is not None and ctx.app.id == "photos"

    other = service_pb2.PostModelOutputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="ana", app_id="uncached")
    )
    assert authenticator.authenticate_cached(method, other, metadata, "r4") is None
    with pytest.raises(Unauthenticated):  # a token never cached is never trusted
        authenticator.authenticate(method, request, {"authorization": "Key t2"}, "r5")
    assert (
        authenticator.authenticate_cached(method, request, {"authorization": "Key t2"}, "r6")
        is None
    )

    clock.now += 2.0
    assert authenticator.authenticate_cached(method, request, metadata, "r7") is None


class Collaborators:
    """A hand-written collaborator table that counts its reads."""

    def __init__(self) -> None:
        self.records: dict[tuple[int, str], CollaboratorRecord] = {}
        self.reads = 0

    def get_collaborator(self, app_pk: int, user_id: str) -> CollaboratorRecord | None:
        self.reads += 1
        return self.records.get((app_pk, user_id))


PUBLIC_APP = AppRecord("ana", "photos", visibility=PUBLIC, pk=7)


def test_a_public_reads_absent_collaborator_is_kept_until_its_time_runs_out(
    store: SqlAccountStore,
) -> None:
    clock, table = Clock(), Collaborators()
    cache = CredentialCache(store, ttl_seconds=2.0, clock=clock, collaborators=table)

    assert cache.collaborator_reading_public(PUBLIC_APP, "bo") is None
    table.records[(7, "bo")] = CollaboratorRecord("bo", scopes=("Inputs_Get",))
    assert cache.collaborator_reading_public(PUBLIC_APP, "bo") is None  # as remembered
    assert table.reads == 1
    assert cache.get_collaborator(PUBLIC_APP, "bo") is not None  # other paths read each time
    clock.now += 2.0
    assert cache.collaborator_reading_public(PUBLIC_APP, "bo") is not None


def test_a_found_collaborator_is_never_kept_and_forget_drops_absences(
    store: SqlAccountStore,
) -> None:
    table = Collaborators()
    cache = CredentialCache(store, ttl_seconds=60.0, clock=Clock(), collaborators=table)
    table.records[(7, "bo")] = CollaboratorRecord("bo")

    assert cache.collaborator_reading_public(PUBLIC_APP, "bo") is not None
    del table.records[(7, "bo")]  # removed: no longer narrowed, at once
    assert cache.collaborator_reading_public(PUBLIC_APP, "bo") is None
    table.records[(7, "bo")] = CollaboratorRecord("bo")  # added again, through this process
    cache.forget()
    assert cache.collaborator_reading_public(PUBLIC_APP, "bo") is not None


def test_a_public_read_by_a_stranger_authenticates_from_the_cache(
    store: SqlAccountStore,
) -> None:
    """A prediction on someone else's public app (``clarifai/main``) by a user who is no
    collaborator there runs its authentication on the event loop once the absence is known,
    with no thread hand-off or query; a write to that app still reads the table each time."""
    photos = store.get_app("ana", "photos")
    assert photos is not None
    store.update_app(replace(photos, visibility=PUBLIC))
    store.create_user(UserRecord("bo"))
    store.create_key(
        KeyRecord("ref-bo", hash_token("tb"), "bo", PERSONAL_ACCESS_TOKEN, scopes=("All",))
    )
    table = Collaborators()
    authenticator = Authenticator(store, cache_seconds=60.0, clock=Clock(), collaborators=table)
    method, request = predict_call()
    metadata = {"authorization": "Key tb"}

    assert authenticator.authenticate_cached(method, request, metadata, "r1") is None
    authenticator.authenticate(method, request, metadata, "r2")
    reads = table.reads
    ctx = authenticator.authenticate_cached(method, request, metadata, "r3")
    assert ctx is not None and ctx.caller.user_id == "bo"
    assert table.reads == reads
