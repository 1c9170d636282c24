"""Ingestion throughput: inputs/s through the server, by bytes and by URL, against the bare cost.

The baselines, measured in the same run on the same images, in one process with as many
threads as the server's workers: decode each image with Clarion's safe decoder and store its
bytes in a blob store; and the same plus the indexing the server does at ingestion (the
general classifier and embedding, one network pass). The server's numbers include the gRPC
upload, the durable enqueue, the workers, and (for URLs) fetching from a local HTTP server.

    .venv/bin/python bench/ingest.py [--images 1000] [--repeats 3] [--base /tmp/base/src]

With ``--base``, a second server runs another build's source (main's, say) beside this
checkout's, and each round measures both after the bare pipelines: two builds compared at
the same moment of a shared machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import BENCH_PAT, Server, clarion_server, median, photo_like_jpegs
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc

from clarion.blobs import FileBlobStore
from clarion.inference import ModelCatalog
from clarion.media import decode_image

METADATA = (("authorization", f"Key {BENCH_PAT}"),)
BATCH = 128
WORKERS = 4


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_pipeline(
    images: list[bytes], catalog: ModelCatalog | None = None, cpu: list[float] | None = None
) -> float:
    """Seconds to decode and store every image (and index it, given the models), WORKERS
    threads, no server; the CPU seconds it took are appended to ``cpu``."""
    with tempfile.TemporaryDirectory() as tmp:
        store = FileBlobStore(Path(tmp))

        def one(data: bytes) -> None:
            image = decode_image(data)
            if catalog is not None:
                catalog.analyze_general([image.image])
            store.put(data)

        started, cpu_started = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(one, images))
        if cpu is not None:
            cpu.append(time.process_time() - cpu_started)
        return time.perf_counter() - started


def tagged(image: bytes, tag: str) -> bytes:
    """``image`` (a JPEG) with a comment segment holding ``tag`` after its start marker: the
    same picture, other bytes. Each round uploads new bytes, so every pipeline stores every
    blob each round; the servers would otherwise find the last round's blobs stored (blobs
    are kept by content) while the bare pipeline writes them again."""
    comment = tag.encode()
    return image[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + image[2:]


def serve_images(images: list[bytes]) -> tuple[ThreadingHTTPServer, str]:
    """An HTTP server for ``images``: ``/TAG/N.jpg`` is image N tagged with TAG."""

    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as any web server serves images: under HTTP/1.0 (the default here) each
        # fetch opened a connection, and this process started a thread for each.
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            tag, name = self.path.strip("/").split("/")
            body = tagged(images[int(name.split(".")[0])], tag)
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def through_server(
    server: Server, app_id: str, inputs: list[resources_pb2.Input], cpu: list[float] | None = None
) -> float:
    """Seconds from the first upload until every input is ingested; the server process's CPU
    seconds over that time are appended to ``cpu``."""
    grpc_port = server.grpc_port
    stub = service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=grpc_port)
    )
    user_app = resources_pb2.UserAppIDSet(app_id=app_id)
    stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app_id)]), metadata=METADATA
    )
    started, cpu_started = time.perf_counter(), process_cpu_seconds(server.pid)
    for offset in range(0, len(inputs), BATCH):
        response = stub.PostInputs(
            service_pb2.PostInputsRequest(
                user_app_id=user_app, inputs=inputs[offset : offset + BATCH]
            ),
            metadata=METADATA,
        )
        assert response.status.code == 10000, response.status
    while True:
        counts = stub.GetInputCount(
            service_pb2.GetInputCountRequest(user_app_id=user_app), metadata=METADATA
        ).counts
        if counts.processed + counts.errors == len(inputs):
            assert counts.errors == 0, counts
            if cpu is not None:
                cpu.append(process_cpu_seconds(server.pid) - cpu_started)
            return time.perf_counter() - started
        time.sleep(0.05)


def byte_inputs(images: list[bytes], tag: str) -> list[resources_pb2.Input]:
    return [
        resources_pb2.Input(
            data=resources_pb2.Data(image=resources_pb2.Image(base64=tagged(data, tag)))
        )
        for data in images
    ]


def url_inputs(base: str, count: int, tag: str) -> list[resources_pb2.Input]:
    return [
        resources_pb2.Input(
            data=resources_pb2.Data(
                image=resources_pb2.Image(url=f"{base}/{tag}/{n}.jpg", allow_duplicate_url=True)
            )
        )
        for n in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--base",
        type=Path,
        help="another build's src folder (say `git archive main src | tar -x -C /tmp/base`), "
        "served beside this checkout's and measured in the same rounds",
    )
    args = parser.parse_args()
    images = photo_like_jpegs(args.images)
    mean_kb = sum(map(len, images)) / len(images) / 1024
    print(f"{len(images)} JPEGs, 640x480, {mean_kb:.0f} KB on average; {WORKERS} worker threads")
    http_server, base = serve_images(images)
    models_dir = tempfile.TemporaryDirectory()
    catalog = ModelCatalog(Path(models_dir.name))
    catalog.analyze_general([decode_image(images[0]).image])
    trees = {"": Path(__file__).parent.parent / "src"}
    if args.base is not None:
        trees = {"base ": args.base, "new ": trees[""]}
    seconds: dict[str, list[float]] = {"bare decode + store": [], "bare, + indexing": []}
    cpu: dict[str, list[float]] = {"bare, + indexing": []}
    with ExitStack() as stack:
        servers = {}
        for name, src in trees.items():
            env = {"CLARION_WORKERS": str(WORKERS), "PYTHONPATH": str(src.resolve())}
            server = stack.enter_context(clarion_server("--allow-private-urls", env=env))
            # The server loads its models on its first ingestion, as the bare pipeline did.
            through_server(server, "warm-up", byte_inputs(images[:WORKERS], "warm-up"))
            servers[name] = server
            for way in ("by bytes", "by URL"):
                seconds[f"{name}server, {way}"], cpu[f"{name}server, {way}"] = [], []
        for run in range(args.repeats):
            seconds["bare decode + store"].append(
                bare_pipeline([tagged(image, f"bare-{run}") for image in images])
            )
            seconds["bare, + indexing"].append(
                bare_pipeline(
                    [tagged(image, f"indexed-{run}") for image in images],
                    catalog,
                    cpu["bare, + indexing"],
                )
            )
            for name, server in servers.items():
                row, tag = f"{name}server, by bytes", f"{name.strip()}bytes-{run}"
                took = through_server(server, tag, byte_inputs(images, tag), cpu[row])
                seconds[row].append(took)
                row, tag = f"{name}server, by URL", f"{name.strip()}url-{run}"
                took = through_server(server, tag, url_inputs(base, len(images), tag), cpu[row])
                seconds[row].append(took)
    http_server.shutdown()
    report(len(images), seconds, cpu)


def report(count: int, seconds: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    baseline = count / median(seconds["bare decode + store"])
    indexed = count / median(seconds["bare, + indexing"])
    print(f"{'pipeline':<27}{'inputs/s (median)':>18}{'ratio to bare':>15}{'to bare + index':>17}")
    for name, taken in seconds.items():
        rate = count / median(taken)
        print(f"{name:<27}{rate:>18.1f}{rate / baseline:>15.2f}{rate / indexed:>17.2f}")
    # Each round's own ratio: the rounds are interleaved, so a busy moment on the shared
    # machine slows the bare pipeline and the servers of that round alike.
    servers = [name for name in seconds if "server" in name]
    for name in servers:
        pairs = zip(seconds["bare, + indexing"], seconds[name], strict=True)
        ratios = [b / s for b, s in pairs]
        print(f"{name}: per-round ratio to bare + index {', '.join(f'{r:.2f}' for r in ratios)}")
    # CPU per input, what the shared machine's other work disturbs least (for URLs, the
    # server process only: the local HTTP server runs in this one).
    bare_cpu = median(cpu["bare, + indexing"]) / count
    for name, spent in cpu.items():
        per_input = median(spent) / count
        ratio = bare_cpu / per_input
        print(
            f"CPU per input, {name}: {per_input * 1000:.1f} ms (bare + index / this: {ratio:.2f})"
        )


if __name__ == "__main__":
    main()
