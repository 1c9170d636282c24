"""Concepts, annotations and datasets through the official client on both channels."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.api.conftest import Api
from tests.api.test_apps_keys import create_app
from tests.images import png_bytes

SUCCESS = status_code_pb2.SUCCESS


def ua(app_id: str) -> resources_pb2.UserAppIDSet:
    return resources_pb2.UserAppIDSet(user_id="me", app_id=app_id)


def add_image(api: Api, app_id: str, input_id: str, *concepts: resources_pb2.Concept) -> None:
    data = resources_pb2.Data(image=resources_pb2.Image(base64=png_bytes()), concepts=concepts)
    response = api.stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=ua(app_id), inputs=[resources_pb2.Input(id=input_id, data=data)]
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status


def post_concepts(api: Api, app_id: str, *concepts: resources_pb2.Concept) -> Any:
    return api.stub.PostConcepts(
        service_pb2.PostConceptsRequest(user_app_id=ua(app_id), concepts=list(concepts)),
        metadata=api.pat,
    )


def test_concepts_named_on_inputs_exist_and_name_defaults_to_id(api: Api) -> None:
    app = create_app(api).id
    add_image(api, app, "i1", resources_pb2.Concept(id="cat", value=1))

    got = api.stub.GetConcept(
        service_pb2.GetConceptRequest(user_app_id=ua(app), concept_id="cat"), metadata=api.pat
    )

    assert got.status.code == SUCCESS, got.status
    assert (got.concept.id, got.concept.name) == ("cat", "cat")


def test_post_patch_list_and_search_concepts(api: Api) -> None:
    app = create_app(api).id
    posted = post_concepts(
        api,
        app,
        resources_pb2.Concept(id="c1", name="Golden Retriever"),
        resources_pb2.Concept(id="c2", name="Golden Eagle"),
        resources_pb2.Concept(id="c3", name="Tabby"),
    )
    assert posted.status.code == SUCCESS, posted.status
    again = post_concepts(
        api,
        app,
        resources_pb2.Concept(id="c4", name="New"),
        resources_pb2.Concept(id="c3", name="Renamed by mistake"),
    )
    assert again.status.code == status_code_pb2.CONCEPTS_INVALID_REQUEST, again.status
    assert "c3" in again.status.description
    twice = post_concepts(api, app, resources_pb2.Concept(id="c5"), resources_pb2.Concept(id="c5"))
    assert twice.status.code == status_code_pb2.CONCEPTS_INVALID_REQUEST, twice.status
    patched = api.stub.PatchConcepts(
        service_pb2.PatchConceptsRequest(
            user_app_id=ua(app),
            concepts=[resources_pb2.Concept(id="c3", name="Tabby cat")],
            action="overwrite",
        ),
        metadata=api.pat,
    )
    assert patched.concepts[0].name == "Tabby cat"
    listed = api.stub.ListConcepts(
        service_pb2.ListConceptsRequest(user_app_id=ua(app), per_page=10), metadata=api.pat
    )
    assert sorted(c.id for c in listed.concepts) == ["c1", "c2", "c3"]  # nothing of the refused
    assert {c.id: c.name for c in listed.concepts}["c3"] == "Tabby cat"
    found = api.stub.PostConceptsSearches(
        service_pb2.PostConceptsSearchesRequest(
            user_app_id=ua(app), concept_query=resources_pb2.ConceptQuery(name="golden*")
        ),
        metadata=api.pat,
    )
    assert found.status.code == SUCCESS, found.status
    found_ids = [c.id for c in found.concepts]
    assert sorted(found_ids[:2]) == ["c1", "c2"]  # the app's own first
    assert "golden retriever" in [c.name for c in found.concepts[2:]]  # then the model's
    public = api.stub.PostConceptsSearches(
        service_pb2.PostConceptsSearchesRequest(
            user_app_id=ua(app),
            concept_query=resources_pb2.ConceptQuery(name="tabb", ignore_app_concepts=True),
        ),
        metadata=api.pat,
    )
    assert [(c.name, c.user_id) for c in public.concepts] == [("tabby", "clarifai")]
    for narrowed in (
        resources_pb2.ConceptQuery(name="golden*", use_cases=[resources_pb2.CLASSIFICATION]),
        resources_pb2.ConceptQuery(name="golden*", workflow_id="General"),
    ):
        refused = api.stub.PostConceptsSearches(
            service_pb2.PostConceptsSearchesRequest(user_app_id=ua(app), concept_query=narrowed),
            metadata=api.pat,
        )
        assert refused.status.code == status_code_pb2.CONN_INVALID_REQUEST, refused.status
        assert "not supported" in refused.status.description
        assert not refused.concepts


def test_annotations_with_regions_and_concept_counts(api: Api) -> None:
    app = create_app(api).id
    add_image(api, app, "pic", resources_pb2.Concept(id="cat", value=1))
    region = resources_pb2.Region(
        region_info=resources_pb2.RegionInfo(
            bounding_box=resources_pb2.BoundingBox(
                top_row=0.1, left_col=0.2, bottom_row=0.5, right_col=0.6
            )
        ),
        data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="face", value=1)]),
    )

    posted = api.stub.PostAnnotations(
        service_pb2.PostAnnotationsRequest(
            user_app_id=ua(app),
            annotations=[
                resources_pb2.Annotation(input_id="pic", data=resources_pb2.Data(regions=[region]))
            ],
        ),
        metadata=api.pat,
    )

    assert posted.status.code == SUCCESS, posted.status
    annotation_id = posted.annotations[0].id
    listed = api.stub.ListAnnotations(
        service_pb2.ListAnnotationsRequest(user_app_id=ua(app), input_ids=["pic"]),
        metadata=api.pat,
    )
    assert len(listed.annotations) == 2  # the input-level one from PostInputs, and ours
    ours = next(a for a in listed.annotations if a.id == annotation_id)
    box = ours.data.regions[0].region_info.bounding_box
    assert (box.top_row, box.left_col, box.bottom_row, box.right_col) == pytest.approx(
        (0.1, 0.2, 0.5, 0.6)
    )
    assert ours.data.regions[0].data.concepts[0].id == "face"
    counts = api.stub.GetConceptCounts(
        service_pb2.GetConceptCountsRequest(user_app_id=ua(app)), metadata=api.pat
    )
    positives = {c.id: c.concept_type_count.positive for c in counts.concept_counts}
    assert positives == {"cat": 1, "face": 1}
    deleted = api.stub.DeleteAnnotation(
        service_pb2.DeleteAnnotationRequest(
            user_app_id=ua(app), input_id="pic", annotation_id=annotation_id
        ),
        metadata=api.pat,
    )
    assert deleted.status.code == SUCCESS
    gone = api.stub.GetAnnotation(
        service_pb2.GetAnnotationRequest(
            user_app_id=ua(app), input_id="pic", annotation_id=annotation_id
        ),
        metadata=api.pat,
    )
    assert gone.status.code == status_code_pb2.CONN_DOES_NOT_EXIST


def test_bad_bounding_box_is_refused(api: Api) -> None:
    app = create_app(api).id
    add_image(api, app, "pic")
    region = resources_pb2.Region(
        region_info=resources_pb2.RegionInfo(
            bounding_box=resources_pb2.BoundingBox(
                top_row=0.6, left_col=0.2, bottom_row=0.5, right_col=0.6
            )
        )
    )
    response = api.stub.PostAnnotations(
        service_pb2.PostAnnotationsRequest(
            user_app_id=ua(app),
            annotations=[
                resources_pb2.Annotation(input_id="pic", data=resources_pb2.Data(regions=[region]))
            ],
        ),
        metadata=api.pat,
    )
    assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "top_row < bottom_row" in response.status.description


def test_datasets_and_their_inputs(api: Api) -> None:
    app = create_app(api).id
    created = api.stub.PostDatasets(
        service_pb2.PostDatasetsRequest(
            user_app_id=ua(app), datasets=[resources_pb2.Dataset(id="train", description="d")]
        ),
        metadata=api.pat,
    )
    assert created.status.code == SUCCESS, created.status
    add_image(api, app, "a")
    data = resources_pb2.Data(image=resources_pb2.Image(base64=png_bytes()))
    api.stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=ua(app),
            inputs=[resources_pb2.Input(id="b", data=data, dataset_ids=["train"])],
        ),
        metadata=api.pat,
    )

    def members() -> list[str]:
        response: Any = api.stub.ListDatasetInputs(
            service_pb2.ListDatasetInputsRequest(user_app_id=ua(app), dataset_id="train"),
            metadata=api.pat,
        )
        assert response.status.code == SUCCESS, response.status
        return sorted(item.input.id for item in response.dataset_inputs)

    assert members() == ["b"]
    added = api.stub.PostDatasetInputs(
        service_pb2.PostDatasetInputsRequest(
            user_app_id=ua(app),
            dataset_id="train",
            dataset_inputs=[resources_pb2.DatasetInput(input=resources_pb2.Input(id="a"))],
        ),
        metadata=api.pat,
    )
    assert added.status.code == SUCCESS, added.status
    assert members() == ["a", "b"]
    got = api.stub.GetInput(
        service_pb2.GetInputRequest(user_app_id=ua(app), input_id="a"), metadata=api.pat
    )
    assert list(got.input.dataset_ids) == ["train"]
    api.stub.DeleteDatasetInputs(
        service_pb2.DeleteDatasetInputsRequest(
            user_app_id=ua(app), dataset_id="train", input_ids=["b"]
        ),
        metadata=api.pat,
    )
    assert members() == ["a"]
    deleted = api.stub.DeleteDatasets(
        service_pb2.DeleteDatasetsRequest(user_app_id=ua(app), dataset_ids=["train"]),
        metadata=api.pat,
    )
    assert deleted.status.code == SUCCESS
    missing = api.stub.GetDataset(
        service_pb2.GetDatasetRequest(user_app_id=ua(app), dataset_id="train"), metadata=api.pat
    )
    assert missing.status.code == status_code_pb2.CONN_DOES_NOT_EXIST


def test_input_naming_a_missing_dataset_is_refused(api: Api) -> None:
    app = create_app(api).id
    data = resources_pb2.Data(image=resources_pb2.Image(base64=png_bytes()))
    response = api.stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=ua(app),
            inputs=[resources_pb2.Input(id="x", data=data, dataset_ids=["nope"])],
        ),
        metadata=api.pat,
    )
    assert response.inputs[0].status.code == status_code_pb2.INPUT_INVALID_ARGUMENT
    assert "dataset 'nope'" in response.inputs[0].status.description


def test_patch_annotations_and_datasets(api: Api) -> None:
    app = create_app(api).id
    add_image(api, app, "pic")
    posted = api.stub.PostAnnotations(
        service_pb2.PostAnnotationsRequest(
            user_app_id=ua(app),
            annotations=[
                resources_pb2.Annotation(
                    input_id="pic",
                    data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="a", value=1)]),
                )
            ],
        ),
        metadata=api.pat,
    )
    annotation_id = posted.annotations[0].id

    def patch(action: str, *ids: str) -> list[str]:
        response = api.stub.PatchAnnotations(
            service_pb2.PatchAnnotationsRequest(
                user_app_id=ua(app),
                action=action,
                annotations=[
                    resources_pb2.Annotation(
                        id=annotation_id,
                        data=resources_pb2.Data(
                            concepts=[resources_pb2.Concept(id=i, value=1) for i in ids]
                        ),
                    )
                ],
            ),
            metadata=api.pat,
        )
        assert response.status.code == SUCCESS, response.status
        return [c.id for c in response.annotations[0].data.concepts]

    assert patch("merge", "b") == ["a", "b"]
    assert patch("remove", "a") == ["b"]
    assert patch("overwrite", "c") == ["c"]

    api.stub.PostDatasets(
        service_pb2.PostDatasetsRequest(
            user_app_id=ua(app), datasets=[resources_pb2.Dataset(id="ds", description="old")]
        ),
        metadata=api.pat,
    )
    patched = api.stub.PatchDatasets(
        service_pb2.PatchDatasetsRequest(
            user_app_id=ua(app),
            datasets=[resources_pb2.Dataset(id="ds", description="new")],
            action="merge",
        ),
        metadata=api.pat,
    )
    assert patched.datasets[0].description == "new"
    listed = api.stub.ListDatasets(
        service_pb2.ListDatasetsRequest(user_app_id=ua(app)), metadata=api.pat
    )
    assert [(d.id, d.description) for d in listed.datasets] == [("ds", "new")]
