"""Custom-model training and evaluation: seconds at 100, 1,000 and 10,000 labelled inputs.

Each size gets a fresh SQLite database in a temporary directory, filled through the storage
layer as ingestion fills it: inputs with an input-level annotation (one concept of
``--concepts`` each), and a 1280-d L2-normalised vector each in the general image embedding
space. The vectors are synthetic (a noisy, non-negative mixture around one centre per
concept, like pooled CNN features), so the task is learnable but not trivial.

Then the two jobs run in this process, as a worker would run them: ``train_model`` (read the
labelled vectors from SQL, fit, store the weights) and ``evaluate_model`` (five-fold
cross-validation and the metrics). Seconds are wall time, each job once.

    .venv/bin/python bench/train.py [--sizes 100 1000 10000] [--concepts 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from clarion.jobs.training import EvaluateJob, TrainJob
from clarion.storage.accounts import AppRecord, UserRecord
from clarion.storage.annotations import AnnotationRecord
from clarion.storage.engine import create_db_engine, migrate
from clarion.storage.inputs import InputRecord
from clarion.storage.models import ModelConcept, ModelRecord, VersionRecord
from clarion.storage.sql import SqlAccountStore, SqlInputStore, SqlModelStore, SqlSearchStore

DIMENSIONS = 1280
SPACE = "general-image-embedding"
BATCH = 500
# Per-dimension noise around the centres: at 1,000 inputs, 5-fold top-1 accuracy is near 0.9.
NOISE = 4.0


def vectors_and_labels(count: int, concepts: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.abs(rng.normal(size=(concepts, DIMENSIONS))) * (
        rng.random((concepts, DIMENSIONS)) < 0.3
    )
    labels = rng.integers(0, concepts, count)
    points = np.maximum(centres[labels] + rng.normal(scale=NOISE, size=(count, DIMENSIONS)), 0.0)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32), labels


def fill(directory: Path, count: int, concepts: int) -> tuple[SqlModelStore, int, float]:
    """A database with ``count`` labelled inputs with vectors; the model store, app, seconds."""
    started = time.perf_counter()
    engine = create_db_engine(f"sqlite:///{directory / 'bench.db'}")
    migrate(engine)
    store = SqlAccountStore(engine)
    store.create_user(UserRecord("bench"))
    store.create_apps([AppRecord(user_id="bench", id="app")])
    app = store.get_app("bench", "app")
    assert app is not None and app.pk is not None
    data, search = SqlInputStore(engine), SqlSearchStore(engine)
    vectors, labels = vectors_and_labels(count, concepts)
    for start in range(0, count, BATCH):
        rows = range(start, min(start + BATCH, count))
        records = [InputRecord(id=f"in{i}", kind="image") for i in rows]
        notes = [
            AnnotationRecord(
                id=f"an{i}",
                input_id=f"in{i}",
                data={"concepts": [{"id": f"c{labels[i]}", "name": f"c{labels[i]}", "value": 1.0}]},
                input_level=True,
            )
            for i in rows
        ]
        for stored in data.add_inputs(app.pk, records, notes):
            assert stored.pk is not None
            index = int(stored.id[2:])
            search.save_analysis(app.pk, stored.pk, {SPACE: vectors[index]}, [])
    return SqlModelStore(engine), app.pk, time.perf_counter() - started


def run(count: int, concepts: int) -> tuple[float, float, float, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        models, app_pk, setup = fill(Path(tmp), count, concepts)
        models.create_model(app_pk, ModelRecord(id="m", model_type_id="embedding-classifier"))
        wanted = tuple(ModelConcept(f"c{i}", f"c{i}") for i in range(concepts))
        version = models.create_version(
            app_pk, "m", VersionRecord(id="v", model_id="m", concepts=wanted), model_concepts=True
        )
        assert version.pk is not None
        started = time.perf_counter()
        TrainJob(models)({"version_pk": version.pk})
        trained = time.perf_counter() - started
        models.request_evaluation(version.pk)
        started = time.perf_counter()
        EvaluateJob(models)({"version_pk": version.pk})
        evaluated = time.perf_counter() - started
        result = models.get_version(app_pk, "m", "v")
        assert result is not None and result.metrics is not None
        return setup, trained, evaluated, result.metrics["summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--concepts", type=int, default=10)
    args = parser.parse_args()
    print(f"{args.concepts} concepts, {DIMENSIONS}-d vectors; seconds per job (wall)")
    print(f"{'inputs':>8} {'fill':>8} {'train':>8} {'evaluate':>9} {'cv top1':>8} {'cv AUC':>7}")
    for size in args.sizes:
        setup, trained, evaluated, summary = run(size, args.concepts)
        print(
            f"{size:>8} {setup:>8.2f} {trained:>8.2f} {evaluated:>9.2f} "
            f"{summary['top1_accuracy']:>8.3f} {summary['macro_avg_roc_auc']:>7.3f}"
        )


if __name__ == "__main__":
    main()
