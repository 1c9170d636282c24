"""A service runs on any implementation of its storage Protocol: here ``ConceptsService`` on a
small in-memory ``ConceptStore``, no database at all (the SQL one is the API suite's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status.status_code_pb2 import CONCEPTS_INVALID_REQUEST

from clarion.errors import ApiError, NotFound
from clarion.inference.base import ModelInfo
from clarion.protocol.descriptor import v2_methods
from clarion.services.concepts import ConceptsService
from clarion.services.context import CallContext
from clarion.storage.accounts import AppRecord
from clarion.storage.base import Page
from clarion.storage.concept_graph import ConceptLanguageRecord
from clarion.storage.concepts import ConceptRecord, ConceptStore
from clarion.storage.errors import ConceptsExist

APP = AppRecord(user_id="u", id="a", pk=7)
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeConcepts:
    """``ConceptStore`` in a dict, keyed by app and concept id, in creation order."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, str], ConceptRecord] = {}
        self.counts: dict[str, tuple[int, int]] = {}

    def create_concepts(self, app_pk: int, records: Sequence[ConceptRecord]) -> list[ConceptRecord]:
        taken = sorted(r.id for r in records if (app_pk, r.id) in self.rows)
        if taken:
            raise ConceptsExist(taken)
        created = [replace(r, created_at=CREATED, modified_at=CREATED) for r in records]
        self.rows.update({(app_pk, r.id): r for r in created})
        return created

    def get_concept(self, app_pk: int, concept_id: str) -> ConceptRecord | None:
        return self.rows.get((app_pk, concept_id))

    def list_concepts(
        self, app_pk: int, page: Page, *, name_prefix: str = ""
    ) -> list[ConceptRecord]:
        mine = [
            r
            for (pk, _), r in self.rows.items()
            if pk == app_pk and r.name.lower().startswith(name_prefix)
        ]
        return mine[page.offset : page.offset + page.per_page]

    def update_concept(self, app_pk: int, record: ConceptRecord) -> ConceptRecord:
        self.rows[(app_pk, record.id)] = record
        return record

    def annotated_concept_counts(self, app_pk: int) -> dict[str, tuple[int, int]]:
        return dict(self.counts)


class NoModels:
    def find(self, model_id: str) -> ModelInfo | None:
        return None


class NoTranslations:
    def translations_starting(
        self, app_pk: int, language: str, prefix: str, limit: int
    ) -> list[ConceptLanguageRecord]:
        return []


@pytest.fixture
def store() -> FakeConcepts:
    return FakeConcepts()


@pytest.fixture
def service(store: FakeConcepts) -> ConceptsService:
    typed: ConceptStore = store  # mypy checks the fake against the Protocol
    return ConceptsService(typed, NoModels(), NoTranslations())


def ctx(method: str) -> CallContext:
    return CallContext(v2_methods()[method], "req", principal=None, user_id="u", app=APP)


def concept(concept_id: str, name: str = "") -> resources_pb2.Concept:
    return resources_pb2.Concept(id=concept_id, name=name)


def test_posted_concepts_are_stored_in_the_callers_app_and_read_back(
    service: ConceptsService, store: FakeConcepts
) -> None:
    posted = service.post_concepts(
        service_pb2.PostConceptsRequest(concepts=[concept("cat", "Cat"), concept("dog")]),
        ctx("PostConcepts"),
    )
    assert [(c.id, c.name, c.app_id) for c in posted.concepts] == [
        ("cat", "Cat", "a"),
        ("dog", "dog", "a"),
    ]
    assert set(store.rows) == {(7, "cat"), (7, "dog")}
    got = service.get_concept(service_pb2.GetConceptRequest(concept_id="cat"), ctx("GetConcept"))
    assert got.concept.created_at.ToDatetime(tzinfo=UTC) == CREATED
    listed = service.list_concepts(
        service_pb2.ListConceptsRequest(page=2, per_page=1), ctx("ListConcepts")
    )
    assert [c.id for c in listed.concepts] == ["dog"]


def test_a_taken_id_reported_by_the_store_is_clarifais_concepts_invalid(
    service: ConceptsService,
) -> None:
    request = service_pb2.PostConceptsRequest(concepts=[concept("cat")])
    service.post_concepts(request, ctx("PostConcepts"))
    with pytest.raises(ApiError) as raised:
        service.post_concepts(request, ctx("PostConcepts"))
    assert raised.value.status_code == CONCEPTS_INVALID_REQUEST
    assert "cat" in str(raised.value)


def test_a_patch_renames_and_keeps_what_it_does_not_name(
    service: ConceptsService, store: FakeConcepts
) -> None:
    service.post_concepts(
        service_pb2.PostConceptsRequest(concepts=[concept("cat", "Cat")]), ctx("PostConcepts")
    )
    service.patch_concepts(
        service_pb2.PatchConceptsRequest(action="overwrite", concepts=[concept("cat", "Kitty")]),
        ctx("PatchConcepts"),
    )
    assert store.rows[(7, "cat")] == ConceptRecord(id="cat", name="Kitty", created_at=CREATED)
    with pytest.raises(NotFound):
        service.patch_concepts(
            service_pb2.PatchConceptsRequest(concepts=[concept("owl", "Owl")]),
            ctx("PatchConcepts"),
        )


def test_counts_come_from_the_store_for_the_listed_concepts(
    service: ConceptsService, store: FakeConcepts
) -> None:
    service.post_concepts(
        service_pb2.PostConceptsRequest(concepts=[concept("cat"), concept("dog")]),
        ctx("PostConcepts"),
    )
    store.counts = {"cat": (3, 1)}
    counts = service.get_concept_counts(
        service_pb2.GetConceptCountsRequest(), ctx("GetConceptCounts")
    ).concept_counts
    assert [
        (c.id, c.concept_type_count.positive, c.concept_type_count.negative) for c in counts
    ] == [("cat", 3, 1), ("dog", 0, 0)]
