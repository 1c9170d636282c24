"""``AsyncClient``: the asyncio twin of ``Client`` (``_sync``), call for call."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from clarifai_grpc.grpc.api import resources_pb2

from clarion.client import _ops
from clarion.client._caller import USE_CLIENT_DEFAULT, AsyncCaller, Op, TimeoutArg
from clarion.client._config import TransportName, parse_endpoint, resolve_settings
from clarion.client._ops import PUBLIC_APP, PUBLIC_USER, Scope
from clarion.client._queries import ImageSource, build_query, page_size
from clarion.client._retry import Retry
from clarion.client._sources import new_input
from clarion.client._transport import AsyncTransport, make_async_transport
from clarion.client._uploads import (
    AsyncUploader,
    OnUnreadable,
    ProgressBar,
    UploadOptions,
    check_options,
    plan,
)
from clarion.client.types import (
    AppInfo,
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
    SavedSearch,
    Source,
    UploadReport,
    User,
)

if TYPE_CHECKING:
    from rich.progress import Progress

DEFAULT_TIMEOUT = 60.0
DEFAULT_PER_PAGE = 128


class AsyncModel:
    """The asyncio twin of ``Model``."""

    def __init__(
        self, caller: AsyncCaller, scope: Scope, model_id: str, version_id: str = ""
    ) -> None:
        self._caller = caller
        self._scope = scope
        self.id = model_id
        self.version_id = version_id

    def __repr__(self) -> str:
        return f"AsyncModel({self.id!r}, app={self._scope.user_id}/{self._scope.app_id})"

    async def info(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> ModelInfo:
        """The model, its version and the concepts it knows."""
        return await self._caller.run(
            _ops.get_model(self._scope, self.id, self.version_id), timeout
        )

    async def predict(
        self,
        source: Source,
        *,
        max_concepts: int | None = None,
        min_value: float | None = None,
        select_concepts: Iterable[str] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> Prediction:
        """Run the model on one image (path, URL or bytes) or ``Text``.

        ``max_concepts``, ``min_value`` and ``select_concepts`` (names) narrow the concepts.
        An input the model cannot read raises (``ApiError`` with the input's status).
        """
        config = _ops.output_config(max_concepts, min_value, select_concepts)
        op = _ops.predict(
            self._scope, self.id, self.version_id, [new_input(source)], config, partial=False
        )
        return (await self._caller.run(op, timeout))[0]

    async def predict_many(
        self,
        sources: Sequence[Source],
        *,
        max_concepts: int | None = None,
        min_value: float | None = None,
        select_concepts: Iterable[str] | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> list[Prediction]:
        """Run the model on up to 128 inputs in one call, one ``Prediction`` each, in order.

        Inputs that fail come back with ``prediction.ok`` False and their status; the call
        raises only when none succeeds.
        """
        config = _ops.output_config(max_concepts, min_value, select_concepts)
        inputs = [new_input(source) for source in sources]
        op = _ops.predict(self._scope, self.id, self.version_id, inputs, config, partial=True)
        return await self._caller.run(op, timeout)

    async def train(
        self,
        *,
        concepts: Sequence[str] | None = None,
        wait: bool = False,
        wait_timeout: float = 600.0,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> ModelVersion:
        """Train a new version on the app's inputs annotated with the model's concepts
        (or with ``concepts``, ids, which then become the model's).

        Without ``wait``, returns the version queued (``version.training``). With ``wait``,
        polls until training ends (at most ``wait_timeout`` seconds, then returns the version
        still training): a trained version is returned, a failed one raises the ``ApiError``
        of its status (``MODEL_TRAINING_NO_POSITIVES`` and the like).
        """
        version = await self._caller.run(_ops.train_model(self._scope, self.id, concepts), timeout)
        if not wait:
            return version
        deadline, polls = time.monotonic() + wait_timeout, 0
        while version.training and time.monotonic() < deadline:
            await asyncio.sleep(_ops.poll_delay(polls))
            polls += 1
            op = _ops.get_model_version(self._scope, self.id, version.id)
            version = await self._caller.run(op, timeout)
        return version if version.training else _ops.trained(version)

    async def version(
        self, version_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT
    ) -> ModelVersion:
        """One version of the model and its training status."""
        return await self._caller.run(
            _ops.get_model_version(self._scope, self.id, version_id), timeout
        )

    def versions(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        limit: int | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> AsyncIterator[ModelVersion]:
        """The model's versions, newest first, fetched a page at a time as you ``async for``."""
        return self._caller.pages(
            lambda page, size: _ops.list_model_versions(self._scope, self.id, page, size),
            per_page,
            limit,
            timeout,
        )


class AsyncModels:
    """The models an app can use (``app.models``)."""

    def __init__(self, caller: AsyncCaller, scope: Scope) -> None:
        self._caller = caller
        self._scope = scope

    def list(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        limit: int | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> AsyncIterator[ModelInfo]:
        """Every model, fetched a page at a time as you ``async for``."""
        return self._caller.pages(
            lambda page, size: _ops.list_models(self._scope, page, size), per_page, limit, timeout
        )

    async def get(self, model_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> ModelInfo:
        """One model by id."""
        return await self._caller.run(_ops.get_model(self._scope, model_id, ""), timeout)

    async def create(
        self,
        model_id: str,
        *,
        concepts: Sequence[str],
        name: str = "",
        description: str = "",
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> ModelInfo:
        """Create a trainable model (an ``embedding-classifier``) of ``concepts`` (ids).

        Train it with ``app.model(model_id).train()``, on the app's inputs annotated with
        these concepts (present: positives; absent: negatives).
        """
        op = _ops.create_model(self._scope, model_id, concepts, name, description)
        return await self._caller.run(op, timeout)


class AsyncInputs:
    """An app's inputs (``app.inputs``): upload, read, list, change, delete."""

    def __init__(self, caller: AsyncCaller, scope: Scope) -> None:
        self._caller = caller
        self._scope = scope

    async def upload(
        self,
        sources: Sequence[Source],
        *,
        ids: Sequence[str] | None = None,
        concepts: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        allow_duplicate_urls: bool = False,
        wait: bool = False,
        wait_timeout: float = 300.0,
        batch_size: int = 128,
        concurrency: int = 4,
        progress: bool | Progress = False,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
        on_unreadable: OnUnreadable = "raise",
    ) -> UploadReport:
        """Upload files (sent as bytes), folders, URLs and ``Text``, and report item by item.

        A folder stands for the image and ``.txt`` files under it. Every item gets
        ``concepts`` (as present) and ``metadata``. Batches of ``batch_size`` go
        ``concurrency`` at a time; a batch that is throttled or finds the server unavailable
        is retried. With ``wait``, polls until each input is ingested or failed (at most
        ``wait_timeout`` seconds). ``progress`` shows a rich progress bar (True) or adds tasks
        to yours. A local file that does not exist or cannot be read raises ``OSError``
        before anything is sent, unless ``on_unreadable="report"`` puts it in the report.
        What the server refuses never raises: read ``report.failed``.
        """
        options = UploadOptions(
            tuple(concepts),
            metadata,
            allow_duplicate_urls,
            batch_size,
            concurrency,
            wait,
            wait_timeout,
            timeout,
        )
        check_options(options)
        sources, items = plan(sources, ids, on_unreadable)
        bar = ProgressBar(progress, len(items))
        with bar.shown():
            await AsyncUploader(self._caller, self._scope, options).run(sources, items, bar)
        return UploadReport(items)

    async def get(self, input_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> Input:
        """One input by id (``NotFound`` if there is none)."""
        return await self._caller.run(_ops.get_input(self._scope, input_id), timeout)

    def list(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        limit: int | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> AsyncIterator[Input]:
        """Every input, fetched a page at a time as you ``async for``."""
        return self._caller.pages(
            lambda page, size: _ops.list_inputs(self._scope, page, size), per_page, limit, timeout
        )

    async def update(
        self,
        input_id: str,
        *,
        concepts: Mapping[str, bool] | None = None,
        metadata: Mapping[str, Any] | None = None,
        action: str = "merge",
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> Input:
        """Change an input's concepts (id -> present) and metadata.

        ``merge`` adds concepts and deep-merges metadata, ``overwrite`` replaces both,
        ``remove`` takes the named concepts and metadata keys away.
        """
        op = _ops.patch_input(self._scope, input_id, concepts, metadata, action)
        return await self._caller.run(op, timeout)

    async def delete(self, ids: Sequence[str], *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> None:
        """Delete inputs by id."""
        await self._caller.run(_ops.delete_inputs(self._scope, ids), timeout)

    async def count(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> InputCounts:
        """How many inputs are ingested, waiting, in progress and failed."""
        return await self._caller.run(_ops.count_inputs(self._scope), timeout)


class AsyncSearchResults(AsyncIterator[Hit]):
    """The asyncio twin of ``SearchResults``: ``async for`` the hits, ``await count()``."""

    def __init__(
        self,
        caller: AsyncCaller,
        page_op: Callable[[int, int], Op[list[Hit]]],
        count_op: Op[int],
        search: resources_pb2.Search | None,
        per_page: int,
        limit: int | None,
        timeout: TimeoutArg,
    ) -> None:
        self._caller = caller
        self._count_op = count_op
        self._search = search
        self._hits = caller.pages(page_op, page_size(per_page, limit), limit, timeout)

    @property
    def query(self) -> resources_pb2.Query | None:
        """The ``Query`` sent; None for a saved search run by id."""
        return None if self._search is None else self._search.query

    async def __anext__(self) -> Hit:
        return await anext(self._hits)

    async def count(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> int:
        """How many inputs match: the server's total, before ``min_value`` and ``limit``."""
        return await self._caller.run(self._count_op, timeout)


class AsyncSearches:
    """An app's saved searches (``app.searches``): save, get, list, run, delete."""

    def __init__(self, caller: AsyncCaller, scope: Scope) -> None:
        self._caller = caller
        self._scope = scope

    async def save(
        self,
        search: AsyncSearchResults | resources_pb2.Query,
        *,
        search_id: str = "",
        name: str = "",
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> SavedSearch:
        """Save what ``app.search(...)`` returned (iterated or not), or a ``Query``.

        Saved under ``search_id`` (replacing a search saved there), else under an id the
        server picks. What is saved is the query: ``min_value`` and ``limit`` are not kept.
        """
        op = _ops.save_search(self._scope, _search_of(search), search_id, name)
        return await self.get(await self._caller.run(op, timeout), timeout=timeout)

    async def get(self, search_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> SavedSearch:
        """One saved search by id (``NotFound`` if there is none)."""
        return await self._caller.run(_ops.get_search(self._scope, search_id), timeout)

    def list(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        limit: int | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> AsyncIterator[SavedSearch]:
        """Every saved search, newest first, fetched a page at a time as you ``async for``."""
        return self._caller.pages(
            lambda page, size: _ops.list_searches(self._scope, page, size),
            per_page,
            limit,
            timeout,
        )

    def run(
        self,
        search_id: str,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        limit: int | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> AsyncSearchResults:
        """Run a saved search: its hits, as ``app.search`` returns them."""
        return AsyncSearchResults(
            self._caller,
            lambda page, size: _ops.run_saved_search(self._scope, search_id, page, size),
            _ops.count_saved_search(self._scope, search_id),
            None,
            per_page,
            limit,
            timeout,
        )

    async def delete(self, search_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> None:
        """Delete a saved search by id."""
        await self._caller.run(_ops.delete_search(self._scope, search_id), timeout)


def _search_of(search: AsyncSearchResults | resources_pb2.Query) -> resources_pb2.Search:
    if isinstance(search, resources_pb2.Query):
        return _ops.new_search(search, None)
    if search._search is None:
        raise ValueError("A saved search run by id is saved already: save a new search")
    return search._search


class AsyncApp:
    """One application: ``client.app("pets")``. Holds ``inputs``, ``models`` and ``searches``."""

    def __init__(self, caller: AsyncCaller, scope: Scope) -> None:
        self._caller = caller
        self._scope = scope
        self.inputs = AsyncInputs(caller, scope)
        self.models = AsyncModels(caller, scope)
        self.searches = AsyncSearches(caller, scope)

    @property
    def id(self) -> str | None:
        """The app id; None for the app an API key is bound to."""
        return self._scope.app_id

    @property
    def user_id(self) -> str:
        return self._scope.user_id or "me"

    def __repr__(self) -> str:
        return f"AsyncApp({self.id!r}, user_id={self.user_id!r})"

    async def info(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> AppInfo:
        """The app's name, description and dates."""
        return await self._caller.run(_ops.get_app(self._scope), timeout)

    def model(self, model_id: str, *, version_id: str = "") -> AsyncModel:
        """A model of this app (built-in models answer here too on Clarion)."""
        return AsyncModel(self._caller, self._scope, model_id, version_id)

    def search(
        self,
        image: ImageSource | None = None,
        *,
        input_id: str | None = None,
        concepts: Iterable[str] | None = None,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        geo: Near | GeoBox | None = None,
        filter_concepts: Sequence[str] | Mapping[str, bool] | None = None,
        input_ids: Sequence[str] | None = None,
        input_type: InputType | None = None,
        dataset_ids: Sequence[str] | None = None,
        status: int | None = None,
        updated_after: datetime | None = None,
        updated_before: datetime | None = None,
        exclude: Filter | Sequence[Filter] | None = None,
        min_value: float | None = None,
        per_page: int = DEFAULT_PER_PAGE,
        limit: int | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> AsyncSearchResults:
        """Search the app's inputs: hits best first, a page at a time as you ``async for``.

        The arguments are ``App.search``'s. The query image (a small local read) is read
        now; nothing is sent until you iterate or await ``count()``.
        """
        where = Filter(
            concepts=filter_concepts,
            metadata=metadata,
            geo=geo,
            input_ids=input_ids,
            input_type=input_type,
            dataset_ids=dataset_ids,
            status=status,
            updated_after=updated_after,
            updated_before=updated_before,
        )
        query = build_query(
            image=image,
            input_id=input_id,
            concepts=concepts,
            text=text,
            where=where,
            exclude=exclude,
        )
        search = _ops.new_search(query, min_value)
        return AsyncSearchResults(
            self._caller,
            lambda page, size: _ops.search_inputs(self._scope, search, page, size),
            _ops.count_search(self._scope, search),
            search,
            per_page,
            limit,
            timeout,
        )


class AsyncApps:
    """The user's applications (``client.apps``); needs a PAT."""

    def __init__(self, caller: AsyncCaller, user_id: str | None) -> None:
        self._caller = caller
        self._scope = Scope(user_id, None)

    def list(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        limit: int | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> AsyncIterator[AppInfo]:
        """Every app, fetched a page at a time as you ``async for``."""
        return self._caller.pages(
            lambda page, size: _ops.list_apps(self._scope, page, size), per_page, limit, timeout
        )

    async def create(
        self,
        app_id: str,
        *,
        name: str = "",
        description: str = "",
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> AppInfo:
        """Create an app (``InvalidArgument`` if the id is taken)."""
        return await self._caller.run(
            _ops.create_app(self._scope, app_id, name, description), timeout
        )

    async def get(self, app_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> AppInfo:
        """One app by id."""
        return await self._caller.run(_ops.get_app(Scope(self._scope.user_id, app_id)), timeout)

    async def delete(self, app_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> None:
        """Delete an app and everything in it."""
        await self._caller.run(_ops.delete_app(Scope(self._scope.user_id, app_id)), timeout)


class AsyncKeys:
    """The user's API keys and PATs (``client.keys``); needs a PAT."""

    def __init__(self, caller: AsyncCaller, user_id: str | None) -> None:
        self._caller = caller
        self._scope = Scope(user_id, None)

    def list(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        limit: int | None = None,
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> AsyncIterator[Key]:
        """Every key (ids are references, not tokens), a page at a time."""
        return self._caller.pages(
            lambda page, size: _ops.list_keys(self._scope, page, size), per_page, limit, timeout
        )

    async def create(
        self,
        app_id: str,
        *,
        scopes: Sequence[str] = ("All",),
        description: str = "",
        timeout: TimeoutArg = USE_CLIENT_DEFAULT,
    ) -> Key:
        """A new API key for ``app_id``; its ``id`` is the token, shown only now."""
        op = _ops.create_key(self._scope, app_id, scopes, description)
        return await self._caller.run(op, timeout)

    async def delete(self, key_id: str, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> None:
        """Delete a key by the id ``list`` shows (or by its token)."""
        await self._caller.run(_ops.delete_key(self._scope, key_id), timeout)


class AsyncClient:
    """The Clarifai API of a Clarion server (or Clarifai's), for asyncio.

        async with AsyncClient("http://localhost:8080", pat="...", app_id="pets") as client:
            prediction = await client.model("general-image-recognition").predict("cat.jpg")

    ``base_url``'s scheme picks the transport (``http(s)://`` HTTP+JSON, ``grpc(s)://``
    gRPC), or name it (``transport="grpc"``) or pass a ``Transport``. ``pat`` or ``api_key``
    is the credential; ``app_id`` (and ``user_id``, default "me") the default app. Every call
    takes ``timeout`` (seconds; the client's by default, None for no limit) and is retried
    per ``retry`` when throttled or unavailable. With ``trust_env``, ``CLARIFAI_API_BASE``,
    ``CLARIFAI_PAT``, ``CLARIFAI_API_KEY``, ``CLARIFAI_USER_ID`` and ``CLARIFAI_APP_ID`` fill
    what the arguments leave out (``AsyncClient.from_env()``).
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        pat: str | None = None,
        api_key: str | None = None,
        user_id: str | None = None,
        app_id: str | None = None,
        transport: TransportName | AsyncTransport | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        root_certificates: bytes | str | os.PathLike[str] | None = None,
        trust_env: bool = False,
    ) -> None:
        settings = resolve_settings(
            base_url=base_url,
            pat=pat,
            api_key=api_key,
            user_id=user_id,
            app_id=app_id,
            root_certificates=root_certificates,
            trust_env=trust_env,
        )
        self.base_url = settings.base_url
        self.user_id = settings.user_id
        self.app_id = settings.app_id
        if transport is None or isinstance(transport, str):
            endpoint = parse_endpoint(settings.base_url, transport)
            self.transport = make_async_transport(endpoint, settings.root_certificates)
        else:
            self.transport = transport
        self._caller = AsyncCaller(self.transport, settings.token, timeout, retry or Retry())
        self.apps = AsyncApps(self._caller, self.user_id)
        self.keys = AsyncKeys(self._caller, self.user_id)

    @classmethod
    def from_env(
        cls,
        base_url: str | None = None,
        *,
        pat: str | None = None,
        api_key: str | None = None,
        user_id: str | None = None,
        app_id: str | None = None,
        transport: TransportName | AsyncTransport | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        root_certificates: bytes | str | os.PathLike[str] | None = None,
    ) -> AsyncClient:
        """A client configured from the ``CLARIFAI_*`` variables; arguments still win."""
        return cls(
            base_url,
            pat=pat,
            api_key=api_key,
            user_id=user_id,
            app_id=app_id,
            transport=transport,
            timeout=timeout,
            retry=retry,
            root_certificates=root_certificates,
            trust_env=True,
        )

    def __repr__(self) -> str:
        return f"AsyncClient({self.base_url!r}, app_id={self.app_id!r})"

    def app(self, app_id: str | None = None, *, user_id: str | None = None) -> AsyncApp:
        """An app: ``app_id``, else the client's, else the one an API key is bound to."""
        return AsyncApp(self._caller, Scope(user_id or self.user_id, app_id or self.app_id))

    def model(
        self,
        model_id: str,
        *,
        version_id: str = "",
        app_id: str | None = None,
        user_id: str | None = None,
    ) -> AsyncModel:
        """A model; without ``app_id``, a public one (user ``clarifai``, app ``main``)."""
        if app_id is None:
            scope = Scope(user_id or PUBLIC_USER, PUBLIC_APP)
        else:
            scope = Scope(user_id or self.user_id, app_id)
        return AsyncModel(self._caller, scope, model_id, version_id)

    async def me(self, *, timeout: TimeoutArg = USE_CLIENT_DEFAULT) -> User:
        """The user the credential belongs to."""
        return await self._caller.run(_ops.get_user(Scope(self.user_id, None)), timeout)

    async def aclose(self) -> None:
        """Close the connections."""
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
