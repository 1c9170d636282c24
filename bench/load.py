"""Mixed load: clients mixing predict, search, list and upload against one server.

First 64 clients for 60 s: p50/p99 per method, throughput, failures that were not polite
refusals, and the server's memory after the run against after warm-up. Then 4x the clients:
the excess is refused politely (CONN_THROTTLED 11005 or RPC_REQUEST_QUEUE_FULL 40030) while
the rest still succeeds.

With ``--abuse``, instead: well-behaved clients (predict, search, list, and uploads timed until
they are indexed, plus a ``/health`` probe on a fresh connection every quarter second) run
alone, then beside one abusive tenant whose app keeps posting URLs that take 5 s to answer and
who holds thousands of idle and slow-loris HTTP connections. It reports the well-behaved p99s
with the abuser over those without, as ratios.

    .venv/bin/python bench/load.py [--seconds 60] [--clients 64]
    .venv/bin/python bench/load.py --abuse [--seconds 30] [--clients 8] [--idle 5000]
        [--abuse-kinds urls,idle,loris] [--server-files 4096]
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _abuse import abuse_comparison
from _common import BENCH_PAT, clarion_server, photo_like_jpegs
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc

METADATA = (("authorization", f"Key {BENCH_PAT}"),)
UA = resources_pb2.UserAppIDSet(app_id="load")
POLITE = {11005, 40030}
# The server is told to refuse what it cannot take: 32 expensive calls at once, 64 waiting.
SERVER_ENV = {"CLARION_MAX_EXPENSIVE_CALLS": "32", "CLARION_MAX_WAITING_CALLS": "64"}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Mix:
    def __init__(self, port: int, images: list[bytes]) -> None:
        self.port = port
        self.images = images
        self.local = threading.local()

    def stub(self) -> Any:
        if not hasattr(self.local, "stub"):
            channel = ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=self.port)
            self.local.stub = service_pb2_grpc.V2Stub(channel)
        return self.local.stub

    def call(self, rng: random.Random) -> tuple[str, int]:
        image = rng.choice(self.images)
        kind = rng.choice(("predict", "search", "list", "upload"))
        data = resources_pb2.Data(image=resources_pb2.Image(base64=image))
        if kind == "predict":
            request = service_pb2.PostModelOutputsRequest(
                user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
                model_id="general-image-recognition",
                inputs=[resources_pb2.Input(data=data)],
            )
            response = self.stub().PostModelOutputs(request, metadata=METADATA, timeout=120)
        elif kind == "search":
            rank = resources_pb2.Rank(annotation=resources_pb2.Annotation(data=data))
            request = service_pb2.PostInputsSearchesRequest(
                user_app_id=UA,
                searches=[resources_pb2.Search(query=resources_pb2.Query(ranks=[rank]))],
            )
            response = self.stub().PostInputsSearches(request, metadata=METADATA, timeout=120)
        elif kind == "list":
            response = self.stub().ListInputs(
                service_pb2.ListInputsRequest(user_app_id=UA, per_page=20),
                metadata=METADATA,
                timeout=120,
            )
        else:
            request = service_pb2.PostInputsRequest(
                user_app_id=UA, inputs=[resources_pb2.Input(data=data)]
            )
            response = self.stub().PostInputs(request, metadata=METADATA, timeout=120)
        return kind, response.status.code


def run(mix: Mix, clients: int, seconds: float) -> dict[str, Any]:
    latencies: dict[str, list[float]] = defaultdict(list)
    codes: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(index: int) -> None:
        rng = random.Random(index)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                kind, code = mix.call(rng)
            except Exception:  # a transport failure counts as a failure
                kind, code = "transport", -1
            with lock:
                latencies[kind].append(time.perf_counter() - started)
                codes[kind][code] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return {"latencies": latencies, "codes": codes, "elapsed": time.perf_counter() - started}


def report(title: str, result: dict[str, Any]) -> None:
    print(f"\n{title}")
    print(
        f"{'method':<10}{'calls':>8}{'ok':>8}{'refused':>9}{'failed':>8}{'p50 ms':>9}{'p99 ms':>9}"
    )
    total_ok = 0
    for kind in sorted(result["latencies"]):
        codes = result["codes"][kind]
        ok = codes.get(10000, 0)
        refused = sum(n for code, n in codes.items() if code in POLITE)
        failed = sum(codes.values()) - ok - refused
        total_ok += ok
        lat = result["latencies"][kind]
        print(
            f"{kind:<10}{len(lat):>8}{ok:>8}{refused:>9}{failed:>8}"
            f"{percentile(lat, 0.5) * 1000:>9.0f}{percentile(lat, 0.99) * 1000:>9.0f}"
        )
    print(f"successful calls/s: {total_ok / result['elapsed']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--abuse", action="store_true", help="the abusive-tenant comparison")
    parser.add_argument("--idle", type=int, default=5000, help="the abuser's idle connections")
    parser.add_argument(
        "--abuse-kinds", default="urls,idle,loris", help="what the abuser does (comma-separated)"
    )
    parser.add_argument(
        "--server-files",
        type=int,
        default=4096,
        help="the server's open-file limit in the abuse run (small, so idle connections reach it)",
    )
    args = parser.parse_args()
    if args.abuse:
        kinds = tuple(args.abuse_kinds.split(","))
        abuse_comparison(args.clients, args.seconds, args.idle, kinds, args.server_files)
        return
    images = photo_like_jpegs(32, size=(320, 240))
    with clarion_server(env=SERVER_ENV) as server:
        mix = Mix(server.grpc_port, images)
        stub = mix.stub()
        stub.PostApps(
            service_pb2.PostAppsRequest(apps=[resources_pb2.App(id="load")]), metadata=METADATA
        )
        seed = [
            resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image(base64=i)))
            for i in images
        ]
        stub.PostInputs(
            service_pb2.PostInputsRequest(user_app_id=UA, inputs=seed), metadata=METADATA
        )
        # Warm-up at the run's concurrency: models loaded, indexes built, and every thread the
        # run will use started (each holds a stack and malloc arenas), so that growth after it
        # is what a leak would show.
        run(mix, args.clients, 10)
        warm = rss_mb(server.pid)
        normal = run(mix, args.clients, args.seconds)
        after = rss_mb(server.pid)
        report(f"{args.clients} clients, {args.seconds:.0f} s", normal)
        print(
            f"server memory: {warm:.0f} MB after warm-up, {after:.0f} MB after the run "
            f"({(after / warm - 1) * 100:+.0f}%)"
        )
        heavy = run(mix, args.clients * 4, args.seconds)
        report(f"{args.clients * 4} clients, {args.seconds:.0f} s", heavy)


if __name__ == "__main__":
    main()
