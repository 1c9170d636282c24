"""The running server: the gRPC and HTTP servers (and the shared port) on one event loop,
started and stopped together, with health, drain and idle-model unloading."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import ssl
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import grpc
import uvicorn
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from clarion.config import Settings
from clarion.jobs.worker import WorkerPool
from clarion.protocol.descriptor import SERVICE_NAME, v2_methods
from clarion.protocol.routes import RouteTable
from clarion.server.connections import ConnectionGuard, ConnectionLimits, guarded_protocol
from clarion.server.dispatch import Dispatcher
from clarion.server.grpc import v2_generic_handler
from clarion.server.http import HostedRoute, Readiness, create_http_app
from clarion.server.log_limits import RepeatLimit
from clarion.server.metrics import Metrics
from clarion.server.shared_port import SharedPort, Upstream
from clarion.services.hosted import HostedUrls

if TYPE_CHECKING:
    from clarion.server.app import Backends

log = logging.getLogger("clarion.server")

# gRPC keeps a little room under the limit for the framing around the message.
_GRPC_MAX_SEND = 2**31 - 1
# How often a server deletes finished jobs and index_log entries past the retention.
PRUNE_SECONDS = 3600.0
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
        self._pruner: asyncio.Task[None] | None = None
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
        # Run once the server listens, and when it stops: the runner processes it starts for
        # uploaded models (they connect to its gRPC port).
        self.on_start: list[Callable[[], None]] = []
        self.on_stop: list[Callable[[], None]] = []

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
        for start in self.on_start:
            await asyncio.to_thread(start)
        if self.settings.model_idle_seconds:
            self._unloader = asyncio.create_task(self._unload_idle_models())
        if self.settings.retention_seconds:
            self._pruner = asyncio.create_task(self._prune())
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
        for stop in self.on_stop:
            await asyncio.to_thread(stop)
        if self._unloader is not None:
            self._unloader.cancel()
        if self._pruner is not None:
            self._pruner.cancel()
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

    async def _prune(self) -> None:
        """Finished jobs and old index_log entries, deleted every PRUNE_SECONDS (and at start)."""
        while True:
            try:
                pruned = await asyncio.to_thread(
                    self.backends.pruning.prune, self.settings.retention_seconds
                )
                if pruned.jobs or pruned.log_entries:
                    log.info(
                        "pruned %d finished jobs and %d index log entries",
                        pruned.jobs,
                        pruned.log_entries,
                    )
            except Exception:  # the database busy or gone a while: the next round retries
                log.exception("pruning failed")
            await asyncio.sleep(PRUNE_SECONDS)

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
