"""Dataset versions, their metrics, their export archives and GetDatasetInput, through the
official client on both channels."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import httpx
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import json_format

from tests.api.conftest import Api
from tests.api.test_apps_keys import create_app
from tests.api.test_concepts_annotations_datasets import add_image, ua

SUCCESS = status_code_pb2.SUCCESS
FORMATS = resources_pb2.DatasetVersionExportFormat
GROUPS = resources_pb2.DatasetVersionMetricsGroupType


def concept(concept_id: str, value: float = 1.0) -> resources_pb2.Concept:
    return resources_pb2.Concept(id=concept_id, value=value)


def dataset_with_inputs(api: Api, app_id: str, dataset_id: str, inputs: dict[str, str]) -> None:
    """A dataset holding one image input per id, labelled with the concept given."""
    response = api.stub.PostDatasets(
        service_pb2.PostDatasetsRequest(
            user_app_id=ua(app_id), datasets=[resources_pb2.Dataset(id=dataset_id)]
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    for input_id, concept_id in inputs.items():
        add_image(api, app_id, input_id, concept(concept_id))
    added = api.stub.PostDatasetInputs(
        service_pb2.PostDatasetInputsRequest(
            user_app_id=ua(app_id),
            dataset_id=dataset_id,
            dataset_inputs=[
                resources_pb2.DatasetInput(input=resources_pb2.Input(id=input_id))
                for input_id in inputs
            ],
        ),
        metadata=api.pat,
    )
    assert added.status.code == SUCCESS, added.status


def post_version(api: Api, app_id: str, dataset_id: str, **fields: Any) -> Any:
    return api.stub.PostDatasetVersions(
        service_pb2.PostDatasetVersionsRequest(
            user_app_id=ua(app_id),
            dataset_id=dataset_id,
            dataset_versions=[resources_pb2.DatasetVersion(**fields)],
        ),
        metadata=api.pat,
    )


def export(
    api: Api,
    app_id: str,
    version_id: str,
    export_format: resources_pb2.DatasetVersionExportFormat.ValueType,
) -> Any:
    return api.stub.PutDatasetVersionExports(
        service_pb2.PutDatasetVersionExportsRequest(
            user_app_id=ua(app_id),
            dataset_id="train",
            dataset_version_id=version_id,
            exports=[resources_pb2.DatasetVersionExport(format=export_format)],
        ),
        metadata=api.pat,
    )


def download(api: Api, url: str) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Key {api.server.admin_pat}"})


def read_archive(content: bytes, as_json: bool = False) -> list[resources_pb2.Input]:
    """What the Clarifai SDK's DatasetExportReader does with an archive: check the mimetype,
    count inputs by the ``_n`` suffixes, parse each batch."""
    archive = zipfile.ZipFile(io.BytesIO(content))
    names = archive.namelist()
    kind = "json" if as_json else "protobuf"
    assert archive.read("mimetype") == f"application/x.clarifai-data+{kind}".encode()
    names.remove("mimetype")
    inputs: list[resources_pb2.Input] = []
    for name in names:
        raw = archive.read(name)
        batch = resources_pb2.InputBatch()
        if as_json:
            json_format.Parse(raw, batch)
        else:
            batch.ParseFromString(raw)
        assert int(name.split("_n")[-1]) == len(batch.inputs)
        inputs.extend(batch.inputs)
    return inputs


def test_a_version_freezes_the_dataset_and_exports_it(api: Api) -> None:
    app = create_app(api).id
    dataset_with_inputs(api, app, "train", {"cat-1": "cat", "dog-1": "dog"})

    made = post_version(api, app, "train", id="v1", description="first")
    assert made.status.code == SUCCESS, made.status
    version = made.dataset_versions[0]
    assert version.status.code == status_code_pb2.DATASET_VERSION_READY
    assert version.metrics["/"].inputs_count.value == 2
    assert (version.dataset_id, version.app_id) == ("train", app)

    # The dataset changes afterwards; the version does not.
    add_image(api, app, "cat-2", concept("cat"))
    api.stub.PostDatasetInputs(
        service_pb2.PostDatasetInputsRequest(
            user_app_id=ua(app),
            dataset_id="train",
            dataset_inputs=[resources_pb2.DatasetInput(input=resources_pb2.Input(id="cat-2"))],
        ),
        metadata=api.pat,
    )
    later = post_version(api, app, "train", id="v2")
    assert later.dataset_versions[0].metrics["/"].inputs_count.value == 3

    exported = export(api, app, "v1", FORMATS.CLARIFAI_DATA_PROTOBUF)
    assert exported.status.code == SUCCESS, exported.status
    done = exported.exports[0]
    assert done.status.code == status_code_pb2.DATASET_VERSION_EXPORT_SUCCESS
    response = download(api, done.url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert len(response.content) == done.size
    inputs = {item.id: item for item in read_archive(response.content)}
    assert set(inputs) == {"cat-1", "dog-1"}
    assert [c.id for c in inputs["cat-1"].data.concepts] == ["cat"]
    hosted = inputs["dog-1"].data.image.hosted
    image = download(api, f"{hosted.prefix}/orig/{hosted.suffix}")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

    as_json = export(api, app, "v2", FORMATS.CLARIFAI_DATA_JSON).exports[0]
    assert {i.id for i in read_archive(download(api, as_json.url).content, as_json=True)} == {
        "cat-1",
        "cat-2",
        "dog-1",
    }


def test_the_export_url_is_behind_a_key(api: Api) -> None:
    app = create_app(api).id
    dataset_with_inputs(api, app, "train", {"a": "cat"})
    post_version(api, app, "train", id="v1")
    url = export(api, app, "v1", FORMATS.CLARIFAI_DATA_PROTOBUF).exports[0].url
    refused = httpx.get(url)
    assert refused.status_code == 401
    assert json.loads(refused.content)["status"]["code"] == status_code_pb2.CONN_KEY_INVALID


def test_unsupported_export_options_are_refused(api: Api) -> None:
    app = create_app(api).id
    dataset_with_inputs(api, app, "train", {"a": "cat"})
    post_version(api, app, "train", id="v1")
    coco = export(api, app, "v1", FORMATS.COCO)
    assert coco.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "COCO is not supported" in coco.status.description
    missing = export(api, app, "nope", FORMATS.CLARIFAI_DATA_PROTOBUF)
    assert missing.status.code == status_code_pb2.CONN_DOES_NOT_EXIST


def test_list_get_patch_delete_versions(api: Api) -> None:
    app = create_app(api).id
    dataset_with_inputs(api, app, "train", {"a": "cat"})
    for version_id in ("v1", "v2", "v3"):
        assert post_version(api, app, "train", id=version_id).status.code == SUCCESS

    def listed(page: int, per_page: int) -> list[str]:
        response = api.stub.ListDatasetVersions(
            service_pb2.ListDatasetVersionsRequest(
                user_app_id=ua(app), dataset_id="train", page=page, per_page=per_page
            ),
            metadata=api.pat,
        )
        assert response.status.code == SUCCESS, response.status
        return [version.id for version in response.dataset_versions]

    assert listed(1, 2) == ["v3", "v2"]
    assert listed(2, 2) == ["v1"]
    duplicate = post_version(api, app, "train", id="v1")
    assert duplicate.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "already exists" in duplicate.status.description

    patched = api.stub.PatchDatasetVersions(
        service_pb2.PatchDatasetVersionsRequest(
            user_app_id=ua(app),
            dataset_id="train",
            action="merge",
            dataset_versions=[resources_pb2.DatasetVersion(id="v2", description="best")],
        ),
        metadata=api.pat,
    )
    assert patched.status.code == SUCCESS, patched.status
    got = api.stub.GetDatasetVersion(
        service_pb2.GetDatasetVersionRequest(
            user_app_id=ua(app), dataset_id="train", dataset_version_id="v2"
        ),
        metadata=api.pat,
    )
    assert got.dataset_version.description == "best"
    assert got.dataset_version.metrics["/"].inputs_count.value == 1

    deleted = api.stub.DeleteDatasetVersions(
        service_pb2.DeleteDatasetVersionsRequest(
            user_app_id=ua(app), dataset_id="train", dataset_version_ids=["v1", "v3"]
        ),
        metadata=api.pat,
    )
    assert deleted.status.code == SUCCESS, deleted.status
    assert listed(1, 10) == ["v2"]


def test_version_fields_clarion_cannot_honour_are_refused(api: Api) -> None:
    app = create_app(api).id
    dataset_with_inputs(api, app, "train", {"a": "cat"})
    refused = post_version(
        api,
        app,
        "train",
        id="v1",
        annotation_filter_config=resources_pb2.AnnotationFilterConfig(),
        embed_model_version_ids=["x"],
    )
    assert refused.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "embed_model_version_ids" in refused.status.description
    no_dataset = post_version(api, app, "absent", id="v1")
    assert no_dataset.status.code == status_code_pb2.CONN_DOES_NOT_EXIST


def test_metrics_groups_count_inputs_by_concept_and_type(api: Api) -> None:
    app = create_app(api).id
    dataset_with_inputs(api, app, "train", {"a": "cat", "b": "cat", "c": "dog"})
    post_version(api, app, "train", id="v1")
    response = api.stub.ListDatasetVersionMetricsGroups(
        service_pb2.ListDatasetVersionMetricsGroupsRequest(
            user_app_id=ua(app),
            dataset_id="train",
            dataset_version_id="v1",
            types=[GROUPS.CONCEPT_ID],
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    counts = {
        group.value.string_value: group.metrics.inputs_count.value
        for group in response.dataset_version_metrics_groups
    }
    assert counts == {"cat": 2, "dog": 1}
    by_type = api.stub.ListDatasetVersionMetricsGroups(
        service_pb2.ListDatasetVersionMetricsGroupsRequest(
            user_app_id=ua(app),
            dataset_id="train",
            dataset_version_id="v1",
            types=[GROUPS.INPUT_TYPE],
        ),
        metadata=api.pat,
    )
    [group] = by_type.dataset_version_metrics_groups
    assert (group.value.string_value, group.metrics.inputs_count.value) == ("image", 3)
    unsupported = api.stub.ListDatasetVersionMetricsGroups(
        service_pb2.ListDatasetVersionMetricsGroupsRequest(
            user_app_id=ua(app),
            dataset_id="train",
            dataset_version_id="v1",
            types=[GROUPS.PIXELS_COUNT],
        ),
        metadata=api.pat,
    )
    assert unsupported.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "PIXELS_COUNT" in unsupported.status.description


def test_get_dataset_input(api: Api) -> None:
    app = create_app(api).id
    dataset_with_inputs(api, app, "train", {"a": "cat"})
    add_image(api, app, "outside")

    def get(input_id: str) -> Any:
        return api.stub.GetDatasetInput(
            service_pb2.GetDatasetInputRequest(
                user_app_id=ua(app), dataset_id="train", input_id=input_id
            ),
            metadata=api.pat,
        )

    found = get("a")
    assert found.status.code == SUCCESS, found.status
    assert found.dataset_input.input.id == "a"
    assert "train" in found.dataset_input.input.dataset_ids
    assert get("outside").status.code == status_code_pb2.CONN_DOES_NOT_EXIST
