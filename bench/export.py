"""Model exports (PutModelVersionExports): seconds to build a custom model's ONNX file.

The export runs inside the request, so it must stay quick. This times what the request does
(``ModelCatalog.export_classifier``: read the MobileNetV2 graph, append the head, check and
serialize) for classifiers of 2, 100 and 1,000 concepts with random weights, and the file's
size. The first export in a process whose cache is cold also builds the MobileNetV2 graph from
the weight package; that is timed apart (a server that has predicted once has it on disk).

    .venv/bin/python bench/export.py [--concepts 2 100 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from clarion.inference import ModelCatalog
from clarion.inference.trainer import LinearClassifier

DIMENSIONS = 1280


def classifier(concepts: int) -> bytes:
    rng = np.random.default_rng(concepts)
    weights = rng.normal(size=(concepts, DIMENSIONS)).astype(np.float32)
    return LinearClassifier(weights, rng.normal(size=concepts).astype(np.float32)).to_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", type=int, nargs="+", default=[2, 100, 1000])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        catalog = ModelCatalog(Path(cache))
        started = time.perf_counter()
        catalog.export_classifier(classifier(2), [("a", "a"), ("b", "b")], exclusive=False)
        print(f"cold cache (builds the MobileNetV2 graph): {time.perf_counter() - started:.2f} s")
        print("| concepts | median s | MB |")
        print("|---|---|---|")
        for count in args.concepts:
            weights, names = classifier(count), [(f"c{i}", f"c{i}") for i in range(count)]
            seconds, size = [], 0
            for _ in range(args.repeats):
                started = time.perf_counter()
                size = len(catalog.export_classifier(weights, names, exclusive=True))
                seconds.append(time.perf_counter() - started)
            print(f"| {count} | {statistics.median(seconds):.3f} | {size / 1e6:.1f} |")


if __name__ == "__main__":
    main()
