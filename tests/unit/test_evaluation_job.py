"""The ``run_evaluation`` job on a real SQLite store: against a dataset, re-runs, give-ups."""

from __future__ import annotations

import pytest

from clarion.codes import MODEL_EVALUATED, MODEL_TRAINED
from clarion.jobs.evaluation import EvaluationJob
from clarion.jobs.training import TrainJob
from clarion.storage.base import Page
from clarion.storage.datasets import DatasetRecord
from clarion.storage.evaluations import EvaluationFilter, EvaluationRecord
from clarion.storage.sql import SqlEvaluationStore
from tests.unit.test_training_job import (
    SPACE,
    World,
    add,
    labelled,
    new_version,
    version,
    world as world,
)

MODEL_EVALUATION_FAILED = 21317
MODEL_EVALUATION_NEED_LABELS = 21315


@pytest.fixture
def evaluations(world: World) -> SqlEvaluationStore:
    return SqlEvaluationStore(world.engine)


def trained_version(world: World) -> int:
    labelled(world)
    pk = new_version(world, ["cat", "dog"])
    TrainJob(world.models)({"version_pk": pk})
    assert version(world).status_code == MODEL_TRAINED
    return pk


def queue(store: SqlEvaluationStore, world: World, pk: int, dataset_id: str = "") -> int:
    record = EvaluationRecord(
        id=f"e-{dataset_id or 'cv'}",
        model_id="m",
        version_id="v1",
        dataset_id=dataset_id,
        version_pk=pk,
    )
    (created,) = store.create_evaluations(world.app_pk, [record])
    assert created.pk is not None
    return created.pk


def test_the_dataset_set_keeps_unlabelled_members_as_negatives(world: World) -> None:
    world.datasets.create_datasets(world.app_pk, [DatasetRecord(id="d")])
    add(world, "in-cat", {"cat": 1.0}, [1.0, 0.0, 0.0])
    add(world, "out-cat", {"cat": 1.0}, [1.0, 0.1, 0.0])
    add(world, "in-plain", {}, [0.0, 0.0, 1.0])
    world.datasets.add_dataset_inputs(world.app_pk, "d", ["in-cat", "in-plain"])
    labelled_only = world.models.training_set(world.app_pk, ["cat"], SPACE, dataset_id="d")
    assert labelled_only.input_ids == ("in-cat",)
    every = world.models.training_set(
        world.app_pk, ["cat"], SPACE, dataset_id="d", every_input=True
    )
    assert every.input_ids == ("in-cat", "in-plain")
    assert every.labels.tolist() == [[1], [0]]


def test_against_a_dataset_then_a_rerun_changes_nothing(
    world: World, evaluations: SqlEvaluationStore
) -> None:
    pk = trained_version(world)
    world.datasets.create_datasets(world.app_pk, [DatasetRecord(id="held")])
    add(world, "held-cat", {"cat": 1.0}, [1.0, 0.05, 0.0])
    add(world, "held-plain", {}, [0.0, 0.05, 1.0])  # no label: a negative for both
    world.datasets.add_dataset_inputs(world.app_pk, "held", ["held-cat", "held-plain"])
    evaluation_pk = queue(evaluations, world, pk, "held")
    job = EvaluationJob(evaluations, world.models)
    job({"evaluation_pk": evaluation_pk})
    found = evaluations.evaluation_by_pk(evaluation_pk)
    assert found is not None
    done = found[1]
    assert done.status_code == MODEL_EVALUATED, done.status_description
    assert done.metrics is not None and done.metrics["folds"] == 0
    by_concept = {c["concept_id"]: c for c in done.metrics["concepts"]}
    assert (by_concept["cat"]["num_pos"], by_concept["cat"]["num_neg"]) == (1, 1)
    assert (by_concept["dog"]["num_pos"], by_concept["dog"]["num_neg"]) == (0, 2)
    assert by_concept["cat"]["roc_auc"] == 1.0 and by_concept["dog"]["roc_auc"] is None
    job({"evaluation_pk": evaluation_pk})
    assert evaluations.evaluation_by_pk(evaluation_pk) == found


def test_an_empty_dataset_and_a_give_up_leave_a_reason(
    world: World, evaluations: SqlEvaluationStore
) -> None:
    pk = trained_version(world)
    world.datasets.create_datasets(world.app_pk, [DatasetRecord(id="empty")])
    empty = queue(evaluations, world, pk, "empty")
    job = EvaluationJob(evaluations, world.models)
    job({"evaluation_pk": empty})
    found = evaluations.evaluation_by_pk(empty)
    assert found is not None and found[1].status_code == MODEL_EVALUATION_NEED_LABELS
    assert "'empty'" in found[1].status_description
    crashed = queue(evaluations, world, pk)
    job.give_up({"evaluation_pk": crashed}, RuntimeError("disk on fire"))
    found = evaluations.evaluation_by_pk(crashed)
    assert found is not None and found[1].status_code == MODEL_EVALUATION_FAILED
    assert "disk on fire" in found[1].status_description
    hidden = EvaluationFilter(with_failed=False)
    assert evaluations.list_evaluations(world.app_pk, Page(), hidden) == []
    assert len(evaluations.list_evaluations(world.app_pk, Page())) == 2
