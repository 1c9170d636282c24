"""Concepts' languages (``GetConceptLanguage``, ``List/Post/PatchConceptLanguages``), knowledge
graphs (``List/PostKnowledgeGraphs``) and relations (``List/Post/DeleteConceptRelations``).

A concept's own name counts as its translation in its own language, so listing a concept's
languages always shows it; a translation stored for that language takes its place.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.errors import AlreadyExists, InvalidArgument, NotFound
from clarion.services.base import HandlerTable, app_pk, check_id, require_app
from clarion.services.context import CallContext
from clarion.services.messages.concept_graph import (
    concept_language_to_proto,
    concept_relation_to_proto,
    knowledge_graph_to_proto,
)
from clarion.services.paging import page_of
from clarion.storage.accounts import AppRecord
from clarion.storage.concept_graph import (
    PREDICATES,
    ConceptGraphStore,
    ConceptLanguageRecord,
    ConceptRelationRecord,
    KnowledgeGraphRecord,
)
from clarion.storage.concepts import ConceptRecord, ConceptStore
from clarion.storage.errors import Conflict

_MAX_LANGUAGE_LENGTH = 16
_MAX_NAME_LENGTH = 255


class ConceptGraphService:
    def __init__(self, concepts: ConceptStore, graph: ConceptGraphStore) -> None:
        self._concepts = concepts
        self._graph = graph

    def handlers(self) -> HandlerTable:
        return {
            "GetConceptLanguage": self.get_concept_language,
            "ListConceptLanguages": self.list_concept_languages,
            "PostConceptLanguages": self.post_concept_languages,
            "PatchConceptLanguages": self.patch_concept_languages,
            "ListKnowledgeGraphs": self.list_knowledge_graphs,
            "PostKnowledgeGraphs": self.post_knowledge_graphs,
            "ListConceptRelations": self.list_concept_relations,
            "PostConceptRelations": self.post_concept_relations,
            "DeleteConceptRelations": self.delete_concept_relations,
        }

    # languages

    def get_concept_language(
        self, request: service_pb2.GetConceptLanguageRequest, ctx: CallContext
    ) -> service_pb2.SingleConceptLanguageResponse:
        app = require_app(ctx)
        languages = self._languages(app, self._concept(app, request.concept_id))
        found = languages.get(request.language)
        if found is None:
            raise NotFound(
                "concept language",
                f"{request.concept_id}/{request.language}",
                details="PostConceptLanguages adds a concept's name in another language",
            )
        return service_pb2.SingleConceptLanguageResponse(
            concept_language=concept_language_to_proto(found)
        )

    def list_concept_languages(
        self, request: service_pb2.ListConceptLanguagesRequest, ctx: CallContext
    ) -> service_pb2.MultiConceptLanguageResponse:
        app = require_app(ctx)
        page = page_of(request.page, request.per_page)
        languages = list(self._languages(app, self._concept(app, request.concept_id)).values())
        return service_pb2.MultiConceptLanguageResponse(
            concept_languages=[
                concept_language_to_proto(record)
                for record in languages[page.offset : page.offset + page.per_page]
            ]
        )

    def post_concept_languages(
        self, request: service_pb2.PostConceptLanguagesRequest, ctx: CallContext
    ) -> service_pb2.MultiConceptLanguageResponse:
        app = require_app(ctx)
        concept = self._concept(app, request.concept_id)
        records = _language_records(concept.id, request.concept_languages)
        existing = self._languages(app, concept)
        for record in records:
            if record.language in existing:
                # PatchConceptLanguages changes an existing one.
                raise AlreadyExists("concept language", f"{concept.id}/{record.language}")
        try:
            stored = self._graph.add_languages(app_pk(app), records)
        except Conflict as exc:  # added by another call since the check
            raise AlreadyExists("concept language", concept.id) from exc
        return service_pb2.MultiConceptLanguageResponse(
            concept_languages=[concept_language_to_proto(r) for r in stored]
        )

    def patch_concept_languages(
        self, request: service_pb2.PatchConceptLanguagesRequest, ctx: CallContext
    ) -> service_pb2.MultiConceptLanguageResponse:
        """``overwrite`` (the default) replaces the name and the definition; ``merge`` keeps
        what the request leaves empty. A concept's own language is patched on the concept."""
        app = require_app(ctx)
        if request.action not in ("", "overwrite", "merge"):
            raise InvalidArgument(f"Unknown action '{request.action}': use overwrite or merge")
        concept = self._concept(app, request.concept_id)
        stored = {r.language: r for r in self._graph.languages_of(app_pk(app), concept.id)}
        patched = []
        for record in _language_records(concept.id, request.concept_languages, merging=True):
            current = stored.get(record.language)
            if current is None:
                raise NotFound(
                    "concept language",
                    f"{concept.id}/{record.language}",
                    details="PostConceptLanguages adds it (a concept's own language is "
                    "changed with PatchConcepts)",
                )
            if request.action == "merge":
                record = ConceptLanguageRecord(
                    concept.id,
                    record.language,
                    record.name or current.name,
                    record.definition or current.definition,
                )
            elif not record.name:
                raise InvalidArgument("Each concept language needs a name when overwritten")
            patched.append(record)
        updated = self._graph.update_languages(app_pk(app), patched)
        return service_pb2.MultiConceptLanguageResponse(
            concept_languages=[concept_language_to_proto(r) for r in updated]
        )

    def _languages(
        self, app: AppRecord, concept: ConceptRecord
    ) -> dict[str, ConceptLanguageRecord]:
        own = ConceptLanguageRecord(concept.id, concept.language, concept.name)
        stored = {r.language: r for r in self._graph.languages_of(app_pk(app), concept.id)}
        return {own.language: own, **stored}

    def _concept(self, app: AppRecord, concept_id: str) -> ConceptRecord:
        if not concept_id:
            raise InvalidArgument("This method needs a concept_id")
        found = self._concepts.get_concept(app_pk(app), concept_id)
        if found is None:
            raise NotFound("concept", concept_id)
        return found

    # knowledge graphs

    def list_knowledge_graphs(
        self, request: service_pb2.ListKnowledgeGraphsRequest, ctx: CallContext
    ) -> service_pb2.MultiKnowledgeGraphResponse:
        app = require_app(ctx)
        return service_pb2.MultiKnowledgeGraphResponse(
            knowledge_graphs=[
                knowledge_graph_to_proto(r) for r in self._graph.list_knowledge_graphs(app_pk(app))
            ]
        )

    def post_knowledge_graphs(
        self, request: service_pb2.PostKnowledgeGraphsRequest, ctx: CallContext
    ) -> service_pb2.MultiKnowledgeGraphResponse:
        app = require_app(ctx)
        if not request.knowledge_graphs:
            raise InvalidArgument("PostKnowledgeGraphs needs at least one knowledge graph")
        records = [_graph_record(graph) for graph in request.knowledge_graphs]
        taken = {g.id for g in self._graph.list_knowledge_graphs(app_pk(app))}
        for record in records:
            if record.id in taken:
                raise AlreadyExists("knowledge graph", record.id)
            taken.add(record.id)
        try:
            stored = self._graph.add_knowledge_graphs(app_pk(app), records)
        except Conflict as exc:
            raise AlreadyExists("knowledge graph", records[0].id) from exc
        return service_pb2.MultiKnowledgeGraphResponse(
            knowledge_graphs=[knowledge_graph_to_proto(r) for r in stored]
        )

    # relations

    def list_concept_relations(
        self, request: service_pb2.ListConceptRelationsRequest, ctx: CallContext
    ) -> service_pb2.MultiConceptRelationResponse:
        """The concept's relations, each with the concept as its subject (without a
        concept_id: all the app's, as posted); ``predicate`` keeps those that say so from
        that side."""
        app = require_app(ctx)
        seen_from = self._concept(app, request.concept_id).id if request.concept_id else ""
        if request.predicate and request.predicate not in PREDICATES:
            raise InvalidArgument(_predicate_rule(request.predicate))
        page = page_of(request.page, request.per_page)
        graph = request.knowledge_graph_id or None
        found = self._graph.relations_of(
            app_pk(app),
            seen_from,
            page,
            knowledge_graph_id=graph,
            predicate=request.predicate or None,
        )
        named = self._named(app, found)
        return service_pb2.MultiConceptRelationResponse(
            concept_relations=[
                concept_relation_to_proto(r, seen_from or r.subject_id, named, app) for r in found
            ]
        )

    def post_concept_relations(
        self, request: service_pb2.PostConceptRelationsRequest, ctx: CallContext
    ) -> service_pb2.MultiConceptRelationResponse:
        app = require_app(ctx)
        subject = self._concept(app, request.concept_id)
        if not request.concept_relations:
            raise InvalidArgument("PostConceptRelations needs at least one concept relation")
        graphs = {g.id for g in self._graph.list_knowledge_graphs(app_pk(app))}
        records = [
            self._relation_record(app, subject, relation, graphs)
            for relation in request.concept_relations
        ]
        try:
            stored = self._graph.add_relations(app_pk(app), records)
        except Conflict as exc:
            raise AlreadyExists("concept relation", records[0].id) from exc
        named = self._named(app, stored)
        return service_pb2.MultiConceptRelationResponse(
            concept_relations=[concept_relation_to_proto(r, subject.id, named, app) for r in stored]
        )

    def delete_concept_relations(
        self, request: service_pb2.DeleteConceptRelationsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        concept = self._concept(app, request.concept_id)
        if not request.ids:
            raise InvalidArgument("DeleteConceptRelations needs the ids of the relations")
        deleted = set(self._graph.delete_relations(app_pk(app), concept.id, list(request.ids)))
        missing = [i for i in request.ids if i not in deleted]
        if missing:
            raise NotFound(
                "concept relation",
                ", ".join(missing),
                details=f"Not a relation of concept '{concept.id}'; the others were deleted",
            )
        return status_pb2.BaseResponse()

    def _relation_record(
        self,
        app: AppRecord,
        subject: ConceptRecord,
        relation: resources_pb2.ConceptRelation,
        graphs: set[str],
    ) -> ConceptRelationRecord:
        if relation.predicate not in PREDICATES:
            raise InvalidArgument(_predicate_rule(relation.predicate))
        object_id = relation.object_concept.id
        if not object_id:
            raise InvalidArgument("Each concept relation needs object_concept.id")
        if object_id == subject.id:
            raise InvalidArgument(f"Concept '{subject.id}' cannot be related to itself")
        self._concept(app, object_id)
        if relation.knowledge_graph_id and relation.knowledge_graph_id not in graphs:
            raise NotFound(
                "knowledge graph",
                relation.knowledge_graph_id,
                details="PostKnowledgeGraphs creates it",
            )
        return ConceptRelationRecord(
            id=check_id("concept relation", relation.id) if relation.id else uuid.uuid4().hex,
            subject_id=subject.id,
            object_id=object_id,
            predicate=relation.predicate,
            knowledge_graph_id=relation.knowledge_graph_id,
        )

    def _named(
        self, app: AppRecord, relations: Sequence[ConceptRelationRecord]
    ) -> dict[str, ConceptRecord]:
        """The concepts the relations name, each read once."""
        ids = {i for r in relations for i in (r.subject_id, r.object_id)}
        found = {i: self._concepts.get_concept(app_pk(app), i) for i in sorted(ids)}
        return {i: concept for i, concept in found.items() if concept is not None}


def _predicate_rule(predicate: str) -> str:
    return f"Unknown predicate '{predicate}': use one of {', '.join(PREDICATES)}"


def _language_records(
    concept_id: str,
    languages: Iterable[resources_pb2.ConceptLanguage],
    *,
    merging: bool = False,
) -> list[ConceptLanguageRecord]:
    records: list[ConceptLanguageRecord] = []
    for language in languages:
        code = language.id
        if not code or len(code) > _MAX_LANGUAGE_LENGTH:
            raise InvalidArgument(
                "Each concept language needs its language code as id (such as 'fr' or 'zh-CN')"
            )
        if not merging and not language.name:
            raise InvalidArgument(f"The concept's name in '{code}' is empty: set name")
        if len(language.name) > _MAX_NAME_LENGTH:
            raise InvalidArgument(f"The concept's name in '{code}' is over 255 characters")
        if code in {r.language for r in records}:
            raise InvalidArgument(f"Language '{code}' appears twice in the request")
        records.append(ConceptLanguageRecord(concept_id, code, language.name, language.definition))
    return records


def _graph_record(graph: resources_pb2.KnowledgeGraph) -> KnowledgeGraphRecord:
    return KnowledgeGraphRecord(
        id=check_id("knowledge graph", graph.id) if graph.id else uuid.uuid4().hex,
        name=graph.name,
        description=graph.description,
        examples_app_id=graph.examples_app_id,
        sampled_examples_app_id=graph.sampled_examples_app_id,
    )
