"""Dataset versions, their inputs as frozen, their metrics, and their export archives.

The export archive is the one Clarifai's SDK reads (``clarifai.datasets.export``'s
``DatasetExportReader``): a zip whose ``mimetype`` member says the format, then batches of
inputs named ``{split}/batch_{i}_n{count}`` (the reader sums the ``_n`` counts for its length).
In the protobuf format each batch is a serialized ``InputBatch``; in the JSON format it is
that ``InputBatch`` in protobuf's JSON mapping. Each input carries its annotations' concepts
and regions in ``data`` and its image's hosted URL, which the SDK downloads from.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import json_format, struct_pb2, wrappers_pb2

from clarion.codes import DATASET_VERSION_READY
from clarion.services.messages.data import input_to_proto
from clarion.services.messages.values import data_from_json, status, struct, timestamp
from clarion.storage.accounts import AppRecord
from clarion.storage.dataset_versions import DatasetVersionRecord, VersionInput
from clarion.storage.inputs import InputRecord

PROTOBUF_MIMETYPE = b"application/x.clarifai-data+protobuf"
JSON_MIMETYPE = b"application/x.clarifai-data+json"
EXPORT_SPLIT = "all"
EXPORT_BATCH_SIZE = 128

HostedFor = Callable[[InputRecord], resources_pb2.HostedURL | None]


def dataset_version_to_proto(
    version: DatasetVersionRecord, app: AppRecord
) -> resources_pb2.DatasetVersion:
    return resources_pb2.DatasetVersion(
        id=version.id,
        app_id=app.id,
        user_id=app.user_id,
        dataset_id=version.dataset_id,
        description=version.description,
        metadata=struct(version.metadata),
        # A version is frozen in the call that makes it: it is ready at once.
        status=status(DATASET_VERSION_READY, "Dataset version is ready"),
        metrics={
            "/": resources_pb2.DatasetVersionMetrics(
                inputs_count=wrappers_pb2.UInt64Value(value=version.input_count)
            )
        },
        created_at=timestamp(version.created_at),
        modified_at=timestamp(version.modified_at),
    )


def version_input_to_proto(item: VersionInput, hosted: HostedFor) -> resources_pb2.Input:
    """The input as frozen, its annotations' concepts and regions in its data."""
    message = input_to_proto(item.input, hosted=hosted(item.input))
    for annotation in item.annotations:
        data = data_from_json(annotation.data)
        message.data.concepts.extend(data.concepts)
        message.data.regions.extend(data.regions)
    return message


def concept_metrics_groups(
    items: Iterable[VersionInput],
) -> list[resources_pb2.DatasetVersionMetricsGroup]:
    """Per concept: how many of the version's inputs are labelled with it (positively).

    The groups of type ``CONCEPT_ID`` under the root path, one per concept id, by id."""
    counts: Counter[str] = Counter()
    for item in items:
        labelled = {
            concept.id
            for annotation in item.annotations
            for concept in data_from_json(annotation.data).concepts
            if concept.value > 0
        }
        counts.update(labelled)
    return [
        resources_pb2.DatasetVersionMetricsGroup(
            parent_path="/",
            type=resources_pb2.DatasetVersionMetricsGroupType.CONCEPT_ID,
            value=struct_pb2.Value(string_value=concept_id),
            metrics=resources_pb2.DatasetVersionMetrics(
                inputs_count=wrappers_pb2.UInt64Value(value=count),
                positive_input_tags_count=wrappers_pb2.UInt64Value(value=count),
            ),
        )
        for concept_id, count in sorted(counts.items())
    ]


def input_type_metrics_groups(
    items: Iterable[VersionInput],
) -> list[resources_pb2.DatasetVersionMetricsGroup]:
    """Per input type (image, text): how many of the version's inputs are of it."""
    counts = Counter(item.input.kind for item in items)
    return [
        resources_pb2.DatasetVersionMetricsGroup(
            parent_path="/",
            type=resources_pb2.DatasetVersionMetricsGroupType.INPUT_TYPE,
            value=struct_pb2.Value(string_value=kind),
            metrics=resources_pb2.DatasetVersionMetrics(
                inputs_count=wrappers_pb2.UInt64Value(value=count)
            ),
        )
        for kind, count in sorted(counts.items())
    ]


def export_archive(inputs: Iterable[resources_pb2.Input], as_json: bool) -> bytes:
    """The zip the SDK's ``DatasetExportReader`` reads, in the protobuf or JSON format."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # The reader checks this member first; it is stored, as in EPUB-like containers.
        archive.writestr(
            "mimetype", JSON_MIMETYPE if as_json else PROTOBUF_MIMETYPE, zipfile.ZIP_STORED
        )
        for number, batch in enumerate(_batches(inputs)):
            name = f"{EXPORT_SPLIT}/batch_{number}_n{len(batch.inputs)}"
            if as_json:
                archive.writestr(name, json_format.MessageToJson(batch))
            else:
                archive.writestr(name, batch.SerializeToString())
    return buffer.getvalue()


def _batches(inputs: Iterable[resources_pb2.Input]) -> Iterable[resources_pb2.InputBatch]:
    batch = resources_pb2.InputBatch()
    for message in inputs:
        batch.inputs.append(message)
        if len(batch.inputs) == EXPORT_BATCH_SIZE:
            yield batch
            batch = resources_pb2.InputBatch()
    if batch.inputs:
        yield batch
