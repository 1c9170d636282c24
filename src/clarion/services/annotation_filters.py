"""Annotation filters: ``PostAnnotationFilters``, ``GetAnnotationFilter``,
``ListAnnotationFilters``, ``PatchAnnotationFilters`` (``overwrite``: the search is replaced)
and ``DeleteAnnotationFilters``. A filter is an id and a search over the app's annotations;
Clarion keeps it for clients to read back (no labelling task consumes it: Clarion has none)."""

from __future__ import annotations

import uuid
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.errors import InvalidArgument, NotFound
from clarion.services.base import HandlerTable, app_pk, check_id, conflicts_as, require_app
from clarion.services.context import CallContext
from clarion.services.messages.data import annotation_filter_to_proto
from clarion.services.messages.values import json_of
from clarion.services.paging import page_of
from clarion.services.patching import patch_action
from clarion.storage.accounts import AppRecord
from clarion.storage.annotation_filters import AnnotationFilterRecord, AnnotationFilterStore


class AnnotationFiltersService:
    def __init__(self, filters: AnnotationFilterStore) -> None:
        self._filters = filters

    def handlers(self) -> HandlerTable:
        return {
            "PostAnnotationFilters": self.post_annotation_filters,
            "GetAnnotationFilter": self.get_annotation_filter,
            "ListAnnotationFilters": self.list_annotation_filters,
            "PatchAnnotationFilters": self.patch_annotation_filters,
            "DeleteAnnotationFilters": self.delete_annotation_filters,
        }

    def post_annotation_filters(
        self, request: service_pb2.PostAnnotationFiltersRequest, ctx: CallContext
    ) -> service_pb2.MultiAnnotationFilterResponse:
        app = require_app(ctx)
        if not request.annotation_filters:
            raise InvalidArgument("Set 'annotation_filters' to the filters to create")
        records = [
            AnnotationFilterRecord(
                id=check_id("annotation filter", given.id) if given.id else uuid.uuid4().hex,
                search=_search_json(given),
            )
            for given in request.annotation_filters
        ]
        ids = [record.id for record in records]
        if len(set(ids)) != len(ids):
            raise InvalidArgument("An annotation filter id appears twice in one request")
        with conflicts_as("annotation filter", ", ".join(ids)):
            created = self._filters.create(app_pk(app), records)
        return service_pb2.MultiAnnotationFilterResponse(
            annotation_filters=[annotation_filter_to_proto(record, app) for record in created]
        )

    def get_annotation_filter(
        self, request: service_pb2.GetAnnotationFilterRequest, ctx: CallContext
    ) -> service_pb2.SingleAnnotationFilterResponse:
        app = require_app(ctx)
        record = self._existing(app, request.annotation_filter_id)
        return service_pb2.SingleAnnotationFilterResponse(
            annotation_filter=annotation_filter_to_proto(record, app)
        )

    def list_annotation_filters(
        self, request: service_pb2.ListAnnotationFiltersRequest, ctx: CallContext
    ) -> service_pb2.MultiAnnotationFilterResponse:
        """The app's filters, newest first."""
        app = require_app(ctx)
        found = self._filters.list(app_pk(app), page_of(request.page, request.per_page))
        return service_pb2.MultiAnnotationFilterResponse(
            annotation_filters=[annotation_filter_to_proto(record, app) for record in found]
        )

    def patch_annotation_filters(
        self, request: service_pb2.PatchAnnotationFiltersRequest, ctx: CallContext
    ) -> service_pb2.MultiAnnotationFilterResponse:
        app = require_app(ctx)
        patch_action(request.action, default="overwrite", allowed=("overwrite",))
        if not request.annotation_filters:
            raise InvalidArgument("Set 'annotation_filters' to the filters to patch")
        patches = [
            (self._existing(app, given.id).id, _search_json(given))
            for given in request.annotation_filters
        ]
        for filter_id, search in patches:
            self._filters.replace_search(app_pk(app), filter_id, search)
        return service_pb2.MultiAnnotationFilterResponse(
            annotation_filters=[
                annotation_filter_to_proto(self._existing(app, filter_id), app)
                for filter_id, _ in patches
            ]
        )

    def delete_annotation_filters(
        self, request: service_pb2.DeleteAnnotationFiltersRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        ids = list(request.annotation_filter_ids)
        if not ids:
            raise InvalidArgument("Set 'annotation_filter_ids' to the filters to delete")
        for filter_id in ids:
            self._existing(app, filter_id)
        self._filters.delete(app_pk(app), ids)
        return status_pb2.BaseResponse()

    def _existing(self, app: AppRecord, filter_id: str) -> AnnotationFilterRecord:
        record = self._filters.get(app_pk(app), filter_id) if filter_id else None
        if record is None:
            raise NotFound("annotation filter", filter_id)
        return record


def _search_json(given: resources_pb2.AnnotationFilter) -> dict[str, Any]:
    """The filter's search as stored: its query (and name); a filter without one filters
    nothing, so it is refused."""
    if not given.search.HasField("query"):
        raise InvalidArgument(
            f"Annotation filter '{given.id}' needs 'search.query': the annotations it selects"
        )
    kept = resources_pb2.Search(query=given.search.query, name=given.search.name)
    return json_of(kept)
