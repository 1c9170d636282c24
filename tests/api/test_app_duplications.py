"""PostAppDuplications, GetAppDuplication and ListAppDuplications through the official client
on both channels: the copy holds the source's inputs, concepts, annotations, datasets, models
and workflows, answers searches from its own index, and the source is left as it was."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import struct_pb2

from tests.api.conftest import Api
from tests.api.photos import training_photos
from tests.api.test_training import (
    concept,
    image_input,
    new_app,
    post_inputs,
    post_model,
    train,
    until,
    wait_trained,
)
from tests.api.test_workflows import image_search, node, post_workflow
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
PENDING = status_code_pb2.APP_DUPLICATION_PENDING
DONE = status_code_pb2.APP_DUPLICATION_SUCCESS


def user_ua(app_id: str) -> Any:
    return resources_pb2.UserAppIDSet(user_id="me", app_id=app_id)


def duplicate(api: Api, source: Any, **fields: Any) -> Any:
    return api.stub.PostAppDuplications(
        service_pb2.PostAppDuplicationsRequest(
            user_app_id=user_ua(source.app_id),
            app_duplications=[resources_pb2.AppDuplication(**fields)],
        ),
        metadata=api.pat,
    )


def finished(api: Api, duplication_id: str) -> Any:
    def get() -> Any:
        return api.stub.GetAppDuplication(
            service_pb2.GetAppDuplicationRequest(
                user_app_id=resources_pb2.UserAppIDSet(user_id="me"),
                app_duplication_id=duplication_id,
            ),
            metadata=api.pat,
        )

    response = until(get, lambda found: found.app_duplication.status.code != PENDING)
    assert response.status.code == SUCCESS, response.status
    return response.app_duplication


def input_ids(api: Api, ua: Any) -> list[str]:
    response = api.stub.ListInputs(
        service_pb2.ListInputsRequest(user_app_id=ua, per_page=100), metadata=api.pat
    )
    assert response.status.code == SUCCESS, response.status
    return sorted(item.id for item in response.inputs)


def source_app(api: Api) -> tuple[Any, str, str]:
    """An app with labelled images (one in a dataset), a text with metadata, a trained model
    and a workflow running it."""
    ua = new_app(api)
    metadata = struct_pb2.Struct()
    metadata.update({"kind": "poem"})
    cats = [image_input(p, concept("cat")) for p in training_photos("cat")[:2]]
    coffee = [image_input(p, concept("coffee")) for p in training_photos("coffee")[:2]]
    for position, item in enumerate(cats + coffee):
        item.id = f"photo-{position}"
    cats[0].dataset_ids.append("train")
    text = resources_pb2.Input(
        id="poem", data=resources_pb2.Data(text=resources_pb2.Text(raw="Roses"), metadata=metadata)
    )
    dataset = api.stub.PostDatasets(
        service_pb2.PostDatasetsRequest(
            user_app_id=ua, datasets=[resources_pb2.Dataset(id="train")]
        ),
        metadata=api.pat,
    )
    assert dataset.status.code == SUCCESS, dataset.status
    post_inputs(api, ua, [*cats, *coffee, text])
    model_id = unique_id("pets")
    assert post_model(api, ua, model_id, ["cat", "coffee"]).status.code == SUCCESS
    version = wait_trained(api, ua, model_id, train(api, ua, model_id))
    assert version.status.code == status_code_pb2.MODEL_TRAINED
    assert post_workflow(api, ua, "pets", node("pets", model_id)).status.code == SUCCESS
    return ua, model_id, version.id


def test_a_whole_app_is_copied_into_a_new_one(api: Api) -> None:
    source, model_id, version_id = source_app(api)
    new_id = unique_id("copy")

    posted = duplicate(api, source, new_app_id=new_id, new_app_name="The copy")

    assert posted.status.code == SUCCESS, posted.status
    (started,) = posted.app_duplications
    assert started.new_app_id == new_id
    assert started.filter.copy_inputs and started.filter.copy_workflows
    done = finished(api, started.id)
    assert done.status.code == DONE, done.status
    progress = {item.field: item.value for item in done.progress}
    assert progress == {
        "concepts": 2,
        "inputs": 5,
        "inputs_left_out": 0,
        "annotations": 4,
        "models": 1,
        "workflows": 1,
    }
    copy = user_ua(new_id)
    app = api.stub.GetApp(service_pb2.GetAppRequest(user_app_id=copy), metadata=api.pat).app
    assert app.name == "The copy"
    assert input_ids(api, copy) == input_ids(api, source)
    poem = api.stub.GetInput(
        service_pb2.GetInputRequest(user_app_id=copy, input_id="poem"), metadata=api.pat
    )
    assert poem.input.data.metadata["kind"] == "poem"
    members = api.stub.ListDatasetInputs(
        service_pb2.ListDatasetInputsRequest(user_app_id=copy, dataset_id="train"),
        metadata=api.pat,
    )
    assert [item.input.id for item in members.dataset_inputs] == ["photo-0"]
    annotations = api.stub.ListAnnotations(
        service_pb2.ListAnnotationsRequest(user_app_id=copy, per_page=100), metadata=api.pat
    )
    labelled = {
        a.input_id: a.data.concepts[0].id for a in annotations.annotations if a.data.concepts
    }
    assert labelled == {
        "photo-0": "cat",
        "photo-1": "cat",
        "photo-2": "coffee",
        "photo-3": "coffee",
    }
    # The trained version came along with its weights: it predicts in the copy.
    predicted = api.stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=copy,
            model_id=model_id,
            version_id=version_id,
            inputs=[image_input(training_photos("coffee")[5])],
        ),
        metadata=api.pat,
    )
    assert predicted.status.code == SUCCESS, predicted.status
    assert predicted.outputs[0].data.concepts[0].id == "coffee"
    workflow = api.stub.GetWorkflow(
        service_pb2.GetWorkflowRequest(user_app_id=copy, workflow_id="pets"), metadata=api.pat
    )
    assert [n.model.id for n in workflow.workflow.nodes] == [model_id]
    assert workflow.workflow.version.id  # its versions came along
    # The copy's inputs are indexed again in the copy: visual search finds them there.
    found = until(
        lambda: image_search(api, copy, training_photos("cat")[0]),
        lambda ids: bool(ids),
    )
    assert found[0] == "photo-0"
    assert len(input_ids(api, source)) == 5  # the source is as it was


def test_a_filter_copies_only_what_it_names(api: Api) -> None:
    source = new_app(api)
    post_inputs(api, source, [image_input(training_photos("cat")[0], concept("cat"))])
    new_id = unique_id("concepts-only")
    posted = duplicate(
        api,
        source,
        new_app_id=new_id,
        filter=resources_pb2.AppDuplicationFilters(copy_concepts=True),
    )
    assert posted.status.code == SUCCESS, posted.status
    done = finished(api, posted.app_duplications[0].id)
    assert {item.field: item.value for item in done.progress} == {"concepts": 1}
    assert input_ids(api, user_ua(new_id)) == []
    listed = api.stub.ListConcepts(
        service_pb2.ListConceptsRequest(user_app_id=user_ua(new_id)), metadata=api.pat
    )
    assert [c.id for c in listed.concepts] == ["cat"]


def test_duplications_that_cannot_be_made_are_refused(api: Api) -> None:
    source = new_app(api)
    taken = new_app(api)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"new_app_id": taken.app_id}, status_code_pb2.CONN_INVALID_REQUEST, "already exists"),
        ({"existing_app_id": taken.app_id}, status_code_pb2.CONN_INVALID_REQUEST, "new app"),
        ({"new_app_id": "bad id!"}, status_code_pb2.CONN_INVALID_REQUEST, "Invalid app id"),
        (
            {"filter": resources_pb2.AppDuplicationFilters(copy_annotations=True)},
            status_code_pb2.CONN_INVALID_REQUEST,
            "copy_inputs",
        ),
    ]
    for fields, code, words in cases:
        response = duplicate(api, source, **fields)
        assert response.status.code == code, (fields, response.status)
        assert words in response.status.description, response.status


def test_duplications_are_listed_newest_first_page_by_page(api: Api) -> None:
    source = new_app(api)
    made = []
    for _ in range(2):
        posted = duplicate(api, source, new_app_id=unique_id("copy"))
        assert posted.status.code == SUCCESS, posted.status
        made.append(posted.app_duplications[0].id)

    def page(number: int) -> list[str]:
        response = api.stub.ListAppDuplications(
            service_pb2.ListAppDuplicationsRequest(
                user_app_id=resources_pb2.UserAppIDSet(user_id="me"), page=number, per_page=1
            ),
            metadata=api.pat,
        )
        assert response.status.code == SUCCESS, response.status
        return [item.id for item in response.app_duplications]

    assert page(1) + page(2) == made[::-1]
    missing = api.stub.GetAppDuplication(
        service_pb2.GetAppDuplicationRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="me"), app_duplication_id="nope"
        ),
        metadata=api.pat,
    )
    assert missing.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
