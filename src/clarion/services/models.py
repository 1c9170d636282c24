"""Models: an app's custom models and the built-in ones of ``clarifai/main``, read side.

A model id resolves first among the request's app's custom models, then among the built-in
models (by slug or legacy id). Creating, training and deleting custom models is in
``custom_models``.
"""

from __future__ import annotations

from collections.abc import Sequence

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.errors import ModelNotFound
from clarion.inference.base import ModelInfo
from clarion.inference.workflow import PUBLIC_APP, PUBLIC_USER
from clarion.runtime.model_resolver import Models, find_version, require_builtin
from clarion.services.base import HandlerTable, app_pk
from clarion.services.context import CallContext
from clarion.services.messages.concepts import model_concepts_to_proto
from clarion.services.messages.models import (
    add_labels,
    add_version_extras,
    builtin_concepts_to_proto,
    builtin_model_to_proto,
    builtin_version_to_proto,
    custom_model_to_proto,
    custom_version_to_proto,
)
from clarion.services.paging import page_of
from clarion.storage.accounts import AppRecord
from clarion.storage.model_extras import ModelExtraStore, VersionExtras
from clarion.storage.models import ModelRecord, ModelStore, VersionRecord

# A model in a listing: an app's custom model, or a built-in one.
_Listed = tuple[AppRecord, ModelRecord] | ModelInfo


class ModelsService:
    """The read side of models: the app's custom models first, then the built-in ones."""

    def __init__(
        self,
        models: Models,
        custom: ModelStore | None = None,
        extras: ModelExtraStore | None = None,
    ) -> None:
        self._models = models
        self._custom = custom
        self._extras = extras

    def _not_installed(self, info: ModelInfo) -> str | None:
        return self._models.not_installed(info.id)

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
                protos.append(
                    builtin_model_to_proto(entry, not_installed=self._not_installed(entry))
                )
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
            info = require_builtin(self._models, request.model_id, request.version_id)
            missing = self._not_installed(info)
            return builtin_model_to_proto(info, with_concepts=with_concepts, not_installed=missing)
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
            info = require_builtin(self._models, request.model_id)
            missing = self._not_installed(info)
            versions = (
                [builtin_version_to_proto(info, not_installed=missing)] if page.page == 1 else []
            )
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
            info = require_builtin(self._models, request.model_id, request.version_id)
            missing = self._not_installed(info)
            version = builtin_version_to_proto(info, with_concepts=True, not_installed=missing)
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
                concepts=model_concepts_to_proto(paged, app.id, app.user_id, owner.created_at)
            )
        info = require_builtin(self._models, request.model_id, request.version_id)
        builtin = [c for c in info.concepts if search in c.name.lower()]
        paged_builtin = builtin[page.offset : page.offset + page.per_page]
        return service_pb2.MultiConceptResponse(concepts=builtin_concepts_to_proto(paged_builtin))

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
        return find_version(self._custom, app_pk(app), model.id, version_id)


def _is_public_app(ctx: CallContext) -> bool:
    return ctx.app is not None and (ctx.app.user_id, ctx.app.id) == (PUBLIC_USER, PUBLIC_APP)
