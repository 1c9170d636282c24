"""The general network's cost per picture by run size: why ingestion batches claim and write,
but runs the models one picture at a time.

Indexing runs the classifier and embedding network (one MobileNetV2 pass, ``analyze_general``)
on 640x480 JPEGs already decoded, from 4 threads as the workers do, in runs of 1, 2, 4 and 8
pictures; the run sizes are interleaved round by round, and each prints its median CPU per
picture and pictures/s with its ratio to runs of one measured in the same rounds.

    .venv/bin/python bench/model_batch.py [--images 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import median, photo_like_jpegs
from PIL import Image

from clarion.inference import ModelCatalog
from clarion.media import decode_image

RUN_SIZES = (1, 2, 4, 8)
THREADS = 4


def one_round(catalog: ModelCatalog, pictures: list[Image.Image], size: int) -> tuple[float, float]:
    """(CPU seconds per picture, pictures per second) for runs of ``size``."""
    runs = [pictures[n : n + size] for n in range(0, len(pictures), size)]
    started, cpu_started = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(catalog.analyze_general, runs))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return cpu / len(pictures), len(pictures) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pictures = [decode_image(data).image for data in photo_like_jpegs(args.images)]
    with tempfile.TemporaryDirectory() as models:
        catalog = ModelCatalog(Path(models))
        catalog.analyze_general(pictures[:8])  # loaded, and its arena grown for a run of 8
        cpu: dict[int, list[float]] = {size: [] for size in RUN_SIZES}
        rate: dict[int, list[float]] = {size: [] for size in RUN_SIZES}
        for _ in range(args.rounds):
            for size in RUN_SIZES:
                spent, speed = one_round(catalog, pictures, size)
                cpu[size].append(spent)
                rate[size].append(speed)
    print(f"{len(pictures)} pictures, 640x480, {THREADS} threads, {args.rounds} rounds")
    for size in RUN_SIZES:
        per_picture, speed = median(cpu[size]), median(rate[size])
        print(
            f"runs of {size}: {per_picture * 1000:.1f} CPU ms per picture "
            f"({per_picture / median(cpu[1]):.2f} of runs of one), {speed:.0f} pictures/s "
            f"({speed / median(rate[1]):.2f})"
        )


if __name__ == "__main__":
    main()
