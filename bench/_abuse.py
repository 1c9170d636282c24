"""``bench/load.py --abuse``: well-behaved tenants alone, then beside an abusive one.

The abuser's app keeps 5 s URLs queued for ingestion, and the abuser holds idle HTTP
connections (reopened as the server closes them) and slow-loris ones that send a header byte a
second. The well-behaved clients' p99 with the abuser over their p99 alone is the measure.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import socket
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from _common import BENCH_PAT, clarion_server, photo_like_jpegs
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc

METADATA = (("authorization", f"Key {BENCH_PAT}"),)
GOOD = resources_pb2.UserAppIDSet(app_id="tenant")
BAD = resources_pb2.UserAppIDSet(app_id="abuser")
SLOW_SECONDS = 5.0
SERVER_ENV = {"CLARION_ALLOW_PRIVATE_URLS": "true"}
PENDING = {30001, 30003}  # INPUT_DOWNLOAD_PENDING, _IN_PROGRESS
INDEXED = 30000  # INPUT_DOWNLOAD_SUCCESS


@contextmanager
def slow_image_host(image: bytes) -> Iterator[str]:
    """A loopback host whose every answer takes ``SLOW_SECONDS``; yields its URL prefix."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(SLOW_SECONDS)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(image)))
            self.end_headers()
            self.wfile.write(image)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/slow"
    finally:
        server.shutdown()
        server.server_close()


class Tenant:
    """Well-behaved clients: each call timed, uploads until their input is indexed."""

    def __init__(self, grpc_port: int, http_port: int, images: list[bytes]) -> None:
        self.grpc_port, self.http_port, self.images = grpc_port, http_port, images
        self.local = threading.local()
        self.ids = itertools.count()

    def stub(self) -> Any:
        if not hasattr(self.local, "stub"):
            channel = ClarifaiChannel.get_insecure_grpc_channel(
                base="127.0.0.1", port=self.grpc_port
            )
            self.local.stub = service_pb2_grpc.V2Stub(channel)
        return self.local.stub

    def call(self, kind: str, image: bytes) -> bool:
        data = resources_pb2.Data(image=resources_pb2.Image(base64=image))
        if kind == "predict":
            response = self.stub().PostModelOutputs(
                service_pb2.PostModelOutputsRequest(
                    user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
                    model_id="general-image-recognition",
                    inputs=[resources_pb2.Input(data=data)],
                ),
                metadata=METADATA,
                timeout=120,
            )
        elif kind == "search":
            rank = resources_pb2.Rank(annotation=resources_pb2.Annotation(data=data))
            response = self.stub().PostInputsSearches(
                service_pb2.PostInputsSearchesRequest(
                    user_app_id=GOOD,
                    searches=[resources_pb2.Search(query=resources_pb2.Query(ranks=[rank]))],
                ),
                metadata=METADATA,
                timeout=120,
            )
        elif kind == "list":
            response = self.stub().ListInputs(
                service_pb2.ListInputsRequest(user_app_id=GOOD, per_page=20),
                metadata=METADATA,
                timeout=120,
            )
        else:
            return self.ingest(data)
        return bool(response.status.code == 10000)

    def ingest(self, data: resources_pb2.Data) -> bool:
        input_id = f"in-{next(self.ids)}"
        posted = self.stub().PostInputs(
            service_pb2.PostInputsRequest(
                user_app_id=GOOD, inputs=[resources_pb2.Input(id=input_id, data=data)]
            ),
            metadata=METADATA,
            timeout=120,
        )
        deadline = time.monotonic() + 120
        while posted.status.code == 10000 and time.monotonic() < deadline:
            got = self.stub().GetInput(
                service_pb2.GetInputRequest(user_app_id=GOOD, input_id=input_id),
                metadata=METADATA,
                timeout=120,
            )
            if got.input.status.code not in PENDING:
                return bool(got.input.status.code == INDEXED)
            time.sleep(0.05)
        return False

    def health(self) -> bool:
        with httpx.Client(timeout=30) as fresh:  # a new connection each time
            return fresh.get(f"http://127.0.0.1:{self.http_port}/health").status_code == 200


class Abuser:
    """The abuse, in a process of its own so that its threads do not take the well-behaved
    clients' GIL; ``counts`` says what it did once the block ends."""

    def __init__(self, http_port: int, slow_url: str, idle: int, kinds: tuple[str, ...]) -> None:
        context = multiprocessing.get_context("spawn")
        self.results: Any = context.Queue()
        self.work = Abuse(http_port, slow_url, idle, kinds, context.Event(), self.results)
        self.process = context.Process(target=self.work.run, daemon=True)
        self.counts: dict[str, int] = {}

    def __enter__(self) -> Abuser:
        self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.work.stop.set()
        self.counts = self.results.get(timeout=30)
        self.process.join(10)


class Abuse:
    """Slow URLs kept queued, idle connections held, headers sent a byte a second."""

    def __init__(
        self,
        http_port: int,
        slow_url: str,
        idle: int,
        kinds: tuple[str, ...],
        stop: Any,
        results: Any,
    ) -> None:
        self.http_port, self.slow_url, self.idle, self.kinds = http_port, slow_url, idle, kinds
        self.stop, self.results = stop, results

    def run(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)
        targets = {"urls": self.post_slow_urls, "idle": self.hold_idle, "loris": self.slow_loris}
        threads = [threading.Thread(target=targets[kind]) for kind in self.kinds]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.counts["CPU s of its own"] = round(time.process_time())
        self.results.put(dict(self.counts))

    def post_slow_urls(self) -> None:
        """16 URL inputs every 2 s: five times what four workers fetch in 5 s each."""
        serial = itertools.count()
        url = f"http://127.0.0.1:{self.http_port}/v2/users/me/apps/{BAD.app_id}/inputs"
        with httpx.Client(headers={"Authorization": f"Key {BENCH_PAT}"}, timeout=60) as client:
            while not self.stop.wait(2.0):
                inputs = [
                    {"data": {"image": {"url": f"{self.slow_url}/{next(serial)}.jpg"}}}
                    for _ in range(16)
                ]
                client.post(url, json={"inputs": inputs})
                self.counts["slow URLs posted"] += len(inputs)

    def hold_idle(self) -> None:
        """Keep ``idle`` connections open that never send a byte; reopen what is closed."""
        held: list[socket.socket] = []
        while not self.stop.is_set():
            held = [sock for sock in held if not _closed(sock, self.counts)]
            while len(held) < self.idle and not self.stop.is_set():
                try:
                    sock = socket.create_connection(("127.0.0.1", self.http_port), timeout=2)
                except OSError:
                    self.counts["idle connects failed"] += 1
                    break
                sock.setblocking(False)
                held.append(sock)
                self.counts["idle connections opened"] += 1
            self.stop.wait(0.5)
        for sock in held:
            sock.close()

    def slow_loris(self) -> None:
        """200 connections sending their headers a byte a second."""
        socks: list[socket.socket] = []
        while not self.stop.wait(1.0):
            socks = [sock for sock in socks if _trickle(sock)]
            while len(socks) < 200:
                try:
                    sock = socket.create_connection(("127.0.0.1", self.http_port), timeout=2)
                    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                except OSError:
                    break
                socks.append(sock)
                self.counts["slow-loris connections opened"] += 1
        for sock in socks:
            sock.close()


def _closed(sock: socket.socket, counts: dict[str, int]) -> bool:
    try:
        if sock.recv(1024) == b"":
            raise ConnectionResetError
    except BlockingIOError:
        return False
    except OSError:
        pass
    counts["idle connections closed by the server"] += 1
    sock.close()
    return True


def _trickle(sock: socket.socket) -> bool:
    try:
        sock.sendall(b"X")
        return True
    except OSError:
        sock.close()
        return False


def measure(tenant: Tenant, clients: int, seconds: float) -> dict[str, list[float | None]]:
    """Latencies by kind (None: a call that failed) over ``seconds``."""
    found: dict[str, list[float | None]] = defaultdict(list)
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    kinds = ("predict", "search", "list", "ingest")

    def timed(kind: str, call: Any) -> None:
        started = time.perf_counter()
        try:
            ok = call()
        except Exception:
            ok = False
        with lock:
            found[kind].append(time.perf_counter() - started if ok else None)

    def client(index: int) -> None:
        for turn in itertools.count(index):
            if time.perf_counter() >= deadline:
                return
            kind, image = kinds[turn % 4], tenant.images[turn % len(tenant.images)]
            timed(kind, lambda kind=kind, image=image: tenant.call(kind, image))

    def probe() -> None:
        while time.perf_counter() < deadline:
            timed("health", tenant.health)
            time.sleep(0.25)

    with ThreadPoolExecutor(clients + 1) as pool:
        probing = pool.submit(probe)
        list(pool.map(client, range(clients)))
        probing.result()
    return found


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p99(values: list[float | None]) -> float:
    ok = sorted(v for v in values if v is not None)
    return ok[min(len(ok) - 1, int(0.99 * len(ok)))] if ok else float("nan")


def abuse_comparison(
    clients: int, seconds: float, idle: int, kinds: tuple[str, ...], file_limit: int
) -> None:
    images = photo_like_jpegs(16, size=(320, 240))
    log = Path(tempfile.mkdtemp(prefix="clarion-abuse-")) / "server.log"
    server_at = clarion_server(env=SERVER_ENV, log=log, file_limit=file_limit)
    with server_at as server, slow_image_host(images[0]) as slow_url:
        tenant = Tenant(server.grpc_port, server.http_port, images)
        stub = tenant.stub()
        for app in (GOOD, BAD):
            stub.PostApps(
                service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app.app_id)]),
                metadata=METADATA,
            )
        measure(tenant, clients, 10)  # warm-up: models loaded, index built
        cpu = cpu_seconds(server.pid)
        alone = measure(tenant, clients, seconds)
        cpu_alone, cpu = cpu_seconds(server.pid) - cpu, cpu_seconds(server.pid)
        log_alone = log.stat().st_size
        with Abuser(server.http_port, slow_url, idle, kinds) as abuser:
            time.sleep(3)  # the workers busy with slow URLs, the connections open
            cpu = cpu_seconds(server.pid)
            beside = measure(tenant, clients, seconds)
            cpu_beside = cpu_seconds(server.pid) - cpu
        log_beside = log.stat().st_size - log_alone
    print(
        f"\n{clients} well-behaved clients, {seconds:.0f} s alone, then beside an abuser "
        f"({', '.join(kinds)})"
    )
    print(
        f"{'kind':<9}{'calls':>7}{'failed':>7}{'p99 ms':>9}"
        f"{'calls':>7}{'failed':>7}{'p99 ms':>9}{'ratio':>7}"
    )
    for kind in ("predict", "search", "list", "ingest", "health"):
        a, b = alone[kind], beside[kind]
        print(
            f"{kind:<9}{len(a):>7}{a.count(None):>7}{p99(a) * 1000:>9.0f}"
            f"{len(b):>7}{b.count(None):>7}{p99(b) * 1000:>9.0f}{p99(b) / p99(a):>7.2f}"
        )
    print(f"server CPU s: {cpu_alone:.1f} alone, {cpu_beside:.1f} beside the abuser")
    print(f"server log bytes: {log_alone} alone, {log_beside} beside the abuser")
    print(f"server open-file limit: {file_limit}")
    print("abuser: " + ", ".join(f"{n} {what}" for what, n in sorted(abuser.counts.items())))
