"""Apps: ``PostApps``, ``GetApp``, ``ListApps``, ``PatchApps``, ``PatchApp``, ``DeleteApp``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.errors import InvalidArgument, NotFound
from clarion.inference.workflow import GENERAL_WORKFLOW
from clarion.services.base import (
    HandlerTable,
    check_id,
    check_merged_metadata,
    conflicts_as,
    require_app,
    require_own_user,
)
from clarion.services.context import CallContext
from clarion.services.messages.accounts import app_to_proto
from clarion.services.messages.values import struct_to_dict
from clarion.services.paging import page_of
from clarion.services.patching import Action, patch_action, patched_metadata
from clarion.services.tokens import new_token
from clarion.storage.accounts import AccountStore, AppRecord

PRIVATE = 10
PUBLIC = 50
_VISIBILITIES = frozenset({0, PRIVATE, 30, PUBLIC})

log = logging.getLogger("clarion.apps")


class Reindexing(Protocol):
    """Queues the background reindex of an app (``clarion.storage.sql.reindexing``)."""

    def request_reindex(self, app_pk: int) -> int:
        """Queue it; returns how many inputs it will reindex."""
        ...


def _no_wakeup() -> None:
    """Workers poll the queue."""


class AppsService:
    def __init__(
        self,
        store: AccountStore,
        reindexing: Reindexing | None = None,
        wake_workers: Callable[[], None] = _no_wakeup,
    ) -> None:
        self._store = store
        self._reindexing = reindexing
        self._wake_workers = wake_workers

    def handlers(self) -> HandlerTable:
        return {
            "PostApps": self.post_apps,
            "GetApp": self.get_app,
            "ListApps": self.list_apps,
            "PatchApps": self.patch_apps,
            "PatchApp": self.patch_app,
            "PatchAppsDetails": self.patch_apps_details,
            "DeleteApp": self.delete_app,
        }

    def post_apps(
        self, request: service_pb2.PostAppsRequest, ctx: CallContext
    ) -> service_pb2.MultiAppResponse:
        user_id = require_own_user(ctx)
        if not request.apps:
            raise InvalidArgument("PostApps needs at least one app in 'apps'")
        new_apps = [_new_app(user_id, app) for app in request.apps]
        _check_unique_ids(app.id for app in new_apps)
        with conflicts_as("app", ", ".join(app.id for app in new_apps)):
            created = self._store.create_apps(new_apps)
        return service_pb2.MultiAppResponse(apps=[app_to_proto(app) for app in created])

    def get_app(
        self, request: service_pb2.GetAppRequest, ctx: CallContext
    ) -> service_pb2.SingleAppResponse:
        return service_pb2.SingleAppResponse(app=app_to_proto(require_app(ctx)))

    def list_apps(
        self, request: service_pb2.ListAppsRequest, ctx: CallContext
    ) -> service_pb2.MultiAppResponse:
        page = page_of(request.page, request.per_page)
        # Another user's apps are listed only where that user made them public.
        found = self._store.list_apps(ctx.user_id, page, public_only=not ctx.own_user)
        return service_pb2.MultiAppResponse(apps=[app_to_proto(app) for app in found])

    def patch_apps(
        self, request: service_pb2.PatchAppsRequest, ctx: CallContext
    ) -> service_pb2.MultiAppResponse:
        user_id = require_own_user(ctx)
        action = _patch_action(request.action)
        current = [self._owned_app(user_id, patch.id) for patch in request.apps]
        changed = [
            _patched(app, patch, action) for app, patch in zip(current, request.apps, strict=True)
        ]
        for app in changed:  # all checked before any is written
            check_merged_metadata(ctx, app.metadata, f"app '{app.id}'")
        patched = [self._update(app, new) for app, new in zip(current, changed, strict=True)]
        return service_pb2.MultiAppResponse(apps=[app_to_proto(app) for app in patched])

    def patch_app(
        self, request: service_pb2.PatchAppRequest, ctx: CallContext
    ) -> service_pb2.SingleAppResponse:
        require_own_user(ctx)
        app = require_app(ctx)
        changed = _patched(app, request.app, _patch_action(request.action))
        check_merged_metadata(ctx, changed.metadata, f"app '{app.id}'")
        return service_pb2.SingleAppResponse(app=app_to_proto(self._update(app, changed)))

    def patch_apps_details(
        self, request: service_pb2.PatchAppsDetailsRequest, ctx: CallContext
    ) -> service_pb2.MultiAppResponse:
        """``PatchApps`` limited to an app's details (name, description, notes, metadata); an
        entry without ``id`` patches the app in the path."""
        user_id = require_own_user(ctx)
        if not request.apps:
            raise InvalidArgument("PatchAppsDetails needs at least one app in 'apps'")
        for patch in request.apps:
            _check_details_only(patch)
        path_app = ctx.app.id if ctx.app is not None else ""
        targets = [patch.id or path_app for patch in request.apps]
        current = [self._owned_app(user_id, app_id) for app_id in targets]
        action = _patch_action(request.action)
        changed = [
            _patched(app, patch, action) for app, patch in zip(current, request.apps, strict=True)
        ]
        for app in changed:
            check_merged_metadata(ctx, app.metadata, f"app '{app.id}'")
        patched = [self._update(app, new) for app, new in zip(current, changed, strict=True)]
        return service_pb2.MultiAppResponse(apps=[app_to_proto(app) for app in patched])

    def delete_app(
        self, request: service_pb2.DeleteAppRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        user_id = require_own_user(ctx)
        app = require_app(ctx)
        # Everything in the app (its keys included) goes with it, by foreign-key cascade.
        if not self._store.delete_app(user_id, app.id):
            raise NotFound("app", app.id)
        return status_pb2.BaseResponse()

    def _update(self, current: AppRecord, patched: AppRecord) -> AppRecord:
        """Store the patch; a new base workflow reindexes the app's inputs in the background."""
        updated = self._store.update_app(patched)
        changed = _base_workflow(current) != _base_workflow(updated)
        if changed and self._reindexing is not None and current.pk is not None:
            count = self._reindexing.request_reindex(current.pk)
            if count:
                log.info("app %s/%s: reindexing %d inputs", updated.user_id, updated.id, count)
                self._wake_workers()
        return updated

    def _owned_app(self, user_id: str, app_id: str) -> AppRecord:
        if not app_id:
            raise InvalidArgument("Each app to patch needs its 'id'")
        app = self._store.get_app(user_id, app_id)
        if app is None:
            raise NotFound("app", app_id)
        return app


def _check_details_only(patch: resources_pb2.App) -> None:
    """Settings that change how the app works are PatchApps' to change, not PatchAppsDetails'."""
    settings = [
        name for name in ("default_workflow_id", "default_language") if getattr(patch, name)
    ]
    if patch.HasField("visibility") and patch.visibility.gettable:
        settings.append("visibility")
    if settings:
        raise InvalidArgument(
            f"PatchAppsDetails changes only name, description, notes and metadata, not "
            f"{', '.join(settings)}: use PatchApps for those"
        )


def _new_app(user_id: str, app: resources_pb2.App) -> AppRecord:
    app_id = check_id("app", app.id) if app.id else new_token()
    return AppRecord(
        user_id=user_id,
        id=app_id,
        name=app.name or app_id,
        description=app.description,
        default_language=app.default_language or "en",
        default_workflow_id=app.default_workflow_id or app.default_workflow.id,
        visibility=_visibility(app.visibility.gettable) or PRIVATE,
        notes=app.notes,
        metadata=struct_to_dict(app.metadata),
    )


def _base_workflow(app: AppRecord) -> str:
    """The workflow that indexes the app's inputs: none set means the General one."""
    return app.default_workflow_id or GENERAL_WORKFLOW


def _check_unique_ids(ids: Iterable[str]) -> None:
    seen: set[str] = set()
    for app_id in ids:
        if app_id in seen:
            raise InvalidArgument(f"App id '{app_id}' appears twice in one request")
        seen.add(app_id)


def _visibility(value: int) -> int:
    if value not in _VISIBILITIES:
        raise InvalidArgument(f"Unknown visibility {value}: use PRIVATE (10) or PUBLIC (50)")
    return value


def _patch_action(action: str) -> Action:
    return patch_action(action, default="overwrite")


def _patched(app: AppRecord, patch: resources_pb2.App, action: Action) -> AppRecord:
    """Fields set in ``patch`` replace the stored ones; metadata follows ``action``."""
    changes: dict[str, Any] = {
        name: getattr(patch, name)
        for name in ("name", "description", "default_language", "default_workflow_id", "notes")
        if getattr(patch, name)
    }
    if patch.HasField("visibility") and patch.visibility.gettable:
        changes["visibility"] = _visibility(patch.visibility.gettable)
    if patch.HasField("metadata"):
        changes["metadata"] = patched_metadata(app.metadata, struct_to_dict(patch.metadata), action)
    return replace(app, **changes)
