"""Concepts' languages, knowledge graphs and concept relations."""

from __future__ import annotations

from collections.abc import Mapping

from clarifai_grpc.grpc.api import resources_pb2

from clarion.services.messages.concepts import concept_to_proto
from clarion.services.messages.values import PRIVATE, visibility
from clarion.storage.accounts import AppRecord
from clarion.storage.concept_graph import (
    REVERSED,
    ConceptLanguageRecord,
    ConceptRelationRecord,
    KnowledgeGraphRecord,
)
from clarion.storage.concepts import ConceptRecord


def concept_language_to_proto(record: ConceptLanguageRecord) -> resources_pb2.ConceptLanguage:
    return resources_pb2.ConceptLanguage(
        id=record.language, name=record.name, definition=record.definition
    )


def knowledge_graph_to_proto(record: KnowledgeGraphRecord) -> resources_pb2.KnowledgeGraph:
    return resources_pb2.KnowledgeGraph(
        id=record.id,
        name=record.name,
        description=record.description,
        examples_app_id=record.examples_app_id,
        sampled_examples_app_id=record.sampled_examples_app_id,
    )


def concept_relation_to_proto(
    record: ConceptRelationRecord,
    seen_from: str,
    concepts: Mapping[str, ConceptRecord],
    app: AppRecord,
) -> resources_pb2.ConceptRelation:
    """The relation as the concept ``seen_from`` has it: that concept is always the subject
    (``dog hyponym animal`` reads ``animal hypernym dog`` from ``animal``)."""
    subject, other, predicate = record.subject_id, record.object_id, record.predicate
    if seen_from != subject:
        subject, other = other, subject
        predicate = REVERSED.get(predicate, predicate)
    return resources_pb2.ConceptRelation(
        id=record.id,
        subject_concept=_concept(subject, concepts, app),
        object_concept=_concept(other, concepts, app),
        predicate=predicate,
        knowledge_graph_id=record.knowledge_graph_id,
        visibility=visibility(PRIVATE),
    )


def _concept(
    concept_id: str, concepts: Mapping[str, ConceptRecord], app: AppRecord
) -> resources_pb2.Concept:
    found = concepts.get(concept_id)
    if found is None:  # deleted since: the relation still names it
        return resources_pb2.Concept(id=concept_id, app_id=app.id, user_id=app.user_id)
    return concept_to_proto(found, app)
