"""A custom model's labels and its versions' details: ``PatchModelToolkits``,
``PatchModelUseCases``, ``PatchModelLanguages``, ``PatchModelCheckConsents``,
``PatchModelVersions``, ``PostModelVersionsPublish`` and ``PostModelVersionsUnPublish``.

Labels are lists of strings patched with ``merge`` (the default: add), ``overwrite`` or
``remove``. Publishing marks trained versions PUBLIC: other users reach a model through its
app, so the app must be public first; access stays app-wide (an unpublished version of a
public app is readable too). Built-in models have none of these to change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.codes import MODEL_TRAINED
from clarion.errors import InvalidArgument, ModelInvalidArgument, ModelNotFound
from clarion.services.base import HandlerTable, app_pk, require_app, require_writable_app
from clarion.services.context import CallContext
from clarion.services.licenses import checked_license
from clarion.services.messages.models import add_version_extras, custom_version_to_proto
from clarion.services.messages.values import PRIVATE, PUBLIC, struct_to_dict
from clarion.services.patching import Action, patch_action, patched_by_id, patched_metadata
from clarion.storage.accounts import AppRecord
from clarion.storage.model_extras import ModelExtraStore, VersionExtras
from clarion.storage.models import ModelStore, VersionRecord

MAX_LABELS = 100  # per kind: labels are a short list a person picks, not data
MAX_LABEL_LENGTH = 64
# The fields of a ModelVersion that PatchModelVersions changes; training decides the rest.
_PATCHABLE = frozenset({"id", "description", "metadata", "license", "visibility"})


class ModelExtrasService:
    def __init__(
        self,
        extras: ModelExtraStore,
        models: ModelStore,
        is_built_in_model: Callable[[str], bool],
    ) -> None:
        self._extras = extras
        self._models = models
        self._is_built_in_model = is_built_in_model

    def handlers(self) -> HandlerTable:
        return {
            "PatchModelToolkits": self.patch_model_toolkits,
            "PatchModelUseCases": self.patch_model_use_cases,
            "PatchModelLanguages": self.patch_model_languages,
            "PatchModelCheckConsents": self.patch_model_check_consents,
            "PatchModelVersions": self.patch_model_versions,
            "PostModelVersionsPublish": self.post_model_versions_publish,
            "PostModelVersionsUnPublish": self.post_model_versions_unpublish,
        }

    # labels

    def patch_model_toolkits(
        self, request: service_pb2.PatchModelToolkitsRequest, ctx: CallContext
    ) -> service_pb2.MultiModelToolkitResponse:
        values = self._patch_labels(ctx, request, "toolkits", request.toolkits)
        return service_pb2.MultiModelToolkitResponse(toolkits=values)

    def patch_model_use_cases(
        self, request: service_pb2.PatchModelUseCasesRequest, ctx: CallContext
    ) -> service_pb2.MultiModelUseCaseResponse:
        values = self._patch_labels(ctx, request, "use_cases", request.usecases)
        return service_pb2.MultiModelUseCaseResponse(usecases=values)

    def patch_model_languages(
        self, request: service_pb2.PatchModelLanguagesRequest, ctx: CallContext
    ) -> service_pb2.MultiModelLanguageResponse:
        values = self._patch_labels(ctx, request, "languages", request.languages)
        return service_pb2.MultiModelLanguageResponse(languages=values)

    def patch_model_check_consents(
        self, request: service_pb2.PatchModelCheckConsentsRequest, ctx: CallContext
    ) -> service_pb2.MultiModelCheckConsentResponse:
        values = self._patch_labels(ctx, request, "check_consents", request.check_consents)
        return service_pb2.MultiModelCheckConsentResponse(check_consents=values)

    def _patch_labels(
        self, ctx: CallContext, request: _LabelPatch, kind: str, given: Sequence[str]
    ) -> list[str]:
        """The kind's labels after the patch, stored. The descriptor gives these methods read
        scopes alone, so the auth step lets them onto other users' public apps: the write is
        checked here."""
        app = require_writable_app(
            ctx, frozenset(), f"Changing a model's {kind}", "change the models of your own apps"
        )
        action = patch_action(request.action, default="merge")
        current = self._extras.labels(app_pk(app), request.model_id)
        if current is None:
            raise self._absent_model(request.model_id)
        wanted = _checked_labels(kind, given, action)
        values = patched_by_id(current[kind], wanted, action, lambda label: label)
        if len(values) > MAX_LABELS:
            raise InvalidArgument(f"A model keeps at most {MAX_LABELS} {kind}")
        stored = self._extras.set_labels(app_pk(app), request.model_id, kind, values)
        if stored is None:  # deleted meanwhile
            raise ModelNotFound("model", request.model_id)
        return stored[kind]

    def _absent_model(self, model_id: str) -> Exception:
        if self._is_built_in_model(model_id):
            return ModelInvalidArgument(
                f"Model '{model_id}' is built in: its labels and versions cannot change"
            )
        return ModelNotFound("model", model_id)

    # versions

    def patch_model_versions(
        self, request: service_pb2.PatchModelVersionsRequest, ctx: CallContext
    ) -> service_pb2.MultiModelVersionResponse:
        """Each version's description, license, metadata (by ``action``) and visibility; all
        are checked before any is stored."""
        app = require_app(ctx)
        action = patch_action(request.action, default="merge")
        if not request.model_versions:
            raise InvalidArgument("Set 'model_versions' to the versions to patch, each with 'id'")
        extras = self._version_extras(app, request.model_id)
        changes = [
            self._patched_version(app, request.model_id, patch, extras, action)
            for patch in request.model_versions
        ]
        for version, new_extras, description in changes:
            self._extras.patch_version(
                app_pk(app), request.model_id, version.id, new_extras, description
            )
        return service_pb2.MultiModelVersionResponse(
            model_versions=self._version_protos(
                app, request.model_id, [v.id for v, _, _ in changes]
            )
        )

    def _patched_version(
        self,
        app: AppRecord,
        model_id: str,
        patch: resources_pb2.ModelVersion,
        extras: Mapping[str, VersionExtras],
        action: Action,
    ) -> tuple[VersionRecord, VersionExtras, str | None]:
        _check_patchable(patch)
        version = self._version(app, model_id, patch.id)
        current = extras.get(version.id, VersionExtras())
        changed = current
        if patch.HasField("metadata"):
            merged = patched_metadata(current.metadata, struct_to_dict(patch.metadata), action)
            changed = replace(changed, metadata=merged)
        if patch.license:
            changed = replace(changed, license=checked_license(patch.license))
        if patch.HasField("visibility") and patch.visibility.gettable:
            visibility = int(patch.visibility.gettable)
            self._check_publishable(app, version, visibility)
            changed = replace(changed, visibility=visibility)
        return version, changed, patch.description or None

    def post_model_versions_publish(
        self, request: service_pb2.PostModelVersionsPublishRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        self._set_visibility(ctx, request.model_id, _version_ids(request.publications), PUBLIC)
        return status_pb2.BaseResponse()

    def post_model_versions_unpublish(
        self, request: service_pb2.PostModelVersionsUnPublishRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        self._set_visibility(ctx, request.model_id, _version_ids(request.publications), PRIVATE)
        return status_pb2.BaseResponse()

    def _set_visibility(
        self,
        ctx: CallContext,
        model_id: str,
        version_ids: Sequence[str],
        visibility: int,
    ) -> None:
        app = require_app(ctx)
        if not version_ids:
            raise InvalidArgument("Set 'publications' to the versions, each with 'version_id'")
        self._version_extras(app, model_id)  # the model exists
        versions = [self._version(app, model_id, version_id) for version_id in version_ids]
        for version in versions:
            self._check_publishable(app, version, visibility)
        ids = [version.id for version in versions]
        self._extras.set_visibility(app_pk(app), model_id, ids, visibility)

    def _check_publishable(self, app: AppRecord, version: VersionRecord, visibility: int) -> None:
        if visibility not in (PRIVATE, PUBLIC):
            raise InvalidArgument(
                f"Unknown visibility {visibility}: use PRIVATE (10) or PUBLIC (50)"
            )
        if visibility == PRIVATE:
            return
        if version.status_code != MODEL_TRAINED:
            raise ModelInvalidArgument(
                f"Model version '{version.id}' is not trained: only a trained version can be "
                "published"
            )
        if app.visibility != PUBLIC:
            raise ModelInvalidArgument(
                f"App '{app.id}' is private, so no one else could reach a published version: "
                "make the app public first (PatchApps with visibility.gettable PUBLIC)"
            )

    def _version_extras(self, app: AppRecord, model_id: str) -> dict[str, VersionExtras]:
        if self._models.get_model(app_pk(app), model_id) is None:
            raise self._absent_model(model_id)
        return self._extras.version_extras(app_pk(app), model_id)

    def _version(self, app: AppRecord, model_id: str, version_id: str) -> VersionRecord:
        if not version_id:
            raise InvalidArgument("Each version needs its id")
        version = self._models.get_version(app_pk(app), model_id, version_id)
        if version is None:
            raise ModelNotFound("model version", f"{model_id}/{version_id}")
        return version

    def _version_protos(
        self, app: AppRecord, model_id: str, ids: Sequence[str]
    ) -> list[resources_pb2.ModelVersion]:
        extras = self._extras.version_extras(app_pk(app), model_id)
        protos = []
        for version_id in ids:
            version = self._models.get_version(app_pk(app), model_id, version_id)
            if version is not None:
                message = custom_version_to_proto(app, version, with_concepts=False)
                add_version_extras(message, extras.get(version_id, VersionExtras()))
                protos.append(message)
        return protos


class _Publication(Protocol):
    @property
    def version_id(self) -> str: ...


def _version_ids(publications: Sequence[_Publication]) -> list[str]:
    return [entry.version_id for entry in publications]


class _LabelPatch(Protocol):
    @property
    def model_id(self) -> str: ...
    @property
    def action(self) -> str: ...


def _checked_labels(kind: str, given: Sequence[str], action: Action) -> list[str]:
    values = list(dict.fromkeys(given))  # each once, in the order given
    if not values and action != "overwrite":
        raise InvalidArgument(f"Set '{kind}' to the labels to {action}")
    for value in values:
        if not value.strip() or len(value) > MAX_LABEL_LENGTH:
            raise InvalidArgument(
                f"Invalid label '{value}' in {kind}: use 1 to {MAX_LABEL_LENGTH} characters"
            )
    return values


def _check_patchable(patch: resources_pb2.ModelVersion) -> None:
    others = sorted(
        descriptor.name for descriptor, _ in patch.ListFields() if descriptor.name not in _PATCHABLE
    )
    if others:
        raise ModelInvalidArgument(
            f"PatchModelVersions changes description, license, metadata and visibility, not "
            f"{', '.join(others)}: training sets those (PostModelVersions trains a new version)"
        )
