"""Inputs from archives and public buckets: ``PostInputsDataSources`` queues an extraction
job per data source (a URL to a zip or tar archive, or ``s3://bucket/prefix``), and
``Get``/``List``/``CancelInputsExtractionJobs`` and ``CancelInputsAddJob`` follow or stop
them. The job itself is ``clarion.jobs.extract``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.codes import JOB_CANCELLED
from clarion.errors import InputRejected, InvalidArgument, NotFound
from clarion.fetch.s3 import S3UrlInvalid, is_s3_url, listing_url, s3_location
from clarion.services.base import HandlerTable, app_pk, check_id, conflicts_as, require_app
from clarion.services.context import CallContext
from clarion.services.messages.extractions import add_job_of, extraction_job
from clarion.services.messages.values import struct_to_dict
from clarion.services.paging import page_of
from clarion.storage.accounts import AppRecord
from clarion.storage.datasets import DatasetStore
from clarion.storage.extractions import ExtractionRecord, ExtractionStore

MAX_SOURCES = 128


class ExtractionsService:
    """An app's extraction jobs."""

    def __init__(
        self,
        store: ExtractionStore,
        datasets: DatasetStore,
        check_url: Callable[[str], None],
        wake_workers: Callable[[], None],
        s3_endpoint: str = "",
    ) -> None:
        self._store = store
        self._datasets = datasets
        # Refuses (InputRejected) a URL the fetch policy forbids, before any connection.
        self._check_url = check_url
        self._wake_workers = wake_workers
        self._s3_endpoint = s3_endpoint

    def handlers(self) -> HandlerTable:
        return {
            "PostInputsDataSources": self.post_data_sources,
            "GetInputsExtractionJob": self.get_extraction_job,
            "ListInputsExtractionJobs": self.list_extraction_jobs,
            "CancelInputsExtractionJobs": self.cancel_extraction_jobs,
            "CancelInputsAddJob": self.cancel_add_job,
        }

    def post_data_sources(
        self, request: service_pb2.PostInputsDataSourcesRequest, ctx: CallContext
    ) -> service_pb2.MultiInputsAddJobResponse:
        app = require_app(ctx)
        if request.call_back_url or request.app_pat:
            raise InvalidArgument(
                "call_back_url and app_pat are not supported by Clarion: leave them empty and "
                "follow the job with GetInputsExtractionJob"
            )
        if not 0 < len(request.data_sources) <= MAX_SOURCES:
            raise InvalidArgument(f"Send 1 to {MAX_SOURCES} data_sources")
        records = [self._record(app, source) for source in request.data_sources]
        with conflicts_as("inputs extraction job", ", ".join(r.id for r in records)):
            created = self._store.create_extractions(app_pk(app), records)
        self._wake_workers()
        return service_pb2.MultiInputsAddJobResponse(
            inputs_add_jobs=[add_job_of(record) for record in created]
        )

    def get_extraction_job(
        self, request: service_pb2.GetInputsExtractionJobRequest, ctx: CallContext
    ) -> service_pb2.SingleInputsExtractionJobResponse:
        app = require_app(ctx)
        record = self._store.get_extraction(app_pk(app), request.inputs_extraction_job_id)
        if record is None:
            raise NotFound("inputs extraction job", request.inputs_extraction_job_id)
        return service_pb2.SingleInputsExtractionJobResponse(
            inputs_extraction_job=extraction_job(record)
        )

    def list_extraction_jobs(
        self, request: service_pb2.ListInputsExtractionJobsRequest, ctx: CallContext
    ) -> service_pb2.MultiInputsExtractionJobResponse:
        app = require_app(ctx)
        page = page_of(request.page, request.per_page)
        records = self._store.list_extractions(app_pk(app), page)
        return service_pb2.MultiInputsExtractionJobResponse(
            inputs_extraction_jobs=[extraction_job(record) for record in records]
        )

    def cancel_extraction_jobs(
        self, request: service_pb2.CancelInputsExtractionJobsRequest, ctx: CallContext
    ) -> service_pb2.MultiInputsExtractionJobResponse:
        app = require_app(ctx)
        ids = list(dict.fromkeys(request.ids))
        if not ids:
            raise InvalidArgument("Name the extraction jobs to cancel in ids")
        missing = self._store.cancel_extractions(app_pk(app), ids)
        if missing:
            raise NotFound("inputs extraction job", ", ".join(missing), details="none cancelled")
        records = [self._store.get_extraction(app_pk(app), job_id) for job_id in ids]
        return service_pb2.MultiInputsExtractionJobResponse(
            inputs_extraction_jobs=[extraction_job(r) for r in records if r is not None]
        )

    def cancel_add_job(
        self, request: service_pb2.CancelInputsAddJobRequest, ctx: CallContext
    ) -> service_pb2.SingleInputsAddJobResponse:
        app = require_app(ctx)
        if not self._store.cancel_add_job(app_pk(app), request.id):
            raise NotFound(
                "inputs add job",
                request.id,
                details="no extraction of this add job is queued or running; inputs already "
                "stored stay (delete them with DeleteInputs)",
            )
        job = resources_pb2.InputsAddJob(id=request.id)
        job.status.code, job.status.description = JOB_CANCELLED, "Cancelled"
        return service_pb2.SingleInputsAddJobResponse(inputs_add_job=job)

    def _record(self, app: AppRecord, source: resources_pb2.InputsDataSource) -> ExtractionRecord:
        url = source.url.url
        self._check_source(url)
        if source.url.HasField("credentials"):
            raise InvalidArgument(
                "data_sources.url.credentials are not supported: Clarion reads public URLs "
                "and public S3 buckets only"
            )
        template = source.input_template
        if template.id or template.data.concepts or template.data.HasField("image"):
            raise InvalidArgument(
                "input_template may set data.metadata and dataset_ids only: each file becomes "
                "its own input, and concepts from a template are not supported yet (add them "
                "afterwards with PostAnnotations)"
            )
        dataset_ids = list(dict.fromkeys(template.dataset_ids))
        self._check_datasets(app, dataset_ids)
        job_id = uuid.uuid4().hex
        add_job_id = check_id("inputs add job", source.inputs_add_job_id or job_id)
        return ExtractionRecord(
            id=job_id,
            url=url,
            add_job_id=add_job_id,
            template={
                "metadata": struct_to_dict(template.data.metadata),
                "dataset_ids": dataset_ids,
            },
        )

    def _check_source(self, url: str) -> None:
        if not url:
            raise InvalidArgument("Each data source needs url.url: an archive's URL or s3://")
        if is_s3_url(url):
            try:
                url = listing_url(s3_location(url), self._s3_endpoint)
            except S3UrlInvalid as exc:
                raise InvalidArgument(str(exc)) from exc
        try:
            self._check_url(url)
        except InputRejected as rejected:
            raise InvalidArgument(f"data source {url}: {rejected.description}") from rejected

    def _check_datasets(self, app: AppRecord, dataset_ids: list[str]) -> None:
        for dataset_id in dataset_ids:
            if self._datasets.get_dataset(app_pk(app), dataset_id) is None:
                raise NotFound("dataset", dataset_id)
