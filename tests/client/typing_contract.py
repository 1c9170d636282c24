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
    AsyncSearchResults,
    ClarifaiChannel,
    Concept,
    Filter,
    GeoBox,
    Hit,
    Input,
    InputCounts,
    JsonChannel,
    Key,
    Model,
    ModelInfo,
    ModelVersion,
    Near,
    Prediction,
    Retry,
    SavedSearch,
    SearchResults,
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
    created_model: ModelInfo = app.models.create("pets", concepts=["cat", "dog"], name="Pets")
    queued: ModelVersion = app.model("pets").train()
    version: ModelVersion = app.model("pets").train(wait=True, wait_timeout=120, timeout=5)
    trained: bool = version.trained and not version.training
    version_status: Status = version.status
    raw_version: resources_pb2.ModelVersion = version.proto
    versions: Iterator[ModelVersion] = app.model("pets").versions(limit=3)
    again: ModelVersion = app.model("pets").version(queued.id)

    results: SearchResults = app.search("query.jpg", metadata={"color": "red"}, per_page=20)
    for hit in results:
        score: float = hit.score
        found: Input = hit.input
        raw_hit: resources_pb2.Hit = hit.proto
        del score, found, raw_hit
    hits: Iterator[Hit] = app.search(Path("q.png"), concepts=["cat"], text="a cat", limit=10)
    total: int = app.search(b"\xff\xd8", geo=Near(2.35, 48.85, km=10)).count(timeout=5)
    filtered = app.search(
        input_id="id",
        filter_concepts={"cat": True, "dog": False},
        input_ids=["a", "b"],
        input_type="image",
        dataset_ids=["photos"],
        status=30000,
        updated_after=datetime(2024, 1, 1),
        updated_before=None,
        geo=GeoBox(west=130, south=30, east=140, north=40),
        exclude=[Filter(metadata={"kind": "cat"}), Filter(concepts=["x"], geo=Near(0, 0, miles=1))],
        min_value=0.5,
        timeout=None,
    )
    sent: resources_pb2.Query | None = filtered.query
    saved: SavedSearch = app.searches.save(results, search_id="red", name="Red")
    from_query: SavedSearch = app.searches.save(resources_pb2.Query())
    saved_query: dict[str, object] = app.searches.get("red").query
    saved_at: datetime | None = saved.created_at
    saved_list: Iterator[SavedSearch] = app.searches.list(per_page=10, limit=5)
    rerun: SearchResults = app.searches.run(saved.id, per_page=10)
    rerun_total: int = rerun.count()
    app.searches.delete(saved.id)

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
    del created_model, trained, version_status, raw_version, versions, again
    del hits, total, sent, from_query, saved_query, saved_at, saved_list, rerun_total


async def async_api() -> None:
    async with AsyncClient("http://localhost:8080", pat="pat", app_id="pets") as client:
        prediction: Prediction = await client.model("general-image-recognition").predict("a.jpg")
        app: AsyncApp = client.app()
        report: UploadReport = await app.inputs.upload(["a.jpg"], wait=True)
        inputs: AsyncIterator[Input] = app.inputs.list()
        ids: list[str] = [found.id async for found in inputs]
        apps: list[AppInfo] = [found async for found in client.apps.list(limit=3)]
        me: User = await client.me(timeout=None)
        results: AsyncSearchResults = app.search("a.jpg", metadata={"k": 1}, limit=5)
        hits: list[Hit] = [hit async for hit in results]
        total: int = await app.search(concepts=["cat"]).count(timeout=5)
        saved: SavedSearch = await app.searches.save(app.search(text="cat"), name="cats")
        rerun: AsyncIterator[Hit] = app.searches.run(saved.id)
        found: list[SavedSearch] = [s async for s in app.searches.list()]
        await app.searches.delete(saved.id)
        await app.models.create("pets", concepts=["cat"])
        version: ModelVersion = await app.model("pets").train(concepts=["cat"], wait=True)
        versions: list[ModelVersion] = [v async for v in app.model("pets").versions()]
        del prediction, report, ids, apps, me, hits, total, rerun, found, version, versions


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
