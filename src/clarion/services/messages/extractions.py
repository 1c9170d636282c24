"""Extraction jobs, and the add jobs they feed."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2

from clarion.services.messages.values import status, struct
from clarion.storage.extractions import ExtractionRecord


def extraction_job(record: ExtractionRecord) -> resources_pb2.InputsExtractionJob:
    message = resources_pb2.InputsExtractionJob(id=record.id, url=record.url)
    message.status.CopyFrom(status(record.status_code, record.status_description))
    message.progress.image_inputs_count = record.image_count
    message.progress.text_inputs_count = record.text_count
    template = record.template
    if template.get("metadata"):
        message.input_template.data.metadata.CopyFrom(struct(template["metadata"]))
    message.input_template.dataset_ids.extend(template.get("dataset_ids") or ())
    for field, value in (("created_at", record.created_at), ("modified_at", record.modified_at)):
        if value is not None:
            getattr(message, field).FromDatetime(value)
    return message


def add_job_of(record: ExtractionRecord) -> resources_pb2.InputsAddJob:
    """The add job an extraction feeds, as ``PostInputsDataSources`` answers it."""
    job = resources_pb2.InputsAddJob(id=record.add_job_id)
    job.extraction_jobs.append(extraction_job(record))
    job.status.CopyFrom(status(record.status_code, record.status_description))
    if record.created_at is not None:
        job.created_at.FromDatetime(record.created_at)
    return job
