"""PutModelVersionExports / GetModelVersionExport: a trained custom model as an ONNX file,
downloaded from its hosted URL and run with onnxruntime, over both channels."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from PIL import Image

from clarion.testing import RunningServer, running_server
from tests.api.conftest import Api, official_stub
from tests.api.photos import held_out_photos, training_photos
from tests.api.test_training import (
    SUCCESS,
    TRAINED,
    concept,
    image_input,
    new_app,
    post_inputs,
    post_model,
    predict,
    train,
    until,
    wait_trained,
)
from tests.conftest import unique_id

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@pytest.fixture(scope="module")
def trained(server: RunningServer) -> dict[str, Any]:
    """An app with two models trained on cats and coffee: independent sigmoids, and mutually
    exclusive concepts (softmax); and a third whose training failed (no labelled inputs)."""
    api = Api(official_stub(server, "grpc"), "grpc", server)
    ua = new_app(api)
    labelled = [image_input(p, concept("cat")) for p in training_photos("cat")]
    labelled += [image_input(p, concept("coffee")) for p in training_photos("coffee")]
    post_inputs(api, ua, labelled)
    versions: dict[str, tuple[str, str]] = {}
    for kind, config in (("sigmoid", {}), ("softmax", {"concepts_mutually_exclusive": True})):
        model_id = unique_id(kind)
        assert post_model(api, ua, model_id, ["cat", "coffee"], **config).status.code == SUCCESS
        version = train(api, ua, model_id)
        assert wait_trained(api, ua, model_id, version).status.code == TRAINED
        versions[kind] = (model_id, version)
    failed_model = unique_id("nodata")
    assert post_model(api, ua, failed_model, ["unicorn"]).status.code == SUCCESS
    failed = train(api, ua, failed_model)
    assert wait_trained(api, ua, failed_model, failed).status.code != TRAINED
    versions["failed"] = (failed_model, failed)
    return {"ua": ua, "versions": versions}


def put_export(api: Api, ua: resources_pb2.UserAppIDSet, model_id: str, version: str) -> Any:
    request = service_pb2.PutModelVersionExportsRequest(
        user_app_id=ua, model_id=model_id, version_id=version
    )
    return api.stub.PutModelVersionExports(request, metadata=api.pat)


def get_export(api: Api, ua: resources_pb2.UserAppIDSet, model_id: str, version: str) -> Any:
    request = service_pb2.GetModelVersionExportRequest(
        user_app_id=ua, model_id=model_id, version_id=version
    )
    return api.stub.GetModelVersionExport(request, metadata=api.pat)


def documented_preprocessing(photo: bytes) -> npt.NDArray[np.float32]:
    """The export's documented input, written out from its ``input`` metadata: resize the
    short side to 256 (bilinear), centre-crop 224, scale to [0, 1], normalise, NCHW."""
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    width, height = image.size
    short, long = sorted((width, height))
    new_long = int(256 * long / short)
    size = (256, new_long) if width <= height else (new_long, 256)
    resized = image.resize(size, Image.Resampling.BILINEAR)
    left, top = round((size[0] - 224) / 2), round((size[1] - 224) / 2)
    cropped = resized.crop((left, top, left + 224, top + 224))
    pixels = np.asarray(cropped, dtype=np.float32) / np.float32(255)
    return ((pixels - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)


@pytest.mark.parametrize("kind", ["sigmoid", "softmax"])
def test_the_exported_model_scores_as_the_server_predicts(
    api: Api, trained: dict[str, Any], kind: str
) -> None:
    ua = trained["ua"]
    model_id, version = trained["versions"][kind]
    put = put_export(api, ua, model_id, version)
    assert put.status.code == SUCCESS, put.status
    assert put.export.status.code == status_code_pb2.MODEL_EXPORTED
    got = get_export(api, ua, model_id, version)
    assert got.status.code == SUCCESS, got.status
    assert (got.export.url, got.export.size) == (put.export.url, put.export.size)

    headers = {"Authorization": f"Key {api.server.admin_pat}"}
    download = httpx.get(put.export.url, headers=headers, timeout=60)
    assert download.status_code == 200
    assert len(download.content) == put.export.size > 1_000_000
    session = ort.InferenceSession(download.content, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    concept_ids = json.loads(meta["concept_ids"])
    assert sorted(concept_ids) == ["cat", "coffee"]
    assert meta["activation"] == kind
    assert "256" in meta["input"] and "224" in meta["input"]

    photos = [*held_out_photos("cat"), *held_out_photos("coffee")]
    served = predict(api, ua, model_id, version, *photos)
    assert served.status.code == SUCCESS, served.status
    for photo, output in zip(photos, served.outputs, strict=True):
        (scores,) = session.run(["scores"], {"input": documented_preprocessing(photo)})
        by_id = {c.id: c.value for c in output.data.concepts}
        expected = np.array([by_id[concept_id] for concept_id in concept_ids])
        np.testing.assert_allclose(scores[0], expected, atol=1e-4, rtol=0)
    if kind == "softmax":
        assert float(scores[0].sum()) == pytest.approx(1.0, abs=1e-5)


def test_an_export_url_needs_a_key_of_the_app(api: Api, trained: dict[str, Any]) -> None:
    ua = trained["ua"]
    model_id, version = trained["versions"]["sigmoid"]
    url = put_export(api, ua, model_id, version).export.url
    refused = httpx.get(url, timeout=30)
    assert refused.status_code == 401
    assert refused.json()["status"]["code"] == status_code_pb2.CONN_KEY_INVALID
    unknown = httpx.get(
        url.replace(f"/versions/{version}/", "/versions/nope/"),
        headers={"Authorization": f"Key {api.server.admin_pat}"},
        timeout=30,
    )
    assert unknown.json()["status"]["code"] == status_code_pb2.MODEL_DOES_NOT_EXIST


def test_an_untrained_version_is_not_exported(api: Api, trained: dict[str, Any]) -> None:
    model_id, version = trained["versions"]["failed"]
    response = put_export(api, trained["ua"], model_id, version)
    assert response.status.code == status_code_pb2.MODEL_UNTRAINED
    assert "not trained" in response.status.description
    assert not response.HasField("export")


def test_unknown_versions_models_and_missing_exports(api: Api, trained: dict[str, Any]) -> None:
    ua = trained["ua"]
    model_id, version = trained["versions"]["softmax"]
    unknown_version = put_export(api, ua, model_id, "no-such-version")
    assert unknown_version.status.code == status_code_pb2.MODEL_DOES_NOT_EXIST
    assert "no-such-version" in unknown_version.status.description
    unknown_model = get_export(api, ua, "no-such-model", version)
    assert unknown_model.status.code == status_code_pb2.MODEL_DOES_NOT_EXIST
    builtin = put_export(api, ua, "general-image-recognition", "any")
    assert builtin.status.code == status_code_pb2.MODEL_INVALID_ARGUMENT
    assert "built in" in builtin.status.description
    failed_model, failed = trained["versions"]["failed"]
    never_exported = get_export(api, ua, failed_model, failed)
    assert never_exported.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    assert "PutModelVersionExports" in (
        never_exported.status.description + never_exported.status.details
    )


def test_the_blob_collector_keeps_an_export_while_its_version_exists(tmp_path: Path) -> None:
    with running_server(tmp_path, blob_grace_seconds=0) as server:
        api = Api(official_stub(server, "json"), "json", server)
        ua = new_app(api)
        photos = [*training_photos("cat")[:3], *training_photos("coffee")[:3]]
        post_inputs(api, ua, [image_input(p, concept("cat")) for p in photos[:3]])
        post_inputs(api, ua, [image_input(p, concept("coffee")) for p in photos[3:]])
        model_id = unique_id("kept")
        assert post_model(api, ua, model_id, ["cat", "coffee"]).status.code == SUCCESS
        version = train(api, ua, model_id)
        assert wait_trained(api, ua, model_id, version).status.code == TRAINED
        export = put_export(api, ua, model_id, version).export
        blobs = tmp_path / "blobs"

        def stored() -> int:
            return sum(1 for p in blobs.rglob("*") if p.is_file())

        def export_file_kept() -> bool:
            return any(p.stat().st_size == export.size for p in blobs.rglob("*") if p.is_file())

        before = stored()
        # Deleting an input queues a sweep of every unreferenced blob.
        listed = api.stub.ListInputs(
            service_pb2.ListInputsRequest(user_app_id=ua), metadata=api.pat
        )
        deleted = api.stub.DeleteInputs(
            service_pb2.DeleteInputsRequest(user_app_id=ua, ids=[listed.inputs[0].id]),
            metadata=api.pat,
        )
        assert deleted.status.code == SUCCESS, deleted.status
        until(stored, lambda count: count < before, timeout=20)
        assert export_file_kept()
        headers = {"Authorization": f"Key {server.admin_pat}"}
        assert len(httpx.get(export.url, headers=headers, timeout=60).content) == export.size

        # With its version gone, the export goes too, and so does its file at the next sweep.
        removed = api.stub.DeleteModelVersion(
            service_pb2.DeleteModelVersionRequest(
                user_app_id=ua, model_id=model_id, version_id=version
            ),
            metadata=api.pat,
        )
        assert removed.status.code == SUCCESS, removed.status
        api.stub.DeleteInputs(
            service_pb2.DeleteInputsRequest(user_app_id=ua, ids=[listed.inputs[1].id]),
            metadata=api.pat,
        )
        until(export_file_kept, lambda kept: not kept, timeout=20)
        gone = httpx.get(export.url, headers=headers, timeout=30)
        assert gone.json()["status"]["code"] == status_code_pb2.MODEL_DOES_NOT_EXIST
