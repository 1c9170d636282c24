"""Where a ``PostModelOutputs`` call runs: on the compute threads when its inputs come in the
request, on the call threads (the loop's default executor) when one must be fetched or loaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from sqlalchemy import Engine

from clarion.blobs.files import FileBlobStore
from clarion.fetch import FetchPolicy, UrlFetcher
from clarion.inference import ModelCatalog
from clarion.protocol.descriptor import v2_methods
from clarion.runtime.untrusted import UntrustedInputs
from clarion.services.context import CallContext
from clarion.services.predict import PredictService
from clarion.storage.sql import SqlInputStore

SUCCESS, MIXED_STATUS, INPUT_DOWNLOAD_FAILED, INPUT_DOES_NOT_EXIST = 10000, 10010, 30002, 30102


class CountingExecutor(ThreadPoolExecutor):
    """A thread pool that counts the jobs handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.jobs = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.jobs += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def pools() -> Any:
    readers, compute, calls = CountingExecutor(), CountingExecutor(), CountingExecutor()
    yield readers, compute, calls
    for pool in (readers, compute, calls):
        pool.shutdown()


def predict(
    tmp_path: Path, engine: Engine, pools: Any, *inputs: resources_pb2.Input
) -> service_pb2.MultiOutputResponse:
    readers, compute, calls = pools
    service = PredictService(
        ModelCatalog(tmp_path / "models"),
        # Loopback is refused by the default policy before any connection is made.
        UntrustedInputs(UrlFetcher(FetchPolicy())),
        SqlInputStore(engine),
        FileBlobStore(tmp_path / "blobs"),
        readers=readers,
        compute=compute,
    )
    request = service_pb2.PostModelOutputsRequest(model_id="text-moderation", inputs=inputs)
    ctx = CallContext(v2_methods()["PostModelOutputs"], "req", principal=None)

    async def call() -> service_pb2.MultiOutputResponse:
        asyncio.get_running_loop().set_default_executor(calls)
        return await service.post_model_outputs(request, ctx)

    # A loop of its own on a thread of its own: the browser tests leave Playwright's loop
    # running on the main thread, where asyncio.run would refuse to start.
    with ThreadPoolExecutor(max_workers=1) as runner:
        return runner.submit(lambda: asyncio.run(call())).result(timeout=120)


def text(raw: str = "", url: str = "") -> resources_pb2.Input:
    return resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text(raw=raw, url=url)))


def test_inline_inputs_run_on_the_compute_threads(
    tmp_path: Path, photos_engine: Engine, pools: Any
) -> None:
    response = predict(tmp_path, photos_engine, pools, text("a kind word"), text("another"))

    assert response.status.code == SUCCESS
    _, compute, calls = pools
    assert (compute.jobs, calls.jobs) == (1, 0)


def test_a_fetched_input_puts_the_call_on_the_call_threads(
    tmp_path: Path, photos_engine: Engine, pools: Any
) -> None:
    response = predict(
        tmp_path, photos_engine, pools, text("inline"), text(url="http://127.0.0.1:9/words.txt")
    )

    assert response.status.code == MIXED_STATUS
    assert response.outputs[1].status.code == INPUT_DOWNLOAD_FAILED
    _, compute, calls = pools
    assert (compute.jobs, calls.jobs) == (0, 1)


def test_an_input_by_id_puts_the_call_on_the_call_threads(
    tmp_path: Path, photos_engine: Engine, pools: Any
) -> None:
    response = predict(tmp_path, photos_engine, pools, resources_pb2.Input(id="stored-words"))

    assert response.outputs[0].status.code == INPUT_DOES_NOT_EXIST
    _, compute, calls = pools
    assert (compute.jobs, calls.jobs) == (0, 1)
