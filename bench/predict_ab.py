"""Two builds of the server side by side on the predict load: a base source tree (``--base``,
say ``git archive <commit> src | tar -x -C /tmp/base``) and this checkout's, each in its own
``clarion serve``, interleaved with the bare pipeline round by round.

At 32 concurrent one-image calls, over gRPC and HTTP, each round gives every row's images/s
over the bare pipeline's in that round and the server process's CPU ms per image (the steadier
measure on a shared machine); then, at one client, each row's p50 and p99 latency in turn.

    .venv/bin/python bench/predict_ab.py --base /tmp/base/src [--seconds 6] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from predict import (
    bare_pipeline,
    bare_round,
    clarion_server,
    grpc_call,
    http_call,
    percentile,
    photo_like_jpegs,
    process_cpu_seconds,
    run_clients,
)

CLIENTS = 32


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, required=True, help="the base build's src folder")
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    trees = {"base": args.base, "new": Path(__file__).parent.parent / "src"}
    images = photo_like_jpegs(64)
    with tempfile.TemporaryDirectory() as models, ExitStack() as stack:
        best = bare_pipeline(images, 3, Path(models))
        print(f"bare pipeline at its best ({best.setting}): {best.rate:.0f} images/s")
        rows: list[tuple[str, Any, int]] = []
        for name, src in trees.items():
            server = stack.enter_context(clarion_server(env={"PYTHONPATH": str(src.resolve())}))
            rows.append((f"gRPC {name}", grpc_call(server.grpc_port), server.pid))
            rows.append((f"HTTP {name}", http_call(server.http_port), server.pid))
        for _, call, _ in rows:
            call(images[0])
        at_32(best, rows, images, args.seconds, args.rounds)
        at_one(rows, images, args.seconds / 2, args.rounds)


def at_32(
    best: Any, rows: list[tuple[str, Any, int]], images: list[bytes], seconds: float, rounds: int
) -> None:
    ratios: dict[str, list[float]] = {name: [] for name, _, _ in rows}
    cpus: dict[str, list[float]] = {name: [] for name, _, _ in rows}
    for index in range(rounds):
        base, bare_cpu = bare_round(best, images, seconds)
        line = f"round {index + 1}: bare {base:.0f} ({bare_cpu * 1000:.1f} CPU ms)"
        for name, call, pid in rows if index % 2 == 0 else rows[::-1]:
            before = process_cpu_seconds(pid)
            rate, latencies = run_clients(call, images, CLIENTS, seconds)
            cpu = (process_cpu_seconds(pid) - before) / len(latencies) * 1000
            ratios[name].append(rate / base)
            cpus[name].append(cpu)
            line += f"; {name} {rate:.0f} ({rate / base:.2f}, {cpu:.1f} ms)"
        print(line, flush=True)
    for name in ratios:
        each = ", ".join(f"{ratio:.2f}" for ratio in ratios[name])
        print(
            f"{CLIENTS} clients, {name}: images/s vs bare {statistics.median(ratios[name]):.2f}"
            f" ({each}); server CPU ms an image {statistics.median(cpus[name]):.2f}"
        )


def at_one(
    rows: list[tuple[str, Any, int]], images: list[bytes], seconds: float, rounds: int
) -> None:
    p50s: dict[str, list[float]] = {name: [] for name, _, _ in rows}
    p99s: dict[str, list[float]] = {name: [] for name, _, _ in rows}
    for index in range(rounds):
        for name, call, _ in rows if index % 2 == 0 else rows[::-1]:
            _, latencies = run_clients(call, images, 1, seconds)
            p50s[name].append(percentile(latencies, 0.5) * 1000)
            p99s[name].append(percentile(latencies, 0.99) * 1000)
    for name in p99s:
        each = ", ".join(f"{value:.1f}" for value in p99s[name])
        print(
            f"1 client, {name}: p50 {statistics.median(p50s[name]):.1f} ms,"
            f" p99 {statistics.median(p99s[name]):.1f} ms ({each})"
        )


if __name__ == "__main__":
    main()
