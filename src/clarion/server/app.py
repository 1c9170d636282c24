"""The composition root: ``build_server(settings)`` picks the backends and wires everything.

What runs the wired server (both transports, health, drain) is ``server/process.py``.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from clarion.blobs.files import FileBlobStore
from clarion.config import Settings
from clarion.fetch import FetchPolicy, UrlFetcher
from clarion.inference import ModelCatalog
from clarion.jobs.collect import CollectBlobsJob
from clarion.jobs.evaluation import EvaluationJob
from clarion.jobs.ingest import IngestJob
from clarion.jobs.reindex import ReindexJob
from clarion.jobs.training import EvaluateJob, TrainJob
from clarion.jobs.worker import JobKind, WorkerPool
from clarion.runtime.indexing import Indexer
from clarion.runtime.model_resolver import ModelResolver
from clarion.runtime.pgvector_indexes import PgvectorIndexes, PgvectorNearest, shared_counts
from clarion.runtime.untrusted import UntrustedInputs
from clarion.runtime.vector_indexes import IndexRegistry
from clarion.server.auth import Authenticator
from clarion.server.dispatch import Dispatcher
from clarion.server.http import HostedRoute
from clarion.server.limits import Limits
from clarion.server.metrics import Metrics
from clarion.server.process import ClarionServer
from clarion.services.annotations import AnnotationsService
from clarion.services.apps import AppsService
from clarion.services.base import Handler
from clarion.services.concepts import ConceptsService
from clarion.services.custom_models import CustomModelsService
from clarion.services.datasets import DatasetsService
from clarion.services.evaluations import EvaluationsService
from clarion.services.hosted import HostedImages, HostedUrls
from clarion.services.inputs import InputsService
from clarion.services.keys import KeysService
from clarion.services.model_types import ModelTypesService
from clarion.services.models import PUBLIC_APP, PUBLIC_USER, ModelsService
from clarion.services.predict import PredictService
from clarion.services.searches import SearchesService
from clarion.services.users import UsersService
from clarion.services.workflows import WorkflowsService
from clarion.storage.base import Store
from clarion.storage.data import SqlDataStore
from clarion.storage.dialect import is_postgresql
from clarion.storage.engine import create_db_engine, database_label, migrate, schema_revision
from clarion.storage.evaluations import RUN_EVALUATION_JOB, SqlEvaluationStore
from clarion.storage.jobs import SqlJobQueue
from clarion.storage.modeldata import EVALUATE_MODEL_JOB, TRAIN_MODEL_JOB, SqlModelStore
from clarion.storage.notify import JobNotifications
from clarion.storage.pgvector import PgvectorSearchStore, PgvectorStore, prepare as prepare_pgvector
from clarion.storage.pruning import SqlPruning
from clarion.storage.queue import COLLECT_BLOBS_JOB, INGEST_JOB, REINDEX_JOB
from clarion.storage.searchdata import SqlSearchStore
from clarion.storage.sql import SqlStore

log = logging.getLogger("clarion.server")

ADMIN_PAT_FILE = "admin-pat.txt"
# On PostgreSQL workers are woken by LISTEN/NOTIFY; they poll this seldom besides, to take over
# the expired leases of a worker that died.
NOTIFIED_POLL_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Admin:
    """Data-directory administration, for the CLI: the same services the API uses."""

    store: Store
    users: UsersService
    keys: KeysService


@dataclass(frozen=True, slots=True)
class Backends:
    """The concrete storage, blobs, fetching and models one process works with."""

    engine: Engine  # the stores' one engine
    store: SqlStore
    data: SqlDataStore
    search: SqlSearchStore
    modeldata: SqlModelStore
    evaluations: SqlEvaluationStore
    queue: SqlJobQueue
    pruning: SqlPruning
    blobs: FileBlobStore
    fetcher: UrlFetcher
    models: ModelCatalog
    indexes: IndexRegistry | PgvectorIndexes
    # A vector rank under filters: in SQL on pgvector, else by ``FilteredNearest``'s plans.
    filtered_nearest: PgvectorNearest | None
    # Reading inputs to predict on (fetching, decoding) runs on these threads.
    readers: ThreadPoolExecutor
    # Predictions on inputs sent in the request: computation alone, on about one thread a core.
    compute: ThreadPoolExecutor

    @property
    def resolver(self) -> ModelResolver:
        """Model references to runners: the app's custom models, then the built-in ones."""
        return ModelResolver(self.models, self.modeldata)

    def close(self) -> None:
        self.readers.shutdown(wait=False, cancel_futures=True)
        self.compute.shutdown(wait=False, cancel_futures=True)
        self.fetcher.close()
        self.store.close()  # the stores share one engine


def open_backends(settings: Settings) -> Backends:
    """Storage for ``settings``, migrated to the newest schema."""
    _ensure_private_dir(settings.data_dir)
    engine = create_db_engine(
        settings.resolved_database_url, settings.database_lock_timeout_seconds
    )
    migrate(engine)
    on_pgvector = settings.vector_index == "auto" and prepare_pgvector(engine)
    policy = FetchPolicy(
        allow_private=settings.allow_private_urls,
        allowed_hosts=frozenset(settings.url_allow_list),
        extra_ca_certs=tuple(str(location) for location in settings.fetch_ca_certs),
    )
    return Backends(
        engine=engine,
        store=SqlStore(engine),
        data=SqlDataStore(engine),
        search=PgvectorSearchStore(engine) if on_pgvector else SqlSearchStore(engine),
        modeldata=SqlModelStore(engine, absent_seconds=settings.auth_cache_seconds),
        evaluations=SqlEvaluationStore(engine),
        queue=SqlJobQueue(engine),
        pruning=SqlPruning(engine),
        blobs=FileBlobStore(settings.data_dir / "blobs"),
        fetcher=UrlFetcher(policy),
        models=ModelCatalog(
            settings.data_dir / "models",
            intra_op_threads=settings.inference_threads or None,
            people_concepts=settings.general_people_concepts,
        ),
        **_vector_search(engine, settings, on_pgvector),
        readers=ThreadPoolExecutor(max_workers=8, thread_name_prefix="clarion-read"),
        compute=ThreadPoolExecutor(
            max_workers=settings.predict_threads or (os.cpu_count() or 1) + 1,
            thread_name_prefix="clarion-compute",
        ),
    )


def _vector_search(engine: Engine, settings: Settings, on_pgvector: bool) -> dict[str, Any]:
    """The vector indexes: PostgreSQL's own (pgvector), else one in memory per process."""
    if on_pgvector:
        store = PgvectorStore(engine)
        counts = shared_counts(store)
        return {
            "indexes": PgvectorIndexes(store, counts),
            "filtered_nearest": PgvectorNearest(store, counts),
        }
    registry = IndexRegistry(
        SqlSearchStore(engine),
        settings.data_dir / "indexes",
        pruned_through=SqlPruning(engine).pruned_through,
    )
    return {"indexes": registry, "filtered_nearest": None}


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
    ingest = IngestJob(backends.data, backends.blobs, backends.fetcher, indexer, outcome)
    collect = CollectBlobsJob(backends.data, backends.blobs, settings.blob_grace_seconds)
    kinds = {
        INGEST_JOB: JobKind(run=ingest, give_up=ingest.give_up),
        COLLECT_BLOBS_JOB: JobKind(run=collect, give_up=collect.give_up),
    }
    train, evaluate = TrainJob(backends.modeldata), EvaluateJob(backends.modeldata)
    kinds[TRAIN_MODEL_JOB] = JobKind(run=train, give_up=train.give_up)
    kinds[EVALUATE_MODEL_JOB] = JobKind(run=evaluate, give_up=evaluate.give_up)
    evaluation = EvaluationJob(backends.evaluations, backends.modeldata)
    kinds[RUN_EVALUATION_JOB] = JobKind(run=evaluation, give_up=evaluation.give_up)
    reindex = ReindexJob(backends.search, backends.blobs, indexer)
    kinds[REINDEX_JOB] = JobKind(run=reindex, give_up=reindex.give_up)
    if is_postgresql(backends.engine):
        # Woken by the database when any process queues a job; the poll is the safety net.
        wakeups = JobNotifications(backends.engine)
        return WorkerPool(
            backends.queue,
            kinds,
            threads=threads,
            poll_seconds=NOTIFIED_POLL_SECONDS,
            wakeups=wakeups,
        )
    return WorkerPool(backends.queue, kinds, threads=threads)


def build_handlers(
    backends: Backends, wake_workers: Callable[[], None], hosted: HostedUrls
) -> dict[str, Handler]:
    store, data = backends.store, backends.data
    untrusted = UntrustedInputs(backends.fetcher)
    inputs = InputsService(data, backends.blobs, untrusted, wake_workers, hosted, backends.search)
    searches = SearchesService(
        backends.search,
        backends.indexes,
        backends.models,
        untrusted,
        inputs.input_level_data,
        hosted,
        filtered_nearest=backends.filtered_nearest,
    )
    services = (
        UsersService(store),
        AppsService(store, backends.search, wake_workers),
        KeysService(store),
        inputs,
        searches,
        ModelsService(backends.models, backends.modeldata),
        ModelTypesService(),
        PredictService(
            backends.models,
            untrusted,
            data,
            backends.blobs,
            readers=backends.readers,
            compute=backends.compute,
            resolver=backends.resolver,
        ),
        CustomModelsService(backends.modeldata, data, backends.models, wake_workers),
        EvaluationsService(
            backends.evaluations,
            backends.modeldata,
            data,
            lambda model_id: backends.models.find(model_id) is not None,
            wake_workers,
        ),
        WorkflowsService(
            backends.modeldata, backends.resolver, untrusted, data, backends.blobs, backends.readers
        ),
        ConceptsService(data, backends.models),
        AnnotationsService(data),
        DatasetsService(data, hosted),
    )
    handlers: dict[str, Handler] = {}
    for service in services:
        handlers.update(service.handlers())
    return handlers


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
    authenticator = Authenticator(backends.store, settings.auth_cache_seconds)
    metrics.watch(
        "clarion_expensive_calls",
        "Predict, search and upload calls running or waiting for a slot.",
        lambda: {"running": limits.in_flight, "waiting": limits.waiting},
        "state",
    )
    dispatcher = Dispatcher(
        build_handlers(backends, wake, hosted),
        authenticator,
        limits,
        metrics,
        request_timeout_seconds=settings.request_timeout_seconds,
        max_metadata_bytes=settings.max_metadata_bytes,
    )
    hosted_route = HostedRoute(
        authenticator, dispatcher, HostedImages(backends.data, backends.blobs)
    )
    return ClarionServer(
        settings, backends, dispatcher, admin_pat, workers, hosted, hosted_route, metrics
    )


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
