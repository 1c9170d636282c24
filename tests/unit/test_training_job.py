"""The training and evaluation jobs on a real SQLite store: data, statuses, re-runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from clarifai_grpc.grpc.api import service_pb2
from sqlalchemy import Engine

from clarion.codes import (
    MODEL_EVALUATED,
    MODEL_QUEUED_FOR_EVALUATION,
    MODEL_TRAINED,
    MODEL_TRAINING,
)
from clarion.inference import ModelCatalog
from clarion.inference.trainer import LinearClassifier
from clarion.jobs.training import EvaluateJob, TrainJob
from clarion.protocol.descriptor import v2_methods
from clarion.services.context import CallContext
from clarion.services.custom_models import CustomModelsService
from clarion.storage.accounts import AppRecord, UserRecord
from clarion.storage.annotations import AnnotationRecord
from clarion.storage.engine import create_db_engine, migrate
from clarion.storage.inputs import InputRecord
from clarion.storage.models import ModelConcept, ModelRecord, VersionRecord
from clarion.storage.sql import (
    SqlAccountStore,
    SqlAnnotationStore,
    SqlConceptStore,
    SqlDatasetStore,
    SqlInputStore,
    SqlModelStore,
    SqlSearchStore,
)

SPACE = "general-image-embedding"
MODEL_TRAINING_FAILED = 21106


@dataclass
class World:
    models: SqlModelStore
    data: SqlInputStore
    annotations: SqlAnnotationStore
    datasets: SqlDatasetStore
    search: SqlSearchStore
    app: AppRecord
    engine: Engine

    @property
    def app_pk(self) -> int:
        assert self.app.pk is not None
        return self.app.pk


@pytest.fixture
def world(tmp_path: Path) -> World:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    store = SqlAccountStore(engine)
    store.create_user(UserRecord("u"))
    store.create_apps([AppRecord(user_id="u", id="a")])
    app = store.get_app("u", "a")
    assert app is not None
    return World(
        SqlModelStore(engine),
        SqlInputStore(engine),
        SqlAnnotationStore(engine),
        SqlDatasetStore(engine),
        SqlSearchStore(engine),
        app,
        engine,
    )


def add(
    world: World, input_id: str, concepts: dict[str, float], vector: Sequence[float] | None
) -> None:
    data = {"concepts": [{"id": c, "name": c, "value": v} for c, v in concepts.items()]}
    (stored,) = world.data.add_inputs(
        world.app_pk,
        [InputRecord(id=input_id, kind="image")],
        [AnnotationRecord(id=f"ann-{input_id}", input_id=input_id, data=data, input_level=True)],
    )
    if vector is not None:
        assert stored.pk is not None
        unit = np.asarray(vector, dtype=np.float32) / np.linalg.norm(vector)
        world.search.save_analysis(world.app_pk, stored.pk, {SPACE: unit}, [])


def labelled(world: World) -> None:
    for i in range(4):
        add(world, f"cat{i}", {"cat": 1.0}, [1.0, 0.1 * i, 0.0])
        add(world, f"dog{i}", {"dog": 1.0, "cat": 0.0}, [0.0, 0.1 * i, 1.0])


def new_version(world: World, concepts: Sequence[str], **config: object) -> int:
    world.models.create_model(
        world.app_pk, ModelRecord(id="m", model_type_id="embedding-classifier")
    )
    version = VersionRecord(
        id="v1",
        model_id="m",
        concepts=tuple(ModelConcept(c, c) for c in concepts),
        output_config=dict(config),
    )
    created = world.models.create_version(world.app_pk, "m", version, model_concepts=True)
    assert created.pk is not None
    return created.pk


def version(world: World) -> VersionRecord:
    found = world.models.get_version(world.app_pk, "m", "v1")
    assert found is not None
    return found


def test_the_training_set_reads_positives_negatives_and_missing_vectors(world: World) -> None:
    add(world, "both", {"cat": 1.0}, [1.0, 0.0, 0.0])
    world.annotations.add_annotations(
        world.app_pk,
        [
            AnnotationRecord(
                id="again", input_id="both", data={"concepts": [{"id": "cat", "value": 0}]}
            )
        ],
    )
    add(world, "negative", {"cat": 0.0}, [0.0, 1.0, 0.0])
    add(world, "other", {"dog": 1.0}, [0.0, 0.0, 1.0])
    add(world, "pending", {"cat": 1.0}, None)
    add(world, "unlabelled", {}, [1.0, 1.0, 1.0])
    found = world.models.training_set(world.app_pk, ["cat", "dog"], SPACE)
    assert found.input_ids == ("both", "negative", "other")
    assert found.labels.tolist() == [[1, 0], [-1, 0], [0, 1]]
    assert found.labelled_inputs == 4  # "pending" has no vector yet
    assert found.vectors.shape == (3, 3)


def test_training_stores_weights_and_a_rerun_changes_nothing(world: World) -> None:
    labelled(world)
    pk = new_version(world, ["cat", "dog"])
    job = TrainJob(world.models)
    job({"version_pk": pk})
    trained = version(world)
    assert trained.status_code == MODEL_TRAINED
    assert trained.train_stats["positives"] == {"cat": 4, "dog": 4}
    assert trained.train_stats["explicit_negatives"] == {"cat": 4, "dog": 0}
    assert trained.weights is not None
    scores = LinearClassifier.from_bytes(trained.weights).scores([[1.0, 0.0, 0.0]])
    assert scores[0, 0] > 0.5 > scores[0, 1]
    job({"version_pk": pk})
    assert version(world) == trained


def test_a_version_left_training_is_trained_again_to_the_same_weights(world: World) -> None:
    labelled(world)
    pk = new_version(world, ["cat", "dog"])
    TrainJob(world.models)({"version_pk": pk})
    weights = version(world).weights
    world.models.set_training_status(pk, MODEL_TRAINING, "a worker died here")
    TrainJob(world.models)({"version_pk": pk})
    assert version(world).status_code == MODEL_TRAINED
    assert version(world).weights == weights


def test_giving_up_marks_the_version_failed(world: World) -> None:
    pk = new_version(world, ["cat"])
    TrainJob(world.models).give_up({"version_pk": pk}, RuntimeError("disk on fire"))
    failed = version(world)
    assert failed.status_code == MODEL_TRAINING_FAILED
    assert "disk on fire" in failed.status_description
    assert failed.completed_at is not None


def test_a_deleted_version_is_skipped(world: World) -> None:
    pk = new_version(world, ["cat"])
    world.models.delete_models(world.app_pk, ["m"])
    TrainJob(world.models)({"version_pk": pk})  # nothing to do, nothing raised


def test_posting_an_evaluation_answers_queued_though_a_worker_finishes_at_once(
    world: World, tmp_path: Path
) -> None:
    labelled(world)
    pk = new_version(world, ["cat", "dog"])
    TrainJob(world.models)({"version_pk": pk})
    # The fastest worker there can be: woken, it evaluates before the call returns.
    service = CustomModelsService(
        world.models,
        SqlConceptStore(world.engine),
        world.datasets,
        ModelCatalog(tmp_path / "models"),
        wake_workers=lambda: EvaluateJob(world.models)({"version_pk": pk}),
    )
    method = v2_methods()["PostModelVersionMetrics"]
    ctx = CallContext(method=method, req_id="r", principal=None, user_id="u", app=world.app)
    request = service_pb2.PostModelVersionMetricsRequest(model_id="m", version_id="v1")
    posted = service.post_model_version_metrics(request, ctx)
    assert posted.model_version.metrics.status.code == MODEL_QUEUED_FOR_EVALUATION
    assert version(world).metrics_status_code == MODEL_EVALUATED


def test_evaluation_is_queued_once_and_stores_metrics(world: World) -> None:
    labelled(world)
    pk = new_version(world, ["cat", "dog"])
    TrainJob(world.models)({"version_pk": pk})
    assert world.models.request_evaluation(pk)
    assert not world.models.request_evaluation(pk)  # already queued
    assert version(world).metrics_status_code == MODEL_QUEUED_FOR_EVALUATION
    EvaluateJob(world.models)({"version_pk": pk})
    evaluated = version(world)
    assert evaluated.metrics_status_code == MODEL_EVALUATED
    assert evaluated.metrics is not None
    assert evaluated.metrics["folds"] == 5
    assert evaluated.metrics["summary"]["macro_avg_roc_auc"] == 1.0
    assert len(evaluated.metrics["test_set"]) == 8
