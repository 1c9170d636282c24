"""Old-style model records: ``output_info.type``/``type_ext`` and concepts as the deprecated
clients read them (``clarifai==2.6.2`` builds its ``ClarifaiApp`` from these)."""

from __future__ import annotations

from typing import Any

import httpx
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf.unknown_fields import UnknownFieldSet

from tests.api.conftest import Api
from tests.api.test_apps_keys import create_app
from tests.conftest import unique_id

SUCCESS = 10000
EXPECTED_TYPES = {
    "general-image-recognition": "concept",
    "general-image-embedding": "embed",
    "color-recognition": "color",
    "face-detection": "facedetect",
    "nsfw-recognition": "concept",
    "moderation-recognition": "concept",
    "ocr-scene-english": "ocr",
    "text-embedding": "embed",
    "text-moderation": "concept",
}


def listed_types(api: Api, app_id: str) -> dict[str, tuple[str, str]]:
    """Each listed model's (type, type_ext), read as a client whose schema has them reads
    them: from the JSON body, or from the fields' numbers (4, 5) on the gRPC wire."""
    if api.transport == "json":
        body = httpx.get(
            f"{api.server.http_url}/v2/users/me/apps/{app_id}/models",
            headers={"Authorization": f"Key {api.server.admin_pat}"},
        ).json()
        assert body["status"]["code"] == SUCCESS, body
        return {
            m["id"]: (m["output_info"]["type"], m["output_info"]["type_ext"])
            for m in body["models"]
        }
    response = api.stub.ListModels(
        service_pb2.ListModelsRequest(user_app_id=resources_pb2.UserAppIDSet(app_id=app_id)),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return {m.id: _retired_strings(m.output_info) for m in response.models}


def _retired_strings(output_info: Any) -> tuple[str, str]:
    unknown = UnknownFieldSet(output_info)
    # protobuf's stubs give UnknownFieldSet indexing and a length, not iteration.
    found = [unknown[index] for index in range(len(unknown))]
    fields = {f.field_number: bytes(f.data).decode() for f in found}
    return fields[4], fields[5]


def test_every_model_has_its_old_style_type(api: Api) -> None:
    app = create_app(api)
    custom_id = unique_id("pets")
    model = resources_pb2.Model(id=custom_id, model_type_id="embedding-classifier")
    model.output_info.data.concepts.add(id="cat")
    response = api.stub.PostModels(
        service_pb2.PostModelsRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=app.id), models=[model]
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    types = listed_types(api, app.id)
    expected = {model_id: (kind, kind) for model_id, kind in EXPECTED_TYPES.items()}
    expected[custom_id] = ("concept", "concept")
    assert types == expected


def test_model_concepts_carry_what_the_old_clients_read(api: Api) -> None:
    """``clarifai==2.6.2`` builds a Model from ``output_info.data.concepts``, reading each
    concept's ``created_at``; the JSON it reads must have it."""
    app = create_app(api)
    model_id = unique_id("pets")
    body: dict[str, dict[str, Any]] = {
        "model": {"id": model_id, "model_type_id": "embedding-classifier"}
    }
    body["model"]["output_info"] = {"data": {"concepts": [{"id": "cat"}, {"id": "dog"}]}}
    headers = {"Authorization": f"Key {api.server.admin_pat}"}
    base = f"{api.server.http_url}/v2/users/me/apps/{app.id}/models"
    created = httpx.post(base, json=body, headers=headers).json()
    assert created["status"]["code"] == SUCCESS, created
    for url in (f"{base}/{model_id}/output_info", f"{base}/general-image-recognition/output_info"):
        found = httpx.get(url, headers=headers).json()
        assert found["status"]["code"] == SUCCESS, found
        concepts = found["model"]["output_info"]["data"]["concepts"]
        assert concepts and all(c["created_at"] and c["app_id"] for c in concepts)
        assert found["model"]["output_info"]["type"] == "concept"
