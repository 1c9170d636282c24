"""Clarion's Python client: the Clarifai API over gRPC or HTTP+JSON, at two levels.

High level, sync and async twins::

    from clarion.client import Client
    client = Client("http://localhost:8080", pat="...", app_id="pets")
    client.model("general-image-recognition").predict("cat.jpg").concepts
    client.app("pets").inputs.upload(["a.jpg", "https://..."], concepts=["cat"], wait=True)
    for hit in client.app("pets").search(image="query.jpg", metadata={"color": "red"}):
        print(hit.score, hit.input.id)

Low level, as the Clarifai docs show it, with Clarion's channels::

    from clarion.client import ClarifaiChannel
    stub = service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel("http://localhost:8080"))
    stub.PostModelOutputs(request, metadata=(("authorization", "Key " + PAT),))

Errors come from ``clarion.errors``: ``ApiError`` and its subclasses when the server answered
with a non-success status, ``TransportError`` (``Timeout``, ``ConnectError``) when no answer
came.
"""

from clarion.client._async import (
    AsyncApp,
    AsyncApps,
    AsyncClient,
    AsyncInputs,
    AsyncKeys,
    AsyncModel,
    AsyncModels,
    AsyncSearches,
    AsyncSearchResults,
)
from clarion.client._caller import USE_CLIENT_DEFAULT, TimeoutArg, UseClientDefault
from clarion.client._channels import (
    ClarifaiChannel,
    aio_grpc_channel,
    aio_json_channel,
    grpc_channel,
    json_channel,
)
from clarion.client._config import TransportName
from clarion.client._json_channel import AsyncJsonChannel, JsonChannel
from clarion.client._retry import Retry
from clarion.client._sync import (
    App,
    Apps,
    Client,
    Inputs,
    Keys,
    Model,
    Models,
    Searches,
    SearchResults,
)
from clarion.client._transport import (
    AsyncGrpcTransport,
    AsyncHttpTransport,
    AsyncTransport,
    GrpcTransport,
    HttpTransport,
    Transport,
)
from clarion.client.types import (
    AppInfo,
    Box,
    Color,
    Concept,
    Embedding,
    Filter,
    GeoBox,
    Hit,
    Input,
    InputCounts,
    InputType,
    Key,
    ModelInfo,
    ModelVersion,
    Near,
    Prediction,
    Region,
    SavedSearch,
    Source,
    Status,
    Text,
    UploadItem,
    UploadReport,
    User,
)
from clarion.errors import ApiError, ConnectError, Timeout, TransportError

__all__ = [
    "USE_CLIENT_DEFAULT",
    "ApiError",
    "App",
    "AppInfo",
    "Apps",
    "AsyncApp",
    "AsyncApps",
    "AsyncClient",
    "AsyncGrpcTransport",
    "AsyncHttpTransport",
    "AsyncInputs",
    "AsyncJsonChannel",
    "AsyncKeys",
    "AsyncModel",
    "AsyncModels",
    "AsyncSearchResults",
    "AsyncSearches",
    "AsyncTransport",
    "Box",
    "ClarifaiChannel",
    "Client",
    "Color",
    "Concept",
    "ConnectError",
    "Embedding",
    "Filter",
    "GeoBox",
    "GrpcTransport",
    "Hit",
    "HttpTransport",
    "Input",
    "InputCounts",
    "InputType",
    "Inputs",
    "JsonChannel",
    "Key",
    "Keys",
    "Model",
    "ModelInfo",
    "ModelVersion",
    "Models",
    "Near",
    "Prediction",
    "Region",
    "Retry",
    "SavedSearch",
    "SearchResults",
    "Searches",
    "Source",
    "Status",
    "Text",
    "Timeout",
    "TimeoutArg",
    "Transport",
    "TransportError",
    "TransportName",
    "UploadItem",
    "UploadReport",
    "UseClientDefault",
    "User",
    "aio_grpc_channel",
    "aio_json_channel",
    "grpc_channel",
    "json_channel",
]
