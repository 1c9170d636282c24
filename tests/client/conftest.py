"""One real Clarion server for the client suite, and a driver that runs each scenario on
``Client`` or ``AsyncClient`` over gRPC or HTTP+JSON."""

from __future__ import annotations

import asyncio
import inspect
import io
import threading
from collections.abc import AsyncIterable, Awaitable, Iterable, Iterator
from typing import Any, TypeVar, cast

import pytest
from PIL import Image
from skimage import data as skimage_data

from clarion.client import AsyncClient, Client, Retry
from clarion.testing import RunningServer, running_server
from tests.conftest import unique_id
from tests.images import ImageServer, image_server

T = TypeVar("T")

MODES = [
    pytest.param(("grpc", "sync"), id="grpc-sync"),
    pytest.param(("grpc", "async"), id="grpc-async"),
    pytest.param(("http", "sync"), id="http-sync"),
    pytest.param(("http", "async"), id="http-async"),
]
# Retries in tests: quick, so a test that must exhaust them stays fast.
QUICK_RETRY = Retry(attempts=4, backoff=0.01, max_backoff=0.05)
# general-image-recognition's top concepts for chelsea and coffee: the general concepts over the
# cat classes (Egyptian cat, tabby, tiger cat) and over espresso sum them, so they come first.
CAT_CONCEPTS = {"animal", "mammal", "cat", "pet", "domestic"}
COFFEE_CONCEPTS = {"food", "drink", "refreshment", "coffee"}


def jpeg(pixels: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


CHELSEA = jpeg(skimage_data.chelsea())
COFFEE = jpeg(skimage_data.coffee())


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server that may fetch from loopback, where the tests' image server runs."""
    with running_server(tmp_path_factory.mktemp("client"), allow_private_urls=True) as running:
        yield running


@pytest.fixture(scope="session")
def images() -> Iterator[ImageServer]:
    with image_server() as served:
        served.add("/chelsea.jpg", CHELSEA, "image/jpeg")
        served.add("/coffee.jpg", COFFEE, "image/jpeg")
        yield served


def base_url(server: RunningServer, transport: str) -> str:
    return server.http_url if transport == "http" else f"grpc://{server.grpc_target}"


class Driver:
    """Runs one scenario on either client: ``drive(x)`` is ``x`` for the sync client and
    ``await x`` (on the driver's event loop) for the async one; ``drive.list(it)`` collects
    an iterator or an async iterator."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clients: list[Any] = []
        if mode == "async":
            self.loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
            self._thread.start()

    def __call__(self, value: T | Awaitable[T]) -> T:
        if not inspect.isawaitable(value):
            return value
        assert self.loop is not None, "an awaitable from the sync client"
        # isawaitable narrows to Awaitable[Any]; it is the Awaitable[T] of the signature.
        return self._run(cast(Awaitable[T], value))

    def list(self, items: Iterable[T] | AsyncIterable[T]) -> list[T]:
        if isinstance(items, AsyncIterable):
            assert self.loop is not None

            async def collect() -> list[T]:
                return [item async for item in items]

            return self._run(collect())
        return list(items)

    def _run(self, awaitable: Awaitable[T]) -> T:
        async def wait() -> T:
            return await awaitable

        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(wait(), self.loop).result(timeout=120)

    def client(self, base: str, **options: Any) -> Any:
        """A ``Client`` or ``AsyncClient`` (made on the loop), closed with the driver."""
        options.setdefault("retry", QUICK_RETRY)
        if self.mode == "sync":
            made: Any = Client(base, **options)
        else:

            async def make() -> AsyncClient:
                return AsyncClient(base, **options)

            made = self._run(make())
        self._clients.append(made)
        return made

    def close(self) -> None:
        for client in self._clients:
            if self.mode == "sync":
                client.close()
            else:
                self._run(client.aclose())
        if self.loop is not None and self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(transport, sync or async)."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def drive(mode: tuple[str, str]) -> Iterator[Driver]:
    driver = Driver(mode[1])
    yield driver
    driver.close()


@pytest.fixture
def client(server: RunningServer, mode: tuple[str, str], drive: Driver) -> Any:
    """The admin's client on a fresh app of its own."""
    app_id = unique_id("app")
    made = drive.client(base_url(server, mode[0]), pat=server.admin_pat, app_id=app_id)
    drive(made.apps.create(app_id))
    return made
