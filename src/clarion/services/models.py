"""Models: an app's custom models and the built-in ones of ``clarifai/main``, read side.

A model id resolves first among the request's app's custom models, then among the built-in
models (by slug or legacy id). Creating, training and deleting custom models is in
``custom_models``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.codes import MODEL_TRAINED
from clarion.errors import ModelNotFound
from clarion.inference.base import ImageRunner, ModelInfo, TextRunner
from clarion.services.base import HandlerTable, app_pk
from clarion.services.context import CallContext
from clarion.services.convert import status, timestamp
from clarion.services.legacy_types import add_legacy_type, legacy_type
from clarion.services.model_convert import (
    concepts_to_proto,
    custom_model_to_proto,
    version_to_proto as custom_version_to_proto,
)
from clarion.services.model_extras import ModelExtras, add_labels, add_version_extras
from clarion.services.paging import page_of
from clarion.services.signatures import method_signatures
from clarion.storage.base import AppRecord
from clarion.storage.model_extras import VersionExtras
from clarion.storage.modeldata import ModelRecord, SqlModelStore, VersionRecord

PUBLIC_USER = "clarifai"
PUBLIC_APP = "main"
PUBLIC = 50
# Built-in models ship with Clarion; this date stands for "as old as the release".
_BUILT_IN_AT = datetime(2026, 1, 1, tzinfo=UTC)


# A model in a listing: an app's custom model, or a built-in one.
_Listed = tuple[AppRecord, ModelRecord] | ModelInfo


class Models(Protocol):
    """The catalog of built-in models (``clarion.inference.ModelCatalog``)."""

    def models(self) -> tuple[ModelInfo, ...]: ...
    def find(self, model_id: str) -> ModelInfo | None: ...
    def runner(self, model_id: str) -> ImageRunner: ...
    def text_runner(self, model_id: str) -> TextRunner: ...


def find_model(models: Models, model_id: str, version_id: str = "") -> ModelInfo:
    """A built-in model by slug, legacy id or legacy name, at its one version (named by its
    id or a legacy version id; any version when empty)."""
    info = models.find(model_id) if model_id else None
    if info is None:
        raise ModelNotFound("model", model_id)
    if version_id and not info.has_version(version_id):
        raise ModelNotFound("model version", f"{model_id}/{version_id}")
    return info


def model_to_proto(info: ModelInfo, *, with_concepts: bool = False) -> resources_pb2.Model:
    output_info = _output_info(info, with_concepts)
    return resources_pb2.Model(
        id=info.id,
        name=info.name,
        display_name=info.name,
        app_id=PUBLIC_APP,
        user_id=PUBLIC_USER,
        model_type_id=info.model_type_id,
        description=info.description,
        created_at=timestamp(_BUILT_IN_AT),
        modified_at=timestamp(_BUILT_IN_AT),
        visibility=resources_pb2.Visibility(gettable=PUBLIC),  # type: ignore[arg-type]
        output_info=output_info,
        model_version=version_to_proto(info, with_concepts=with_concepts),
    )


def version_to_proto(info: ModelInfo, *, with_concepts: bool = False) -> resources_pb2.ModelVersion:
    return resources_pb2.ModelVersion(
        id=info.version_id,
        created_at=timestamp(_BUILT_IN_AT),
        completed_at=timestamp(_BUILT_IN_AT),
        status=status(MODEL_TRAINED, "Model is trained and ready"),
        active_concept_count=len(info.concepts),
        app_id=PUBLIC_APP,
        user_id=PUBLIC_USER,
        visibility=resources_pb2.Visibility(gettable=PUBLIC),  # type: ignore[arg-type]
        output_info=_output_info(info, with_concepts),
        method_signatures=method_signatures(info.input_kind, info.output_kind),
    )


def _output_info(info: ModelInfo, with_concepts: bool) -> resources_pb2.OutputInfo:
    output_info = resources_pb2.OutputInfo()
    concept_ids = lambda: frozenset(concept.id for concept in info.concepts)  # noqa: E731
    add_legacy_type(output_info, legacy_type(info.model_type_id, info.output_kind, concept_ids))
    if with_concepts:
        output_info.data.concepts.extend(_concepts(info.concepts))
    return output_info


def _concepts(concepts: Sequence[object]) -> list[resources_pb2.Concept]:
    created_at = timestamp(_BUILT_IN_AT)  # the old clients read every concept's
    return [
        resources_pb2.Concept(
            id=concept.id,  # type: ignore[attr-defined]
            name=concept.name,  # type: ignore[attr-defined]
            value=1.0,
            app_id=PUBLIC_APP,
            user_id=PUBLIC_USER,
            created_at=created_at,
        )
        for concept in concepts
    ]


class ModelsService:
    """The read side of models: the app's custom models first, then the built-in ones."""

    def __init__(
        self,
        models: Models,
        custom: SqlModelStore | None = None,
        extras: ModelExtras | None = None,
    ) -> None:
        self._models = models
        self._custom = custom
        self._extras = extras

    def handlers(self) -> HandlerTable:
        return {
            "ListModels": self.list_models,
            "GetModel": self.get_model,
            "GetModelOutputInfo": self.get_model_output_info,
            "ListModelVersions": self.list_model_versions,
            "GetModelVersion": self.get_model_version,
            "PostModelsSearches": self.post_models_searches,
            "ListModelConcepts": self.list_model_concepts,
        }

    def list_models(
        self, request: service_pb2.ListModelsRequest, ctx: CallContext
    ) -> service_pb2.MultiModelResponse:
        """An app's custom models, then the public ones, unless ``dont_fetch_from_main``."""
        type_id = request.model_type_id
        listed: list[_Listed] = [
            found
            for found in self._custom_models(ctx)
            if not type_id or found[1].model_type_id == type_id
        ]
        if not request.dont_fetch_from_main or _is_public_app(ctx):
            listed += [
                info
                for info in self._models.models()
                if not type_id or info.model_type_id == type_id
            ]
        page = page_of(request.page, request.per_page)
        return service_pb2.MultiModelResponse(
            models=self._listed_protos(listed[page.offset : page.offset + page.per_page])
        )

    def _listed_protos(self, listed: Sequence[_Listed]) -> list[resources_pb2.Model]:
        """Listed models as messages, a custom one with its newest version: Clarifai lists
        every model with a ``model_version``, and ``clarifai==2.6.2`` reads its id."""
        protos = []
        for entry in listed:
            if isinstance(entry, ModelInfo):
                protos.append(model_to_proto(entry))
                continue
            app, model = entry
            version = self._custom_version(app, model, "")
            message = custom_model_to_proto(app, model, version, with_concepts=False)
            protos.append(self._with_extras(app, message))
        return protos

    def get_model(
        self, request: service_pb2.GetModelRequest, ctx: CallContext
    ) -> service_pb2.SingleModelResponse:
        return service_pb2.SingleModelResponse(model=self._model(ctx, request, False))

    def get_model_output_info(
        self, request: service_pb2.GetModelRequest, ctx: CallContext
    ) -> service_pb2.SingleModelResponse:
        return service_pb2.SingleModelResponse(model=self._model(ctx, request, True))

    def _model(
        self, ctx: CallContext, request: service_pb2.GetModelRequest, with_concepts: bool
    ) -> resources_pb2.Model:
        found = self._custom_model(ctx, request.model_id)
        if found is None:
            info = find_model(self._models, request.model_id, request.version_id)
            return model_to_proto(info, with_concepts=with_concepts)
        app, model = found
        version = self._custom_version(app, model, request.version_id)
        message = custom_model_to_proto(app, model, version, with_concepts=with_concepts)
        return self._with_extras(app, message)

    def list_model_versions(
        self, request: service_pb2.ListModelVersionsRequest, ctx: CallContext
    ) -> service_pb2.MultiModelVersionResponse:
        """A model's versions, newest first (a built-in model has one)."""
        page = page_of(request.page, request.per_page)
        found = self._custom_model(ctx, request.model_id)
        if found is None:
            info = find_model(self._models, request.model_id)
            versions = [version_to_proto(info)] if page.page == 1 else []
            return service_pb2.MultiModelVersionResponse(model_versions=versions)
        app, model = found
        assert self._custom is not None
        stored = self._custom.list_versions(
            app_pk(app), model.id, page, trained_only=request.trained_only
        )
        extras = self._version_extras(app, model.id)
        messages = [custom_version_to_proto(app, version) for version in stored]
        for message in messages:
            add_version_extras(message, extras.get(message.id, VersionExtras()))
        return service_pb2.MultiModelVersionResponse(model_versions=messages)

    def get_model_version(
        self, request: service_pb2.GetModelVersionRequest, ctx: CallContext
    ) -> service_pb2.SingleModelVersionResponse:
        found = self._custom_model(ctx, request.model_id)
        if found is None:
            info = find_model(self._models, request.model_id, request.version_id)
            version = version_to_proto(info, with_concepts=True)
        else:
            app, model = found
            stored = self._custom_version(app, model, request.version_id)
            if stored is None:
                raise ModelNotFound("model version", f"{model.id}/(none yet)")
            version = custom_version_to_proto(app, stored)
            extras = self._version_extras(app, model.id)
            add_version_extras(version, extras.get(stored.id, VersionExtras()))
        return service_pb2.SingleModelVersionResponse(model_version=version)

    def post_models_searches(
        self, request: service_pb2.PostModelsSearchesRequest, ctx: CallContext
    ) -> service_pb2.MultiModelResponse:
        """Models whose id or name contains the query's name (``*`` is a wildcard); a
        built-in model is also found by its legacy names (``general-v1.3``)."""
        wanted = request.model_query.name.replace("*", "").lower()
        type_id = request.model_query.model_type_id
        found: list[_Listed] = [
            (app, model)
            for app, model in self._custom_models(ctx)
            if (wanted in model.id.lower() or wanted in model.name.lower())
            and (not type_id or model.model_type_id == type_id)
        ]
        found += [
            info
            for info in self._models.models()
            if info.answers_to(wanted) and (not type_id or info.model_type_id == type_id)
        ]
        page = page_of(request.pagination.page, request.pagination.per_page)
        return service_pb2.MultiModelResponse(
            models=self._listed_protos(found[page.offset : page.offset + page.per_page])
        )

    def list_model_concepts(
        self, request: service_pb2.ListModelConceptsRequest, ctx: CallContext
    ) -> service_pb2.MultiConceptResponse:
        search = request.search.lower()
        page = page_of(request.page, request.per_page)
        found = self._custom_model(ctx, request.model_id)
        if found is not None:
            app, model = found
            version = self._custom_version(app, model, request.version_id)
            owner = version if version is not None else model
            chosen = [c for c in owner.concepts if search in c.name.lower()]
            paged = chosen[page.offset : page.offset + page.per_page]
            return service_pb2.MultiConceptResponse(
                concepts=concepts_to_proto(paged, app, owner.created_at)
            )
        info = find_model(self._models, request.model_id, request.version_id)
        builtin = [c for c in info.concepts if search in c.name.lower()]
        return service_pb2.MultiConceptResponse(
            concepts=_concepts(builtin[page.offset : page.offset + page.per_page])
        )

    # custom models

    def _with_extras(self, app: AppRecord, message: resources_pb2.Model) -> resources_pb2.Model:
        """A custom model's message with its labels, and its version's visibility, license
        and metadata."""
        if self._extras is None:
            return message
        labels = self._extras.labels(app_pk(app), message.id)
        if labels is not None:
            add_labels(message, labels)
        if message.HasField("model_version"):
            extras = self._version_extras(app, message.id)
            add_version_extras(
                message.model_version, extras.get(message.model_version.id, VersionExtras())
            )
        return message

    def _version_extras(self, app: AppRecord, model_id: str) -> dict[str, VersionExtras]:
        if self._extras is None:
            return {}
        return self._extras.version_extras(app_pk(app), model_id)

    def _custom_models(self, ctx: CallContext) -> list[tuple[AppRecord, ModelRecord]]:
        if self._custom is None or ctx.app is None:
            return []
        return [(ctx.app, model) for model in self._custom.list_models(app_pk(ctx.app))]

    def _custom_model(
        self, ctx: CallContext, model_id: str
    ) -> tuple[AppRecord, ModelRecord] | None:
        if self._custom is None or ctx.app is None or not model_id:
            return None
        model = self._custom.get_model(app_pk(ctx.app), model_id)
        return (ctx.app, model) if model is not None else None

    def _custom_version(
        self, app: AppRecord, model: ModelRecord, version_id: str
    ) -> VersionRecord | None:
        """The version asked for (``ModelNotFound`` if absent), else the newest, if any."""
        assert self._custom is not None
        if not version_id:
            return self._custom.latest_version(app_pk(app), model.id)
        version = self._custom.get_version(app_pk(app), model.id, version_id)
        if version is None:
            raise ModelNotFound("model version", f"{model.id}/{version_id}")
        return version


def _is_public_app(ctx: CallContext) -> bool:
    return ctx.app is not None and (ctx.app.user_id, ctx.app.id) == (PUBLIC_USER, PUBLIC_APP)
