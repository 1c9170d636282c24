"""The labelling store on both databases: which inputs a labeller is handed (all, a dataset's,
or those no other labeller has), and a review reaching the labeller's annotations."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine

from clarion.codes import (
    ANNOTATION_PENDING,
    ANNOTATION_REVIEW_DENIED,
    TASK_ASSIGNMENT_PENDING,
    TASK_ASSIGNMENT_REJECTED,
)
from clarion.storage.annotations import AnnotationRecord
from clarion.storage.base import Page
from clarion.storage.datasets import DatasetRecord
from clarion.storage.inputs import InputRecord
from clarion.storage.labelling import NextInputs, TaskRecord
from clarion.storage.sql import (
    SqlAnnotationStore,
    SqlDatasetStore,
    SqlInputStore,
    SqlLabellingStore,
)
from tests.storage.test_backends import app_pk, backend, engine, url  # noqa: F401


def ids(count: int) -> list[str]:
    return [uuid.uuid4().hex for _ in range(count)]


def store_with_inputs(engine: Engine, app_pk: int, count: int) -> SqlLabellingStore:  # noqa: F811
    records = [InputRecord(id=f"in-{n}", kind="image") for n in range(count)]
    SqlInputStore(engine).add_inputs(app_pk, records, [])
    store = SqlLabellingStore(engine)
    store.create_tasks(app_pk, [TaskRecord(id="t", spec={"name": "pets"})])
    return store


def test_full_hands_every_input_to_each_labeller(engine: Engine, app_pk: int) -> None:  # noqa: F811
    store = store_with_inputs(engine, app_pk, 3)
    for labeller in ("ann", "bob"):
        got = store.assign_next(app_pk, "t", labeller, NextInputs(), 10, ids(10))
        assert [a.input_id for a in got] == ["in-0", "in-1", "in-2"]
        assert {a.status_code for a in got} == {TASK_ASSIGNMENT_PENDING}
    # Asking again hands the same pending ones, not new rows.
    again = store.assign_next(app_pk, "t", "ann", NextInputs(), 10, ids(10))
    assert len(again) == 3 and len(store.list_assignments(app_pk, "t")) == 6


def test_partitioned_hands_each_input_to_one_labeller(engine: Engine, app_pk: int) -> None:  # noqa: F811
    store = store_with_inputs(engine, app_pk, 3)
    split = NextInputs(exclusive=True)
    first = store.assign_next(app_pk, "t", "ann", split, 2, ids(10))
    second = store.assign_next(app_pk, "t", "bob", split, 2, ids(10))
    assert [a.input_id for a in first] == ["in-0", "in-1"]
    assert [a.input_id for a in second] == ["in-2"]


def test_a_dataset_source_hands_only_its_inputs(engine: Engine, app_pk: int) -> None:  # noqa: F811
    store = store_with_inputs(engine, app_pk, 3)
    datasets = SqlDatasetStore(engine)
    datasets.create_datasets(app_pk, [DatasetRecord(id="d")])
    datasets.add_dataset_inputs(app_pk, "d", ["in-1"])
    got = store.assign_next(app_pk, "t", "ann", NextInputs(dataset_id="d"), 10, ids(10))
    assert [a.input_id for a in got] == ["in-1"]


def test_a_rejection_denies_its_labellers_labels(engine: Engine, app_pk: int) -> None:  # noqa: F811
    store = store_with_inputs(engine, app_pk, 1)
    (ann,) = store.assign_next(app_pk, "t", "ann", NextInputs(), 10, ids(10))
    store.assign_next(app_pk, "t", "bob", NextInputs(), 10, ids(10))
    annotations = SqlAnnotationStore(engine)
    annotations.add_annotations(
        app_pk,
        [
            AnnotationRecord(
                id=f"by-{who}",
                input_id="in-0",
                task_id="t",
                worker_user_id=who,
                status_code=ANNOTATION_PENDING,
            )
            for who in ("ann", "bob")
        ],
    )
    (rejected,) = store.set_assignment_status(
        app_pk, "t", [ann.id], TASK_ASSIGNMENT_REJECTED, ANNOTATION_REVIEW_DENIED
    )
    assert rejected.status_code == TASK_ASSIGNMENT_REJECTED
    statuses = {a.id: a.status_code for a in annotations.list_annotations(app_pk, Page())}
    assert statuses == {"by-ann": ANNOTATION_REVIEW_DENIED, "by-bob": ANNOTATION_PENDING}
    assert store.annotation_workers(app_pk, Page()) == ["ann", "bob"]
