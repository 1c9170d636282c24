"""Datasets: named sets of an app's inputs."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.errors import InvalidArgument, NotFound
from clarion.services.base import (
    HandlerTable,
    app_pk,
    check_id,
    check_merged_metadata,
    conflicts_as,
    require_app,
)
from clarion.services.context import CallContext
from clarion.services.hosted import HostedUrls
from clarion.services.messages.data import dataset_to_proto, input_to_proto
from clarion.services.messages.values import struct_to_dict, timestamp
from clarion.services.paging import page_of
from clarion.services.patching import patch_action, patched_metadata
from clarion.storage.accounts import AppRecord
from clarion.storage.datasets import DatasetRecord, DatasetStore
from clarion.storage.inputs import InputStore


class DatasetsService:
    def __init__(self, datasets: DatasetStore, inputs: InputStore, hosted: HostedUrls) -> None:
        self._datasets = datasets
        self._inputs = inputs
        self._hosted = hosted

    def handlers(self) -> HandlerTable:
        return {
            "PostDatasets": self.post_datasets,
            "GetDataset": self.get_dataset,
            "ListDatasets": self.list_datasets,
            "PatchDatasets": self.patch_datasets,
            "DeleteDatasets": self.delete_datasets,
            "PostDatasetInputs": self.post_dataset_inputs,
            "ListDatasetInputs": self.list_dataset_inputs,
            "DeleteDatasetInputs": self.delete_dataset_inputs,
        }

    def post_datasets(
        self, request: service_pb2.PostDatasetsRequest, ctx: CallContext
    ) -> service_pb2.MultiDatasetResponse:
        app = require_app(ctx)
        if not request.datasets:
            raise InvalidArgument("PostDatasets needs at least one dataset")
        records = [
            DatasetRecord(
                id=check_id("dataset", dataset.id),
                description=dataset.description,
                notes=dataset.notes,
                metadata=struct_to_dict(dataset.metadata),
            )
            for dataset in request.datasets
        ]
        with conflicts_as("dataset", ", ".join(record.id for record in records)):
            created = self._datasets.create_datasets(app_pk(app), records)
        return service_pb2.MultiDatasetResponse(
            datasets=[dataset_to_proto(d, app) for d in created]
        )

    def get_dataset(
        self, request: service_pb2.GetDatasetRequest, ctx: CallContext
    ) -> service_pb2.SingleDatasetResponse:
        app = require_app(ctx)
        return service_pb2.SingleDatasetResponse(
            dataset=dataset_to_proto(self._existing(app, request.dataset_id), app)
        )

    def list_datasets(
        self, request: service_pb2.ListDatasetsRequest, ctx: CallContext
    ) -> service_pb2.MultiDatasetResponse:
        app = require_app(ctx)
        found = self._datasets.list_datasets(app_pk(app), page_of(request.page, request.per_page))
        return service_pb2.MultiDatasetResponse(datasets=[dataset_to_proto(d, app) for d in found])

    def patch_datasets(
        self, request: service_pb2.PatchDatasetsRequest, ctx: CallContext
    ) -> service_pb2.MultiDatasetResponse:
        app = require_app(ctx)
        action = patch_action(request.action, default="overwrite", allowed=("merge", "overwrite"))
        patched = []
        for patch in request.datasets:
            current = self._existing(app, patch.id)
            metadata = struct_to_dict(patch.metadata) if patch.HasField("metadata") else None
            if metadata is not None:
                metadata = patched_metadata(current.metadata, metadata, action)
                check_merged_metadata(ctx, metadata, f"dataset '{current.id}'")
            changed = DatasetRecord(
                id=current.id,
                description=patch.description or current.description,
                notes=patch.notes or current.notes,
                metadata=current.metadata if metadata is None else metadata,
                created_at=current.created_at,
            )
            patched.append(self._datasets.update_dataset(app_pk(app), changed))
        return service_pb2.MultiDatasetResponse(
            datasets=[dataset_to_proto(d, app) for d in patched]
        )

    def delete_datasets(
        self, request: service_pb2.DeleteDatasetsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        if not request.dataset_ids:
            raise InvalidArgument("DeleteDatasets needs dataset_ids")
        self._datasets.delete_datasets(app_pk(app), list(request.dataset_ids))
        return status_pb2.BaseResponse()

    def post_dataset_inputs(
        self, request: service_pb2.PostDatasetInputsRequest, ctx: CallContext
    ) -> service_pb2.MultiDatasetInputResponse:
        app = require_app(ctx)
        self._existing(app, request.dataset_id)
        input_ids = [item.input.id for item in request.dataset_inputs]
        for input_id in input_ids:
            if self._inputs.get_input(app_pk(app), input_id) is None:
                raise NotFound("input", input_id)
        self._datasets.add_dataset_inputs(app_pk(app), request.dataset_id, input_ids)
        return service_pb2.MultiDatasetInputResponse(
            dataset_inputs=[
                resources_pb2.DatasetInput(input=resources_pb2.Input(id=input_id))
                for input_id in input_ids
            ]
        )

    def list_dataset_inputs(
        self, request: service_pb2.ListDatasetInputsRequest, ctx: CallContext
    ) -> service_pb2.MultiDatasetInputResponse:
        app = require_app(ctx)
        self._existing(app, request.dataset_id)
        page = page_of(request.page, request.per_page)
        found = self._datasets.list_dataset_inputs(app_pk(app), request.dataset_id, page)
        return service_pb2.MultiDatasetInputResponse(
            dataset_inputs=[
                resources_pb2.DatasetInput(
                    input=input_to_proto(record, hosted=self._hosted.for_input(app, record)),
                    created_at=timestamp(record.created_at),
                )
                for record in found
            ]
        )

    def delete_dataset_inputs(
        self, request: service_pb2.DeleteDatasetInputsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        self._existing(app, request.dataset_id)
        self._datasets.delete_dataset_inputs(
            app_pk(app), request.dataset_id, list(request.input_ids)
        )
        return status_pb2.BaseResponse()

    def _existing(self, app: AppRecord, dataset_id: str) -> DatasetRecord:
        found = self._datasets.get_dataset(app_pk(app), dataset_id) if dataset_id else None
        if found is None:
            raise NotFound("dataset", dataset_id)
        return found
