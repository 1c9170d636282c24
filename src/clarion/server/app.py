"""The composition root: ``build_server(settings)`` picks the backends and wires everything."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import ssl
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import uvicorn
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

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
from clarion.protocol.descriptor import SERVICE_NAME, v2_methods
from clarion.protocol.routes import RouteTable
from clarion.runtime.indexing import Indexer
from clarion.runtime.model_resolver import ModelResolver
from clarion.runtime.untrusted import UntrustedInputs
from clarion.runtime.vector_indexes import IndexRegistry
from clarion.server.auth import Authenticator
from clarion.server.connections import ConnectionGuard, ConnectionLimits, guarded_protocol
from clarion.server.dispatch import Dispatcher
from clarion.server.grpc import v2_generic_handler
from clarion.server.http import HostedRoute, Readiness, create_http_app
from clarion.server.limits import Limits
from clarion.server.log_limits import RepeatLimit
from clarion.server.metrics import Metrics
from clarion.server.shared_port import SharedPort, Upstream
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
from clarion.storage.engine import create_db_engine, database_label, migrate, schema_revision
from clarion.storage.evaluations import RUN_EVALUATION_JOB, SqlEvaluationStore
from clarion.storage.jobs import SqlJobQueue
from clarion.storage.modeldata import EVALUATE_MODEL_JOB, TRAIN_MODEL_JOB, SqlModelStore
from clarion.storage.queue import COLLECT_BLOBS_JOB, INGEST_JOB, REINDEX_JOB
from clarion.storage.searchdata import SqlSearchStore
from clarion.storage.sql import SqlStore

log = logging.getLogger("clarion.server")

ADMIN_PAT_FILE = "admin-pat.txt"
# gRPC keeps a little room under the limit for the framing around the message.
_GRPC_MAX_SEND = 2**31 - 1
# The largest HTTP/2 frame clients may send: an image of up to 1 MiB then arrives in one DATA
# frame rather than in 16 KiB pieces (the default), each of which the transport handles on its
# own. On the predict bench (32 clients, 640x480 JPEGs) the event loop spent 1.44 CPU ms an
# image against 1.51, the load client 0.87 against 0.91 (medians of five interleaved rounds).
_GRPC_MAX_FRAME = 2**20
# The HTTP listener's queue, and so the most connections the event loop accepts in one go
# (asyncio accepts up to the backlog per wake-up). uvicorn's 2048 let a client reconnecting
# as fast as it could stall the loop for 190-630 ms at a time while thousands were set up and
# closed; at 128 the longest stall of /health on a kept-alive connection was 13 ms, and the
# kernel's queue paces the flood instead (bench/load.py --abuse).
_HTTP_BACKLOG = 128
# Descriptors besides the two ports' connections: database, blobs, models, URL fetches.
_FILES_BESIDE_CONNECTIONS = 256
# Loggers that a stream of bad connections or requests makes repeat themselves: uvicorn's
# "Invalid HTTP request received." per malformed request, asyncio's accept errors, grpc's.
_FLOODABLE_LOGGERS = ("uvicorn.error", "asyncio", "clarion.http", "grpc._cython.cygrpc")


@dataclass(frozen=True, slots=True)
class Admin:
    """Data-directory administration, for the CLI: the same services the API uses."""

    store: Store
    users: UsersService
    keys: KeysService


@dataclass(frozen=True, slots=True)
class Backends:
    """The concrete storage, blobs, fetching and models one process works with."""

    store: SqlStore
    data: SqlDataStore
    search: SqlSearchStore
    modeldata: SqlModelStore
    evaluations: SqlEvaluationStore
    queue: SqlJobQueue
    blobs: FileBlobStore
    fetcher: UrlFetcher
    models: ModelCatalog
    indexes: IndexRegistry
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
    policy = FetchPolicy(
        allow_private=settings.allow_private_urls,
        allowed_hosts=frozenset(settings.url_allow_list),
        extra_ca_certs=tuple(str(location) for location in settings.fetch_ca_certs),
    )
    return Backends(
        store=SqlStore(engine),
        data=SqlDataStore(engine),
        search=SqlSearchStore(engine),
        modeldata=SqlModelStore(engine, absent_seconds=settings.auth_cache_seconds),
        evaluations=SqlEvaluationStore(engine),
        queue=SqlJobQueue(engine),
        blobs=FileBlobStore(settings.data_dir / "blobs"),
        fetcher=UrlFetcher(policy),
        models=ModelCatalog(
            settings.data_dir / "models",
            intra_op_threads=settings.inference_threads or None,
            people_concepts=settings.general_people_concepts,
        ),
        indexes=IndexRegistry(SqlSearchStore(engine), settings.data_dir / "indexes"),
        readers=ThreadPoolExecutor(max_workers=8, thread_name_prefix="clarion-read"),
        compute=ThreadPoolExecutor(
            max_workers=settings.predict_threads or (os.cpu_count() or 1) + 1,
            thread_name_prefix="clarion-compute",
        ),
    )


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
    """Workers in other processes poll the queue."""


class ClarionServer:
    """The gRPC and HTTP servers on one event loop, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        backends: Backends,
        dispatcher: Dispatcher,
        admin_pat: str | None,
        workers: WorkerPool | None,
        hosted: HostedUrls,
        hosted_route: HostedRoute,
        metrics: Metrics,
    ) -> None:
        self._metrics = metrics
        self._hosted = hosted
        self._hosted_route = hosted_route
        self.settings = settings
        self.backends = backends
        self.dispatcher = dispatcher
        self.workers = workers
        # Set only when this start created the admin PAT (to be shown once).
        self.new_admin_pat = admin_pat
        self.grpc_port = 0
        self.http_port = 0
        self.port = 0  # the shared port, when there is one
        self._shared: SharedPort | None = None
        self._readiness = Readiness()
        self._health = health.aio.HealthServicer()
        self._grpc: grpc.aio.Server | None = None
        self._http: _Uvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._unloader: asyncio.Task[None] | None = None
        self._calls = ThreadPoolExecutor(max_workers=64, thread_name_prefix="clarion-call")
        self._connections = ConnectionGuard(
            ConnectionLimits(
                max_connections=settings.max_connections,
                header_timeout=settings.header_timeout_seconds,
                body_timeout=settings.body_timeout_seconds,
                max_header_bytes=settings.max_header_bytes,
            )
        )
        self._repeat_limit = RepeatLimit()

    async def start(self) -> None:
        """Bind both ports and serve; ready (``/health``, gRPC health) once both listen."""
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        # Blocking work (database, decoding, inference) runs on the loop's default executor;
        # asyncio's default of cores + 4 threads lets a few slow predictions starve cheap calls.
        asyncio.get_running_loop().set_default_executor(self._calls)
        self._repeat_limit.attach(*_FLOODABLE_LOGGERS)
        _ensure_file_limit(self.settings.max_connections)
        await self._preload_models()
        if self.workers is not None:
            await asyncio.to_thread(self.workers.start)
        await self._start_grpc()
        await self._start_http()
        if self.settings.port is not None:
            await self._start_shared_port(self.settings.port)
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        self._readiness.ready = True
        if self.settings.model_idle_seconds:
            self._unloader = asyncio.create_task(self._unload_idle_models())
        scheme = "https" if self.settings.tls_enabled else "http"
        log.info(
            "Clarion serving gRPC on %s:%d and HTTP on %s://%s:%d",
            self.settings.host,
            self.grpc_port,
            scheme,
            self.settings.host,
            self.http_port,
        )
        if self._shared is not None:
            log.info("gRPC and HTTP together on %s:%d", self.settings.host, self.port)

    async def stop(self) -> None:
        """Drain: report not ready (still serving, so a load balancer can notice), then stop
        accepting, let in-flight calls finish within the grace period, and close."""
        self._readiness.ready = False
        if self._unloader is not None:
            self._unloader.cancel()
        await self._health.enter_graceful_shutdown()
        await asyncio.sleep(self.settings.drain_delay_seconds)
        grace = self.settings.shutdown_grace_seconds
        if self._shared is not None:
            self._shared.stop_accepting()
        if self._http is not None:
            self._http.should_exit = True
        if self._grpc is not None:
            await self._grpc.stop(grace)
        if self._http_task is not None:
            await self._http_task
        if self._shared is not None:
            await self._shared.close()
        if self.workers is not None:
            await asyncio.to_thread(self.workers.stop, grace)
        await asyncio.to_thread(self.backends.indexes.save_all)
        self.backends.close()
        self._calls.shutdown(wait=False)
        self._connections.close()
        self._repeat_limit.detach(*_FLOODABLE_LOGGERS)
        log.info("Clarion stopped")

    async def _preload_models(self) -> None:
        models = self.backends.models
        for model_id in self.settings.preload:
            if models.find(model_id) is None:
                known = ", ".join(info.id for info in models.models())
                raise ValueError(f"--preload {model_id}: no such model (known: {known})")
            await asyncio.to_thread(models.load, model_id)
            log.info("preloaded model %s", model_id)

    async def _unload_idle_models(self) -> None:
        idle_seconds = self.settings.model_idle_seconds
        while True:
            await asyncio.sleep(min(60.0, idle_seconds / 2))
            unloaded = await asyncio.to_thread(self.backends.models.unload_idle, idle_seconds)
            if unloaded:
                log.info("unloaded idle models: %s", ", ".join(unloaded))

    async def _set_health(self, status: int) -> None:
        for service in ("", SERVICE_NAME):
            await self._health.set(service, status)

    async def _start_grpc(self) -> None:
        options = [
            ("grpc.max_receive_message_length", self.settings.max_request_bytes),
            ("grpc.max_send_message_length", _GRPC_MAX_SEND),
            ("grpc.http2.max_frame_size", _GRPC_MAX_FRAME),
            # The limits the HTTP port has (see server/connections.py), as gRPC has them.
            ("grpc.max_allowed_incoming_connections", self.settings.max_connections),
            ("grpc.server_handshake_timeout_ms", _ms(self.settings.header_timeout_seconds)),
            ("grpc.max_connection_idle_ms", _ms(self.settings.grpc_idle_seconds)),
            ("grpc.max_concurrent_streams", self.settings.grpc_max_streams),
        ]
        server = grpc.aio.server(options=options)
        server.add_generic_rpc_handlers(
            (v2_generic_handler(v2_methods().values(), self.dispatcher),)
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        address = _grpc_address(self.settings.host, self.settings.grpc_port)
        if self.settings.tls_enabled:
            self.grpc_port = server.add_secure_port(address, self._grpc_credentials())
        else:
            self.grpc_port = server.add_insecure_port(address)
        await server.start()
        self._grpc = server

    def _grpc_credentials(self) -> grpc.ServerCredentials:
        assert self.settings.tls_cert is not None and self.settings.tls_key is not None
        pair = (self.settings.tls_key.read_bytes(), self.settings.tls_cert.read_bytes())
        return grpc.ssl_server_credentials([pair])

    async def _start_http(self) -> None:
        app = create_http_app(
            RouteTable(v2_methods().values()),
            self.dispatcher,
            self._readiness,
            self.settings.max_http_body_bytes,
            self._hosted_route,
            self._metrics,
        )
        sock = _bind(self.settings.host, self.settings.http_port)
        self.http_port = sock.getsockname()[1]
        if not self._hosted.base_url:
            scheme = "https" if self.settings.tls_enabled else "http"
            self._hosted.base_url = f"{scheme}://{_url_host(self.settings.host)}:{self.http_port}"
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            http=guarded_protocol(self._connections),
            timeout_keep_alive=self.settings.keep_alive_seconds,
            backlog=_HTTP_BACKLOG,
            timeout_graceful_shutdown=max(1, round(self.settings.shutdown_grace_seconds)),
            ssl_certfile=self.settings.tls_cert if self.settings.tls_enabled else None,
            ssl_keyfile=self.settings.tls_key if self.settings.tls_enabled else None,
        )
        self._http = _Uvicorn(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[sock]))
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)

    async def _start_shared_port(self, port: int) -> None:
        """One port for both protocols, relaying to the two servers over loopback."""
        inner_host = _loopback_for(self.settings.host)
        tls = self.settings.tls_enabled
        self._shared = SharedPort(
            grpc=Upstream(inner_host, self.grpc_port, _relay_tls("h2") if tls else None),
            http=Upstream(inner_host, self.http_port, _relay_tls("http/1.1") if tls else None),
            tls=self._shared_port_tls() if tls else None,
        )
        self.port = await self._shared.start(self.settings.host, port)

    def _shared_port_tls(self) -> ssl.SSLContext:
        assert self.settings.tls_cert is not None and self.settings.tls_key is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        context.set_alpn_protocols(["h2", "http/1.1"])
        return context


def _relay_tls(protocol: str) -> ssl.SSLContext:
    """TLS from the shared port to an inner server of this process, on loopback: the
    certificate is the server's own, so there is nothing to verify."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols([protocol])
    return context


def _loopback_for(host: str) -> str:
    """Where this process reaches its own servers that listen on ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: ``clarion serve`` stops both servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _ensure_file_limit(max_connections: int) -> None:
    """Raise the open-file limit to fit both ports' connections, or warn that it cannot.

    A process out of descriptors cannot accept a connection, ``/health``'s included, and the
    connection limit is only a defence while it is reached first. The soft limit may be raised
    up to the hard one without privileges (as Go's runtime does at start).
    """
    needed = 2 * max_connections + _FILES_BESIDE_CONNECTIONS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "CLARION_MAX_CONNECTIONS=%d needs about %d open files, but the limit is %d: past "
            "it no connection is accepted; raise the limit (ulimit -n) or lower the setting",
            max_connections,
            needed,
            soft,
        )


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.create_server((host, port), family=family, reuse_port=False)
    # Accepted connections inherit TCP_NODELAY from the listener. Without it a keep-alive
    # client waits ~40 ms per response (Nagle against delayed ACKs): measured 44 ms vs 1.3 ms
    # per request on loopback with requests and httpx.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.set_inheritable(True)
    return sock


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
