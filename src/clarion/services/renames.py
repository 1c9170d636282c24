"""New ids: ``PatchAppsIds``, ``PatchModelIds``, ``PatchWorkflowIds``.

Each request lists ``{id, new_id}`` pairs; the only action is ``overwrite``. Every pair is
checked (the old id exists, the new one is valid and free) before any is applied. What names
the resource follows it (``clarion.storage.renames``): workflow nodes follow a renamed model,
the app's base workflow follows a renamed workflow, and keys, inputs, models and everything
else inside an app follow a renamed app (they hold the app by its storage key). Built-in
models and public workflows keep their ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.errors import (
    AlreadyExists,
    InvalidArgument,
    ModelInvalidArgument,
    ModelNotFound,
    NotFound,
    WorkflowInvalidArgument,
    WorkflowNotFound,
)
from clarion.inference.workflow import PUBLIC_WORKFLOWS
from clarion.services.base import (
    HandlerTable,
    app_pk,
    check_id,
    check_workflow_id,
    conflicts_as,
    require_app,
    require_own_user,
)
from clarion.services.context import CallContext
from clarion.services.messages.accounts import app_to_proto
from clarion.services.messages.models import custom_model_to_proto
from clarion.services.messages.workflows import stored_workflow_to_proto
from clarion.services.patching import patch_action
from clarion.storage.accounts import AccountStore, AppRecord
from clarion.storage.models import ModelStore
from clarion.storage.renames import RenameStore


class RenamesService:
    def __init__(
        self,
        renames: RenameStore,
        store: AccountStore,
        models: ModelStore,
        is_built_in_model: Callable[[str], bool],
    ) -> None:
        self._renames = renames
        self._store = store
        self._models = models
        self._is_built_in_model = is_built_in_model

    def handlers(self) -> HandlerTable:
        return {
            "PatchAppsIds": self.patch_apps_ids,
            "PatchModelIds": self.patch_model_ids,
            "PatchWorkflowIds": self.patch_workflow_ids,
        }

    def patch_apps_ids(
        self, request: service_pb2.PatchAppsIdsRequest, ctx: CallContext
    ) -> service_pb2.MultiAppResponse:
        user_id = require_own_user(ctx)
        pairs = _pairs(request.ids, request.action, "app")
        for old, new in pairs:
            if self._store.get_app(user_id, old) is None:
                raise NotFound("app", old)
            if self._store.get_app(user_id, check_id("app", new)) is not None:
                raise AlreadyExists("app", new)
        renamed = []
        for old, new in pairs:
            with conflicts_as("app", new):
                self._renames.rename_app(user_id, old, new)
            renamed.append(self._store.get_app(user_id, new))
        return service_pb2.MultiAppResponse(
            apps=[app_to_proto(app) for app in renamed if app is not None]
        )

    def patch_model_ids(
        self, request: service_pb2.PatchModelIdsRequest, ctx: CallContext
    ) -> service_pb2.MultiModelResponse:
        app = require_app(ctx)
        pairs = _pairs(request.ids, request.action, "model")
        for old, new in pairs:
            self._check_model_rename(app, old, new)
        for old, new in pairs:
            with conflicts_as("model", new):
                self._renames.rename_model(app_pk(app), old, new)
            self._models.forget_absence(app_pk(app), new)
        return service_pb2.MultiModelResponse(models=self._model_protos(app, pairs))

    def _check_model_rename(self, app: AppRecord, old: str, new: str) -> None:
        if self._models.get_model(app_pk(app), old) is None:
            if self._is_built_in_model(old):
                raise ModelInvalidArgument(f"Model '{old}' is built in: its id cannot change")
            raise ModelNotFound("model", old)
        check_id("model", new)
        if self._is_built_in_model(new):
            raise ModelInvalidArgument(f"Model id '{new}' is taken by a built-in model")
        if self._models.get_model(app_pk(app), new) is not None:
            raise AlreadyExists("model", new)

    def _model_protos(
        self, app: AppRecord, pairs: Sequence[tuple[str, str]]
    ) -> list[resources_pb2.Model]:
        protos = []
        for _, new in pairs:
            model = self._models.get_model(app_pk(app), new)
            if model is not None:
                version = self._models.latest_version(app_pk(app), new)
                protos.append(custom_model_to_proto(app, model, version, with_concepts=False))
        return protos

    def patch_workflow_ids(
        self, request: service_pb2.PatchWorkflowIdsRequest, ctx: CallContext
    ) -> service_pb2.MultiWorkflowResponse:
        app = require_app(ctx)
        pairs = _pairs(request.ids, request.action, "workflow")
        for old, new in pairs:
            self._check_workflow_rename(app, old, new)
        for old, new in pairs:
            with conflicts_as("workflow", new):
                self._renames.rename_workflow(app_pk(app), old, new)
        renamed = [self._models.get_workflow(app_pk(app), new) for _, new in pairs]
        return service_pb2.MultiWorkflowResponse(
            workflows=[stored_workflow_to_proto(app, record) for record in renamed if record]
        )

    def _check_workflow_rename(self, app: AppRecord, old: str, new: str) -> None:
        if self._models.get_workflow(app_pk(app), old) is None:
            if old in PUBLIC_WORKFLOWS:
                raise WorkflowInvalidArgument(f"Workflow '{old}' is public: its id cannot change")
            raise WorkflowNotFound("workflow", old)
        check_workflow_id(new)
        if self._models.get_workflow(app_pk(app), new) is not None:
            raise AlreadyExists("workflow", new)


def _pairs(
    ids: Sequence[service_pb2.IdUpdateSource], action: str, kind: str
) -> list[tuple[str, str]]:
    """The (old, new) id pairs, checked as a whole: one rename per id, no id taken twice."""
    patch_action(action, default="overwrite", allowed=("overwrite",))
    if not ids:
        raise InvalidArgument(f"Set 'ids' to the {kind}s to rename, each with 'id' and 'new_id'")
    pairs = [(source.id, source.new_id) for source in ids]
    for old, new in pairs:
        if not old or not new:
            raise InvalidArgument(f"Each entry of 'ids' needs the {kind}'s 'id' and its 'new_id'")
    olds, news = [old for old, _ in pairs], [new for _, new in pairs]
    if len(set(olds)) != len(olds) or len(set(news)) != len(news):
        raise InvalidArgument(f"A {kind} id appears twice in 'ids': rename each once")
    if set(olds) & set(news):
        raise InvalidArgument(f"A new {kind} id is also one being renamed: rename in two requests")
    return pairs
