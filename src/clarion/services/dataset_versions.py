"""Dataset versions: frozen copies of a dataset, their metrics and their export archives;
and a dataset's input by id (``GetDatasetInput``)."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2

from clarion.codes import DATASET_VERSION_EXPORT_SUCCESS
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
from clarion.services.dataset_exports import DatasetExports, format_name
from clarion.services.hosted import HostedUrls
from clarion.services.messages.data import input_to_proto
from clarion.services.messages.dataset_versions import (
    concept_metrics_groups,
    dataset_version_to_proto,
    input_type_metrics_groups,
)
from clarion.services.messages.values import response_id, status, struct_to_dict, timestamp
from clarion.services.paging import page_of
from clarion.services.patching import patch_action, patched_metadata
from clarion.storage.accounts import AppRecord
from clarion.storage.dataset_versions import DatasetVersionRecord, DatasetVersionStore
from clarion.storage.datasets import DatasetStore
from clarion.storage.inputs import InputStore

_GROUP_TYPES = resources_pb2.DatasetVersionMetricsGroupType
# The fields of a DatasetVersion a request may set; the others Clarion cannot honour.
_SETTABLE = frozenset({"id", "description", "metadata", "dataset_id", "app_id", "user_id"})


class DatasetVersionsService:
    def __init__(
        self,
        datasets: DatasetStore,
        inputs: InputStore,
        versions: DatasetVersionStore,
        exports: DatasetExports,
        hosted: HostedUrls,
    ) -> None:
        self._datasets = datasets
        self._inputs = inputs
        self._versions = versions
        self._exports = exports
        self._hosted = hosted

    def handlers(self) -> HandlerTable:
        return {
            "PostDatasetVersions": self.post_dataset_versions,
            "GetDatasetVersion": self.get_dataset_version,
            "ListDatasetVersions": self.list_dataset_versions,
            "PatchDatasetVersions": self.patch_dataset_versions,
            "DeleteDatasetVersions": self.delete_dataset_versions,
            "ListDatasetVersionMetricsGroups": self.list_dataset_version_metrics_groups,
            "PutDatasetVersionExports": self.put_dataset_version_exports,
            "GetDatasetInput": self.get_dataset_input,
        }

    def post_dataset_versions(
        self, request: service_pb2.PostDatasetVersionsRequest, ctx: CallContext
    ) -> service_pb2.MultiDatasetVersionResponse:
        app = require_app(ctx)
        if len(request.dataset_versions) != 1:
            raise InvalidArgument(
                "PostDatasetVersions makes one version a call: send one dataset_versions entry"
            )
        asked = request.dataset_versions[0]
        _refuse_unsettable(asked)
        record = DatasetVersionRecord(
            id=check_id("dataset version", asked.id or response_id()),
            dataset_id=request.dataset_id,
            description=asked.description,
            metadata=struct_to_dict(asked.metadata),
        )
        with conflicts_as("dataset version", record.id):
            created = self._versions.create_version(app_pk(app), request.dataset_id, record)
        if created is None:
            raise NotFound("dataset", request.dataset_id)
        return service_pb2.MultiDatasetVersionResponse(
            dataset_versions=[dataset_version_to_proto(created, app)]
        )

    def get_dataset_version(
        self, request: service_pb2.GetDatasetVersionRequest, ctx: CallContext
    ) -> service_pb2.SingleDatasetVersionResponse:
        app = require_app(ctx)
        found = self._existing(app, request.dataset_id, request.dataset_version_id)
        return service_pb2.SingleDatasetVersionResponse(
            dataset_version=dataset_version_to_proto(found, app)
        )

    def list_dataset_versions(
        self, request: service_pb2.ListDatasetVersionsRequest, ctx: CallContext
    ) -> service_pb2.MultiDatasetVersionResponse:
        app = require_app(ctx)
        self._existing_dataset(app, request.dataset_id)
        if request.request_origins:
            raise InvalidArgument(
                "request_origins is not supported: every version Clarion keeps was made by "
                "PostDatasetVersions; leave it empty"
            )
        page = page_of(request.page, request.per_page)
        found = self._versions.list_versions(app_pk(app), request.dataset_id, page)
        return service_pb2.MultiDatasetVersionResponse(
            dataset_versions=[dataset_version_to_proto(version, app) for version in found]
        )

    def patch_dataset_versions(
        self, request: service_pb2.PatchDatasetVersionsRequest, ctx: CallContext
    ) -> service_pb2.MultiDatasetVersionResponse:
        app = require_app(ctx)
        action = patch_action(request.action, default="merge", allowed=("merge", "overwrite"))
        patched = []
        for patch in request.dataset_versions:
            _refuse_unsettable(patch)
            current = self._existing(app, request.dataset_id, patch.id)
            metadata = dict(current.metadata)
            if patch.HasField("metadata"):
                metadata = patched_metadata(
                    current.metadata, struct_to_dict(patch.metadata), action
                )
                check_merged_metadata(ctx, metadata, f"dataset version '{current.id}'")
            changed = DatasetVersionRecord(
                id=current.id,
                dataset_id=current.dataset_id,
                description=patch.description or current.description,
                metadata=metadata,
                input_count=current.input_count,
                created_at=current.created_at,
            )
            patched.append(self._versions.update_version(app_pk(app), request.dataset_id, changed))
        return service_pb2.MultiDatasetVersionResponse(
            dataset_versions=[dataset_version_to_proto(version, app) for version in patched]
        )

    def delete_dataset_versions(
        self, request: service_pb2.DeleteDatasetVersionsRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        if not request.dataset_version_ids:
            raise InvalidArgument("DeleteDatasetVersions needs dataset_version_ids")
        for version_id in request.dataset_version_ids:
            self._existing(app, request.dataset_id, version_id)
        ids = list(request.dataset_version_ids)
        self._versions.delete_versions(app_pk(app), request.dataset_id, ids)
        return status_pb2.BaseResponse()

    def list_dataset_version_metrics_groups(
        self, request: service_pb2.ListDatasetVersionMetricsGroupsRequest, ctx: CallContext
    ) -> service_pb2.MultiDatasetVersionMetricsGroupResponse:
        app = require_app(ctx)
        self._existing(app, request.dataset_id, request.dataset_version_id)
        wanted = _wanted_group_types(request)
        items = list(self._exports.inputs(app, request.dataset_id, request.dataset_version_id))
        groups = []
        if _GROUP_TYPES.INPUT_TYPE in wanted:
            groups.extend(input_type_metrics_groups(items))
        if _GROUP_TYPES.CONCEPT_ID in wanted:
            groups.extend(concept_metrics_groups(items))
        if request.values:
            values = {value.string_value for value in request.values}
            groups = [group for group in groups if group.value.string_value in values]
        page = page_of(request.page, request.per_page)
        return service_pb2.MultiDatasetVersionMetricsGroupResponse(
            dataset_version_metrics_groups=groups[page.offset : page.offset + page.per_page]
        )

    def put_dataset_version_exports(
        self, request: service_pb2.PutDatasetVersionExportsRequest, ctx: CallContext
    ) -> service_pb2.MultiDatasetVersionExportResponse:
        app = require_app(ctx)
        version_id = request.dataset_version_id
        self._existing(app, request.dataset_id, version_id)
        if not request.exports:
            raise InvalidArgument("PutDatasetVersionExports needs at least one export format")
        answered = []
        for asked in request.exports:
            if asked.include_embeddings:
                raise InvalidArgument(
                    "include_embeddings is not supported: exports carry inputs and their "
                    "annotations; read embeddings with the search API"
                )
            name = format_name(asked.format)
            archive = self._exports.archive(ctx, request.dataset_id, version_id, name)
            answered.append(
                resources_pb2.DatasetVersionExport(
                    format=asked.format,
                    status=status(DATASET_VERSION_EXPORT_SUCCESS, "Export is ready"),
                    url=self._exports.url(app, request.dataset_id, version_id, name),
                    size=len(archive),
                )
            )
        return service_pb2.MultiDatasetVersionExportResponse(exports=answered)

    def get_dataset_input(
        self, request: service_pb2.GetDatasetInputRequest, ctx: CallContext
    ) -> service_pb2.SingleDatasetInputResponse:
        app = require_app(ctx)
        self._existing_dataset(app, request.dataset_id)
        record = self._inputs.get_input(app_pk(app), request.input_id) if request.input_id else None
        if record is None or request.dataset_id not in record.dataset_ids:
            raise NotFound(f"input of dataset '{request.dataset_id}'", request.input_id)
        return service_pb2.SingleDatasetInputResponse(
            dataset_input=resources_pb2.DatasetInput(
                input=input_to_proto(record, hosted=self._hosted.for_input(app, record)),
                created_at=timestamp(record.created_at),
            )
        )

    def _existing_dataset(self, app: AppRecord, dataset_id: str) -> None:
        if not dataset_id or self._datasets.get_dataset(app_pk(app), dataset_id) is None:
            raise NotFound("dataset", dataset_id)

    def _existing(self, app: AppRecord, dataset_id: str, version_id: str) -> DatasetVersionRecord:
        self._existing_dataset(app, dataset_id)
        found = (
            self._versions.get_version(app_pk(app), dataset_id, version_id) if version_id else None
        )
        if found is None:
            raise NotFound("dataset version", version_id)
        return found


def _refuse_unsettable(version: resources_pb2.DatasetVersion) -> None:
    """A field Clarion would ignore is refused, naming what it keeps instead."""
    extra = sorted(field.name for field, _ in version.ListFields() if field.name not in _SETTABLE)
    if extra:
        raise InvalidArgument(
            f"DatasetVersion field(s) {', '.join(extra)} not supported: a version freezes the "
            "dataset's inputs and all their annotations as they are; set id, description and "
            "metadata only"
        )


def _wanted_group_types(
    request: service_pb2.ListDatasetVersionMetricsGroupsRequest,
) -> set[int]:
    known: set[int] = {_GROUP_TYPES.INPUT_TYPE, _GROUP_TYPES.CONCEPT_ID}
    if request.parent_paths and set(request.parent_paths) != {"/"}:
        raise InvalidArgument("parent_paths other than '/' are not supported: groups are top-level")
    wanted: set[int] = {int(kind) for kind in request.types} or known
    unknown = wanted - known
    if unknown:
        names = ", ".join(sorted(_GROUP_TYPES.Name(kind) for kind in unknown))  # type: ignore[arg-type]
        raise InvalidArgument(
            f"Metrics group type(s) {names} not supported: use INPUT_TYPE or CONCEPT_ID"
        )
    return wanted
