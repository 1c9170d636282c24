"""Bulk operations: ``PostBulkOperations`` (add or delete concepts, metadata, geo or dataset
membership on many inputs) and ``List/Get/Cancel/DeleteBulkOperations``.

Each operation is a durable job (``clarion.jobs.bulk``) over inputs fixed when it is posted:
the ids given, a dataset's inputs, or a search's results at that moment. What each
operation does to a batch of inputs is ``BulkEdits.apply``, which the job calls.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf import json_format

from clarion.codes import BULK_OPERATION_INVALID_REQUEST
from clarion.errors import InvalidArgument, NotFound
from clarion.services.base import HandlerTable, app_pk, check_id, require_app
from clarion.services.context import CallContext
from clarion.services.messages.bulk_operations import DATASET_SOURCE, bulk_operation_to_proto
from clarion.services.messages.values import json_of, struct_to_dict
from clarion.services.paging import page_of
from clarion.services.patching import Action, patched_by_id, patched_metadata
from clarion.storage.accounts import AppRecord
from clarion.storage.annotations import AnnotationStore
from clarion.storage.base import Page
from clarion.storage.bulk_operations import (
    FINISHED,
    BulkOperationRecord,
    BulkOperationStore,
)
from clarion.storage.datasets import DatasetStore
from clarion.storage.errors import Conflict
from clarion.storage.inputs import InputRecord, InputStore

# The inputs one operation may cover: their ids are kept with it.
MAX_INPUTS = 100_000
_CONCEPT_ACTIONS: dict[str, Action] = {"add_concepts": "merge", "delete_concepts": "remove"}
_METADATA_ACTIONS: dict[str, Action] = {"add_metadata": "merge", "delete_metadata": "remove"}
_UNSUPPORTED = {
    "split_into_datasets": "split the inputs with add_to_dataset, one operation per dataset",
    "delete_annotations": "use DeleteAnnotations, or delete_concepts to take concepts away",
}
FindInputs = Callable[[AppRecord, resources_pb2.Search, int], list[str]]


class BulkOperationInvalid(InvalidArgument):
    """A bulk operation Clarion cannot run as asked."""

    status_code = BULK_OPERATION_INVALID_REQUEST


class BulkOperationsService:
    def __init__(
        self,
        store: BulkOperationStore,
        inputs: InputStore,
        datasets: DatasetStore,
        find_inputs: FindInputs,
        wake_workers: Callable[[], None],
    ) -> None:
        self._store = store
        self._inputs = inputs
        self._datasets = datasets
        self._find_inputs = find_inputs
        self._wake_workers = wake_workers

    def handlers(self) -> HandlerTable:
        return {
            "PostBulkOperations": self.post_bulk_operations,
            "ListBulkOperations": self.list_bulk_operations,
            "GetBulkOperation": self.get_bulk_operation,
            "CancelBulkOperations": self.cancel_bulk_operations,
            "DeleteBulkOperations": self.delete_bulk_operations,
        }

    def post_bulk_operations(
        self, request: service_pb2.PostBulkOperationsRequest, ctx: CallContext
    ) -> service_pb2.MultiBulkOperationsResponse:
        app = require_app(ctx)
        if not request.bulk_operations:
            raise BulkOperationInvalid("PostBulkOperations needs at least one bulk operation")
        records = [self._record(app, ctx, one) for one in request.bulk_operations]
        if len({r.id for r in records}) < len(records):
            raise BulkOperationInvalid("Two bulk operations of the request have the same id")
        try:
            stored = self._store.create_operations(app_pk(app), records)
        except Conflict as exc:
            raise BulkOperationInvalid(
                "A bulk operation with one of these ids exists: leave id empty for a new one"
            ) from exc
        self._wake_workers()
        return service_pb2.MultiBulkOperationsResponse(
            bulk_operation=[bulk_operation_to_proto(r, app) for r in stored]
        )

    def list_bulk_operations(
        self, request: service_pb2.ListBulkOperationsRequest, ctx: CallContext
    ) -> service_pb2.MultiBulkOperationsResponse:
        app = require_app(ctx)
        found = self._store.list_operations(app_pk(app), page_of(request.page, request.per_page))
        return service_pb2.MultiBulkOperationsResponse(
            bulk_operation=[bulk_operation_to_proto(r, app) for r in found]
        )

    def get_bulk_operation(
        self, request: service_pb2.GetBulkOperationRequest, ctx: CallContext
    ) -> service_pb2.SingleBulkOperationsResponse:
        app = require_app(ctx)
        return service_pb2.SingleBulkOperationsResponse(
            bulk_operation=bulk_operation_to_proto(self._existing(app, request.id), app)
        )

    def cancel_bulk_operations(
        self, request: service_pb2.CancelBulkOperationRequest, ctx: CallContext
    ) -> service_pb2.MultiBulkOperationsResponse:
        """Unfinished operations stop after the batch they are on; what they did stays done."""
        app = require_app(ctx)
        ids = _ids(request.ids, "CancelBulkOperations")
        for operation_id in ids:
            self._existing(app, operation_id)
        self._store.cancel_operations(app_pk(app), ids)
        return service_pb2.MultiBulkOperationsResponse(
            bulk_operation=[bulk_operation_to_proto(self._existing(app, i), app) for i in ids]
        )

    def delete_bulk_operations(
        self, request: service_pb2.DeleteBulkOperationRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        """Finished operations only: their record goes, what they did to inputs stays."""
        app = require_app(ctx)
        ids = _ids(request.ids, "DeleteBulkOperations")
        for operation_id in ids:
            if self._existing(app, operation_id).state not in FINISHED:
                raise BulkOperationInvalid(
                    f"Bulk operation '{operation_id}' has not finished: "
                    "CancelBulkOperations stops it, then it can be deleted"
                )
        self._store.delete_operations(app_pk(app), ids)
        return status_pb2.BaseResponse()

    def _existing(self, app: AppRecord, operation_id: str) -> BulkOperationRecord:
        found = self._store.get_operation(app_pk(app), operation_id)
        if found is None:
            raise NotFound("bulk operation", operation_id)
        return found

    # posting: what an operation does, and to which inputs

    def _record(
        self, app: AppRecord, ctx: CallContext, message: resources_pb2.BulkOperation
    ) -> BulkOperationRecord:
        self._check_operation(app, message.operation)
        source, input_ids = self._input_source(app, message)
        return BulkOperationRecord(
            id=check_id("bulk operation", message.id) if message.id else uuid.uuid4().hex,
            operation=json_of(message.operation),
            input_ids=tuple(input_ids),
            source=source,
            created_by=ctx.caller.user_id,
        )

    def _check_operation(self, app: AppRecord, operation: resources_pb2.Operation) -> None:
        kind = operation.WhichOneof("operation") or operation.WhichOneof("annotation_operation")
        if kind is None:
            raise BulkOperationInvalid(
                "Each bulk operation needs an operation: add_concepts, delete_concepts, "
                "add_metadata, delete_metadata, overwrite_geo, delete_geo, add_to_dataset "
                "or delete_from_dataset"
            )
        if kind in _UNSUPPORTED:
            raise BulkOperationInvalid(
                f"Clarion does not run '{kind}' as a bulk operation: {_UNSUPPORTED[kind]}"
            )
        if kind in _CONCEPT_ACTIONS:
            _check_concepts(kind, getattr(operation, kind))
        elif kind in _METADATA_ACTIONS and not getattr(operation, kind).metadata.fields:
            raise BulkOperationInvalid(f"{kind} needs metadata (the keys to add or delete)")
        elif kind == "overwrite_geo":
            _geo_point(operation.overwrite_geo.geo)
        elif kind in ("add_to_dataset", "delete_from_dataset"):
            dataset_id = getattr(operation, kind).dataset_id
            if self._datasets.get_dataset(app_pk(app), dataset_id) is None:
                raise NotFound("dataset", dataset_id)

    def _input_source(
        self, app: AppRecord, message: resources_pb2.BulkOperation
    ) -> tuple[str, list[str]]:
        if message.HasField("annotation_search"):
            raise BulkOperationInvalid(
                "Clarion runs bulk operations over inputs, not annotation_search: "
                "send input_ids, a dataset or a search"
            )
        source = message.WhichOneof("input_source")
        if source == "input_ids":
            ids = list(dict.fromkeys(message.input_ids.input_ids))
            _check_count(len(ids))
            missing = sorted(set(ids) - self._inputs.existing_input_ids(app_pk(app), ids))
            if missing:
                raise NotFound("input", ", ".join(missing[:10]))
            return "input_ids", ids
        if source == "dataset":
            return DATASET_SOURCE + message.dataset.id, self._dataset_inputs(app, message.dataset)
        if source == "search":
            found = self._find_inputs(app, message.search, MAX_INPUTS + 1)
            _check_count(len(found))
            return "search", found
        raise BulkOperationInvalid(
            "Each bulk operation needs its inputs: input_ids, a dataset or a search"
        )

    def _dataset_inputs(self, app: AppRecord, dataset: resources_pb2.Dataset) -> list[str]:
        if self._datasets.get_dataset(app_pk(app), dataset.id) is None:
            raise NotFound("dataset", dataset.id)
        ids: list[str] = []
        page = 1
        while batch := self._datasets.list_dataset_inputs(
            app_pk(app), dataset.id, Page(page, 1000)
        ):
            ids += [record.id for record in batch]
            _check_count(len(ids))
            page += 1
        return ids


class BulkEdits:
    """What each operation does to a batch of inputs: the job (``clarion.jobs.bulk``) calls
    ``apply`` for each batch. Concepts and metadata follow PatchInputs' merge and remove."""

    def __init__(
        self, inputs: InputStore, annotations: AnnotationStore, datasets: DatasetStore
    ) -> None:
        self._inputs = inputs
        self._annotations = annotations
        self._datasets = datasets

    def apply(self, app: int, operation: Mapping[str, Any], input_ids: Sequence[str]) -> None:
        """Apply ``operation`` (its JSON) to those of ``input_ids`` that still exist."""
        message = resources_pb2.Operation()
        json_format.ParseDict(dict(operation), message)
        kind = message.WhichOneof("operation")
        found = self._inputs.list_inputs(app, Page(1, len(input_ids)), ids=list(input_ids))
        if kind in _CONCEPT_ACTIONS:
            self._patch_concepts(
                app, found, getattr(message, kind).concepts, _CONCEPT_ACTIONS[kind]
            )
        elif kind in _METADATA_ACTIONS:
            patch = struct_to_dict(getattr(message, kind).metadata)
            for record in found:
                metadata = patched_metadata(record.metadata, patch, _METADATA_ACTIONS[kind])
                self._inputs.update_input(app, replace(record, metadata=metadata))
        elif kind in ("overwrite_geo", "delete_geo"):
            geo = _geo_point(message.overwrite_geo.geo) if kind == "overwrite_geo" else None
            for record in found:
                self._inputs.update_input(app, replace(record, geo=geo))
        elif kind == "add_to_dataset":
            ids = [r.id for r in found]
            self._datasets.add_dataset_inputs(app, message.add_to_dataset.dataset_id, ids)
        elif kind == "delete_from_dataset":
            ids = [r.id for r in found]
            self._datasets.delete_dataset_inputs(app, message.delete_from_dataset.dataset_id, ids)

    def _patch_concepts(
        self,
        app: int,
        found: Sequence[InputRecord],
        concepts: Sequence[resources_pb2.Concept],
        action: Action,
    ) -> None:
        given = [_stored_concept(concept) for concept in concepts]
        current = {
            a.input_id: a.data
            for a in self._annotations.list_annotations(
                app, Page(1, len(found) or 1), input_ids=[r.id for r in found], input_level=True
            )
        }
        for record in found:
            data = dict(current.get(record.id, {}))
            kept = [dict(c) for c in data.get("concepts", [])]
            data["concepts"] = patched_by_id(kept, given, action, lambda c: str(c.get("id")))
            self._annotations.set_input_level_concepts(app, record.id, data, uuid.uuid4().hex)


def _ids(ids: Sequence[str], method: str) -> list[str]:
    if not ids:
        raise InvalidArgument(f"{method} needs the ids of the bulk operations")
    return list(dict.fromkeys(ids))


def _check_count(count: int) -> None:
    if count > MAX_INPUTS:
        raise BulkOperationInvalid(
            f"A bulk operation covers at most {MAX_INPUTS} inputs: split it into several"
        )


def _check_concepts(kind: str, operation: Any) -> None:
    if not operation.concepts:
        raise BulkOperationInvalid(f"{kind} needs at least one concept")
    for concept in operation.concepts:
        if not (concept.id or concept.name):
            raise BulkOperationInvalid(f"Each concept of {kind} needs an id or a name")
        if kind == "add_concepts" and concept.value not in (0.0, 1.0):
            raise BulkOperationInvalid(
                f"Concept '{concept.id or concept.name}' has value {concept.value}: "
                "use 1 (present) or 0 (absent)"
            )
    if kind == "delete_concepts" and operation.user_ids:
        raise BulkOperationInvalid(
            "delete_concepts.user_ids is not supported: Clarion keeps one input-level "
            "annotation per input, not one per user; leave user_ids empty"
        )


def _stored_concept(concept: resources_pb2.Concept) -> dict[str, Any]:
    """As input-level annotations keep a concept: id (the name when only a name is given),
    name, value."""
    concept_id = concept.id or concept.name
    return {"id": concept_id, "name": concept.name or concept_id, "value": float(concept.value)}


def _geo_point(geo: resources_pb2.Geo) -> tuple[float, float]:
    point = geo.geo_point
    lon, lat = float(point.longitude), float(point.latitude)
    if not geo.HasField("geo_point") or not (
        math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90
    ):
        raise BulkOperationInvalid(
            "overwrite_geo needs geo.geo_point with longitude -180..180 and latitude -90..90"
        )
    return lon, lat
