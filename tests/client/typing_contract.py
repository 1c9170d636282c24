"""The public client API as a user's typed code sees it; checked by ``mypy --strict``
(``test_typing.py``), never run. Every annotation here is a promise of the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

from clarifai_grpc.grpc.api import resources_pb2

from clarion import AsyncClient, Client
from clarion.client import (
    USE_CLIENT_DEFAULT,
    App,
    AppInfo,
    AsyncApp,
    AsyncJsonChannel,
    ClarifaiChannel,
    Concept,
    Input,
    InputCounts,
    JsonChannel,
    Key,
    Model,
    ModelInfo,
    Prediction,
    Retry,
    Status,
    Text,
    Transport,
    UploadItem,
    UploadReport,
    User,
    json_channel,
)
from clarion.errors import ApiError, ConnectError, NotFound, Timeout, TransportError


def sync_api(transport: Transport) -> None:
    client = Client(
        "http://localhost:8080",
        pat="pat",
        app_id="pets",
        timeout=10.0,
        retry=Retry(attempts=3, backoff=0.1),
    )
    from_env: Client = Client.from_env(timeout=None)
    on_grpc = Client("grpc://localhost:18080", api_key="key", transport="grpc")
    custom = Client(transport=transport)

    model: Model = client.model("general-image-recognition")
    prediction: Prediction = model.predict("cat.jpg", max_concepts=3, timeout=5)
    concepts: list[Concept] = prediction.concepts
    name: str = concepts[0].name
    value: float = concepts[0].value
    output: resources_pb2.Output = prediction.proto
    status: Status = prediction.status
    code: int = status.code
    many: list[Prediction] = model.predict_many([Path("a.jpg"), b"\xff\xd8", Text("hi")])
    info: ModelInfo = client.model("x", app_id="pets", version_id="v").info()

    app: App = client.app("pets")
    report: UploadReport = app.inputs.upload(
        ["a.jpg", "https://example.com/b.jpg"],
        concepts=["cat"],
        metadata={"color": "red"},
        wait=True,
        progress=True,
    )
    failed: list[UploadItem] = report.failed
    why: str = failed[0].description if failed else ""
    ids: list[str] = report.input_ids
    listed: Iterator[Input] = app.inputs.list(per_page=50, limit=100)
    one: Input = app.inputs.get("id")
    metadata: dict[str, object] = one.metadata
    created: datetime | None = one.created_at
    changed: Input = app.inputs.update("id", concepts={"dog": True}, action="merge")
    counts: InputCounts = app.inputs.count(timeout=USE_CLIENT_DEFAULT)
    app.inputs.delete(["id"])
    models: Iterator[ModelInfo] = app.models.list()

    apps: Iterator[AppInfo] = client.apps.list()
    new_app: AppInfo = client.apps.create("dogs", name="Dogs", description="woof")
    client.apps.delete("dogs")
    key: Key = client.keys.create("pets", scopes=["Predict"], description="robot")
    keys: Iterator[Key] = client.keys.list()
    client.keys.delete(key.id)
    me: User = client.me()

    with Client("http://localhost:8080") as scoped:
        scoped.close()
    for made in (from_env, on_grpc, custom):
        made.close()
    del name, value, output, code, many, info, why, ids, listed, metadata, created
    del changed, counts, models, apps, new_app, keys, me


async def async_api() -> None:
    async with AsyncClient("http://localhost:8080", pat="pat", app_id="pets") as client:
        prediction: Prediction = await client.model("general-image-recognition").predict("a.jpg")
        app: AsyncApp = client.app()
        report: UploadReport = await app.inputs.upload(["a.jpg"], wait=True)
        inputs: AsyncIterator[Input] = app.inputs.list()
        ids: list[str] = [found.id async for found in inputs]
        apps: list[AppInfo] = [found async for found in client.apps.list(limit=3)]
        me: User = await client.me(timeout=None)
        del prediction, report, ids, apps, me


def errors() -> None:
    try:
        Client().me()
    except NotFound as missing:
        code: int = missing.code
        req_id: str = missing.req_id
        del code, req_id
    except ApiError as refused:
        description: str = refused.description
        del description
    except (Timeout, ConnectError) as unreachable:
        grpc_code: str | None = unreachable.grpc_code
        del grpc_code
    except TransportError as broken:
        http_status: int | None = broken.http_status
        del http_status


def channels() -> None:
    plain: JsonChannel = ClarifaiChannel.get_json_channel("http://localhost:8080")
    mine: JsonChannel = json_channel("http://localhost:8080")
    aio: AsyncJsonChannel = ClarifaiChannel.get_aio_json_channel()
    plain.close()
    mine.close()
    asyncio.run(aio.close())
