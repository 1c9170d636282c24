"""The deprecated REST client, npm ``clarifai@2.9.1``, against Clarion's HTTP+JSON port."""

from __future__ import annotations

import pytest

from clarion.testing import RunningServer
from tests.sdks.conftest import (
    INSTALL_TIMEOUT,
    PROGRAMS,
    Photos,
    ProgramRun,
    app_with_key,
    names,
    node_environment,
    run_program,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT + 300)]

PINS = ("clarifai@2.9.1",)


@pytest.fixture(scope="module")
def client_run(
    clients_server: RunningServer,
    served_photos: Photos,
    tmp_path_factory: pytest.TempPathFactory,
) -> ProgramRun:
    modules = node_environment("clarifai-js-2", PINS)
    env = {
        "NODE_PATH": str(modules),
        "CLARIFAI_API_KEY": app_with_key(clients_server),
        "API_ENDPOINT": clients_server.http_url,  # the client reads it when no apiEndpoint
        "IMAGES": str(served_photos.folder),
        "CAT_URL": served_photos.cat_url,
    }
    return run_program(
        ["node", str(PROGRAMS / "clarifai_js_2.js")], env, tmp_path_factory.mktemp("js2")
    )


def test_predict_by_url_bytes_and_name(client_run: ProgramRun) -> None:
    flow = client_run.flow("predict")
    assert names(flow["by_url"])[:3] == ["animal", "mammal", "cat"]
    assert flow["by_bytes"] == flow["by_url"]
    assert flow["by_name"] == flow["by_url"]  # found by ListModels' name search
    moderation = dict(flow["moderation"])
    assert set(moderation) == {"safe", "suggestive", "explicit"}
    assert moderation["safe"] > 0.9  # a cat


def test_inputs_create_list_and_get(client_run: ProgramRun) -> None:
    flow = client_run.flow("inputs")
    assert flow["created_ids"] == ["cat-url", "coffee-bytes"]
    assert flow["created_urls"] == [True, True]  # bytes get a url: the client reads it
    assert flow["listed"] == ["cat-url", "coffee-bytes"]
    assert flow["got"] == {
        "id": "coffee-bytes",
        "has_url": True,
        "concepts": [["coffee", 1]],
        "metadata": {"kind": "drink"},
    }


def test_the_four_searches(client_run: ProgramRun) -> None:
    flow = client_run.flow("searches")
    assert flow["predicted_concept"] == ["cat-url"]
    assert flow["annotated_concept"] == ["coffee-bytes"]
    assert flow["by_image_url"] == ["cat-url", "coffee-bytes"]
    assert flow["by_image_bytes"] == ["coffee-bytes", "cat-url"]
    assert flow["by_metadata"] == ["coffee-bytes"]
    assert flow["by_input_id"] == ["cat-url", "coffee-bytes"]
    # A predicted concept with value false ranks the inputs without it first.
    assert flow["not_predicted"][0] == "coffee-bytes"
