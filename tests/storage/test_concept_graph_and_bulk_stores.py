"""The concept-graph and bulk-operation stores on both databases: what the services and the
bulk job rely on."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from clarion.storage.base import Page
from clarion.storage.bulk_operations import (
    BULK_OPERATION_JOB,
    CANCELLED,
    IN_PROGRESS,
    SUCCEEDED,
    BulkOperationRecord,
)
from clarion.storage.concept_graph import ConceptLanguageRecord, ConceptRelationRecord
from clarion.storage.errors import Conflict
from clarion.storage.schema import jobs
from clarion.storage.sql import SqlBulkOperationStore, SqlConceptGraphStore
from tests.storage.test_backends import app_pk, backend, engine, url  # noqa: F401 (fixtures)


def test_an_operation_is_stored_with_its_job_and_stops_when_cancelled(
    engine: Engine,  # noqa: F811
    app_pk: int,  # noqa: F811
) -> None:
    store = SqlBulkOperationStore(engine)
    store.create_operations(app_pk, [BulkOperationRecord("op", {"delete_geo": {}}, ("a", "b"))])
    with engine.connect() as db:
        queued = db.execute(select(jobs.c.kind, jobs.c.payload, jobs.c.app_pk)).all()
    assert [tuple(row) for row in queued] == [
        (BULK_OPERATION_JOB, {"app_pk": app_pk, "id": "op"}, app_pk)
    ]
    with pytest.raises(Conflict):
        store.create_operations(app_pk, [BulkOperationRecord("op", {})])

    assert store.record_progress(app_pk, "op", 1, "a")
    found = store.get_operation(app_pk, "op")
    assert found is not None
    assert (found.state, found.processed, found.last_processed_id) == (IN_PROGRESS, 1, "a")
    assert found.input_ids == ("a", "b")

    store.cancel_operations(app_pk, ["op"])
    assert not store.record_progress(app_pk, "op", 2, "b")
    store.finish_operation(app_pk, "op", SUCCEEDED)  # a cancelled operation stays cancelled
    found = store.get_operation(app_pk, "op")
    assert found is not None and (found.state, found.processed) == (CANCELLED, 1)
    store.delete_operations(app_pk, ["op"])
    assert store.get_operation(app_pk, "op") is None
    assert not store.record_progress(app_pk, "op", 2, "b")


def test_translations_are_found_by_name_and_relations_from_both_concepts(
    engine: Engine,  # noqa: F811
    app_pk: int,  # noqa: F811
) -> None:
    store = SqlConceptGraphStore(engine)
    store.add_languages(app_pk, [ConceptLanguageRecord("cat", "fr", "Chat")])
    with pytest.raises(Conflict):
        store.add_languages(app_pk, [ConceptLanguageRecord("cat", "fr", "Minou")])
    assert store.concepts_named(app_pk, "fr", {"CHAT", "chien"}) == {"chat": "cat"}
    assert store.concepts_named(app_pk, "de", {"chat"}) == {}

    store.add_relations(
        app_pk,
        [
            ConceptRelationRecord("r1", "cat", "animal", "hyponym"),
            ConceptRelationRecord("r2", "kitten", "cat", "hyponym"),
        ],
    )
    assert [r.id for r in store.relations_of(app_pk, "cat", Page(1, 10))] == ["r1", "r2"]
    assert [r.id for r in store.relations_of(app_pk, "animal", Page(1, 10))] == ["r1"]
    assert store.delete_relations(app_pk, "animal", ["r1", "r2"]) == ["r1"]
    assert [r.id for r in store.relations_of(app_pk, "cat", Page(1, 10))] == ["r2"]
