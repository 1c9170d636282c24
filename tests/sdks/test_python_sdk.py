"""The modern Python SDK (PyPI ``clarifai``) against Clarion, over gRPC, as its users call it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from clarifai_grpc.grpc.api.status import status_code_pb2

from clarion.testing import RunningServer
from tests.sdks.conftest import (
    INSTALL_TIMEOUT,
    PROGRAMS,
    Photos,
    ProgramRun,
    admin_user_id,
    names,
    python_environment,
    run_program,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT + 600)]

# clarifai-grpc and protobuf pinned too: the SDK asks only for ranges, and 12.5.0 was tried
# with these.
PINS = ("clarifai==12.5.0", "clarifai-grpc==12.6.0", "protobuf==7.36.2")
# Inputs uploaded from the folders cat/ and coffee/ (the files' names are their ids).
CAT_FOLDER = [f"cat-{n}" for n in range(6)]
COFFEE_FOLDER = [f"coffee-{n}" for n in range(6)]
ALL_INPUTS = sorted(["cat-bytes", "cat-url", "coffee-file", *CAT_FOLDER, *COFFEE_FOLDER])


@pytest.fixture(scope="module")
def sdk_run(
    clients_server: RunningServer,
    served_photos: Photos,
    tmp_path_factory: pytest.TempPathFactory,
) -> ProgramRun:
    python = python_environment("clarifai-python", PINS)
    env = {
        "CLARIFAI_PAT": clients_server.admin_pat,
        # The SDK speaks gRPC only: its base is the gRPC port, http:// meaning plaintext.
        "CLARIFAI_API_BASE": f"http://127.0.0.1:{clients_server.grpc_port}",
        "CLARIFAI_USER_ID": admin_user_id(clients_server),
        "IMAGES": str(served_photos.folder),
        "CAT_URL": served_photos.cat_url,
    }
    return run_program(
        [str(python), str(PROGRAMS / "python_sdk.py")], env, tmp_path_factory.mktemp("sdk")
    )


def test_apps_and_datasets(sdk_run: ProgramRun) -> None:
    flow = sdk_run.flow("apps_and_datasets")
    assert any(app_id.startswith("sdk-py-") for app_id in flow["apps"])
    assert flow["datasets"] == ["pets"]


def test_uploads_from_bytes_file_url_and_folders(sdk_run: ProgramRun) -> None:
    flow = sdk_run.flow("uploads")
    assert flow["input_ids"] == ALL_INPUTS
    assert flow["dataset_input_ids"] == [*CAT_FOLDER, *COFFEE_FOLDER]
    # Labels from upload_from_bytes/file, and a folder's name for its images.
    assert flow["concepts"]["cat-bytes"] == ["cat"]
    assert flow["concepts"]["coffee-file"] == ["coffee"]
    assert flow["concepts"]["coffee-3"] == ["coffee"]
    assert "cat-url" not in flow["concepts"]


def test_download_inputs_gives_back_the_uploaded_bytes(
    sdk_run: ProgramRun, served_photos: Photos
) -> None:
    flow = sdk_run.flow("download_inputs")
    expected = [
        hashlib.sha256(Path(served_photos.folder, name).read_bytes()).hexdigest()
        for name in ("cat.jpg", "coffee.jpg")
    ]
    assert flow["sha256"] == expected
    assert all(url.startswith("http://127.0.0.1:") for url in flow["urls"])


def test_predict_honours_each_output_config_knob(sdk_run: ProgramRun) -> None:
    flow = sdk_run.flow("predict_output_config")
    plain = flow["plain"]
    assert len(plain) == 20  # Clarifai's default max_concepts
    assert names(plain)[:3] == ["animal", "mammal", "cat"]
    assert flow["max_concepts_2"] == plain[:2]
    assert flow["min_value_0.05"] == [c for c in plain if c[1] >= 0.05]
    assert 0 < len(flow["min_value_0.05"]) < len(plain)  # the knob left some out
    assert sorted(names(flow["select_concepts"])) == ["espresso", "tabby"]
    assert dict(flow["select_concepts"])["tabby"] == dict(plain)["tabby"]
    assert flow["by_url"] == plain


def test_predict_with_an_image_argument(sdk_run: ProgramRun) -> None:
    """``Model.predict(image=Image(...))``: the SDK asks for the model's method signatures."""
    flow = sdk_run.flow("predict_image")
    assert names(flow["concepts"])[:3] == ["animal", "mammal", "cat"]


def test_filter_only_and_ranked_searches(sdk_run: ProgramRun) -> None:
    flow = sdk_run.flow("searches")
    assert flow["images"] == ALL_INPUTS
    assert flow["labelled_cat"] == sorted(["cat-bytes", *CAT_FOLDER])
    assert set(flow["by_image_url"][:2]) == {"cat-bytes", "cat-url"}  # the same photo
    assert set(flow["by_image_url"][2:8]) == set(CAT_FOLDER)  # then the other cats
    assert {hit.split("-")[0] for hit in flow["by_predicted_concept"]} == {"coffee"}
    assert len(flow["by_predicted_concept"]) == 7
    assert set(flow["ranked_and_filtered"]) == {"coffee-file", *COFFEE_FOLDER}


def test_concept_relations(sdk_run: ProgramRun) -> None:
    flow = sdk_run.flow("concept_relations")
    assert flow["all"] == [
        ["cat", "hyponym", "animal"],
        ["cat", "synonym", "coffee"],
        ["coffee", "hyponym", "drink"],
    ]
    assert flow["animal"] == [["animal", "hypernym", "cat"]]
    assert flow["cat_hyponym"] == [["cat", "hyponym", "animal"]]
    assert flow["after_delete"] == [["coffee", "hyponym", "drink"]]


def test_get_params_train_and_predict(sdk_run: ProgramRun) -> None:
    flow = sdk_run.flow("train_and_predict")
    assert flow["status"] == status_code_pb2.MODEL_TRAINED
    assert {"concepts", "train_params"} <= set(flow["param_keys"])
    assert flow["templates"] == []
    assert names(flow["coffee"])[0] == "coffee"


def test_evaluate_against_a_dataset(sdk_run: ProgramRun) -> None:
    flow = sdk_run.flow("evaluate")
    assert "on-pets" in flow["eval_ids"]
    assert flow["status"] == status_code_pb2.MODEL_EVALUATED
    assert flow["ground_truth_dataset"] == "pets"
    assert flow["macro_avg_roc_auc"] > 0.9
