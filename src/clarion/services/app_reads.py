"""Apps as wholes: ``GetResourceCounts`` (what an app holds) and ``PostAppsSearches`` (a
user's apps by name)."""

from __future__ import annotations

from clarifai_grpc.grpc.api import service_pb2

from clarion.services.base import HandlerTable, app_pk, require_app
from clarion.services.context import CallContext
from clarion.services.messages.accounts import app_to_proto
from clarion.services.paging import page_of
from clarion.storage.app_reads import AppReadStore


class AppReadsService:
    def __init__(self, reads: AppReadStore) -> None:
        self._reads = reads

    def handlers(self) -> HandlerTable:
        return {
            "GetResourceCounts": self.get_resource_counts,
            "PostAppsSearches": self.post_apps_searches,
        }

    def get_resource_counts(
        self, request: service_pb2.GetResourceCountsRequest, ctx: CallContext
    ) -> service_pb2.GetResourceCountsResponse:
        """The app's inputs, datasets, custom models and workflows; Clarion runs no
        pipelines, so that count is 0 (and ``ListPipelines`` answers NOT_IMPLEMENTED)."""
        counts = self._reads.resource_counts(app_pk(require_app(ctx)))
        return service_pb2.GetResourceCountsResponse(
            inputs=counts.inputs,
            datasets=counts.datasets,
            models=counts.models,
            workflows=counts.workflows,
            pipelines=0,
        )

    def post_apps_searches(
        self, request: service_pb2.PostAppsSearchesRequest, ctx: CallContext
    ) -> service_pb2.MultiAppResponse:
        """The user's apps whose id or name contains ``app_query.name`` (any case; empty
        finds all); another user's apps only where public, as ``ListApps``."""
        page = page_of(request.pagination.page, request.pagination.per_page)
        found = self._reads.search_apps(
            ctx.user_id, request.app_query.name, page, public_only=not ctx.own_user
        )
        return service_pb2.MultiAppResponse(apps=[app_to_proto(app) for app in found])
