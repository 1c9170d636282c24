"""Method signatures and method calls as the modern Python SDK makes them.

``Model.predict(image=Image(...))`` reads the model's signatures (GetModelVersion, else a
``_GET_SIGNATURES`` call), sends the argument as a part named after it with ``_method_name``
in the input's metadata, and reads the result from the part named ``return``. These tests
send exactly those requests through the official client on both transports.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import json_format

from tests.api.conftest import Api
from tests.api.test_predict import (  # the module's server and its fixtures
    ASTRONAUT,
    CAT_CONCEPTS,
    CHELSEA,
    GENERAL_SLUG,
    api,
    image,
    predict,
    predict_server,
    text,
)

__all__ = ["api", "predict_server"]  # fixtures, used by name

SUCCESS = status_code_pb2.SUCCESS
MODEL_INVALID_ARGUMENT = status_code_pb2.MODEL_INVALID_ARGUMENT
DataType = resources_pb2.ModelTypeField.DataType
MAIN = resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main")
# (input argument and its type, return type, list item type) of each model's predict.
EXPECTED = {
    GENERAL_SLUG: ("image", DataType.IMAGE, DataType.LIST, DataType.CONCEPT),
    "face-detection": ("image", DataType.IMAGE, DataType.LIST, DataType.REGION),
    "ocr-scene-english": ("image", DataType.IMAGE, DataType.LIST, DataType.REGION),
    "general-image-embedding": ("image", DataType.IMAGE, DataType.NDARRAY, None),
    "color-recognition": ("image", DataType.IMAGE, DataType.JSON_DATA, None),
    "text-embedding": ("text", DataType.TEXT, DataType.NDARRAY, None),
    "text-moderation": ("text", DataType.TEXT, DataType.LIST, DataType.CONCEPT),
}


def version_signatures(api: Api, model_id: str) -> list[Any]:
    """The signatures of the model's version, read as the SDK reads them: the version id
    from GetModel, then GetModelVersion."""
    model = api.stub.GetModel(
        service_pb2.GetModelRequest(user_app_id=MAIN, model_id=model_id), metadata=api.pat
    ).model
    response = api.stub.GetModelVersion(
        service_pb2.GetModelVersionRequest(
            user_app_id=MAIN, model_id=model_id, version_id=model.model_version.id
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return list(response.model_version.method_signatures)


def method_call(method: str, **arguments: resources_pb2.Data) -> resources_pb2.Input:
    """An input as the SDK's ``serialize`` builds it: one part per named argument."""
    message = resources_pb2.Input()
    for name, data in arguments.items():
        message.data.parts.add(id=name, data=data)
    message.data.metadata["_method_name"] = method
    return message


def image_data(content: bytes) -> resources_pb2.Data:
    return resources_pb2.Data(image=resources_pb2.Image(base64=content))


def returned(response: Any) -> list[resources_pb2.Data]:
    """Each output's ``return`` part, the only thing in its data (as a runner answers)."""
    assert response.status.code == SUCCESS, response.status
    results = []
    for output in response.outputs:
        assert [part.id for part in output.data.parts] == ["return"]
        assert [field.name for field, _ in output.data.ListFields()] == ["parts"]
        results.append(output.data.parts[0].data)
    return results


def test_every_model_version_publishes_its_predict_signature(api: Api) -> None:
    for model_id, (argument, argument_type, return_type, item_type) in EXPECTED.items():
        (signature,) = version_signatures(api, model_id)
        assert signature.name == "predict"
        assert signature.method_type == resources_pb2.RunnerMethodType.UNARY_UNARY
        assert [(f.name, f.type, f.required) for f in signature.input_fields] == [
            (argument, argument_type, True)
        ]
        (result,) = signature.output_fields
        assert (result.name, result.type) == ("return", return_type)
        assert [t.type for t in result.type_args] == ([item_type] if item_type else [])


def test_get_signatures_call_answers_the_same_signatures_as_json(api: Api) -> None:
    # The SDK's fallback: one input with an empty part and only the method name.
    request = method_call("_GET_SIGNATURES", unused=resources_pb2.Data())
    request.data.parts[0].id = ""
    response = predict(api, request, model_id="face-detection")
    assert response.status.code == SUCCESS, response.status
    published = json.loads(response.outputs[0].data.text.raw)
    parsed = [json_format.ParseDict(s, resources_pb2.MethodSignature()) for s in published.values()]
    assert list(published) == ["predict"]
    assert parsed == version_signatures(api, "face-detection")


def test_predict_by_named_argument_answers_in_the_return_part(api: Api) -> None:
    (concepts,) = returned(predict(api, method_call("predict", image=image_data(CHELSEA))))
    assert concepts.concepts[0].name in CAT_CONCEPTS
    assert len(concepts.concepts) == 20  # the default max_concepts, as a plain prediction

    (faces,) = returned(
        predict(api, method_call("predict", image=image_data(ASTRONAUT)), model_id="face-detection")
    )
    assert len(faces.regions) == 1
    assert faces.regions[0].data.concepts[0].name == "face"


def test_an_embedding_comes_back_as_the_float32_array_the_signature_names(api: Api) -> None:
    call = method_call("predict", image=image_data(CHELSEA))
    (result,) = returned(predict(api, call, model_id="general-image-embedding"))
    vector = np.frombuffer(result.ndarray.buffer, dtype=np.dtype(result.ndarray.dtype))
    assert (result.ndarray.dtype, list(result.ndarray.shape)) == ("float32", [1280])
    plain = predict(api, image(data=CHELSEA), model_id="general-image-embedding")
    expected = np.array(plain.outputs[0].data.embeddings[0].vector, dtype=np.float32)
    np.testing.assert_allclose(vector, expected, rtol=1e-5, atol=1e-6)


def test_text_and_colour_models_by_named_argument(api: Api) -> None:
    call = method_call("predict", text=resources_pb2.Data(text=resources_pb2.Text(raw="idiot")))
    (scores,) = returned(predict(api, call, model_id="text-moderation"))
    assert {c.name for c in scores.concepts} == {"toxic", "clean"}
    plain = predict(api, text("idiot"), model_id="text-moderation")
    assert list(scores.concepts) == list(plain.outputs[0].data.concepts)

    call = method_call("predict", image=image_data(CHELSEA))
    (colors,) = returned(predict(api, call, model_id="color-recognition"))
    listed = json_format.MessageToDict(colors.struct_value)["_list"]
    assert listed and all(c["raw_hex"].startswith("#") and c["w3c"]["name"] for c in listed)


def test_calls_the_model_cannot_answer_are_refused_by_name(api: Api) -> None:
    chelsea = image_data(CHELSEA)
    cases = {
        "no method 'generate'": [method_call("generate", image=chelsea)],
        "no argument 'images'": [method_call("predict", images=chelsea)],
        "the same method": [
            method_call("predict", image=chelsea),
            method_call("_GET_SIGNATURES", image=chelsea),
        ],
    }
    for expected, inputs in cases.items():
        response = predict(api, *inputs)
        assert response.status.code == MODEL_INVALID_ARGUMENT, (expected, response.status)
        assert expected in response.status.description
