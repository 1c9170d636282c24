"""Annotations: input-level concepts and regions (bounding boxes with their concepts)."""

from __future__ import annotations

import uuid
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.errors import InvalidArgument, NotFound
from clarion.services.base import HandlerTable, app_pk, check_id, require_app
from clarion.services.context import CallContext
from clarion.services.messages.data import annotation_to_proto
from clarion.services.messages.values import json_of
from clarion.services.paging import page_of
from clarion.services.patching import Action, deep_merge, patch_action, patched_by_id
from clarion.storage.accounts import AppRecord
from clarion.storage.annotations import AnnotationRecord, AnnotationStore
from clarion.storage.inputs import InputStore


class AnnotationsService:
    def __init__(self, annotations: AnnotationStore, inputs: InputStore) -> None:
        self._annotations = annotations
        self._inputs = inputs

    def handlers(self) -> HandlerTable:
        return {
            "PostAnnotations": self.post_annotations,
            "GetAnnotation": self.get_annotation,
            "ListAnnotations": self.list_annotations,
            "PatchAnnotations": self.patch_annotations,
            "DeleteAnnotation": self.delete_annotation,
            "DeleteAnnotations": self.delete_annotations,
        }

    def post_annotations(
        self, request: service_pb2.PostAnnotationsRequest, ctx: CallContext
    ) -> service_pb2.MultiAnnotationResponse:
        app = require_app(ctx)
        if not request.annotations:
            raise InvalidArgument("PostAnnotations needs at least one annotation")
        records = [self._new(app, annotation) for annotation in request.annotations]
        stored = self._annotations.add_annotations(app_pk(app), records)
        return service_pb2.MultiAnnotationResponse(
            annotations=[annotation_to_proto(record, app) for record in stored]
        )

    def get_annotation(
        self, request: service_pb2.GetAnnotationRequest, ctx: CallContext
    ) -> service_pb2.SingleAnnotationResponse:
        app = require_app(ctx)
        found = self._annotations.get_annotation(app_pk(app), request.annotation_id)
        if found is None or (request.input_id and found.input_id != request.input_id):
            raise NotFound("annotation", request.annotation_id)
        return service_pb2.SingleAnnotationResponse(annotation=annotation_to_proto(found, app))

    def list_annotations(
        self, request: service_pb2.ListAnnotationsRequest, ctx: CallContext
    ) -> service_pb2.MultiAnnotationResponse:
        app = require_app(ctx)
        found = self._annotations.list_annotations(
            app_pk(app),
            page_of(request.page, request.per_page),
            ids=list(request.ids),
            input_ids=list(request.input_ids),
        )
        return service_pb2.MultiAnnotationResponse(
            annotations=[annotation_to_proto(record, app) for record in found]
        )

    def patch_annotations(
        self, request: service_pb2.PatchAnnotationsRequest, ctx: CallContext
    ) -> service_pb2.MultiAnnotationResponse:
        app = require_app(ctx)
        action = patch_action(request.action, default="merge")
        patched = []
        for patch in request.annotations:
            current = self._annotations.get_annotation(app_pk(app), patch.id)
            if current is None:
                raise NotFound("annotation", patch.id)
            data = _patched_data(current.data, _checked_data(patch.data), action)
            updated = AnnotationRecord(
                id=current.id,
                input_id=current.input_id,
                data=data,
                input_level=current.input_level,
                status_code=current.status_code,
                created_at=current.created_at,
            )
            patched.append(self._annotations.update_annotation(app_pk(app), updated))
        return service_pb2.MultiAnnotationResponse(
            annotations=[annotation_to_proto(record, app) for record in patched]
        )

    def delete_annotation(
        self, request: service_pb2.DeleteAnnotationRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        found = self._annotations.get_annotation(app_pk(app), request.annotation_id)
        if found is None or (request.input_id and found.input_id != request.input_id):
            raise NotFound("annotation", request.annotation_id)
        self._annotations.delete_annotations(app_pk(app), ids=[found.id])
        return status_pb2.BaseResponse()

    def delete_annotations(
        self, request: service_pb2.DeleteAnnotationsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        if not request.ids and not request.input_ids:
            raise InvalidArgument("DeleteAnnotations needs ids or input_ids")
        self._annotations.delete_annotations(
            app_pk(app), ids=list(request.ids), input_ids=list(request.input_ids)
        )
        return status_pb2.BaseResponse()

    def _new(self, app: AppRecord, annotation: resources_pb2.Annotation) -> AnnotationRecord:
        if not annotation.input_id:
            raise InvalidArgument("Each annotation needs the input_id it annotates")
        if self._inputs.get_input(app_pk(app), annotation.input_id) is None:
            raise NotFound("input", annotation.input_id)
        data = _checked_data(annotation.data)
        return AnnotationRecord(
            id=check_id("annotation", annotation.id) if annotation.id else uuid.uuid4().hex,
            input_id=annotation.input_id,
            data=data,
            input_level=not data.get("regions"),
        )


def _checked_data(data: resources_pb2.Data) -> dict[str, Any]:
    """Concepts, regions (each with a valid box and an id) and metadata."""
    for region in data.regions:
        _check_box(region)
        if not region.id:
            region.id = uuid.uuid4().hex
    for concept in [*data.concepts, *(c for r in data.regions for c in r.data.concepts)]:
        if not concept.id and not concept.name:
            raise InvalidArgument("Each concept needs an id or a name")
        if not concept.id:
            concept.id = concept.name
        if not concept.name:
            concept.name = concept.id
    kept = resources_pb2.Data(concepts=data.concepts, regions=data.regions)
    if data.HasField("metadata"):  # it was dropped without a word; the fuzzing found it
        kept.metadata.CopyFrom(data.metadata)
    return json_of(kept)


def _check_box(region: resources_pb2.Region) -> None:
    if not region.region_info.HasField("bounding_box"):
        return
    box = region.region_info.bounding_box
    corners = (box.top_row, box.left_col, box.bottom_row, box.right_col)
    if not all(0.0 <= value <= 1.0 for value in corners):
        raise InvalidArgument("Bounding box coordinates are fractions of the image: 0 to 1")
    if box.top_row >= box.bottom_row or box.left_col >= box.right_col:
        raise InvalidArgument("A bounding box needs top_row < bottom_row and left_col < right_col")


def _patched_data(
    current: dict[str, Any] | Any, patch: dict[str, Any], action: Action
) -> dict[str, Any]:
    current = dict(current)
    if action == "overwrite":
        return patch
    # The last of several items with one id is the one kept, as a dict by id would keep it.
    lists = {
        key: patched_by_id(
            current.get(key, []),
            list({item.get("id"): item for item in patch.get(key, [])}.values()),
            action,
            lambda item: str(item.get("id")),
        )
        for key in ("concepts", "regions")
    }
    return deep_merge(current, lists)
