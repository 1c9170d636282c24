"""Vector index benchmark: build time, query latency, recall@10 and memory, exact against HNSW.

Each (size, data) case runs in its own process so that its peak memory is its own. Vectors
are unit float32; "random" is uniform on the sphere (the hard case for a graph index),
"clustered" is non-negative vectors around 1,000 centres, a closer stand-in for pooled CNN
features such as MobileNetV2's. The filter keeps a random 10% of the keys, as a sorted
array (what ``ORDER BY pk`` gives). Recall@10 is against the exact top 10, filter included.

    .venv/bin/python bench/search_index.py [--sizes 100000 1000000] [--dim 1280]
        [--data random clustered] [--queries 200] [--build-budget 1800]
        [--m 32] [--ef-construction 128] [--ef-search 64 128 256] [--storage float16]

A build that passes ``--build-budget`` seconds stops there: the table then gives the size
reached and its rate, and measures queries on that part.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from clarion.search import ExactIndex, HnswIndex, HnswParams

Matrix = npt.NDArray[np.float32]
CHUNK = 50_000  # rows generated, added and scored at a time, to bound temporaries
CLUSTERS = 1_000
EXACT_QUERIES = 20  # exact latency is steady, and slow at 1M: fewer samples suffice


@dataclass(frozen=True)
class Result:
    size: int
    built: int
    data: str
    kind: str
    build_s: float
    p50_ms: float
    p99_ms: float
    p50_filtered_ms: float
    p99_filtered_ms: float
    recall: float
    recall_filtered: float
    index_gib: float
    peak_gib: float


def unit_rows(rows: npt.NDArray[np.floating[Any]]) -> Matrix:
    norms: npt.NDArray[np.floating[Any]] = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / norms).astype(np.float32)


def vectors(count: int, dim: int, data: str, seed: int) -> Matrix:
    """``count`` unit vectors, made ``CHUNK`` rows at a time (no float64 n x d temporary)."""
    if data == "mixture":
        return mixture(count, dim, seed)
    rng = np.random.default_rng(seed)
    centres = np.abs(np.random.default_rng(99).standard_normal((CLUSTERS, dim), np.float32))
    out = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, CHUNK):
        rows = min(CHUNK, count - start)
        noise = rng.standard_normal((rows, dim), dtype=np.float32)
        if data == "clustered":
            noise = np.maximum(centres[rng.integers(0, CLUSTERS, rows)] + noise, 0.0)
        out[start : start + rows] = unit_rows(noise)
    return out


# The "mixture" data: a Gaussian mixture whose components are flat, as real embeddings are.
# Image embeddings of ImageNet-trained CNNs have an intrinsic dimension of a few tens, not
# their width (Ansuini et al., NeurIPS 2019; Pope et al., ICLR 2021), which is what lets a
# graph index find neighbours; isotropic noise in 1280 dimensions has none of it. Each of
# 1,000 components has a sparse non-negative centre (pooled ReLU features are: 40% zeros),
# varies along a random 32-dimensional subspace of its own, and has a little isotropic noise.
# Calibrated on MobileNetV2 embeddings of scikit-image's photos: unrelated photos have a
# median cosine of 0.40 (here 0.39 between components), a crop of a photo 0.92 (here 0.84
# between two points of a component, nearest neighbours closer).
MIXTURE_RANK = 32
MIXTURE_CENTRE_SHIFT = 0.25  # centres are max(N(0.25, 1), 0), normalised
MIXTURE_SPREAD = 0.45  # the norm of a point's offset within its subspace (centre norm 1)
MIXTURE_NOISE = 0.1  # the norm of the isotropic noise


def mixture(count: int, dim: int, seed: int) -> Matrix:
    """``count`` unit vectors from the flat Gaussian mixture described above (the mixture is
    the same for every ``seed``; the seed draws the points)."""
    shape = np.random.default_rng(98)
    centres = shape.standard_normal((CLUSTERS, dim), np.float32) + MIXTURE_CENTRE_SHIFT
    centres = unit_rows(np.maximum(centres, 0.0))
    bases = shape.standard_normal((CLUSTERS, MIXTURE_RANK, dim), np.float32)
    bases /= np.linalg.norm(bases, axis=2, keepdims=True)  # near-orthogonal in high dimension
    rng = np.random.default_rng(seed)
    out = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, CHUNK):
        rows = min(CHUNK, count - start)
        picks = rng.integers(0, CLUSTERS, rows)
        block = centres[picks].copy()
        along = rng.standard_normal((rows, MIXTURE_RANK), np.float32)
        along *= MIXTURE_SPREAD / np.sqrt(MIXTURE_RANK)
        for component in np.unique(picks):
            members = np.flatnonzero(picks == component)
            block[members] += along[members] @ bases[component]
        block += rng.standard_normal((rows, dim), np.float32) * (MIXTURE_NOISE / np.sqrt(dim))
        out[start : start + rows] = unit_rows(block)
    return out


def true_top10(base: Matrix, queries: Matrix, mask: npt.NDArray[np.bool_] | None) -> list[set[int]]:
    """The exact top-10 keys of each query (key = row), by blocked matrix products."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.empty((len(queries), 0), dtype=np.int64)
    for start in range(0, len(base), CHUNK):
        scores = queries @ base[start : start + CHUNK].T
        if mask is not None:
            scores[:, ~mask[start : start + CHUNK]] = -np.inf
        rows = np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)
        best_scores = np.concatenate([best_scores, scores], axis=1)
        best_rows = np.concatenate([best_rows, rows], axis=1)
        keep = np.argsort(-best_scores, axis=1)[:, :10]
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
        best_rows = np.take_along_axis(best_rows, keep, axis=1)
    return [set(row.tolist()) for row in best_rows]


def latencies(
    search: Callable[[Matrix], list[set[int]] | set[int]], queries: Matrix
) -> list[float]:
    times = []
    for query in queries:
        start = time.perf_counter()
        search(query)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def rss_gib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**30


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def measure(
    index: ExactIndex | HnswIndex,
    queries: Matrix,
    allowed: npt.NDArray[np.int64],
    truth: tuple[list[set[int]], list[set[int]]],
) -> tuple[list[float], list[float], float, float]:
    found: list[set[int]] = []
    found_filtered: list[set[int]] = []

    def plain(query: Matrix) -> set[int]:
        hits = {hit.key for hit in index.search(query, 10)}
        found.append(hits)
        return hits

    def filtered(query: Matrix) -> set[int]:
        hits = {hit.key for hit in index.search(query, 10, allowed=allowed)}
        found_filtered.append(hits)
        return hits

    plain_ms, filtered_ms = latencies(plain, queries), latencies(filtered, queries)
    recall = np.mean([len(a & b) / 10 for a, b in zip(found, truth[0], strict=False)])
    recall_f = np.mean([len(a & b) / 10 for a, b in zip(found_filtered, truth[1], strict=False)])
    return plain_ms, filtered_ms, float(recall), float(recall_f)


def build_hnsw(base: Matrix, params: HnswParams, budget_s: float) -> tuple[HnswIndex, float]:
    index = HnswIndex(base.shape[1], params)
    start = time.perf_counter()
    for row in range(0, len(base), CHUNK):
        index.add(np.arange(row, min(row + CHUNK, len(base))), base[row : row + CHUNK])
        elapsed = time.perf_counter() - start
        print(f"  hnsw: {len(index):>9,} vectors in {elapsed:7.1f}s", file=sys.stderr, flush=True)
        if elapsed > budget_s:
            break
    return index, time.perf_counter() - start


def run_case(args: argparse.Namespace, size: int, data: str) -> list[Result]:
    base = vectors(size, args.dim, data, seed=1)
    queries = vectors(args.queries, args.dim, data, seed=2)
    mask = np.random.default_rng(3).random(size) < 0.1

    before = rss_gib()
    params = HnswParams(m=args.m, ef_construction=args.ef_construction, storage=args.storage)
    hnsw, build_s = build_hnsw(base, params, args.build_budget)
    hnsw_gib = rss_gib() - before
    built = len(hnsw)
    part, part_mask = base[:built], mask[:built]
    allowed = np.flatnonzero(part_mask).astype(np.int64)
    truth = (true_top10(part, queries, None), true_top10(part, queries, part_mask))
    results = []
    for ef in args.ef_search:  # one graph, several beams: the recall/latency trade-off
        hnsw.tune(replace(params, ef_search=ef))
        timing = measure(hnsw, queries, allowed, truth)
        results.append(result(size, built, data, f"hnsw ef={ef}", build_s, *timing, hnsw_gib))
    del hnsw

    before = rss_gib()
    start = time.perf_counter()
    exact = ExactIndex(args.dim)
    exact.add(np.arange(built), part)
    exact_s = time.perf_counter() - start
    exact_gib = rss_gib() - before
    few = queries[:EXACT_QUERIES]
    timing = measure(exact, few, allowed, (truth[0][:EXACT_QUERIES], truth[1][:EXACT_QUERIES]))
    results.append(result(size, built, data, "exact", exact_s, *timing, exact_gib))
    return results


def result(
    size: int,
    built: int,
    data: str,
    kind: str,
    build_s: float,
    plain: list[float],
    filtered: list[float],
    recall: float,
    recall_filtered: float,
    index_gib: float,
) -> Result:
    return Result(
        size, built, data, kind, build_s,
        float(np.percentile(plain, 50)), float(np.percentile(plain, 99)),
        float(np.percentile(filtered, 50)), float(np.percentile(filtered, 99)),
        recall, recall_filtered, index_gib, peak_gib(),
    )  # fmt: skip


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"\ndim {args.dim}, {args.queries} queries (exact: {EXACT_QUERIES}), top-10, "
        f"HNSW m={args.m} ef_construction={args.ef_construction} storage={args.storage}; "
        "the filter keeps 10% of keys\n"
    )
    head = (
        "| vectors | data | index | build s | vec/s | p50 ms | p99 ms | p50 ms (filter) "
        "| p99 ms (filter) | recall@10 | recall@10 (filter) | index GiB | peak GiB |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in results:
        size = f"{r.built:,}" if r.built == r.size else f"{r.built:,} of {r.size:,}"
        print(
            f"| {size} | {r.data} | {r.kind} | {r.build_s:.1f} | {r.built / r.build_s:,.0f} "
            f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.p50_filtered_ms:.2f} | {r.p99_filtered_ms:.2f} "
            f"| {r.recall:.3f} | {r.recall_filtered:.3f} | {r.index_gib:.2f} | {r.peak_gib:.2f} |"
        )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--data", nargs="+", default=["random", "clustered"])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--build-budget", type=float, default=1800.0, help="seconds per build")
    defaults = HnswParams()
    parser.add_argument("--m", type=int, default=defaults.m)
    parser.add_argument("--ef-construction", type=int, default=defaults.ef_construction)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[64, defaults.ef_search, 256])
    parser.add_argument("--storage", default=defaults.storage)
    parser.add_argument("--case", nargs=2, metavar=("SIZE", "DATA"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse()
    if args.case:  # a child: one case, results as JSON lines on stdout
        for one in run_case(args, int(args.case[0]), args.case[1]):
            print(json.dumps(asdict(one)), flush=True)
        return
    results = []
    for size in args.sizes:
        for data in args.data:
            print(f"{size:,} {data} vectors ...", file=sys.stderr, flush=True)
            child = [sys.executable, __file__, *sys.argv[1:], "--case", str(size), data]
            out = subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True).stdout
            results += [Result(**json.loads(line)) for line in out.splitlines() if line]
    print_table(results, args)


if __name__ == "__main__":
    main()
