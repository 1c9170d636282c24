"""Concepts: an app's, a model's (built-in or custom), and those a model predicted."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from clarifai_grpc.grpc.api import resources_pb2

from clarion.inference.base import ConceptScore
from clarion.services.messages.values import struct, timestamp
from clarion.storage.accounts import AppRecord
from clarion.storage.concepts import ConceptRecord


class NamedConcept(Protocol):
    """A concept a model knows: a custom model's ``ModelConcept``, a built-in one's score."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...


def concept_to_proto(concept: ConceptRecord, app: AppRecord) -> resources_pb2.Concept:
    return resources_pb2.Concept(
        id=concept.id,
        name=concept.name,
        value=1.0,
        language=concept.language,
        app_id=app.id,
        user_id=app.user_id,
        created_at=timestamp(concept.created_at),
        metadata=struct(concept.metadata),
    )


def model_concepts_to_proto(
    concepts: Iterable[NamedConcept], app_id: str, user_id: str, created_at: datetime | None
) -> list[resources_pb2.Concept]:
    """A model's concepts, in the app that owns the model; ``created_at`` (the model's)
    because ``clarifai==2.6.2`` reads every concept's when it builds a model from a response."""
    when = timestamp(created_at)
    return [
        resources_pb2.Concept(
            id=c.id, name=c.name, value=1.0, app_id=app_id, user_id=user_id, created_at=when
        )
        for c in concepts
    ]


def add_concepts(
    data: resources_pb2.Data, scores: Iterable[ConceptScore], app_id: str = ""
) -> None:
    """Append ``scores`` to ``data.concepts``, each naming ``app_id`` where one is given."""
    # add() builds each message in place; extend() would build it, then copy it (twice the
    # time: 21 against 10 µs for twenty concepts).
    add_concept = data.concepts.add
    for concept in scores:
        add_concept(id=concept.id, name=concept.name, value=concept.value, app_id=app_id)
