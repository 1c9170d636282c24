"""Workflows: CRUD, validation, PostWorkflowResults, and an app's base workflow at ingestion."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.api.conftest import Api
from tests.api.photos import astronaut, training_photos
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
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
PUBLIC = resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main")
FACES = "face-detection"
GENERAL = "general-image-recognition"
GENERAL_LEGACY = "aaa03c23b3724a16a56b629203edc62c"
GENERAL_VERSION = "aa7f35c01e0642fda5cf400f543e7c40"


def node(node_id: str, model_id: str, *parents: str, version: str = "") -> Any:
    return resources_pb2.WorkflowNode(
        id=node_id,
        model=resources_pb2.Model(
            id=model_id, model_version=resources_pb2.ModelVersion(id=version)
        ),
        node_inputs=[resources_pb2.NodeInput(node_id=parent) for parent in parents],
    )


def post_workflow(api: Api, ua: Any, workflow_id: str, *nodes: Any) -> Any:
    return api.stub.PostWorkflows(
        service_pb2.PostWorkflowsRequest(
            user_app_id=ua, workflows=[resources_pb2.Workflow(id=workflow_id, nodes=nodes)]
        ),
        metadata=api.pat,
    )


def run(api: Api, ua: Any, workflow_id: str, *images: bytes, **config: Any) -> Any:
    return api.stub.PostWorkflowResults(
        service_pb2.PostWorkflowResultsRequest(
            user_app_id=ua,
            workflow_id=workflow_id,
            inputs=[image_input(content) for content in images],
            output_config=resources_pb2.OutputConfig(**config),
        ),
        metadata=api.pat,
    )


def test_the_public_general_workflow(api: Api) -> None:
    response = run(api, PUBLIC, "General", training_photos("cat")[0], max_concepts=3)
    assert response.status.code == SUCCESS, response.status
    assert response.workflow.id == "General"
    (result,) = response.results
    concepts, embedding = result.outputs
    assert len(concepts.data.concepts) == 3
    assert concepts.model.id == GENERAL
    assert embedding.data.embeddings[0].num_dimensions == 1280
    listed = api.stub.ListWorkflows(
        service_pb2.ListWorkflowsRequest(user_app_id=PUBLIC), metadata=api.pat
    )
    assert "General" in [workflow.id for workflow in listed.workflows]


def test_a_classifier_after_a_face_detector_classifies_each_face(api: Api) -> None:
    ua = new_app(api)
    posted = post_workflow(
        api, ua, "faces", node("detect", FACES), node("classify", GENERAL, "detect")
    )
    assert posted.status.code == SUCCESS, posted.status
    response = run(api, ua, "faces", astronaut(), max_concepts=5)
    assert response.status.code == SUCCESS, response.status
    detected, classified = response.results[0].outputs
    assert detected.model.id == FACES and classified.model.id == GENERAL
    faces = detected.data.regions
    assert len(faces) >= 1
    assert faces[0].data.concepts[0].id == "face"
    assert [r.id for r in classified.data.regions] == [r.id for r in faces]
    for face, region in zip(faces, classified.data.regions, strict=True):
        assert region.region_info.bounding_box == face.region_info.bounding_box
        assert len(region.data.concepts) == 5
        assert "face" not in [c.id for c in region.data.concepts]
    assert not classified.data.concepts  # the whole image is not classified


def test_workflow_crud(api: Api) -> None:
    ua = new_app(api)
    workflow_id = unique_id("wf")[:32]
    general = node("general", GENERAL_LEGACY, version=GENERAL_VERSION)
    assert post_workflow(api, ua, workflow_id, general).status.code == SUCCESS
    assert post_workflow(api, ua, workflow_id, general).status.code != SUCCESS
    patched = api.stub.PatchWorkflows(
        service_pb2.PatchWorkflowsRequest(
            user_app_id=ua,
            action="overwrite",
            workflows=[
                resources_pb2.Workflow(
                    id=workflow_id, nodes=[general, node("faces", FACES)], description="two"
                )
            ],
        ),
        metadata=api.pat,
    )
    assert patched.status.code == SUCCESS, patched.status
    got = api.stub.GetWorkflow(
        service_pb2.GetWorkflowRequest(user_app_id=ua, workflow_id=workflow_id), metadata=api.pat
    )
    assert [n.id for n in got.workflow.nodes] == ["general", "faces"]
    assert got.workflow.nodes[0].model.model_version.id == GENERAL_VERSION
    assert got.workflow.description == "two"
    listed = api.stub.ListWorkflows(
        service_pb2.ListWorkflowsRequest(user_app_id=ua), metadata=api.pat
    )
    assert [w.id for w in listed.workflows] == [workflow_id]
    deleted = api.stub.DeleteWorkflow(
        service_pb2.DeleteWorkflowRequest(user_app_id=ua, workflow_id=workflow_id),
        metadata=api.pat,
    )
    assert deleted.status.code == SUCCESS
    gone = api.stub.GetWorkflow(
        service_pb2.GetWorkflowRequest(user_app_id=ua, workflow_id=workflow_id), metadata=api.pat
    )
    assert gone.status.code == status_code_pb2.WORKFLOW_DOES_NOT_EXIST


INVALID = [
    pytest.param(
        [node("a", "no-such-model")],
        status_code_pb2.WORKFLOW_INVALID_ARGUMENT,
        "'no-such-model' does not exist",
        id="unknown-model",
    ),
    pytest.param(
        [node("a", GENERAL, version="ffffffffffffffffffffffffffffffff")],
        status_code_pb2.WORKFLOW_INVALID_ARGUMENT,
        "does not exist",
        id="unknown-version",
    ),
    pytest.param(
        [node("a", GENERAL, "c"), node("b", GENERAL, "a"), node("c", GENERAL, "b")],
        status_code_pb2.WORKFLOW_INVALID_GRAPH,
        "cycle",
        id="cycle",
    ),
    pytest.param(
        [node("a", GENERAL, "a")], status_code_pb2.WORKFLOW_INVALID_GRAPH, "cycle", id="self-loop"
    ),
    pytest.param(
        [node("a", GENERAL, "nowhere")],
        status_code_pb2.WORKFLOW_INVALID_GRAPH,
        "'nowhere', which is no node",
        id="dangling-input",
    ),
    pytest.param(
        [node(f"n{i}", GENERAL) for i in range(21)],
        status_code_pb2.WORKFLOW_INVALID_ARGUMENT,
        "at most 20",
        id="21-nodes",
    ),
    pytest.param(
        [node("a", GENERAL), node("a", FACES)],
        status_code_pb2.WORKFLOW_INVALID_ARGUMENT,
        "Two workflow nodes",
        id="repeated-node-id",
    ),
    pytest.param([], status_code_pb2.WORKFLOW_INVALID_ARGUMENT, "at least one", id="no-nodes"),
]


@pytest.mark.parametrize(("nodes", "code", "words"), INVALID)
def test_invalid_workflows_answer_a_clear_status(
    api: Api, nodes: list[Any], code: int, words: str
) -> None:
    ua = new_app(api)
    response = post_workflow(api, ua, "bad", *nodes)
    assert response.status.code == code, response.status
    assert words in response.status.description


def test_twenty_nodes_are_fine(api: Api) -> None:
    ua = new_app(api)
    chain = [node("n0", GENERAL)] + [node(f"n{i}", GENERAL, f"n{i - 1}") for i in range(1, 20)]
    assert post_workflow(api, ua, "twenty", *chain).status.code == SUCCESS


def test_a_custom_model_in_a_workflow_and_as_the_base_workflow(api: Api) -> None:
    """A trained classifier runs in a workflow, and as the app's base workflow at ingestion
    its concepts become the inputs' predicted concepts, which concept search ranks by."""
    ua = new_app(api)
    # Concept ids no ImageNet class name contains, so only the custom model predicts them.
    labelled = [image_input(p, concept("felix")) for p in training_photos("cat")[:3]]
    labelled += [image_input(p, concept("brew")) for p in training_photos("coffee")[:3]]
    post_inputs(api, ua, labelled)
    model_id = unique_id("pets")
    assert post_model(api, ua, model_id, ["felix", "brew"]).status.code == SUCCESS
    version = train(api, ua, model_id)
    assert wait_trained(api, ua, model_id, version).status.code == status_code_pb2.MODEL_TRAINED
    assert post_workflow(api, ua, "pets", node("pets", model_id)).status.code == SUCCESS
    ran = run(api, ua, "pets", training_photos("coffee")[4])
    assert ran.results[0].outputs[0].data.concepts[0].id == "brew"

    patched = api.stub.PatchApps(
        service_pb2.PatchAppsRequest(
            apps=[resources_pb2.App(id=ua.app_id, default_workflow_id="pets")], action="overwrite"
        ),
        metadata=api.pat,
    )
    assert patched.status.code == SUCCESS, patched.status
    fresh = resources_pb2.Input(
        id="new-cat",
        data=resources_pb2.Data(image=resources_pb2.Image(base64=training_photos("cat")[5])),
    )
    post_inputs_more(api, ua, fresh, total=7)
    assert "new-cat" in concept_search(api, ua, "felix")  # the custom model's prediction
    visual = image_search(api, ua, training_photos("cat")[5])
    assert visual[0] == "new-cat"  # the base embedding is still there


def post_inputs_more(api: Api, ua: Any, message: Any, total: int) -> None:
    response = api.stub.PostInputs(
        service_pb2.PostInputsRequest(user_app_id=ua, inputs=[message]), metadata=api.pat
    )
    assert response.status.code == SUCCESS, response.status
    until(
        lambda: (
            api.stub.GetInputCount(
                service_pb2.GetInputCountRequest(user_app_id=ua), metadata=api.pat
            ).counts.processed
        ),
        lambda processed: processed == total,
    )


def concept_search(api: Api, ua: Any, concept_id: str) -> list[str]:
    """Inputs ranked by predicted concept (a rank on concepts means predictions)."""
    query = resources_pb2.Query(
        ranks=[
            resources_pb2.Rank(
                annotation=resources_pb2.Annotation(
                    data=resources_pb2.Data(
                        concepts=[resources_pb2.Concept(id=concept_id, value=1)]
                    )
                )
            )
        ]
    )
    return _search(api, ua, query)


def image_search(api: Api, ua: Any, content: bytes) -> list[str]:
    query = resources_pb2.Query(
        ranks=[
            resources_pb2.Rank(
                annotation=resources_pb2.Annotation(
                    data=resources_pb2.Data(image=resources_pb2.Image(base64=content))
                )
            )
        ]
    )
    return _search(api, ua, query)


def _search(api: Api, ua: Any, query: Any) -> list[str]:
    response = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=ua,
            searches=[resources_pb2.Search(query=query)],
            pagination=service_pb2.Pagination(page=1, per_page=10),
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return [hit.input.id for hit in response.hits]


def test_inputs_fail_alone(api: Api) -> None:
    """A bad image fails its own result; a text reaches no image model's node."""
    text = resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text(raw="a cat")))
    response = api.stub.PostWorkflowResults(
        service_pb2.PostWorkflowResultsRequest(
            user_app_id=PUBLIC,
            workflow_id="General",
            inputs=[image_input(training_photos("cat")[0]), image_input(b"not an image"), text],
        ),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.MIXED_STATUS, response.status
    good, bad, words = response.results
    assert good.status.code == SUCCESS and len(good.outputs) == 2
    assert bad.status.code != SUCCESS and not bad.outputs
    assert words.status.code == SUCCESS
    assert {o.status.code for o in words.outputs} == {status_code_pb2.WORKFLOW_NO_MATCHING_INPUT}


def test_unknown_workflows_and_untrained_models(api: Api) -> None:
    ua = new_app(api)
    missing = run(api, ua, "nope", training_photos("cat")[0])
    assert missing.status.code == status_code_pb2.WORKFLOW_DOES_NOT_EXIST
    model_id = unique_id("untrained")
    assert post_model(api, ua, model_id, ["cat"]).status.code == SUCCESS
    assert post_workflow(api, ua, "later", node("m", model_id)).status.code == SUCCESS
    untrained = run(api, ua, "later", training_photos("cat")[0])
    assert untrained.status.code == status_code_pb2.WORKFLOW_REQUIRE_TRAINED_MODEL
