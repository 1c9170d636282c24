"""Predict throughput and latency for general-image-recognition, through gRPC and HTTP+JSON.

At concurrency 1, 8 and 32, clients send one image per PostModelOutputs call for a fixed time;
the baseline, in the same run on the same images, is the bare pipeline in one process: decode,
preprocess and the network on onnxruntime, with as many threads as the highest concurrency.

Besides images/s, each row gives the CPU time spent per image: the server process's plus the
client's, against the bare pipeline's own. On a shared machine other processes take cores
from whichever phase runs while they are busy, so throughput ratios wander from run to run;
CPU per image does not depend on what else runs, and at saturation throughput is its inverse.

    .venv/bin/python bench/predict.py [--seconds 15] [--images 64]
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
from _common import BENCH_PAT, clarion_server, photo_like_jpegs  # noqa: E402
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel  # noqa: E402
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc  # noqa: E402

from clarion.inference import ModelCatalog  # noqa: E402
from clarion.media import decode_image  # noqa: E402

MODEL = "general-image-recognition"
METADATA = (("authorization", f"Key {BENCH_PAT}"),)
CONCURRENCY = (1, 8, 32)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_clients(
    call, images: list[bytes], concurrency: int, seconds: float
) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    """Images per second and per-call latencies (s) of ``concurrency`` clients for ``seconds``."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(index: int) -> None:
        n = index
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            call(images[n % len(images)])
            with lock:
                latencies.append(time.perf_counter() - started)
            n += concurrency

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(client, range(concurrency)))
    return len(latencies) / (time.perf_counter() - started), latencies


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_pipeline(images: list[bytes], seconds: float) -> tuple[float, int, float]:
    """The bare pipeline's best rate over 1, 2 and 32 threads, that thread count, and its CPU
    seconds per image at that count."""
    with tempfile.TemporaryDirectory() as tmp:
        runner = ModelCatalog(Path(tmp)).runner(MODEL)
        runner.predict([decode_image(images[0]).image])  # load

        def call(data: bytes) -> None:
            runner.predict([decode_image(data).image])

        rates: dict[int, float] = {}
        cpu: dict[int, float] = {}
        for threads in (1, 2, 32):
            before = time.process_time()
            rate, latencies = run_clients(call, images, threads, seconds)
            rates[threads] = rate
            cpu[threads] = (time.process_time() - before) / len(latencies)
        best = max(rates, key=rates.__getitem__)
        return rates[best], best, cpu[best]


def grpc_call(port: int):  # type: ignore[no-untyped-def]
    local = threading.local()

    def call(data: bytes) -> None:
        if not hasattr(local, "stub"):
            channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=port)
            local.stub = service_pb2_grpc.V2Stub(channel)
        request = service_pb2.PostModelOutputsRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
            model_id=MODEL,
            inputs=[
                resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image(base64=data)))
            ],
        )
        response = local.stub.PostModelOutputs(request, metadata=METADATA)
        assert response.status.code == 10000, response.status

    return call


def http_call(port: int):  # type: ignore[no-untyped-def]
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Key {BENCH_PAT}"},
        limits=httpx.Limits(max_connections=64),
        timeout=60,
    )
    url = f"/v2/users/clarifai/apps/main/models/{MODEL}/outputs"

    def call(data: bytes) -> None:
        body = {"inputs": [{"data": {"image": {"base64": base64.b64encode(data).decode()}}}]}
        response = client.post(url, json=body)
        assert response.json()["status"]["code"] == 10000, response.text

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--images", type=int, default=64)
    args = parser.parse_args()
    images = photo_like_jpegs(args.images)
    bare, threads, bare_cpu = bare_pipeline(images, args.seconds)
    print(
        f"bare pipeline, best of 1, 2 and 32 threads ({threads}): {bare:.0f} images/s, "
        f"{bare_cpu * 1000:.1f} CPU ms/image"
    )
    print(
        f"{'transport':<10}{'clients':>8}{'images/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'vs bare':>9}"
        f"{'CPU ms':>8}{'bare/CPU':>10}"
    )
    with clarion_server() as server:
        warm = grpc_call(server.grpc_port)
        warm(images[0])
        for name, make in (("gRPC", grpc_call), ("HTTP", http_call)):
            port = server.grpc_port if name == "gRPC" else server.http_port
            call = make(port)
            for concurrency in CONCURRENCY:
                server_before, client_before = process_cpu_seconds(server.pid), time.process_time()
                rate, latencies = run_clients(call, images, concurrency, args.seconds)
                spent = process_cpu_seconds(server.pid) - server_before
                spent += time.process_time() - client_before
                cpu = spent / len(latencies)
                p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
                print(
                    f"{name:<10}{concurrency:>8}{rate:>10.0f}{p50:>9.1f}{p99:>9.1f}"
                    f"{rate / bare:>9.2f}{cpu * 1000:>8.1f}{bare_cpu / cpu:>10.2f}"
                )


if __name__ == "__main__":
    main()
