"""The modern Node SDK (npm ``clarifai-nodejs``) against Clarion, over gRPC, as its users call it.

The flows are the Python SDK's, as far as this SDK offers them: it has no training,
evaluation, input listing or download calls, and its ``Model.getParams`` cannot work against
any server (0.4.0's ``loadInfo`` keeps no ``model_type_id``), so those are not here.
"""

from __future__ import annotations

import pytest

from clarion.testing import RunningServer
from tests.sdks.conftest import (
    INSTALL_TIMEOUT,
    PROGRAMS,
    Photos,
    ProgramRun,
    admin_user_id,
    names,
    node_environment,
    run_program,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT + 600)]

PINS = ("clarifai-nodejs@0.4.0",)
FOLDER_IDS = [f"cat-{n}" for n in range(6)]


@pytest.fixture(scope="module")
def sdk_run(
    clients_server: RunningServer,
    served_photos: Photos,
    tmp_path_factory: pytest.TempPathFactory,
) -> ProgramRun:
    modules = node_environment("clarifai-nodejs", PINS)
    env = {
        "NODE_PATH": str(modules),
        "CLARIFAI_PAT": clients_server.admin_pat,
        # gRPC only; an http:// base makes the SDK use a plaintext channel.
        "CLARIFAI_BASE": f"http://127.0.0.1:{clients_server.grpc_port}",
        "CLARIFAI_USER_ID": admin_user_id(clients_server),
        "IMAGES": str(served_photos.folder),
        "CAT_URL": served_photos.cat_url,
    }
    return run_program(
        ["node", str(PROGRAMS / "node_sdk.js")], env, tmp_path_factory.mktemp("node-sdk")
    )


def test_apps_and_datasets(sdk_run: ProgramRun) -> None:
    flow = sdk_run.flow("apps_and_datasets")
    assert any(app_id.startswith("sdk-node-") for app_id in flow["apps"])
    assert flow["datasets"] == ["pets"]


def test_uploads_from_bytes_file_url_and_a_folder(sdk_run: ProgramRun) -> None:
    flow = sdk_run.flow("uploads")
    assert sorted(flow["input_ids"]) == sorted(["cat-bytes", "cat-url", "coffee-file", *FOLDER_IDS])
    assert sorted(flow["dataset_input_ids"]) == FOLDER_IDS


def test_predict_honours_each_output_config_knob(sdk_run: ProgramRun) -> None:
    flow = sdk_run.flow("predict_output_config")
    plain = flow["plain"]
    assert len(plain) == 20
    assert names(plain)[:3] == ["animal", "mammal", "cat"]
    assert flow["max_concepts_2"] == plain[:2]
    assert flow["min_value_0.05"] == [c for c in plain if c[1] >= 0.05]
    assert 0 < len(flow["min_value_0.05"]) < len(plain)  # the knob left some out
    assert sorted(names(flow["select_concepts"])) == ["espresso", "tabby"]
    assert flow["by_url"] == plain
    assert flow["by_file"] == plain


def test_predict_through_the_method_signatures(sdk_run: ProgramRun) -> None:
    """``model.predict({methodName, image})``: the signatures come with GetModel."""
    flow = sdk_run.flow("predict_image")
    assert "predict" in flow["methods"]
    assert names(flow["concepts"])[:3] == ["animal", "mammal", "cat"]


def test_filter_only_and_ranked_searches(sdk_run: ProgramRun) -> None:
    flow = sdk_run.flow("searches")
    assert flow["images"] == sorted(["cat-bytes", "cat-url", "coffee-file", *FOLDER_IDS])
    assert flow["labelled_cat"] == sorted(["cat-bytes", *FOLDER_IDS])
    assert set(flow["by_image_url"][:2]) == {"cat-bytes", "cat-url"}
    assert set(flow["by_image_url"][2:8]) == set(FOLDER_IDS)
    assert flow["by_image_url"][-1] == "coffee-file"
    assert flow["by_predicted_concept"] == ["coffee-file"]
    assert flow["ranked_and_filtered"] == ["coffee-file"]
