"""Model type fields, the training parameters they list, and the evaluation API, both channels.

One app, labelled once: a "train" dataset (4 cats, 4 coffees), a "holdout" dataset (the 2+2
held-out photos), and 2+2 labelled photos in no dataset. The model trains on "train" only.
"""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from clarion.testing import RunningServer
from tests.api.conftest import Api, official_stub
from tests.api.photos import held_out_photos, training_photos
from tests.api.test_training import (
    SUCCESS,
    TRAINED,
    concept,
    new_app,
    post_inputs,
    post_model,
    predict,
    until,
    wait_trained,
)
from tests.conftest import unique_id

EVALUATED = status_code_pb2.MODEL_EVALUATED
WAITING = (status_code_pb2.MODEL_QUEUED_FOR_EVALUATION, status_code_pb2.MODEL_EVALUATING)
FIELD_TYPE = resources_pb2.ModelTypeField.ModelTypeFieldType


def labelled(content: bytes, concept_id: str, *datasets: str) -> resources_pb2.Input:
    return resources_pb2.Input(
        data=resources_pb2.Data(
            image=resources_pb2.Image(base64=content), concepts=[concept(concept_id)]
        ),
        dataset_ids=list(datasets),
    )


def post_datasets(api: Api, ua: resources_pb2.UserAppIDSet, *ids: str) -> None:
    response = api.stub.PostDatasets(
        service_pb2.PostDatasetsRequest(
            user_app_id=ua, datasets=[resources_pb2.Dataset(id=i) for i in ids]
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status


def train_version(
    api: Api,
    ua: resources_pb2.UserAppIDSet,
    model_id: str,
    params: dict[str, Any] | None = None,
    inference: dict[str, Any] | None = None,
) -> Any:
    """PostModelVersions with ``train_info.params`` and ``output_info.params``, as the SDK's
    ``Model.train()`` sends them."""
    version = resources_pb2.ModelVersion()
    if params is not None:
        version.train_info.params.update(params)
    if inference is not None:
        version.output_info.params.update(inference)
    return api.stub.PostModelVersions(
        service_pb2.PostModelVersionsRequest(
            user_app_id=ua, model_id=model_id, model_versions=[version]
        ),
        metadata=api.pat,
    )


@pytest.fixture(scope="module")
def trained(server: RunningServer) -> tuple[resources_pb2.UserAppIDSet, str, str]:
    """The app, and a model with a version trained on the "train" dataset."""
    api = Api(official_stub(server, "grpc"), "grpc", server)
    ua = new_app(api)
    post_datasets(api, ua, "train", "holdout")
    inputs = []
    for kind in ("cat", "coffee"):
        photos = training_photos(kind)
        inputs += [labelled(photo, kind, "train") for photo in photos[:4]]
        inputs += [labelled(photo, kind) for photo in photos[4:]]
        inputs += [labelled(photo, kind, "holdout") for photo in held_out_photos(kind)]
    post_inputs(api, ua, inputs)
    model_id = unique_id("pets")
    assert post_model(api, ua, model_id, ["cat", "coffee"]).status.code == SUCCESS
    response = train_version(
        api,
        ua,
        model_id,
        {"dataset_id": "train", "dataset_version_id": "", "enrich_dataset": "Disabled"},
    )
    assert response.status.code == SUCCESS, response.status
    version = wait_trained(api, ua, model_id, response.model.model_version.id)
    assert version.status.code == TRAINED, version.status
    return ua, model_id, version.id


# model types


def test_embedding_classifier_lists_its_training_fields(api: Api) -> None:
    listed = api.stub.ListModelTypes(service_pb2.ListModelTypesRequest(), metadata=api.pat)
    assert listed.status.code == SUCCESS, listed.status
    by_id = {t.id: t for t in listed.model_types}
    classifier = by_id["embedding-classifier"]
    assert classifier.trainable and classifier.creatable
    fields = {f.path: f for f in classifier.model_type_fields}
    assert set(fields) == {
        "output_info.data.concepts",
        "output_info.output_config.concepts_mutually_exclusive",
        "train_info.params.dataset_id",
        "train_info.params.dataset_version_id",
        "train_info.params.enrich_dataset",
    }
    assert fields["output_info.data.concepts"].required
    assert fields["output_info.data.concepts"].field_type == FIELD_TYPE.ARRAY_OF_CONCEPTS
    enrich = fields["train_info.params.enrich_dataset"]
    assert enrich.field_type == FIELD_TYPE.ENUM
    assert enrich.default_value.string_value == "Automatic"
    assert [o.id for o in enrich.model_type_enum_options] == ["Automatic", "Disabled"]
    exclusive = fields["output_info.output_config.concepts_mutually_exclusive"]
    assert exclusive.default_value.HasField("bool_value") and not exclusive.default_value.bool_value
    assert all(f.placeholder and f.description for f in fields.values())
    # Types Clarion cannot train list no fields to fill in.
    assert not by_id["visual-classifier"].trainable
    assert not by_id["visual-classifier"].model_type_fields

    got = api.stub.GetModelType(
        service_pb2.GetModelTypeRequest(model_type_id="embedding-classifier"), metadata=api.pat
    )
    assert got.status.code == SUCCESS, got.status
    assert got.model_type == classifier
    missing = api.stub.GetModelType(
        service_pb2.GetModelTypeRequest(model_type_id="time-machine"), metadata=api.pat
    )
    assert missing.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    assert "time-machine" in missing.status.description


def test_training_params_are_honoured(api: Api, trained: Any) -> None:
    ua, model_id, version_id = trained
    version = api.stub.GetModelVersion(
        service_pb2.GetModelVersionRequest(
            user_app_id=ua, model_id=model_id, version_id=version_id
        ),
        metadata=api.pat,
    ).model_version
    assert version.total_input_count == 8  # the "train" dataset's, not the app's 16
    assert dict(version.train_info.params) == {"dataset_id": "train", "enrich_dataset": "Disabled"}

    # The SDK puts the YAML's inference_params in output_info.params.
    response = train_version(api, ua, model_id, inference={"concepts_mutually_exclusive": True})
    assert response.status.code == SUCCESS, response.status
    exclusive = wait_trained(api, ua, model_id, response.model.model_version.id)
    assert exclusive.status.code == TRAINED
    assert exclusive.total_input_count == 16
    assert exclusive.output_info.output_config.concepts_mutually_exclusive
    outputs = predict(api, ua, model_id, exclusive.id, *held_out_photos("cat"))
    for output in outputs.outputs:
        assert sum(c.value for c in output.data.concepts) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("params", "inference", "says"),
    [
        pytest.param({"learning_rate": 0.1}, None, "'learning_rate'", id="unknown-param"),
        pytest.param(
            {"dataset_version_id": "v1"}, None, "needs train_info.params.dataset_id", id="version"
        ),
        pytest.param({"enrich_dataset": "Always"}, None, "Automatic, Disabled", id="enrich"),
        pytest.param({"dataset_id": 3}, None, "must be a string", id="not-a-string"),
        pytest.param(None, {"max_concepts": 3}, "'max_concepts'", id="inference-param"),
        pytest.param(None, {"concepts_mutually_exclusive": "yes"}, "true or false", id="bool"),
    ],
)
def test_training_params_clarion_cannot_honour_are_refused(
    api: Api, trained: Any, params: Any, inference: Any, says: str
) -> None:
    ua, model_id, _ = trained
    response = train_version(api, ua, model_id, params, inference)
    assert response.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT, response.status
    assert says in response.status.description


def test_training_on_a_missing_dataset_is_refused(api: Api, trained: Any) -> None:
    ua, model_id, _ = trained
    response = train_version(api, ua, model_id, {"dataset_id": "nowhere"})
    assert response.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    assert "dataset 'nowhere'" in response.status.description
    no_version = train_version(
        api, ua, model_id, {"dataset_id": "train", "dataset_version_id": "never-made"}
    )
    assert no_version.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    assert "'never-made'" in no_version.status.description


def dataset_input_ids(api: Api, ua: resources_pb2.UserAppIDSet, dataset_id: str) -> list[str]:
    listed = api.stub.ListDatasetInputs(
        service_pb2.ListDatasetInputsRequest(user_app_id=ua, dataset_id=dataset_id),
        metadata=api.pat,
    )
    assert listed.status.code == SUCCESS, listed.status
    return [item.input.id for item in listed.dataset_inputs]


def add_to_dataset(
    api: Api, ua: resources_pb2.UserAppIDSet, dataset_id: str, input_ids: list[str]
) -> None:
    added = api.stub.PostDatasetInputs(
        service_pb2.PostDatasetInputsRequest(
            user_app_id=ua,
            dataset_id=dataset_id,
            dataset_inputs=[
                resources_pb2.DatasetInput(input=resources_pb2.Input(id=i)) for i in input_ids
            ],
        ),
        metadata=api.pat,
    )
    assert added.status.code == SUCCESS, added.status


def test_train_and_evaluate_on_a_dataset_version(api: Api, trained: Any) -> None:
    """A version of a dataset trains and evaluates on what it froze, not on what the
    dataset holds since."""
    ua, model_id, version_id = trained
    snapshot = unique_id("snap")
    post_datasets(api, ua, snapshot)
    add_to_dataset(api, ua, snapshot, dataset_input_ids(api, ua, "train"))  # 4 + 4
    made = api.stub.PostDatasetVersions(
        service_pb2.PostDatasetVersionsRequest(
            user_app_id=ua,
            dataset_id=snapshot,
            dataset_versions=[resources_pb2.DatasetVersion(id="v1")],
        ),
        metadata=api.pat,
    )
    assert made.status.code == SUCCESS, made.status
    add_to_dataset(api, ua, snapshot, dataset_input_ids(api, ua, "holdout"))  # 2 + 2 more

    on_version = train_version(
        api, ua, model_id, {"dataset_id": snapshot, "dataset_version_id": "v1"}
    )
    assert on_version.status.code == SUCCESS, on_version.status
    frozen = wait_trained(api, ua, model_id, on_version.model.model_version.id)
    assert frozen.status.code == TRAINED, frozen.status
    assert frozen.total_input_count == 8  # the version's, not the dataset's 12 now
    assert frozen.train_info.params["dataset_version_id"] == "v1"
    live = wait_trained(
        api,
        ua,
        model_id,
        train_version(api, ua, model_id, {"dataset_id": snapshot}).model.model_version.id,
    )
    assert live.total_input_count == 12

    ground_truth = resources_pb2.Dataset(id=snapshot, version=resources_pb2.DatasetVersion(id="v1"))
    posted = api.stub.PostModelVersionEvaluations(
        service_pb2.PostModelVersionEvaluationsRequest(
            user_app_id=ua,
            model_id=model_id,
            model_version_id=version_id,
            eval_metrics=[resources_pb2.EvalMetrics(ground_truth_dataset=ground_truth)],
        ),
        metadata=api.pat,
    )
    assert posted.status.code == SUCCESS, posted.status
    assert posted.eval_metrics[0].ground_truth_dataset.version.id == "v1"
    done = wait_evaluated(api, ua, posted.eval_metrics[0].id)
    assert done.status.code == EVALUATED, done.status
    by_concept = {m.concept.id: m for m in done.binary_metrics}
    assert (by_concept["cat"].num_pos, by_concept["cat"].num_neg) == (4, 4)  # not (6, 6)


# evaluations


def wait_evaluated(api: Api, ua: resources_pb2.UserAppIDSet, evaluation_id: str) -> Any:
    request = service_pb2.GetEvaluationRequest(user_app_id=ua, evaluation_id=evaluation_id)
    found = until(
        lambda: api.stub.GetEvaluation(request, metadata=api.pat),
        lambda response: response.eval_metrics.status.code not in WAITING,
    )
    assert found.status.code == SUCCESS, found.status
    return found.eval_metrics


def eval_metrics(model_id: str, version_id: str, **fields: Any) -> resources_pb2.EvalMetrics:
    return resources_pb2.EvalMetrics(
        model=resources_pb2.Model(
            id=model_id, model_version=resources_pb2.ModelVersion(id=version_id)
        ),
        **fields,
    )


def test_evaluate_cross_validated_then_list_and_get(api: Api, trained: Any) -> None:
    ua, model_id, version_id = trained
    evaluation_id = unique_id("cv")
    posted = api.stub.PostEvaluations(
        service_pb2.PostEvaluationsRequest(
            user_app_id=ua, eval_metrics=[eval_metrics(model_id, version_id, id=evaluation_id)]
        ),
        metadata=api.pat,
    )
    assert posted.status.code == SUCCESS, posted.status
    assert posted.eval_metrics[0].id == evaluation_id
    assert posted.eval_metrics[0].status.code in WAITING
    assert posted.eval_metrics[0].model.model_version.id == version_id

    done = wait_evaluated(api, ua, evaluation_id)
    assert done.status.code == EVALUATED, done.status
    assert not done.HasField("ground_truth_dataset")
    by_concept = {m.concept.id: m for m in done.binary_metrics}
    # Cross-validated on the 8 inputs the version trained on.
    assert (by_concept["cat"].num_pos, by_concept["cat"].num_neg) == (4, 4)
    assert done.summary.macro_avg_roc_auc > 0.9
    assert done.extended_metrics.user_metrics["folds"] == 5
    assert not done.test_set

    listed = api.stub.ListModelVersionEvaluations(
        service_pb2.ListModelVersionEvaluationsRequest(
            user_app_id=ua, model_id=model_id, model_version_id=version_id
        ),
        metadata=api.pat,
    )
    assert listed.status.code == SUCCESS, listed.status
    assert evaluation_id in [e.id for e in listed.eval_metrics]
    summary = next(e for e in listed.eval_metrics if e.id == evaluation_id)
    assert summary.summary == done.summary and not summary.binary_metrics

    only_test_set = api.stub.GetModelVersionEvaluation(
        service_pb2.GetModelVersionEvaluationRequest(
            user_app_id=ua,
            model_id=model_id,
            model_version_id=version_id,
            evaluation_id=evaluation_id,
            fields=resources_pb2.FieldsValue(test_set=True),
        ),
        metadata=api.pat,
    ).eval_metrics
    assert len(only_test_set.test_set) == 8 and not only_test_set.binary_metrics

    elsewhere = api.stub.GetModelVersionEvaluation(
        service_pb2.GetModelVersionEvaluationRequest(
            user_app_id=ua, model_id=model_id, model_version_id="other", evaluation_id=evaluation_id
        ),
        metadata=api.pat,
    )
    assert elsewhere.status.code == status_code_pb2.CONN_DOES_NOT_EXIST


def test_evaluate_against_a_dataset(api: Api, trained: Any) -> None:
    ua, model_id, version_id = trained
    holdout = resources_pb2.Dataset(id="holdout", app_id=ua.app_id, user_id="me")
    posted = api.stub.PostModelVersionEvaluations(
        service_pb2.PostModelVersionEvaluationsRequest(
            user_app_id=ua,
            model_id=model_id,
            model_version_id=version_id,
            eval_metrics=[resources_pb2.EvalMetrics(ground_truth_dataset=holdout)],
        ),
        metadata=api.pat,
    )
    assert posted.status.code == SUCCESS, posted.status
    evaluation = posted.eval_metrics[0]
    assert evaluation.ground_truth_dataset.id == "holdout"

    done = wait_evaluated(api, ua, evaluation.id)
    assert done.status.code == EVALUATED, done.status
    assert done.ground_truth_dataset.id == "holdout"
    by_concept = {m.concept.id: m for m in done.binary_metrics}
    assert (by_concept["coffee"].num_pos, by_concept["coffee"].num_neg) == (2, 2)
    assert done.summary.top1_accuracy == 1.0
    assert done.extended_metrics.user_metrics["folds"] == 0  # the trained version itself
    cells = {(e.actual, e.predicted): e.value for e in done.confusion_matrix.matrix}
    assert cells == {("cat", "cat"): 2, ("coffee", "coffee"): 2}

    listed = api.stub.ListEvaluations(
        service_pb2.ListEvaluationsRequest(user_app_id=ua, eval_dataset_ids=["holdout"]),
        metadata=api.pat,
    )
    assert listed.status.code == SUCCESS, listed.status
    assert evaluation.id in [e.id for e in listed.eval_metrics]
    assert {e.ground_truth_dataset.id for e in listed.eval_metrics} == {"holdout"}
    everything = api.stub.ListEvaluations(
        service_pb2.ListEvaluationsRequest(user_app_id=ua, sort_ascending=True, per_page=1000),
        metadata=api.pat,
    )
    assert evaluation.id in [e.id for e in everything.eval_metrics]


def test_evaluations_that_cannot_run_are_refused(api: Api, trained: Any) -> None:
    ua, model_id, version_id = trained

    def post(*asked: resources_pb2.EvalMetrics) -> Any:
        return api.stub.PostEvaluations(
            service_pb2.PostEvaluationsRequest(user_app_id=ua, eval_metrics=list(asked)),
            metadata=api.pat,
        )

    sent_metrics = eval_metrics(
        model_id,
        version_id,
        extended_metrics=resources_pb2.ExtendedMetrics(user_metrics=Struct()),
    )
    cases = [
        (post(), status_code_pb2.EVALUATION_INVALID_ARGUMENT, "eval_metrics"),
        (post(eval_metrics("", "")), status_code_pb2.EVALUATION_INVALID_ARGUMENT, "model.id"),
        (post(sent_metrics), status_code_pb2.EVALUATION_INVALID_ARGUMENT, "extended_metrics"),
        (
            post(eval_metrics(model_id, version_id, app_id="elsewhere")),
            status_code_pb2.EVALUATION_INVALID_ARGUMENT,
            "across apps",
        ),
        (
            post(eval_metrics("general-image-recognition", "")),
            status_code_pb2.MODEL_INVALID_ARGUMENT,
            "built in",
        ),
        (post(eval_metrics(model_id, "nope")), status_code_pb2.MODEL_DOES_NOT_EXIST, "nope"),
        (
            post(
                eval_metrics(
                    model_id,
                    version_id,
                    ground_truth_dataset=resources_pb2.Dataset(id="missing"),
                )
            ),
            status_code_pb2.CONN_DOES_NOT_EXIST,
            "dataset 'missing'",
        ),
        (
            post(
                eval_metrics(
                    model_id,
                    version_id,
                    ground_truth_dataset=resources_pb2.Dataset(
                        id="holdout", version=resources_pb2.DatasetVersion(id="v2")
                    ),
                )
            ),
            status_code_pb2.CONN_DOES_NOT_EXIST,
            "version of dataset 'holdout' 'v2'",
        ),
        (
            post(eval_metrics(model_id, version_id, eval_info=_eval_info({"iou": 0.5}))),
            status_code_pb2.EVALUATION_INVALID_ARGUMENT,
            "eval_info.params",
        ),
    ]
    for response, code, says in cases:
        assert response.status.code == code, response.status
        assert says in response.status.description, response.status

    twice = unique_id("twice")
    duplicated = post(
        eval_metrics(model_id, version_id, id=twice), eval_metrics(model_id, version_id, id=twice)
    )
    assert duplicated.status.code == status_code_pb2.EVALUATION_INVALID_ARGUMENT
    stored = api.stub.GetEvaluation(
        service_pb2.GetEvaluationRequest(user_app_id=ua, evaluation_id=twice), metadata=api.pat
    )
    assert stored.status.code == status_code_pb2.CONN_DOES_NOT_EXIST

    taken = unique_id("once")
    assert post(eval_metrics(model_id, version_id, id=taken)).status.code == SUCCESS
    fresh = unique_id("fresh")
    again = post(
        eval_metrics(model_id, version_id, id=fresh), eval_metrics(model_id, version_id, id=taken)
    )
    assert again.status.code != SUCCESS and f"'{taken}'" in again.status.description
    not_stored = api.stub.GetEvaluation(
        service_pb2.GetEvaluationRequest(user_app_id=ua, evaluation_id=fresh), metadata=api.pat
    )
    assert not_stored.status.code == status_code_pb2.CONN_DOES_NOT_EXIST

    sorted_by_f1 = api.stub.ListEvaluations(
        service_pb2.ListEvaluationsRequest(user_app_id=ua, sort_by_f1=True), metadata=api.pat
    )
    assert sorted_by_f1.status.code == status_code_pb2.EVALUATION_INVALID_ARGUMENT
    assert "sort_by_f1" in sorted_by_f1.status.description
    by_area = api.stub.GetEvaluation(
        service_pb2.GetEvaluationRequest(
            user_app_id=ua,
            evaluation_id=taken,
            fields=resources_pb2.FieldsValue(metrics_by_area=True),
        ),
        metadata=api.pat,
    )
    assert by_area.status.code == status_code_pb2.EVALUATION_INVALID_ARGUMENT
    unknown = api.stub.GetEvaluation(
        service_pb2.GetEvaluationRequest(user_app_id=ua, evaluation_id="nope"), metadata=api.pat
    )
    assert unknown.status.code == status_code_pb2.CONN_DOES_NOT_EXIST


def _eval_info(params: dict[str, Any]) -> resources_pb2.EvalInfo:
    info = resources_pb2.EvalInfo()
    json_format.ParseDict({"params": params}, info)
    return info


def test_an_untrained_version_is_not_evaluated(api: Api, trained: Any) -> None:
    ua, _, _ = trained
    model_id = unique_id("nodata")
    assert post_model(api, ua, model_id, ["unicorn"]).status.code == SUCCESS
    queued = train_version(api, ua, model_id)
    version = wait_trained(api, ua, model_id, queued.model.model_version.id)
    assert version.status.code == status_code_pb2.MODEL_TRAINING_NO_DATA
    response = api.stub.PostModelVersionEvaluations(
        service_pb2.PostModelVersionEvaluationsRequest(
            user_app_id=ua,
            model_id=model_id,
            model_version_id=version.id,
            eval_metrics=[resources_pb2.EvalMetrics()],
        ),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.MODEL_UNTRAINED
    assert "not trained" in response.status.description


def test_deleting_a_version_deletes_its_evaluations(api: Api, trained: Any) -> None:
    ua, model_id, _ = trained
    response = train_version(api, ua, model_id, {"dataset_id": "holdout"})
    version = wait_trained(api, ua, model_id, response.model.model_version.id)
    assert version.status.code == TRAINED and version.total_input_count == 4
    posted = api.stub.PostModelVersionEvaluations(
        service_pb2.PostModelVersionEvaluationsRequest(
            user_app_id=ua,
            model_id=model_id,
            model_version_id=version.id,
            eval_metrics=[resources_pb2.EvalMetrics()],
        ),
        metadata=api.pat,
    )
    assert posted.status.code == SUCCESS, posted.status
    evaluation_id = posted.eval_metrics[0].id
    deleted = api.stub.DeleteModelVersion(
        service_pb2.DeleteModelVersionRequest(
            user_app_id=ua, model_id=model_id, version_id=version.id
        ),
        metadata=api.pat,
    )
    assert deleted.status.code == SUCCESS, deleted.status
    gone = api.stub.GetEvaluation(
        service_pb2.GetEvaluationRequest(user_app_id=ua, evaluation_id=evaluation_id),
        metadata=api.pat,
    )
    assert gone.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    listed = api.stub.ListModelVersionEvaluations(
        service_pb2.ListModelVersionEvaluationsRequest(
            user_app_id=ua, model_id=model_id, model_version_id=version.id
        ),
        metadata=api.pat,
    )
    assert listed.status.code == SUCCESS and not listed.eval_metrics
