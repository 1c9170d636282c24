"""The deprecated Python client, PyPI ``clarifai==2.6.2``, against Clarion's HTTP+JSON port.

It imports only with protobuf 3 (its generated code) up to 3.19: protobuf 3.20 changed the
private JSON parser its converters subclass (``ConvertMessage`` gained a ``path``), and 4 does
not load its descriptors. googleapis-common-protos 1.56.4 is the last to accept protobuf 3.19
with a wheel for this Python.
"""

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
    python_environment,
    run_program,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT + 300)]

PINS = ("clarifai==2.6.2", "protobuf==3.19.6", "googleapis-common-protos==1.56.4")


@pytest.fixture(scope="module")
def client_run(
    clients_server: RunningServer,
    served_photos: Photos,
    tmp_path_factory: pytest.TempPathFactory,
) -> ProgramRun:
    python = python_environment("clarifai-python-2", PINS)
    env = {
        "CLARIFAI_API_KEY": app_with_key(clients_server),
        "CLARIFAI_API_BASE": clients_server.http_url,
        "IMAGES": str(served_photos.folder),
        "CAT_URL": served_photos.cat_url,
    }
    return run_program(
        [str(python), str(PROGRAMS / "clarifai_py_2.py")], env, tmp_path_factory.mktemp("py2")
    )


def test_the_app_builds(client_run: ProgramRun) -> None:
    """ClarifaiApp() lists the models and reads each one's output_info.type."""
    flow = client_run.flow("build_app")
    assert "general-image-recognition" in flow["model_ids"]


def test_predict(client_run: ProgramRun) -> None:
    flow = client_run.flow("predict")
    assert names(flow["by_url"])[:3] == ["animal", "mammal", "cat"]
    assert flow["by_bytes"] == flow["by_url"]
    assert names(flow["by_filename"])[0] == "food"
    assert "espresso" in names(flow["by_filename"])
    assert flow["max_concepts_3"] == flow["by_url"][:3]
    moderation = dict(flow["moderation"])
    assert set(moderation) == {"safe", "suggestive", "explicit"}
    assert moderation["safe"] > 0.9  # a cat


def test_predict_by_legacy_model_name(client_run: ProgramRun) -> None:
    flow = client_run.flow("predict_by_legacy_name")
    assert names(flow["general-v1.3"])[:3] == ["animal", "mammal", "cat"]


def test_inputs_create_list_and_get(client_run: ProgramRun) -> None:
    flow = client_run.flow("inputs")
    assert flow["listed"] == ["cat-url", "coffee-bytes"]
    assert flow["got"] == {
        "id": "coffee-bytes",
        "has_url": True,
        "concepts": ["coffee"],
        "not_concepts": ["cat"],
        "metadata": {"kind": "drink"},
    }


def test_searches(client_run: ProgramRun) -> None:
    flow = client_run.flow("searches")
    assert flow["predicted_concept"] == ["cat-url"]
    assert flow["annotated_concept"] == ["coffee-bytes"]
    assert flow["by_image_url"] == ["cat-url", "coffee-bytes"]
    assert flow["by_image_bytes"] == ["coffee-bytes", "cat-url"]
    assert flow["by_input_id"] == ["coffee-bytes", "cat-url"]
    assert flow["by_metadata"] == ["cat-url"]
