"""What the shared port costs: the same calls through `--port` and through the two ports.

The shared port relays each connection to the gRPC or the HTTP server over loopback, so every
byte crosses one more pair of sockets and the event loop. Two calls show where that shows: a
cheap one (GetModel: a few hundred bytes each way, where a relay's per-call cost is most of
the call) and a prediction on one 640x480 JPEG (about 110 KB up). Interleaved rounds run each
call through the direct port and through the shared one in turn, so a neighbour's load falls
on both; each round gives the shared port's calls/s over the direct port's, and the table
gives the medians of those ratios with each side's p50 latency.

    .venv/bin/python bench/shared_port.py [--seconds 8] [--clients 8] [--rounds 5]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import grpc
import orjson

sys.path.insert(0, str(Path(__file__).parent))

from _common import BENCH_PAT, clarion_server, free_port, photo_like_jpegs
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from predict import (
    METADATA,
    MODEL,
    grpc_call,
    http_call,
    percentile,
    read_response,
    run_clients,
)

Call = Callable[[bytes], None]


def grpc_get_model(port: int) -> Call:
    """One GetModel over gRPC per call, a channel per client thread."""
    local = threading.local()
    request = service_pb2.GetModelRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"), model_id=MODEL
    ).SerializeToString()

    def call(_: bytes) -> None:
        if not hasattr(local, "get"):
            local.get = grpc.insecure_channel(f"127.0.0.1:{port}").unary_unary(
                "/clarifai.api.V2/GetModel",
                request_serializer=lambda raw: raw,
                response_deserializer=service_pb2.SingleModelResponse.FromString,
            )
        assert local.get(request, metadata=METADATA).status.code == 10000

    return call


def http_get_model(port: int) -> Call:
    """One GET of the model per call, on a kept-alive socket per client thread."""
    local = threading.local()
    request = (
        f"GET /v2/users/clarifai/apps/main/models/{MODEL} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nAuthorization: Key {BENCH_PAT}\r\n\r\n"
    ).encode()

    def call(_: bytes) -> None:
        if not hasattr(local, "sock"):
            local.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            local.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        local.sock.sendall(request)
        status, body = read_response(local.sock)
        assert status == 200 and orjson.loads(body)["status"]["code"] == 10000, body[:300]

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    images = photo_like_jpegs(32)
    shared = free_port()
    # Cheap calls pass a thousand a second: the per-key and per-app limits would answer 11005.
    unlimited = {"CLARION_RATE_LIMIT_PER_KEY": "0", "CLARION_RATE_LIMIT_PER_APP": "0"}
    with clarion_server("--port", str(shared), env=unlimited) as server:
        grpc_call(server.grpc_port)(images[0])  # load the model
        pairs = {
            "gRPC GetModel": (grpc_get_model(server.grpc_port), grpc_get_model(shared)),
            "HTTP GetModel": (http_get_model(server.http_port), http_get_model(shared)),
            "gRPC predict": (grpc_call(server.grpc_port), grpc_call(shared)),
            "HTTP predict": (http_call(server.http_port), http_call(shared)),
        }
        measure(pairs, images, args)


def measure(
    pairs: dict[str, tuple[Call, Call]], images: list[bytes], args: argparse.Namespace
) -> None:
    for direct, through_shared in pairs.values():  # channels, connections, first calls
        run_clients(direct, images, args.clients, 0.5)
        run_clients(through_shared, images, args.clients, 0.5)
    ratios: dict[str, list[float]] = {name: [] for name in pairs}
    p50s: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in pairs}
    for round_index in range(args.rounds):
        line = f"round {round_index + 1}:"
        for name, (direct, through_shared) in pairs.items():
            direct_rate, direct_latencies = run_clients(direct, images, args.clients, args.seconds)
            shared_rate, shared_latencies = run_clients(
                through_shared, images, args.clients, args.seconds
            )
            ratios[name].append(shared_rate / direct_rate)
            p50s[name][0].append(percentile(direct_latencies, 0.5) * 1000)
            p50s[name][1].append(percentile(shared_latencies, 0.5) * 1000)
            line += f"  {name} {direct_rate:.0f} vs {shared_rate:.0f}/s"
        print(line, flush=True)
    print(f"\n{args.clients} clients, medians of {args.rounds} interleaved rounds:")
    print(f"{'call':<16}{'shared/direct calls/s':>23}{'p50 direct ms':>15}{'p50 shared ms':>15}")
    for name in pairs:
        direct_p50, shared_p50 = (statistics.median(values) for values in p50s[name])
        print(
            f"{name:<16}{statistics.median(ratios[name]):>23.2f}"
            f"{direct_p50:>15.2f}{shared_p50:>15.2f}"
        )


if __name__ == "__main__":
    main()
