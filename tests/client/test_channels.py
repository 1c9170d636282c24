"""The low level the Clarifai docs show, on Clarion's channels: ``V2Stub(channel)``, the
``authorization`` metadata and ``UserAppIDSet``; gRPC, TLS gRPC, HTTP+JSON, and asyncio."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from clarifai_grpc.channel import clarifai_channel
from clarifai_grpc.channel.custom_converters.custom_message_to_dict import protobuf_to_dict
from clarifai_grpc.channel.grpc_json_channel import GRPCJSONChannel, _pick_proper_endpoint
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from google.protobuf.descriptor import FieldDescriptor

from clarion.client import (
    ClarifaiChannel,
    JsonChannel,
    TransportError,
    aio_grpc_channel,
    aio_json_channel,
    grpc_channel,
    json_channel,
)
from clarion.client._routing import RoutingError, pick_binding
from clarion.protocol.descriptor import v2_methods
from clarion.protocol.json_codec import message_to_json
from clarion.server.tls import write_local_certificates
from clarion.testing import RunningServer, running_server
from tests.client.conftest import CAT_CONCEPTS, CHELSEA
from tests.images import ImageServer

PUBLIC = resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main")

# Clarifai's docs snippet (Python, "Predict: images via URL"), word for word but for the
# settings a reader fills in (PAT, IMAGE_URL) and the channel import.
DOCS_SNIPPET = """
PAT = 'YOUR_PAT_HERE'
USER_ID = 'clarifai'
APP_ID = 'main'
MODEL_ID = 'general-image-recognition'
MODEL_VERSION_ID = 'aa7f35c01e0642fda5cf400f543e7c40'
IMAGE_URL = 'https://samples.clarifai.com/metro-north.jpg'

############################################################################
# YOU DO NOT NEED TO CHANGE ANYTHING BELOW THIS LINE TO RUN THIS EXAMPLE
############################################################################

from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2, service_pb2_grpc
from clarifai_grpc.grpc.api.status import status_code_pb2

channel = ClarifaiChannel.get_grpc_channel()
stub = service_pb2_grpc.V2Stub(channel)

metadata = (('authorization', 'Key ' + PAT),)

userDataObject = resources_pb2.UserAppIDSet(user_id=USER_ID, app_id=APP_ID)

post_model_outputs_response = stub.PostModelOutputs(
    service_pb2.PostModelOutputsRequest(
        user_app_id=userDataObject,  # The userDataObject is created in the overview and is required when using a PAT
        model_id=MODEL_ID,
        version_id=MODEL_VERSION_ID,  # This is optional. Defaults to the latest model version
        inputs=[
            resources_pb2.Input(
                data=resources_pb2.Data(
                    image=resources_pb2.Image(
                        url=IMAGE_URL
                    )
                )
            )
        ]
    ),
    metadata=metadata
)
if post_model_outputs_response.status.code != status_code_pb2.SUCCESS:
    print(post_model_outputs_response.status)
    raise Exception("Post model outputs failed, status: " + post_model_outputs_response.status.description)

# Since we have one input, one output will exist here
output = post_model_outputs_response.outputs[0]

print("Predicted concepts:")
for concept in output.data.concepts:
    print("%s %.2f" % (concept.name, concept.value))
"""  # noqa: E501
OFFICIAL_IMPORT = "from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    """A server with TLS on both ports, and the CA that signed its certificate."""
    certs = write_local_certificates(tmp_path_factory.mktemp("certs"))
    with running_server(
        tmp_path_factory.mktemp("tls"),
        tls_cert=certs.server_cert,
        tls_key=certs.server_key,
        allow_private_urls=True,
    ) as running:
        yield running, certs.ca_cert


@pytest.mark.parametrize(
    "channel_line",
    [
        pytest.param("ClarifaiChannel.get_grpc_channel()", id="tls-grpc"),
        # The docs' JSON alternative: the same line with the JSON factory.
        pytest.param("ClarifaiChannel.get_json_channel()", id="https-json"),
    ],
)
def test_the_docs_snippet_runs_with_only_the_channel_import_changed(
    tls_server: tuple[RunningServer, Path],
    images: ImageServer,
    channel_line: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, ca = tls_server
    monkeypatch.setenv("CLARIFAI_GRPC_BASE", f"localhost:{server.grpc_port}")
    monkeypatch.setenv("CLARIFAI_API_BASE", f"https://localhost:{server.http_port}")
    monkeypatch.setenv("CLARIFAI_ROOT_CERTIFICATES_PATH", str(ca))
    snippet = (
        DOCS_SNIPPET.replace(OFFICIAL_IMPORT, "from clarion.client import ClarifaiChannel")
        .replace("ClarifaiChannel.get_grpc_channel()", channel_line)
        .replace("YOUR_PAT_HERE", server.admin_pat)
        .replace("https://samples.clarifai.com/metro-north.jpg", images.url("/chelsea.jpg"))
    )

    exec(compile(snippet, "docs_snippet.py", "exec"), {})

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Predicted concepts:"
    assert lines[1].rsplit(" ", 1)[0] in CAT_CONCEPTS
    assert len(lines) == 21  # the model's default of 20 concepts


def _predict_request() -> service_pb2.PostModelOutputsRequest:
    return service_pb2.PostModelOutputsRequest(
        user_app_id=PUBLIC,
        model_id="general-image-recognition",
        inputs=[
            resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image(base64=CHELSEA)))
        ],
    )


def _check_stub(stub: Any, metadata: tuple[tuple[str, str], ...]) -> None:
    apps = stub.ListApps(service_pb2.ListAppsRequest(per_page=5), metadata=metadata)
    predicted = stub.PostModelOutputs(_predict_request(), metadata=metadata, timeout=30)
    assert apps.status.code == 10000, apps.status
    assert predicted.outputs[0].data.concepts[0].name in CAT_CONCEPTS


def plain_channels(server: RunningServer) -> dict[str, Callable[[], Any]]:
    return {
        "grpc": lambda: grpc_channel(server.grpc_target),
        "json": lambda: json_channel(server.http_url),
        "official-names-grpc": lambda: ClarifaiChannel.get_insecure_grpc_channel(
            "127.0.0.1", server.grpc_port
        ),
        "official-names-json": lambda: ClarifaiChannel.get_json_channel(server.http_url),
    }


def test_v2stub_on_every_sync_channel(server: RunningServer) -> None:
    metadata = (("authorization", f"Key {server.admin_pat}"),)
    for make in plain_channels(server).values():
        channel = make()
        _check_stub(service_pb2_grpc.V2Stub(channel), metadata)
        channel.close()


def test_v2stub_on_every_asyncio_channel(
    server: RunningServer, tls_server: tuple[RunningServer, Path]
) -> None:
    secure, ca = tls_server
    roots = ca.read_bytes()
    makers: list[Callable[[], Any]] = [
        lambda: aio_grpc_channel(server.grpc_target),
        lambda: aio_json_channel(server.http_url),
        lambda: aio_grpc_channel(
            f"localhost:{secure.grpc_port}", tls=True, root_certificates=roots
        ),
        lambda: aio_json_channel(f"https://localhost:{secure.http_port}", root_certificates=roots),
        lambda: ClarifaiChannel.get_aio_insecure_grpc_channel("127.0.0.1", server.grpc_port),
        lambda: ClarifaiChannel.get_aio_json_channel(server.http_url),
    ]

    async def check(make: Callable[[], Any]) -> str:
        channel = make()
        stub = service_pb2_grpc.V2Stub(channel)
        metadata = (("authorization", f"Key {server.admin_pat}"),)
        predicted = await stub.PostModelOutputs(_predict_request(), metadata=metadata)
        await channel.close()
        return str(predicted.outputs[0].data.concepts[0].name)

    async def all_at_once() -> list[str]:
        return await asyncio.gather(*(check(make) for make in makers))

    assert set(asyncio.run(all_at_once())) <= CAT_CONCEPTS


def test_a_stub_made_right_after_a_clarion_channel_works_on_both_kinds(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``V2Stub`` reads a global the factories set; it starts as None."""
    monkeypatch.setattr(clarifai_channel, "wrap_response_deserializer", None)
    metadata = (("authorization", f"Key {server.admin_pat}"),)

    json_stub = service_pb2_grpc.V2Stub(json_channel(server.http_url))
    official = clarifai_channel.ClarifaiChannel.get_insecure_grpc_channel(
        "127.0.0.1", server.grpc_port
    )
    clarion_grpc = grpc_channel(server.grpc_target)
    official_stub = service_pb2_grpc.V2Stub(official)  # made after Clarion's factory ran

    _check_stub(json_stub, metadata)
    _check_stub(official_stub, metadata)
    clarion_grpc.close()
    official.close()


def test_streaming_methods_are_grpc_only_over_json(server: RunningServer) -> None:
    stub = service_pb2_grpc.V2Stub(json_channel(server.http_url))

    with pytest.raises(NotImplementedError, match="over gRPC"):
        stub.GenerateModelOutputs(service_pb2.PostModelOutputsRequest(), metadata=())
    with pytest.raises(TypeError, match="PostInputsRequest"):
        stub.PostInputs(service_pb2.ListInputsRequest(), metadata=())


# Routing: the same binding as the official JSON channel, for every method.


def _string_field_paths(message_type: Any, template: str) -> list[str]:
    """Top-level string fields named by ``template``'s placeholders."""
    names = [part[1:-1] for part in template.split("/") if part.startswith("{")]
    fields = message_type.DESCRIPTOR.fields_by_name
    return [
        name
        for name in names
        if name in fields and fields[name].type == FieldDescriptor.TYPE_STRING
    ]


def _variants(spec: Any) -> Iterator[Any]:
    """Requests with no, some and all placeholders set, with each form of user_app_id."""
    has_user_app = "user_app_id" in spec.request_type.DESCRIPTOR.fields_by_name
    user_apps: list[resources_pb2.UserAppIDSet | None] = [None]
    if has_user_app:
        user_apps += [
            PUBLIC,
            resources_pb2.UserAppIDSet(app_id="a1"),
            resources_pb2.UserAppIDSet(user_id="u1"),
        ]
    fields = sorted(
        {f for b in spec.bindings for f in _string_field_paths(spec.request_type, b.template)}
    )
    for user_app in user_apps:
        for count in range(len(fields) + 1):
            request = spec.request_type()
            if user_app is not None:
                request.user_app_id.CopyFrom(user_app)
            for name in fields[:count]:
                setattr(request, name, f"{name}-value")
            yield request


def _official(resources: Any, request: Any) -> tuple[str, str, list[str]] | None:
    try:
        url, verb, fields = _pick_proper_endpoint(resources, protobuf_to_dict(request))
    except Exception:
        return None
    return verb, url, fields


def test_routing_picks_the_official_channels_binding_for_every_method() -> None:
    official = GRPCJSONChannel(session=None, base_url="")
    compared = 0
    for spec in v2_methods().values():
        _, resources = official.name_to_resources[spec.full_name]
        for request in _variants(spec):
            expected = _official(resources, request)
            try:
                ours: tuple[str, str, list[str]] | None = pick_binding(
                    spec, message_to_json(request)
                )
            except RoutingError:
                ours = None
            assert ours == expected, (spec.name, request)
            compared += 1
    assert compared > 1000


# The wire: what goes out, against requests captured from the official channel.


def _captured(
    handler: Callable[[httpx.Request], httpx.Response] | None = None,
) -> tuple[Any, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if handler is not None:
            return handler(request)
        return httpx.Response(200, json={"status": {"code": 10000}})

    channel = JsonChannel(
        "http://api.test", http_client=httpx.Client(transport=httpx.MockTransport(answer))
    )
    return service_pb2_grpc.V2Stub(channel), seen


def test_requests_on_the_wire_match_the_official_channel() -> None:
    stub, seen = _captured()
    user_app = resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main")
    metadata = (("authorization", "Key abc"),)

    stub.ListInputs(
        service_pb2.ListInputsRequest(user_app_id=user_app, page=2, per_page=5, ids=["a", "b"]),
        metadata=metadata,
    )
    stub.DeleteInputs(
        service_pb2.DeleteInputsRequest(user_app_id=user_app, ids=["a", "b"]), metadata=metadata
    )
    stub.ListApps(service_pb2.ListAppsRequest(), metadata=metadata)
    stub.GetInput(service_pb2.GetInputRequest(input_id="i1"), metadata=metadata)
    stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=user_app, model_id="general-image-recognition", version_id="v1"
        ),
        metadata=metadata,
    )
    stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id="myapp"),
            inputs=[
                resources_pb2.Input(
                    id="i1",
                    data=resources_pb2.Data(
                        concepts=[
                            resources_pb2.Concept(id="dog", value=1),
                            resources_pb2.Concept(id="cat", value=0),
                        ]
                    ),
                )
            ],
        ),
        metadata=metadata,
    )

    listed, deleted, apps, got, predicted, posted = seen
    assert (listed.method, listed.url.path) == ("GET", "/v2/users/clarifai/apps/main/inputs")
    assert listed.url.params.multi_items() == [
        ("user_app_id.user_id", "clarifai"),
        ("user_app_id.app_id", "main"),
        ("page", "2"),
        ("per_page", "5"),
        ("ids", "a"),
        ("ids", "b"),
    ]
    assert (deleted.method, deleted.url.path) == ("DELETE", "/v2/users/clarifai/apps/main/inputs")
    assert json.loads(deleted.content) == {
        "user_app_id": {"user_id": "clarifai", "app_id": "main"},
        "ids": ["a", "b"],
    }
    assert (apps.method, apps.url.path) == ("GET", "/v2/users/me/apps")
    assert (got.method, got.url.path) == ("GET", "/v2/inputs/i1")
    assert predicted.url.path == (
        "/v2/users/clarifai/apps/main/models/general-image-recognition/versions/v1/outputs"
    )
    assert posted.url.path == "/v2/users/me/apps/myapp/inputs"
    concepts = json.loads(posted.content)["inputs"][0]["data"]["concepts"]
    assert concepts == [{"id": "dog", "value": 1.0}, {"id": "cat", "value": 0.0}]
    assert all(r.headers["authorization"] == "Key abc" for r in seen)


def test_an_http_error_is_never_an_answer() -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            502, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"}
        )

    def empty_json(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": "boom"})

    def ok_html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login</html>")

    for handler, status in ((html, 502), (empty_json, 500), (ok_html, 200)):
        stub, _ = _captured(handler)
        with pytest.raises(TransportError) as raised:
            stub.ListApps(service_pb2.ListAppsRequest(), metadata=())
        assert raised.value.http_status == status
        assert f"HTTP {status}" in raised.value.description


def test_a_status_in_an_error_body_is_the_answer() -> None:
    def not_found(request: httpx.Request) -> httpx.Response:
        body = {"status": {"code": 11101, "description": "nope"}, "later_field": 1}
        return httpx.Response(404, json=body)

    def concepts(request: httpx.Request) -> httpx.Response:
        body = {"status": {"code": "SUCCESS"}, "concepts": [{"id": "a"}, {"id": "b", "value": 0}]}
        return httpx.Response(200, json=body)

    missing, _ = _captured(not_found)
    answer = missing.GetInput(service_pb2.GetInputRequest(input_id="x"), metadata=())
    listed, _ = _captured(concepts)
    found = listed.ListConcepts(service_pb2.ListConceptsRequest(), metadata=())

    assert (answer.status.code, answer.status.description) == (11101, "nope")
    assert [(c.id, c.value) for c in found.concepts] == [("a", 1.0), ("b", 0.0)]
