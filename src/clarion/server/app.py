"""The composition root: ``build_server(settings)`` picks the backends and wires everything.

What runs the wired server (both transports, health, drain) is ``server/process.py``.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from clarion.blobs.files import FileBlobStore
from clarion.config import Settings
from clarion.fetch import FetchPolicy, UrlFetcher
from clarion.inference import ModelCatalog
from clarion.inference.workflow import PUBLIC_APP, PUBLIC_USER
from clarion.jobs.app_copy import AppCopyJob
from clarion.jobs.bulk import BulkOperationJob
from clarion.jobs.collect import CollectBlobsJob
from clarion.jobs.evaluation import EvaluationJob
from clarion.jobs.extract import ExtractInputsJob
from clarion.jobs.ingest import IngestJob
from clarion.jobs.ingest_video import VideoIngestion
from clarion.jobs.reindex import ReindexJob
from clarion.jobs.training import EvaluateJob, TrainJob
from clarion.jobs.worker import JobKind, Wakeups, WorkerPool
from clarion.media.archives import ArchiveLimits
from clarion.media.video import VideoLimits
from clarion.runtime.decoded import DecodedImages
from clarion.runtime.frame_indexes import FrameAwareIndexes, FrameAwareNearest
from clarion.runtime.indexing import Indexer
from clarion.runtime.model_resolver import ModelResolver
from clarion.runtime.model_runners import RunnerLimits, server_python
from clarion.runtime.pgvector_indexes import PgvectorIndexes, PgvectorNearest, shared_counts
from clarion.runtime.untrusted import UntrustedInputs
from clarion.runtime.vector_indexes import IndexRegistry
from clarion.runtime.videos import UntrustedVideos
from clarion.server.audit import AuditRecorder
from clarion.server.auth import Authenticator
from clarion.server.dispatch import Dispatcher
from clarion.server.http import HostedRoute
from clarion.server.limits import Limits
from clarion.server.metrics import Metrics
from clarion.server.process import ClarionServer
from clarion.server.usage import UsageCounter
from clarion.services.annotation_filters import AnnotationFiltersService
from clarion.services.annotations import AnnotationsService
from clarion.services.app_duplications import AppDuplicationsService
from clarion.services.app_reads import AppReadsService
from clarion.services.apps import AppsService
from clarion.services.audit import AuditService
from clarion.services.base import Handler, StreamHandler
from clarion.services.bulk_operations import BulkEdits, BulkOperationsService
from clarion.services.collaborators import CollaboratorsService
from clarion.services.compute import ComputeService
from clarion.services.concept_graph import ConceptGraphService
from clarion.services.concepts import ConceptsService
from clarion.services.custom_models import CustomModelsService
from clarion.services.dataset_exports import DatasetExports
from clarion.services.dataset_versions import DatasetVersionsService
from clarion.services.datasets import DatasetsService
from clarion.services.evaluations import EvaluationsService
from clarion.services.extractions import ExtractionsService
from clarion.services.hosted import HostedImages, HostedUrls
from clarion.services.inputs import InputsService
from clarion.services.keys import KeysService
from clarion.services.metrics import MetricsService
from clarion.services.model_exports import ModelExportsService
from clarion.services.model_extras import ModelExtrasService
from clarion.services.model_references import ModelReferencesService
from clarion.services.model_types import ModelTypesService
from clarion.services.model_uploads import ModelUploadsService, RunnerSetup
from clarion.services.models import ModelsService
from clarion.services.predict import PredictService
from clarion.services.reference import ReferenceService
from clarion.services.renames import RenamesService
from clarion.services.runner_calls import Predict, RunnerCallsService
from clarion.services.runners import RunnerBroker
from clarion.services.searches import SearchesService
from clarion.services.task_assignments import TaskAssignmentsService
from clarion.services.tasks import TasksService
from clarion.services.uploads import UploadsService
from clarion.services.users import UsersService
from clarion.services.video_predict import VideoPredictions
from clarion.services.workflow_versions import WorkflowVersionsService
from clarion.services.workflows import WorkflowsService
from clarion.storage.app_copies import APP_DUPLICATION_JOB
from clarion.storage.bulk_operations import BULK_OPERATION_JOB
from clarion.storage.engine import create_db_engine, database_label, migrate, schema_revision
from clarion.storage.evaluations import RUN_EVALUATION_JOB
from clarion.storage.extractions import EXTRACT_INPUTS_JOB
from clarion.storage.jobs import COLLECT_BLOBS_JOB, INGEST_JOB, REINDEX_JOB
from clarion.storage.models import EVALUATE_MODEL_JOB, TRAIN_MODEL_JOB
from clarion.storage.sql import (
    SqlAccountStore,
    SqlAnnotationFilters,
    SqlAnnotationStore,
    SqlAppCopies,
    SqlAppReads,
    SqlAuditLog,
    SqlBulkOperationStore,
    SqlCollaboratorStore,
    SqlComputeStore,
    SqlConceptGraphStore,
    SqlConceptStore,
    SqlDatasetStore,
    SqlDatasetVersionStore,
    SqlEvaluationStore,
    SqlExtractionStore,
    SqlInputStore,
    SqlJobQueue,
    SqlLabellingStore,
    SqlModelExportStore,
    SqlModelExtras,
    SqlModelStore,
    SqlPruning,
    SqlRenames,
    SqlSearchStore,
    SqlUploadedModelStore,
    SqlUploadStore,
    SqlVectorSearch,
    SqlVectorSearchStore,
    SqlVideoStore,
    SqlWorkflowVersions,
    job_notifications,
    prepare_pgvector,
)

log = logging.getLogger("clarion.server")

ADMIN_PAT_FILE = "admin-pat.txt"
# On PostgreSQL workers are woken by LISTEN/NOTIFY; they poll this seldom besides, to take over
# the expired leases of a worker that died.
NOTIFIED_POLL_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Admin:
    """Data-directory administration, for the CLI: the same services the API uses."""

    store: SqlAccountStore
    users: UsersService
    keys: KeysService


@dataclass(frozen=True, slots=True)
class Backends:
    """The concrete storage, blobs, fetching and models one process works with."""

    store: SqlAccountStore
    inputs: SqlInputStore
    concepts: SqlConceptStore
    concept_graph: SqlConceptGraphStore
    bulk_operations: SqlBulkOperationStore
    annotations: SqlAnnotationStore
    datasets: SqlDatasetStore
    search: SqlSearchStore
    modeldata: SqlModelStore
    evaluations: SqlEvaluationStore
    model_exports: SqlModelExportStore
    model_uploads: SqlUploadedModelStore
    compute_records: SqlComputeStore
    renames: SqlRenames
    model_extras: SqlModelExtras
    workflow_versions: SqlWorkflowVersions
    app_reads: SqlAppReads
    app_copies: SqlAppCopies
    annotation_filters: SqlAnnotationFilters
    audit: SqlAuditLog
    uploads: SqlUploadStore
    extractions: SqlExtractionStore
    dataset_versions: SqlDatasetVersionStore
    collaborators: SqlCollaboratorStore
    queue: SqlJobQueue
    pruning: SqlPruning
    # On PostgreSQL: a listener that wakes a worker pool when any process queues a job.
    notifications: Callable[[], Wakeups] | None
    blobs: FileBlobStore
    fetcher: UrlFetcher
    # Archives and S3 objects for PostInputsDataSources: the same policy, larger and slower.
    archive_fetcher: UrlFetcher
    models: ModelCatalog
    indexes: IndexRegistry | PgvectorIndexes
    # A vector rank under filters: in SQL on pgvector, else by ``FilteredNearest``'s plans.
    filtered_nearest: PgvectorNearest | None
    videos: SqlVideoStore
    labelling: SqlLabellingStore
    video_limits: VideoLimits
    # Reading inputs to predict on (fetching, decoding) runs on these threads.
    readers: ThreadPoolExecutor
    # Predictions on inputs sent in the request: computation alone, on about one thread a core.
    compute: ThreadPoolExecutor
    # Uploads PostInputs decoded, kept for this process's ingest jobs (one decode per upload).
    decoded: DecodedImages = field(default_factory=DecodedImages)

    @property
    def untrusted_videos(self) -> UntrustedVideos:
        """Video bytes and URLs read under the settings' video limits."""
        return UntrustedVideos(self.fetcher, self.video_limits)

    @property
    def resolver(self) -> ModelResolver:
        """Model references to runners: the app's custom models, then the built-in ones."""
        return ModelResolver(self.models, self.modeldata)

    def close(self) -> None:
        self.readers.shutdown(wait=False, cancel_futures=True)
        self.compute.shutdown(wait=False, cancel_futures=True)
        self.fetcher.close()
        self.archive_fetcher.close()
        self.store.close()  # the stores share one engine


def open_backends(settings: Settings) -> Backends:
    """Storage for ``settings``, migrated to the newest schema."""
    _ensure_private_dir(settings.data_dir)
    engine = create_db_engine(
        settings.resolved_database_url, settings.database_lock_timeout_seconds
    )
    migrate(engine)
    on_pgvector = settings.vector_index == "auto" and prepare_pgvector(
        engine, settings.pgvector_type
    )
    policy = FetchPolicy(
        allow_private=settings.allow_private_urls,
        allowed_hosts=frozenset(settings.url_allow_list),
        extra_ca_certs=tuple(str(location) for location in settings.fetch_ca_certs),
    )
    return Backends(
        store=SqlAccountStore(engine),
        inputs=SqlInputStore(engine),
        concepts=SqlConceptStore(engine),
        concept_graph=SqlConceptGraphStore(engine),
        bulk_operations=SqlBulkOperationStore(engine),
        annotations=SqlAnnotationStore(engine),
        datasets=SqlDatasetStore(engine),
        search=SqlVectorSearchStore(engine, settings.pgvector_type)
        if on_pgvector
        else SqlSearchStore(engine),
        modeldata=SqlModelStore(engine, absent_seconds=settings.auth_cache_seconds),
        evaluations=SqlEvaluationStore(engine),
        model_exports=SqlModelExportStore(engine),
        model_uploads=SqlUploadedModelStore(engine),
        compute_records=SqlComputeStore(engine),
        renames=SqlRenames(engine),
        model_extras=SqlModelExtras(engine),
        workflow_versions=SqlWorkflowVersions(engine),
        app_reads=SqlAppReads(engine),
        app_copies=SqlAppCopies(engine),
        annotation_filters=SqlAnnotationFilters(engine),
        audit=SqlAuditLog(engine),
        uploads=SqlUploadStore(engine),
        extractions=SqlExtractionStore(engine),
        dataset_versions=SqlDatasetVersionStore(engine),
        collaborators=SqlCollaboratorStore(engine),
        queue=SqlJobQueue(engine),
        pruning=SqlPruning(engine),
        notifications=job_notifications(engine),
        blobs=FileBlobStore(settings.data_dir / "blobs"),
        fetcher=UrlFetcher(policy),
        archive_fetcher=UrlFetcher(
            replace(policy, max_bytes=settings.archive_max_bytes, total_timeout=300.0)
        ),
        models=ModelCatalog(
            settings.data_dir / "models",
            intra_op_threads=settings.inference_threads or None,
            people_concepts=settings.general_people_concepts,
        ),
        **_vector_search(
            settings,
            SqlSearchStore(engine),
            SqlVectorSearch(engine, settings.pgvector_type) if on_pgvector else None,
            SqlPruning(engine),
        ),
        videos=SqlVideoStore(engine),
        labelling=SqlLabellingStore(engine),
        video_limits=video_limits(settings),
        readers=ThreadPoolExecutor(max_workers=8, thread_name_prefix="clarion-read"),
        compute=ThreadPoolExecutor(
            max_workers=settings.predict_threads or (os.cpu_count() or 1) + 1,
            thread_name_prefix="clarion-compute",
        ),
    )


def _vector_search(
    settings: Settings,
    search: SqlSearchStore,
    in_database: SqlVectorSearch | None,
    pruning: SqlPruning,
) -> dict[str, Any]:
    """The vector indexes: PostgreSQL's own (pgvector), else one in memory per process."""
    if in_database is not None:
        counts = shared_counts(in_database)
        return {
            "indexes": PgvectorIndexes(in_database, counts),
            "filtered_nearest": PgvectorNearest(in_database, counts),
        }
    registry = IndexRegistry(
        search, settings.data_dir / "indexes", pruned_through=pruning.pruned_through
    )
    return {"indexes": registry, "filtered_nearest": None}


def _frames_too(backends: Backends, frames: FrameAwareIndexes) -> FrameAwareNearest | None:
    """pgvector's rank under filters with videos' frames scored too (None: the embedded
    indexes, where ``FilteredNearest`` reaches the frames through ``frames`` itself)."""
    if backends.filtered_nearest is None:
        return None
    return FrameAwareNearest(backends.filtered_nearest, frames, backends.search)


@dataclass(frozen=True, slots=True)
class Migration:
    """What ``clarion migrate`` did: the schema revision before and after, on which database."""

    database: str  # the URL, password hidden
    applied: tuple[str, ...]  # the revisions applied, oldest first
    revision: str | None  # the schema's revision now


def migrate_database(settings: Settings) -> Migration:
    """Bring the database's schema to the newest migration (``clarion migrate``).

    Raises ``SchemaTooNew`` if a newer Clarion migrated it.
    """
    if settings.database_url is None:  # the SQLite file lives in the data directory
        _ensure_private_dir(settings.data_dir)
    engine = create_db_engine(settings.resolved_database_url)
    try:
        applied = migrate(engine)
        return Migration(database_label(engine), tuple(applied), schema_revision(engine))
    finally:
        engine.dispose()


def video_limits(settings: Settings) -> VideoLimits:
    return VideoLimits(
        max_duration_seconds=settings.video_max_seconds,
        max_pixels=settings.video_max_pixels,
        max_frames=settings.video_max_frames,
        max_decode_seconds=settings.video_decode_seconds,
    )


def open_admin(settings: Settings) -> Admin:
    backends = open_backends(settings)
    return Admin(
        store=backends.store, users=UsersService(backends.store), keys=KeysService(backends.store)
    )


def build_worker_pool(
    backends: Backends, settings: Settings, threads: int, metrics: Metrics | None = None
) -> WorkerPool:
    indexer = Indexer(backends.models, backends.search, backends.resolver)
    outcome = metrics.observe_ingestion if metrics is not None else None
    videos = VideoIngestion(
        backends.inputs, backends.blobs, backends.untrusted_videos, indexer, backends.videos
    )
    ingest = IngestJob(
        backends.inputs,
        backends.blobs,
        backends.fetcher,
        indexer,
        outcome,
        videos,
        results=backends.search,
        decoded=backends.decoded,
    )
    collect = CollectBlobsJob(
        backends.inputs,
        backends.blobs,
        settings.blob_grace_seconds,
        also_referenced=lambda: (
            backends.model_exports.export_blobs() | backends.model_uploads.upload_blobs()
        ),
    )
    kinds = {
        INGEST_JOB: JobKind(
            run=ingest,
            give_up=ingest.give_up,
            run_batch=ingest.run_batch,
            batch_size=settings.ingest_batch,
        ),
        COLLECT_BLOBS_JOB: JobKind(run=collect, give_up=collect.give_up),
    }
    versions = backends.dataset_versions
    train = TrainJob(backends.modeldata, versions=versions)
    evaluate = EvaluateJob(backends.modeldata, versions=versions)
    kinds[TRAIN_MODEL_JOB] = JobKind(run=train, give_up=train.give_up)
    kinds[EVALUATE_MODEL_JOB] = JobKind(run=evaluate, give_up=evaluate.give_up)
    evaluation = EvaluationJob(backends.evaluations, backends.modeldata, versions=versions)
    kinds[RUN_EVALUATION_JOB] = JobKind(run=evaluation, give_up=evaluation.give_up)
    reindex = ReindexJob(backends.search, backends.blobs, indexer, videos=videos)
    kinds[REINDEX_JOB] = JobKind(run=reindex, give_up=reindex.give_up)
    edits = BulkEdits(backends.inputs, backends.annotations, backends.datasets)
    bulk = BulkOperationJob(backends.bulk_operations, edits.apply)
    kinds[BULK_OPERATION_JOB] = JobKind(run=bulk, give_up=bulk.give_up)
    app_copy = AppCopyJob(backends.app_copies, backends.search)
    kinds[APP_DUPLICATION_JOB] = JobKind(run=app_copy, give_up=app_copy.give_up)
    extract = ExtractInputsJob(
        backends.extractions,
        backends.inputs,
        backends.blobs,
        backends.archive_fetcher.fetch,
        ArchiveLimits(
            max_members=settings.archive_max_files,
            max_unpacked_bytes=settings.archive_max_unpacked_bytes,
            max_ratio=settings.archive_max_ratio,
        ),
        settings.s3_endpoint,
    )
    kinds[EXTRACT_INPUTS_JOB] = JobKind(run=extract, give_up=extract.give_up)
    if backends.notifications is not None:
        # Woken by the database when any process queues a job; the poll is the safety net.
        wakeups = backends.notifications()
        return WorkerPool(
            backends.queue,
            kinds,
            threads=threads,
            poll_seconds=NOTIFIED_POLL_SECONDS,
            wakeups=wakeups,
        )
    return WorkerPool(backends.queue, kinds, threads=threads)


def build_handlers(
    backends: Backends,
    wake_workers: Callable[[], None],
    hosted: HostedUrls,
    settings: Settings,
    usage: UsageCounter | None = None,
) -> dict[str, Handler]:
    store, data = backends.store, backends.inputs

    def is_built_in_model(model_id: str) -> bool:
        return backends.models.find(model_id) is not None

    # Checked uploads are kept decoded only for workers in this process to take.
    untrusted = UntrustedInputs(
        backends.fetcher, backends.decoded if settings.workers else None, backends.readers
    )
    videos = backends.untrusted_videos
    inputs = InputsService(
        data,
        backends.annotations,
        backends.datasets,
        backends.blobs,
        untrusted,
        wake_workers,
        hosted,
        backends.search,
        videos=videos,
        video_facts=backends.videos,
    )
    video_predictions = VideoPredictions(videos, data, backends.blobs)
    frame_indexes = FrameAwareIndexes(backends.indexes, backends.videos)
    searches = SearchesService(
        backends.search,
        frame_indexes,
        backends.models,
        untrusted,
        inputs.input_level_data,
        hosted,
        backends.concept_graph,
        video_frames=frame_indexes,
        filtered_nearest=_frames_too(backends, frame_indexes),
    )
    services = (
        UsersService(store),
        AppsService(store, backends.search, wake_workers),
        KeysService(store),
        inputs,
        searches,
        ModelsService(backends.models, backends.modeldata, backends.model_extras),
        ModelTypesService(),
        PredictService(
            backends.models,
            untrusted,
            data,
            backends.blobs,
            readers=backends.readers,
            compute=backends.compute,
            resolver=backends.resolver,
            videos=video_predictions,
            shared_run_items=settings.predict_batch,
        ),
        CustomModelsService(
            backends.modeldata,
            backends.concepts,
            backends.datasets,
            backends.models,
            wake_workers,
            backends.dataset_versions,
        ),
        EvaluationsService(
            backends.evaluations,
            backends.modeldata,
            backends.datasets,
            is_built_in_model,
            wake_workers,
            backends.dataset_versions,
        ),
        WorkflowsService(
            backends.modeldata,
            backends.resolver,
            untrusted,
            data,
            backends.blobs,
            backends.readers,
            video_predictions,
            backends.workflow_versions,
        ),
        ConceptsService(backends.concepts, backends.models, backends.concept_graph),
        ConceptGraphService(backends.concepts, backends.concept_graph),
        AnnotationsService(backends.annotations, data, backends.labelling),
        DatasetsService(backends.datasets, data, hosted),
        BulkOperationsService(
            backends.bulk_operations,
            data,
            backends.datasets,
            searches.matching_input_ids,
            wake_workers,
        ),
        WorkflowVersionsService(backends.workflow_versions, backends.modeldata),
        ReferenceService(),
        RenamesService(backends.renames, store, backends.modeldata, is_built_in_model),
        AppReadsService(backends.app_reads),
        AppDuplicationsService(backends.app_copies, wake_workers),
        ModelReferencesService(backends.models, backends.modeldata),
        AnnotationFiltersService(backends.annotation_filters),
        ModelExtrasService(backends.model_extras, backends.modeldata, is_built_in_model),
        AuditService(backends.audit),
        UploadsService(
            backends.uploads,
            inputs.post_inputs,
            inputs.get_inputs_add_job,
            settings.max_upload_bytes,
        ),
        ExtractionsService(
            backends.extractions,
            backends.datasets,
            UntrustedInputs(backends.archive_fetcher).check_url,
            wake_workers,
            settings.s3_endpoint,
        ),
        MetricsService(usage or UsageCounter()),
        TasksService(backends.labelling, backends.datasets),
        TaskAssignmentsService(backends.labelling, data, hosted),
        DatasetVersionsService(
            backends.datasets,
            data,
            backends.dataset_versions,
            DatasetExports(backends.dataset_versions, hosted),
            hosted,
        ),
        CollaboratorsService(backends.collaborators),
        model_exports(backends, hosted),
    )
    handlers: dict[str, Handler] = {}
    for service in services:
        table = service.handlers()
        # One method, one handler: a second one would silently replace the first.
        clash = sorted(handlers.keys() & table.keys())
        if clash:
            raise RuntimeError(f"{type(service).__name__} handles {clash} a second time")
        handlers.update(table)
    return handlers


def model_exports(backends: Backends, hosted: HostedUrls) -> ModelExportsService:
    """The export service (the API's handlers and the hosted route's downloads share it)."""
    return ModelExportsService(
        backends.modeldata,
        backends.model_exports,
        backends.blobs,
        backends.models,
        lambda model_id: backends.models.find(model_id) is not None,
        hosted,
    )


def build_runner_handlers(
    backends: Backends, handlers: dict[str, Handler], broker: RunnerBroker
) -> dict[str, StreamHandler]:
    """Add the compute records and the runner-served model calls to ``handlers`` (model
    calls without runners go on to the in-process prediction); the stream handlers."""
    predict = cast(Predict, handlers["PostModelOutputs"])
    calls = RunnerCallsService(
        broker,
        predict,
        lambda id: backends.models.find(id) is not None,
        backends.compute_records,
        backends.modeldata,
    )
    compute = ComputeService(backends.compute_records, on_runners_changed=broker.forget_runners)
    handlers.update(compute.handlers())
    handlers.update(calls.handlers())
    handlers["ListRunnerItems"] = broker.list_runner_items
    handlers["PostRunnerItemOutputs"] = broker.post_runner_item_outputs
    return {**calls.stream_handlers(), "ProcessRunnerItems": broker.process_runner_items}


def build_server(settings: Settings) -> ClarionServer:
    backends = open_backends(settings)
    users = UsersService(backends.store)
    admin_pat = _bootstrap_admin(settings, users)
    users.ensure_public_app(PUBLIC_USER, PUBLIC_APP)
    metrics, limits = _metrics(backends), _limits(settings)
    backends.models.observe_runs(metrics.observe_inference)
    workers = (
        build_worker_pool(backends, settings, settings.workers, metrics)
        if settings.workers
        else None
    )
    wake = workers.wake if workers is not None else _no_wakeup
    hosted = HostedUrls(settings.public_url or "")
    authenticator = Authenticator(
        backends.store, settings.auth_cache_seconds, collaborators=backends.collaborators
    )
    metrics.watch(
        "clarion_expensive_calls",
        "Expensive calls (predict, search, upload, dataset versions) running or waiting.",
        lambda: {"running": limits.in_flight, "waiting": limits.waiting},
        "state",
    )
    usage = UsageCounter()
    handlers = build_handlers(backends, wake, hosted, settings, usage)
    broker = RunnerBroker(backends.compute_records)
    stream_handlers = build_runner_handlers(backends, handlers, broker)
    started: list[ClarionServer] = []  # the server, once made: its gRPC port is the runners'
    uploads = model_uploads(settings, backends, broker, lambda: _grpc_base(settings, started))
    stream_handlers = {**stream_handlers, **uploads.stream_handlers()}
    metrics.watch(
        "clarion_runners",
        "Runner streams open, and model calls waiting for or running on runners.",
        broker.load,
        "state",
    )
    dispatcher = Dispatcher(
        handlers,
        authenticator,
        limits,
        metrics,
        request_timeout_seconds=settings.request_timeout_seconds,
        max_metadata_bytes=settings.max_metadata_bytes,
        stream_handlers=stream_handlers,
        audit=AuditRecorder(backends.audit),
        usage=usage,
    )
    hosted_route = HostedRoute(
        authenticator,
        dispatcher,
        HostedImages(backends.inputs, backends.blobs),
        DatasetExports(backends.dataset_versions, hosted),
        model_exports(backends, hosted),
    )
    server = ClarionServer(
        settings, backends, dispatcher, admin_pat, workers, hosted, hosted_route, metrics
    )
    started.append(server)
    server.on_start.append(uploads.restart_served)
    server.on_stop.append(uploads.processes.stop_all)
    return server


def model_uploads(
    settings: Settings, backends: Backends, broker: RunnerBroker, api_base: Callable[[], str]
) -> ModelUploadsService:
    """Uploaded models, built and served by runner processes this server starts."""
    setup = RunnerSetup(
        root=settings.data_dir / "model_runners",
        base_python=settings.runner_python or server_python(),
        limits=RunnerLimits(
            memory_bytes=settings.runner_memory_bytes,
            cpu_seconds=settings.runner_cpu_seconds,
            open_files=settings.runner_open_files,
        ),
        build_seconds=settings.runner_build_seconds,
        api_base=api_base,
    )
    return ModelUploadsService(
        backends.modeldata,
        backends.compute_records,
        backends.store,
        backends.model_uploads,
        backends.blobs,
        setup,
        broker.connected,
        broker.forget_runners,
    )


def _grpc_base(settings: Settings, started: list[ClarionServer]) -> str:
    """This server's gRPC address as the SDK takes it (http:// meaning plaintext)."""
    scheme = "https" if settings.tls_enabled else "http"
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "", "::") else settings.host
    return f"{scheme}://{host}:{started[0].grpc_port}"


def _metrics(backends: Backends) -> Metrics:
    metrics = Metrics()
    metrics.watch("clarion_jobs", "Jobs in the queue, by state.", backends.queue.counts, "state")
    return metrics


def _limits(settings: Settings) -> Limits:
    return Limits(
        per_key_rate=settings.rate_limit_per_key,
        per_app_rate=settings.rate_limit_per_app,
        burst_seconds=settings.rate_burst_seconds,
        max_expensive=settings.max_expensive_calls,
        max_waiting=settings.max_waiting_calls,
    )


def _no_wakeup() -> None:
    """Workers in other processes poll the queue (on PostgreSQL: are notified by it)."""


def _ensure_private_dir(path: Path) -> None:
    """The data directory, open to its owner alone: it holds the database, the blobs and the
    admin PAT. ``mkdir`` leaves an existing directory's mode as it was (often 0755), so one of
    ours is narrowed too; someone else's is theirs to set."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    status = path.stat()
    if status.st_uid == os.getuid() and stat.S_IMODE(status.st_mode) != 0o700:
        path.chmod(0o700)


def _bootstrap_admin(settings: Settings, users: UsersService) -> str | None:
    """Create the admin user on a new database; keep a generated PAT in an owner-only file."""
    preset = settings.admin_pat.get_secret_value() if settings.admin_pat else None
    token = users.ensure_admin(settings.admin_user, preset)
    if token is None or preset is not None:
        return None
    path = settings.data_dir / ADMIN_PAT_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def implemented_methods(data_dir: Path) -> frozenset[str]:
    """The methods with a handler, read from a server wired (never started) on a fresh SQLite
    database in ``data_dir``: the registry that ``UNBUILT`` and the README's Methods section
    are held to."""
    settings = Settings(
        data_dir=data_dir, database_url=None, admin_pat=None, http_port=0, grpc_port=0
    )
    return build_server(settings).dispatcher.implemented
