"""Custom models: train on an app's concepts, evaluate, predict, over both channels."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from sqlalchemy import update

from clarion.storage.engine import create_db_engine
from clarion.storage.schema import jobs, model_versions
from clarion.testing import RunningServer, database_url_for, running_server
from tests.api.conftest import Api, official_stub
from tests.api.photos import held_out_photos, training_photos
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
TRAINED = status_code_pb2.MODEL_TRAINED
WAITING = (status_code_pb2.MODEL_QUEUED_FOR_TRAINING, status_code_pb2.MODEL_TRAINING)
EVALUATING = (
    status_code_pb2.MODEL_NOT_EVALUATED,
    status_code_pb2.MODEL_QUEUED_FOR_EVALUATION,
    status_code_pb2.MODEL_EVALUATING,
)


def until(check: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if done(value):
            return value
        assert time.monotonic() < deadline, value
        time.sleep(0.1)


def new_app(api: Api) -> resources_pb2.UserAppIDSet:
    app_id = unique_id("train")
    response = api.stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=app_id)]), metadata=api.pat
    )
    assert response.status.code == SUCCESS, response.status
    return resources_pb2.UserAppIDSet(app_id=app_id)


def concept(concept_id: str, value: float | None = 1.0) -> resources_pb2.Concept:
    if value is None:
        return resources_pb2.Concept(id=concept_id)  # value unset: 0 on the wire
    return resources_pb2.Concept(id=concept_id, value=value)


def image_input(content: bytes, *concepts: resources_pb2.Concept) -> resources_pb2.Input:
    return resources_pb2.Input(
        data=resources_pb2.Data(image=resources_pb2.Image(base64=content), concepts=concepts)
    )


def post_inputs(api: Api, ua: resources_pb2.UserAppIDSet, inputs: Sequence[Any]) -> None:
    """Post ``inputs`` and wait until they are processed (or failed), counting from what the
    app had already finished, so a second call on one app waits for its own inputs."""

    def counts() -> resources_pb2.InputCount:
        found: resources_pb2.InputCount = api.stub.GetInputCount(
            service_pb2.GetInputCountRequest(user_app_id=ua), metadata=api.pat
        ).counts
        return found

    before = counts()
    response = api.stub.PostInputs(
        service_pb2.PostInputsRequest(user_app_id=ua, inputs=list(inputs)), metadata=api.pat
    )
    assert response.status.code == SUCCESS, response.status
    finished_before = before.processed + before.errors
    until(counts, lambda now: now.processed + now.errors == finished_before + len(inputs))


def post_model(
    api: Api, ua: resources_pb2.UserAppIDSet, model_id: str, concepts: Sequence[str], **config: Any
) -> Any:
    model = resources_pb2.Model(id=model_id, model_type_id="embedding-classifier")
    model.output_info.data.concepts.extend(resources_pb2.Concept(id=c) for c in concepts)
    for name, value in config.items():
        setattr(model.output_info.output_config, name, value)
    return api.stub.PostModels(
        service_pb2.PostModelsRequest(user_app_id=ua, models=[model]), metadata=api.pat
    )


def train(api: Api, ua: resources_pb2.UserAppIDSet, model_id: str) -> str:
    response = api.stub.PostModelVersions(
        service_pb2.PostModelVersionsRequest(user_app_id=ua, model_id=model_id), metadata=api.pat
    )
    assert response.status.code == SUCCESS, response.status
    version = response.model.model_version
    assert version.status.code in WAITING
    return str(version.id)


def wait_trained(api: Api, ua: resources_pb2.UserAppIDSet, model_id: str, version: str) -> Any:
    """The version once training has ended, whatever its final status."""
    return until(
        lambda: (
            api.stub.GetModelVersion(
                service_pb2.GetModelVersionRequest(
                    user_app_id=ua, model_id=model_id, version_id=version
                ),
                metadata=api.pat,
            ).model_version
        ),
        lambda found: found.status.code not in WAITING,
    )


def predict(
    api: Api, ua: resources_pb2.UserAppIDSet, model_id: str, version: str, *images: bytes
) -> Any:
    return api.stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=ua,
            model_id=model_id,
            version_id=version,
            inputs=[image_input(content) for content in images],
        ),
        metadata=api.pat,
    )


def top_concepts(response: Any) -> list[str]:
    assert response.status.code == SUCCESS, response.status
    return [output.data.concepts[0].id for output in response.outputs]


def test_train_evaluate_predict_and_retrain(api: Api) -> None:
    ua = new_app(api)
    labelled = [
        image_input(p, concept("cat"), concept("coffee", 0)) for p in training_photos("cat")
    ]
    labelled += [image_input(p, concept("coffee")) for p in training_photos("coffee")]
    post_inputs(api, ua, labelled)
    model_id = unique_id("pets")
    assert post_model(api, ua, model_id, ["cat", "coffee"]).status.code == SUCCESS

    first = train(api, ua, model_id)
    version = wait_trained(api, ua, model_id, first)
    assert version.status.code == TRAINED, version.status
    assert {c.id for c in version.output_info.data.concepts} == {"cat", "coffee"}
    assert version.total_input_count == 12
    held_out = [*held_out_photos("cat"), *held_out_photos("coffee")]
    assert (
        top_concepts(predict(api, ua, model_id, first, *held_out)) == ["cat"] * 2 + ["coffee"] * 2
    )

    metrics = evaluate(api, ua, model_id, first)
    by_concept = {m.concept.id: m for m in metrics.binary_metrics}
    assert set(by_concept) == {"cat", "coffee"}
    assert by_concept["cat"].num_pos == 6 and by_concept["cat"].num_neg == 6
    assert by_concept["cat"].roc_auc > 0.9
    assert metrics.summary.macro_avg_roc_auc > 0.9
    assert metrics.summary.top1_accuracy > 0.8
    per_concept = metrics.extended_metrics.user_metrics["concepts"]
    assert per_concept["cat"]["precision"] > 0.8 and per_concept["cat"]["recall"] > 0.8
    cells = {(e.actual, e.predicted): e.value for e in metrics.confusion_matrix.matrix}
    assert cells[("cat", "cat")] >= 5 and cells[("coffee", "coffee")] >= 5
    assert sum(cells.values()) == 12
    assert not metrics.test_set  # per-input results only when asked for
    only_test_set = api.stub.GetModelVersionMetrics(
        service_pb2.GetModelVersionMetricsRequest(
            user_app_id=ua,
            model_id=model_id,
            version_id=first,
            fields=resources_pb2.FieldsValue(test_set=True),
        ),
        metadata=api.pat,
    ).model_version.metrics
    assert len(only_test_set.test_set) == 12 and not only_test_set.binary_metrics

    second = train(api, ua, model_id)
    assert wait_trained(api, ua, model_id, second).status.code == TRAINED
    for version_id in (first, second, ""):
        assert top_concepts(predict(api, ua, model_id, version_id, *held_out))[0] == "cat"
    listed = api.stub.ListModelVersions(
        service_pb2.ListModelVersionsRequest(user_app_id=ua, model_id=model_id), metadata=api.pat
    )
    assert [v.id for v in listed.model_versions] == [second, first]


def evaluate(api: Api, ua: resources_pb2.UserAppIDSet, model_id: str, version: str) -> Any:
    posted = api.stub.PostModelVersionMetrics(
        service_pb2.PostModelVersionMetricsRequest(
            user_app_id=ua, model_id=model_id, version_id=version
        ),
        metadata=api.pat,
    )
    assert posted.status.code == SUCCESS, posted.status
    assert posted.model_version.metrics.status.code in EVALUATING
    request = service_pb2.GetModelVersionMetricsRequest(
        user_app_id=ua, model_id=model_id, version_id=version
    )
    found = until(
        lambda: api.stub.GetModelVersionMetrics(request, metadata=api.pat),
        lambda response: response.model_version.metrics.status.code not in EVALUATING,
    )
    assert found.status.code == SUCCESS, found.status
    assert found.model_version.metrics.status.code == status_code_pb2.MODEL_EVALUATED
    return found.model_version.metrics


@pytest.fixture(scope="module")
def labelled_app(server: RunningServer) -> resources_pb2.UserAppIDSet:
    """Cats (some labelled over gRPC without a value), a negative, and labelled texts."""
    api = Api(official_stub(server, "grpc"), "grpc", server)
    ua = new_app(api)
    photos = training_photos("cat")
    inputs = [image_input(photos[0], concept("cat")), image_input(photos[1], concept("cat"))]
    inputs += [
        image_input(photos[2], concept("dog", 0)),
        image_input(photos[3], concept("owl", None)),
    ]
    inputs += [
        resources_pb2.Input(
            data=resources_pb2.Data(text=resources_pb2.Text(raw=text), concepts=[concept("poem")])
        )
        for text in ("Roses are red", "Violets are blue")
    ]
    post_inputs(api, ua, inputs)
    return ua


def trained_status(
    api: Api, ua: resources_pb2.UserAppIDSet, concepts: list[str], **config: Any
) -> Any:
    model_id = unique_id("m")
    assert post_model(api, ua, model_id, concepts, **config).status.code == SUCCESS
    return wait_trained(api, ua, model_id, train(api, ua, model_id))


def test_no_data_when_no_input_has_the_concepts(api: Api, labelled_app: Any) -> None:
    version = trained_status(api, labelled_app, ["unicorn"])
    assert version.status.code == status_code_pb2.MODEL_TRAINING_NO_DATA
    assert "unicorn" in version.status.description


def test_no_positives_when_the_concept_has_only_negatives(api: Api, labelled_app: Any) -> None:
    version = trained_status(api, labelled_app, ["dog"])
    assert version.status.code == status_code_pb2.MODEL_TRAINING_NO_POSITIVES
    assert "'dog' (1 inputs carry it with value 0)" in version.status.description


def test_an_unset_value_over_grpc_is_a_negative(api: Api, labelled_app: Any) -> None:
    # The owl was posted over gRPC with Concept.value unset, which the wire carries as 0.
    version = trained_status(api, labelled_app, ["owl"])
    assert version.status.code == status_code_pb2.MODEL_TRAINING_NO_POSITIVES
    assert "send value 1" in version.status.description


def test_no_positives_for_one_concept_fails_only_when_asked(api: Api, labelled_app: Any) -> None:
    strict = trained_status(
        api, labelled_app, ["cat", "dog"], fail_on_missing_positive_examples=True
    )
    assert strict.status.code == status_code_pb2.MODEL_TRAINING_NO_POSITIVES
    lenient = trained_status(api, labelled_app, ["cat", "dog"])
    assert lenient.status.code == TRAINED
    assert [c.id for c in lenient.output_info.data.concepts] == ["cat"]


def test_a_custom_model_answers_the_modern_sdks_predict_call(api: Api, labelled_app: Any) -> None:
    """``Model.predict(image=Image(...))``: the version publishes ``predict(image) ->
    List[Concept]``, and the call by named part is answered in the ``return`` part."""
    model_id = unique_id("m")
    assert post_model(api, labelled_app, model_id, ["cat", "dog"]).status.code == SUCCESS
    version = wait_trained(api, labelled_app, model_id, train(api, labelled_app, model_id))
    assert version.status.code == TRAINED
    (signature,) = version.method_signatures
    assert [f.name for f in signature.input_fields] == ["image"]
    call = resources_pb2.Input()
    call.data.parts.add(id="image").data.image.base64 = held_out_photos("cat")[0]
    call.data.metadata["_method_name"] = "predict"
    response = api.stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=labelled_app, model_id=model_id, inputs=[call]
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    (part,) = response.outputs[0].data.parts
    assert part.id == "return"
    assert [c.id for c in part.data.concepts] == ["cat"]


def test_listed_custom_models_carry_their_newest_version(api: Api, labelled_app: Any) -> None:
    """Clarifai lists every model with its ``model_version``; ``clarifai==2.6.2`` reads its id
    for every listed model when its ``ClarifaiApp`` is built."""
    model_id = unique_id("m")
    assert post_model(api, labelled_app, model_id, ["cat", "dog"]).status.code == SUCCESS
    version = wait_trained(api, labelled_app, model_id, train(api, labelled_app, model_id))
    listed = api.stub.ListModels(
        service_pb2.ListModelsRequest(user_app_id=labelled_app, per_page=1000), metadata=api.pat
    )
    searched = api.stub.PostModelsSearches(
        service_pb2.PostModelsSearchesRequest(
            user_app_id=labelled_app, model_query=resources_pb2.ModelQuery(name=model_id)
        ),
        metadata=api.pat,
    )
    for response in (listed, searched):
        assert response.status.code == SUCCESS, response.status
        (found,) = [m for m in response.models if m.id == model_id]
        assert found.model_version.id == version.id
        assert found.model_version.status.code == TRAINED


def test_training_fails_when_labelled_inputs_have_no_image(api: Api, labelled_app: Any) -> None:
    version = trained_status(api, labelled_app, ["poem"])
    assert version.status.code == status_code_pb2.MODEL_TRAINING_FAILED
    assert "image embedding" in version.status.description


def test_a_concept_sent_without_value_over_json_is_a_positive(server: RunningServer) -> None:
    api = Api(official_stub(server, "grpc"), "grpc", server)
    ua = new_app(api)
    body = {
        "inputs": [
            {"data": {"image": {"base64": base64_of(p)}, "concepts": [{"id": "kitten"}]}}
            for p in training_photos("cat")[:2]
        ]
    }
    url = f"{server.http_url}/v2/users/me/apps/{ua.app_id}/inputs"
    headers = {"Authorization": f"Key {server.admin_pat}"}
    assert httpx.post(url, json=body, headers=headers).json()["status"]["code"] == SUCCESS
    until(
        lambda: (
            api.stub.GetInputCount(
                service_pb2.GetInputCountRequest(user_app_id=ua), metadata=api.pat
            ).counts.processed
        ),
        lambda processed: processed == 2,
    )
    assert trained_status(api, ua, ["kitten"]).status.code == TRAINED


def base64_of(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


def test_clear_statuses_for_what_cannot_be_trained(api: Api, labelled_app: Any) -> None:
    detector = resources_pb2.Model(id=unique_id("d"), model_type_id="visual-detector")
    response = api.stub.PostModels(
        service_pb2.PostModelsRequest(user_app_id=labelled_app, models=[detector]),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT
    assert "embedding-classifier" in response.status.description
    response = api.stub.PostModelVersions(
        service_pb2.PostModelVersionsRequest(
            user_app_id=labelled_app, model_id="general-image-recognition"
        ),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT
    bare = unique_id("bare")
    assert post_model(api, labelled_app, bare, []).status.code == SUCCESS
    response = api.stub.PostModelVersions(
        service_pb2.PostModelVersionsRequest(user_app_id=labelled_app, model_id=bare),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT
    untrained = predict(api, labelled_app, bare, "", training_photos("cat")[0])
    assert untrained.status.code == status_code_pb2.MODEL_UNTRAINED


def test_model_crud(api: Api, labelled_app: Any) -> None:
    model_id = unique_id("crud")
    created = post_model(api, labelled_app, model_id, ["cat"])
    assert created.status.code == SUCCESS
    assert created.model.model_type_id == "embedding-classifier"
    again = post_model(api, labelled_app, model_id, ["cat"])
    assert again.status.code != SUCCESS
    patch = resources_pb2.Model(id=model_id, name="Cats only")
    patch.output_info.data.concepts.append(resources_pb2.Concept(id="dog"))
    patched = api.stub.PatchModels(
        service_pb2.PatchModelsRequest(user_app_id=labelled_app, models=[patch], action="merge"),
        metadata=api.pat,
    )
    assert patched.status.code == SUCCESS, patched.status
    got = api.stub.GetModelOutputInfo(
        service_pb2.GetModelRequest(user_app_id=labelled_app, model_id=model_id), metadata=api.pat
    )
    assert got.model.name == "Cats only"
    assert [c.id for c in got.model.output_info.data.concepts] == ["cat", "dog"]
    listed = api.stub.ListModels(
        service_pb2.ListModelsRequest(user_app_id=labelled_app, per_page=1000), metadata=api.pat
    )
    ids = [m.id for m in listed.models]
    assert model_id in ids and "general-image-recognition" in ids
    deleted = api.stub.DeleteModels(
        service_pb2.DeleteModelsRequest(user_app_id=labelled_app, ids=[model_id]), metadata=api.pat
    )
    assert deleted.status.code == SUCCESS
    gone = api.stub.GetModel(
        service_pb2.GetModelRequest(user_app_id=labelled_app, model_id=model_id), metadata=api.pat
    )
    assert gone.status.code == status_code_pb2.MODEL_DOES_NOT_EXIST


def test_delete_a_version_keeps_the_others(api: Api, labelled_app: Any) -> None:
    model_id = unique_id("versions")
    assert post_model(api, labelled_app, model_id, ["cat"]).status.code == SUCCESS
    first, second = train(api, labelled_app, model_id), train(api, labelled_app, model_id)
    for version in (first, second):
        assert wait_trained(api, labelled_app, model_id, version).status.code == TRAINED
    deleted = api.stub.DeleteModelVersion(
        service_pb2.DeleteModelVersionRequest(
            user_app_id=labelled_app, model_id=model_id, version_id=first
        ),
        metadata=api.pat,
    )
    assert deleted.status.code == SUCCESS
    photo = training_photos("cat")[0]
    assert predict(api, labelled_app, model_id, first, photo).status.code == (
        status_code_pb2.MODEL_DOES_NOT_EXIST
    )
    assert predict(api, labelled_app, model_id, second, photo).status.code == SUCCESS


def test_training_survives_a_restart(tmp_path: Path) -> None:
    """A version queued, then caught mid-training by a crash, is trained by the next server."""
    with running_server(tmp_path) as first:
        api = Api(official_stub(first, "grpc"), "grpc", first)
        ua = new_app(api)
        post_inputs(api, ua, [image_input(p, concept("cat")) for p in training_photos("cat")[:2]])
    with running_server(tmp_path, workers=0) as second:
        api = Api(official_stub(second, "grpc"), "grpc", second)
        model_id = unique_id("durable")
        assert post_model(api, ua, model_id, ["cat"]).status.code == SUCCESS
        version = train(api, ua, model_id)
    crash_mid_training(tmp_path, version)
    with running_server(tmp_path) as third:
        api = Api(official_stub(third, "grpc"), "grpc", third)
        assert wait_trained(api, ua, model_id, version).status.code == TRAINED


def crash_mid_training(data_dir: Path, version_id: str) -> None:
    """What a server killed while training leaves: the version training, its job held by a
    process of this host that is gone, its lease not yet over."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    holder = f"{socket.gethostname()}:{dead.pid}:0000:0000"
    engine = create_db_engine(database_url_for(data_dir))
    with engine.begin() as db:
        db.execute(
            update(model_versions)
            .where(model_versions.c.id == version_id)
            .values(status_code=status_code_pb2.MODEL_TRAINING)
        )
        db.execute(
            update(jobs)
            .where(jobs.c.kind == "train_model")
            .values(
                state="running",
                lease_token=holder,
                lease_until=datetime.now(UTC) + timedelta(hours=1),
                attempts=1,
            )
        )
    engine.dispose()
