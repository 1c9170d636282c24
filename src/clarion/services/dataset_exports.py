"""Export archives of dataset versions, and the hosted URLs they are served from.

A version never changes, so its archive is built when asked for, from the frozen copy: the
archive ``PutDatasetVersionExports`` measured is the one the URL serves. The URL is behind the
caller's key, like ``GetDatasetVersion`` (the SDK sends its key when it downloads).
"""

from __future__ import annotations

from collections.abc import Iterator

from clarifai_grpc.grpc.api import resources_pb2

from clarion.errors import InvalidArgument, NotFound
from clarion.services.base import app_pk, require_app
from clarion.services.context import CallContext
from clarion.services.hosted import HostedUrls
from clarion.services.messages.dataset_versions import export_archive, version_input_to_proto
from clarion.storage.accounts import AppRecord
from clarion.storage.base import Page
from clarion.storage.dataset_versions import DatasetVersionStore, VersionInput

# The formats Clarion writes, by the name in their URL.
FORMATS = {
    "clarifai_data_protobuf": resources_pb2.DatasetVersionExportFormat.CLARIFAI_DATA_PROTOBUF,
    "clarifai_data_json": resources_pb2.DatasetVersionExportFormat.CLARIFAI_DATA_JSON,
}
ZIP_CONTENT_TYPE = "application/zip"
_READ_PAGE = 1000


def format_name(export_format: int) -> str:
    """The URL name of ``export_format``, or ``InvalidArgument`` for one Clarion cannot write."""
    for name, value in FORMATS.items():
        if value == export_format:
            return name
    written = resources_pb2.DatasetVersionExportFormat.Name(export_format)  # type: ignore[arg-type]
    raise InvalidArgument(
        f"Export format {written} is not supported: use CLARIFAI_DATA_PROTOBUF (the archive "
        "the Clarifai SDK's dataset loader reads) or CLARIFAI_DATA_JSON"
    )


class DatasetExports:
    """Builds a version's archive; what the export URL and the export call both use."""

    def __init__(self, versions: DatasetVersionStore, hosted: HostedUrls) -> None:
        self._versions = versions
        self._hosted = hosted

    def url(self, app: AppRecord, dataset_id: str, version_id: str, name: str) -> str:
        return (
            f"{self._hosted.base_url}/hosted/exports/users/{app.user_id}/apps/{app.id}"
            f"/datasets/{dataset_id}/versions/{version_id}/{name}"
        )

    def archive(self, ctx: CallContext, dataset_id: str, version_id: str, name: str) -> bytes:
        """The archive of this version in format ``name``."""
        if name not in FORMATS:
            raise NotFound("export format", name)
        app = require_app(ctx)
        if self._versions.get_version(app_pk(app), dataset_id, version_id) is None:
            raise NotFound("dataset version", version_id)
        messages = (
            version_input_to_proto(item, lambda record: self._hosted.for_input(app, record))
            for item in self.inputs(app, dataset_id, version_id)
        )
        return export_archive(messages, as_json=name == "clarifai_data_json")

    def inputs(self, app: AppRecord, dataset_id: str, version_id: str) -> Iterator[VersionInput]:
        """All the version's inputs, read a page at a time."""
        page = 1
        while True:
            found = self._versions.version_inputs(
                app_pk(app), dataset_id, version_id, Page(page, _READ_PAGE)
            )
            yield from found
            if len(found) < _READ_PAGE:
                return
            page += 1
