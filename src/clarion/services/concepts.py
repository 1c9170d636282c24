"""Concepts: ``PostConcepts``, ``GetConcept``, ``ListConcepts``, ``PatchConcepts``,
``PostConceptsSearches`` and ``GetConceptCounts``."""

from __future__ import annotations

from typing import Protocol

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status.status_code_pb2 import CONCEPTS_INVALID_REQUEST

from clarion.errors import InvalidArgument, NotFound
from clarion.inference.base import ModelInfo
from clarion.services.base import HandlerTable, app_pk, require_app
from clarion.services.context import CallContext
from clarion.services.messages.concepts import concept_to_proto
from clarion.services.messages.values import struct_to_dict
from clarion.services.paging import page_of
from clarion.storage.accounts import AppRecord
from clarion.storage.base import Page
from clarion.storage.concept_graph import ConceptLanguageRecord
from clarion.storage.concepts import ConceptRecord, ConceptStore
from clarion.storage.errors import ConceptsExist, Conflict

_MAX_ID_LENGTH = 255
GENERAL_MODEL = "general-image-recognition"


class ConceptsInvalid(InvalidArgument):
    """A concepts request Clarifai refuses: one that would create an existing concept."""

    status_code = CONCEPTS_INVALID_REQUEST


class ModelVocabulary(Protocol):
    """The built-in models' concepts (``clarion.inference.ModelCatalog``)."""

    def find(self, model_id: str) -> ModelInfo | None: ...


class Translations(Protocol):
    """Concepts' names in other languages (``clarion.storage.concept_graph``)."""

    def translations_starting(
        self, app_pk: int, language: str, prefix: str, limit: int
    ) -> list[ConceptLanguageRecord]: ...


class ConceptsService:
    def __init__(
        self, concepts: ConceptStore, models: ModelVocabulary, translations: Translations
    ) -> None:
        self._concepts = concepts
        self._models = models
        self._translations = translations

    def handlers(self) -> HandlerTable:
        return {
            "PostConcepts": self.post_concepts,
            "GetConcept": self.get_concept,
            "ListConcepts": self.list_concepts,
            "PatchConcepts": self.patch_concepts,
            "PostConceptsSearches": self.post_concepts_searches,
            "GetConceptCounts": self.get_concept_counts,
        }

    def post_concepts(
        self, request: service_pb2.PostConceptsRequest, ctx: CallContext
    ) -> service_pb2.MultiConceptResponse:
        app = require_app(ctx)
        if not request.concepts:
            raise InvalidArgument("PostConcepts needs at least one concept")
        records = [_record(concept) for concept in request.concepts]
        _check_distinct(records)
        try:
            stored = self._concepts.create_concepts(app_pk(app), records)
        except ConceptsExist as exc:
            raise ConceptsInvalid(
                f"Concept ids already in this app: {', '.join(exc.ids)} "
                "(PatchConcepts changes an existing concept)"
            ) from exc
        except Conflict as exc:  # created by another call since the check
            raise ConceptsInvalid("A concept with one of these ids was created meanwhile") from exc
        return service_pb2.MultiConceptResponse(concepts=[concept_to_proto(c, app) for c in stored])

    def get_concept(
        self, request: service_pb2.GetConceptRequest, ctx: CallContext
    ) -> service_pb2.SingleConceptResponse:
        app = require_app(ctx)
        found = self._concepts.get_concept(app_pk(app), request.concept_id)
        if found is None:
            raise NotFound("concept", request.concept_id)
        return service_pb2.SingleConceptResponse(concept=concept_to_proto(found, app))

    def list_concepts(
        self, request: service_pb2.ListConceptsRequest, ctx: CallContext
    ) -> service_pb2.MultiConceptResponse:
        app = require_app(ctx)
        found = self._concepts.list_concepts(app_pk(app), page_of(request.page, request.per_page))
        return service_pb2.MultiConceptResponse(concepts=[concept_to_proto(c, app) for c in found])

    def patch_concepts(
        self, request: service_pb2.PatchConceptsRequest, ctx: CallContext
    ) -> service_pb2.MultiConceptResponse:
        app = require_app(ctx)
        if request.action not in ("", "overwrite", "merge"):
            raise InvalidArgument(f"Unknown action '{request.action}': use overwrite")
        patched = []
        for concept in request.concepts:
            current = self._concepts.get_concept(app_pk(app), concept.id)
            if current is None:
                raise NotFound("concept", concept.id)
            changed = ConceptRecord(
                id=current.id,
                name=concept.name or current.name,
                language=concept.language or current.language,
                metadata=current.metadata,
                created_at=current.created_at,
            )
            patched.append(self._concepts.update_concept(app_pk(app), changed))
        return service_pb2.MultiConceptResponse(
            concepts=[concept_to_proto(c, app) for c in patched]
        )

    def post_concepts_searches(
        self, request: service_pb2.PostConceptsSearchesRequest, ctx: CallContext
    ) -> service_pb2.MultiConceptResponse:
        """Concepts whose name starts with the query's name (case-insensitive; ``*`` ends it):
        the app's own, then the vocabulary of a public model (``concept_query.model``, or the
        general image model), so a user finds the names search can rank by. With a
        ``language`` other than English, the app's concepts by their name in that language
        (PostConceptLanguages), or in it as their own."""
        app = require_app(ctx)
        query = request.concept_query
        _refuse_unhonoured(query)
        prefix = query.name.rstrip("*").lower()
        page = page_of(request.pagination.page, request.pagination.per_page)
        if query.language not in ("", "en"):
            named = self._in_language(app, query, prefix, page.offset + page.per_page)
            return service_pb2.MultiConceptResponse(
                concepts=named[page.offset : page.offset + page.per_page]
            )
        found: list[resources_pb2.Concept] = []
        if not query.ignore_app_concepts:
            everything = Page(1, page.offset + page.per_page)
            own = self._concepts.list_concepts(app_pk(app), everything, name_prefix=prefix)
            found += [concept_to_proto(c, app) for c in own]
        seen = {concept.id for concept in found}
        found += [c for c in self._vocabulary(query.model.id, prefix) if c.id not in seen]
        return service_pb2.MultiConceptResponse(
            concepts=found[page.offset : page.offset + page.per_page]
        )

    def _in_language(
        self, app: AppRecord, query: resources_pb2.ConceptQuery, prefix: str, limit: int
    ) -> list[resources_pb2.Concept]:
        """The app's concepts named in ``query.language``: translated, then those whose own
        language it is. The public models' names are English: they have none to offer."""
        if query.ignore_app_concepts:
            raise InvalidArgument(
                f"Concepts in '{query.language}' are the app's own (PostConceptLanguages); "
                "the public models name theirs in English: leave out ignore_app_concepts, "
                "or search in 'en'"
            )
        found: dict[str, resources_pb2.Concept] = {}
        for translation in self._translations.translations_starting(
            app_pk(app), query.language, prefix, limit
        ):
            concept = self._concepts.get_concept(app_pk(app), translation.concept_id)
            if concept is not None:
                message = concept_to_proto(concept, app)
                message.name, message.language = translation.name, translation.language
                found[concept.id] = message
        own = self._concepts.list_concepts(app_pk(app), Page(1, limit), name_prefix=prefix)
        for concept in own:
            if concept.language == query.language and concept.id not in found:
                found[concept.id] = concept_to_proto(concept, app)
        return list(found.values())

    def _vocabulary(self, model_id: str, prefix: str) -> list[resources_pb2.Concept]:
        info = self._models.find(model_id or GENERAL_MODEL)
        if info is None:
            raise NotFound("model", model_id)
        return [
            resources_pb2.Concept(
                id=c.id, name=c.name, value=1.0, app_id="main", user_id="clarifai"
            )
            for c in info.concepts
            if c.name.lower().startswith(prefix)
        ]

    def get_concept_counts(
        self, request: service_pb2.GetConceptCountsRequest, ctx: CallContext
    ) -> service_pb2.MultiConceptCountResponse:
        """How many annotations say each concept is present (value 1) or absent (value 0)."""
        app = require_app(ctx)
        counts = self._concepts.annotated_concept_counts(app_pk(app))
        concepts = self._concepts.list_concepts(
            app_pk(app), page_of(request.page, request.per_page)
        )
        return service_pb2.MultiConceptCountResponse(
            concept_counts=[
                resources_pb2.ConceptCount(
                    id=concept.id,
                    name=concept.name,
                    concept_type_count=resources_pb2.ConceptTypeCount(
                        positive=counts.get(concept.id, (0, 0))[0],
                        negative=counts.get(concept.id, (0, 0))[1],
                    ),
                )
                for concept in concepts
            ]
        )


def _check_distinct(records: list[ConceptRecord]) -> None:
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            raise ConceptsInvalid(f"Concept '{record.id}' appears twice in the request")
        seen.add(record.id)


def _record(concept: resources_pb2.Concept) -> ConceptRecord:
    concept_id = concept.id or concept.name
    if not concept_id or len(concept_id) > _MAX_ID_LENGTH:
        raise InvalidArgument("Each concept needs an id (or a name) of at most 255 characters")
    return ConceptRecord(
        id=concept_id,
        name=concept.name or concept_id,
        language=concept.language or "en",
        metadata=struct_to_dict(concept.metadata),
    )


def _refuse_unhonoured(query: resources_pb2.ConceptQuery) -> None:
    """Fields that would narrow the answer on Clarifai but that Clarion cannot apply: refused,
    so a caller never reads an unfiltered list as a filtered one."""
    if query.use_cases:
        raise InvalidArgument(
            "concept_query.use_cases is not supported: Clarion's models carry no use cases; "
            "leave it out, or name the model whose vocabulary to search (concept_query.model)"
        )
    if query.workflow_id or query.HasField("workflow"):
        raise InvalidArgument(
            "concept_query.workflow is not supported: name the model whose vocabulary to "
            "search (concept_query.model) instead"
        )
