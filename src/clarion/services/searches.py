"""Searches over an app's inputs: ``PostInputsSearches``, ``PostAnnotationsSearches``,
``PostSearches``, and saved searches.

A query's filters are AND-ed into one set of allowed inputs (in SQL); its ranks each score the
allowed inputs in [0, 1] (visual and text similarity from the vector indexes, predicted concepts
from the stored predictions) and the scores of several ranks are averaged. Without ranks, the
filtered inputs come newest first with score 1.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from google.protobuf.message import Message
from PIL import Image

from clarion.codes import SEARCH_INVALID_REQUEST
from clarion.errors import InputRejected, InvalidArgument, NotFound
from clarion.runtime.frame_indexes import AppIndexes
from clarion.runtime.model_resolver import Models
from clarion.services._nearest import POST_FILTER_FROM, FilteredNearest
from clarion.services.base import (
    HandlerTable,
    app_pk,
    check_id,
    require_app,
    require_writable_app,
)
from clarion.services.context import CallContext
from clarion.services.hosted import HostedUrls
from clarion.services.messages.data import fill_input
from clarion.services.messages.values import data_from_json, json_of, timestamp
from clarion.services.paging import page_of
from clarion.services.patching import patch_action
from clarion.storage.accounts import AppRecord
from clarion.storage.searches import (
    EARTH_RADIUS_KM,
    ConceptMatch,
    GeoBox,
    GeoCircle,
    InputFilter,
    SavedSearch,
    SearchStore,
)

IMAGE_SPACE = "general-image-embedding"
TEXT_SPACE = "text-embedding"
# ``save`` stores the search, so it needs what PatchSearches needs to write one; the search
# methods themselves need only read scopes (and so run on public apps too).
SAVE_SCOPES = frozenset({"SavedSearch_Add"})
# How many candidates each rank contributes when several ranks are combined, per hit asked.
_CANDIDATES_PER_HIT = 4
_MIN_CANDIDATES = 200
_KM_PER = {
    "withinkilometers": 1.0,
    "withinmiles": 1.609344,
    "withindegrees": math.pi / 180 * EARTH_RADIUS_KM,
    "withinradians": EARTH_RADIUS_KM,
}
_WORD = re.compile(r"[a-z0-9]+")


class SearchInvalid(InvalidArgument):
    """A query that cannot run as asked."""

    status_code = SEARCH_INVALID_REQUEST


class NearestUnderFilters(Protocol):
    """A vector rank under filters: the ``wanted`` nearest inputs that pass, and the total
    (``FilteredNearest`` over the in-memory indexes, or one SQL statement on pgvector)."""

    def nearest(
        self,
        app: AppRecord,
        space: str,
        vector: npt.NDArray[np.float32],
        wanted: int,
        filters: Sequence[InputFilter],
    ) -> tuple[list[tuple[int, float]], int]: ...


class BestFrameTime(Protocol):
    @property
    def time_ms(self) -> int: ...


class VideoFrames(Protocol):
    """Video inputs' best frames for a query (``clarion.runtime.frame_indexes``)."""

    def best_frames(
        self,
        app: AppRecord,
        space: str,
        query: npt.NDArray[np.float32],
        allowed: set[int] | None = None,
    ) -> Mapping[int, BestFrameTime]: ...


class ConceptTranslations(Protocol):
    """Concepts' names in other languages (``clarion.storage.concept_graph``)."""

    def concepts_named(
        self, app_pk: int, language: str, names: Collection[str]
    ) -> dict[str, str]: ...


class ImageReader(Protocol):
    def image_from_bytes(self, data: bytes) -> Image.Image: ...
    def image_from_url(self, url: str) -> Image.Image: ...


@dataclass
class _Rank:
    """One rank of a query, ready to score: by vector, or by predicted concepts."""

    negate: bool
    space: str = ""
    vector: npt.NDArray[np.float32] | None = None
    concept_ids: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    also_words: bool = False  # a text rank also matches concept names


@dataclass
class _Plan:
    filters: list[InputFilter] = field(default_factory=list)
    ranks: list[_Rank] = field(default_factory=list)


class SearchesService:
    def __init__(
        self,
        search: SearchStore,
        indexes: AppIndexes,
        models: Models,
        reader: ImageReader,
        input_level_data: Callable[[AppRecord, Sequence[str]], dict[str, Any]],
        hosted: HostedUrls,
        translations: ConceptTranslations,
        *,
        post_filter_from: int = POST_FILTER_FROM,
        video_frames: VideoFrames | None = None,
        filtered_nearest: NearestUnderFilters | None = None,
    ) -> None:
        self._frames = video_frames
        self._filtered_nearest = filtered_nearest or FilteredNearest(
            search, indexes, post_filter_from=post_filter_from
        )
        self._search = search
        self._indexes = indexes
        self._models = models
        self._reader = reader
        self._input_level_data = input_level_data
        self._hosted = hosted
        self._translations = translations

    def handlers(self) -> HandlerTable:
        return {
            "PostInputsSearches": self.post_inputs_searches,
            "PostAnnotationsSearches": self.post_annotations_searches,
            "PostSearches": self.post_searches,
            "GetSearch": self.get_search,
            "ListSearches": self.list_searches,
            "PatchSearches": self.patch_searches,
            # The saved searches of PostInputsSearches and PostAnnotationsSearches (save: true)
            # are the same saved searches, so their patch methods are PatchSearches too.
            "PatchInputsSearches": self.patch_searches,
            "PatchAnnotationsSearches": self.patch_searches,
            "DeleteSearch": self.delete_search,
            "PostSearchesByID": self.post_searches_by_id,
        }

    # running queries

    def post_inputs_searches(
        self, request: service_pb2.PostInputsSearchesRequest, ctx: CallContext
    ) -> service_pb2.MultiSearchResponse:
        return self._run(ctx, list(request.searches), request.pagination, request.only_count)

    def post_annotations_searches(
        self, request: service_pb2.PostAnnotationsSearchesRequest, ctx: CallContext
    ) -> service_pb2.MultiSearchResponse:
        response = self._run(ctx, list(request.searches), request.pagination, False)
        app = require_app(ctx)
        data = self._input_level_data(app, [hit.input.id for hit in response.hits])
        for hit in response.hits:
            hit.annotation.input_id = hit.input.id
            hit.annotation.input_level = True
            if hit.input.id in data:
                hit.annotation.data.CopyFrom(data_from_json(data[hit.input.id]))
        return response

    def post_searches(
        self, request: service_pb2.PostSearchesRequest, ctx: CallContext
    ) -> service_pb2.MultiSearchResponse:
        searches = list(request.searches) or [resources_pb2.Search(query=request.query)]
        return self._run(ctx, searches, request.pagination, False)

    def post_searches_by_id(
        self, request: service_pb2.PostSearchesByIDRequest, ctx: CallContext
    ) -> service_pb2.MultiSearchResponse:
        saved = self._saved(require_app(ctx), request.id)
        search = resources_pb2.Search()
        _parse_json(saved.query, search)
        return self._run(ctx, [search], request.pagination, False)

    def matching_input_ids(
        self, app: AppRecord, search: resources_pb2.Search, limit: int
    ) -> list[str]:
        """The ids of up to ``limit`` inputs a search finds, best first (what a bulk
        operation over a search covers)."""
        if search.id and not search.HasField("query"):
            _parse_json(self._saved(app, search.id).query, search := resources_pb2.Search())
        scored, _ = self._execute(app, self._plan(app, search.query), limit)
        keys = [key for key, score in scored[:limit] if score >= search.min_value]
        records = self._search.inputs_by_pk(keys)
        return [records[key].id for key in keys if key in records]

    def _run(
        self,
        ctx: CallContext,
        searches: Sequence[resources_pb2.Search],
        pagination: service_pb2.Pagination,
        only_count: bool,
    ) -> service_pb2.MultiSearchResponse:
        app = require_app(ctx)
        if len(searches) != 1:
            raise SearchInvalid("Send exactly one search in 'searches'")
        search = searches[0]
        page = page_of(pagination.page, pagination.per_page)
        # A caller who may not save is refused before any work is done.
        saving_in = _app_to_save_in(ctx) if search.save else None
        # One read transaction for the query's reads: its vector, the index's catch-up, the
        # filters' checks and the hits (a connection per statement cost more than them).
        with self._search.reading():
            plan = self._plan(app, search.query)  # may embed an image or a text: the slow part
            if saving_in is not None:  # once the query is known valid: a refused one is not kept
                self._save(saving_in, search)
            ctx.check_deadline("searching the index")
            scored, total = self._execute(app, plan, page.page * page.per_page)
            floor = search.min_value  # read once: a message's field is slow to read
            scored = [pair for pair in scored if pair[1] >= floor]
            response = service_pb2.MultiSearchResponse(searches=[search])
            shown = [] if only_count else scored[page.offset : page.offset + page.per_page]
            if shown:
                self._add_hits(response, app, shown, self._best_frames(app, plan, shown))
        response.query.CopyFrom(search.query)
        response.hit_counts.add(estimated_total=total)
        if search.id:
            response.id = search.id
        return response

    def _execute(
        self, app: AppRecord, plan: _Plan, wanted: int
    ) -> tuple[list[tuple[int, float]], int]:
        """(key, score) best first, at least ``wanted`` of them where there are, and the total."""
        pk = app_pk(app)
        single = plan.ranks[0] if len(plan.ranks) == 1 else None
        if single is not None and single.vector is not None and not (single.negate or single.words):
            # One plain vector rank: the index answers it, the filters checked within.
            return self._filtered_nearest.nearest(
                app, single.space, single.vector, wanted, plan.filters
            )
        allowed = self._search.filtered_keys(pk, plan.filters) if plan.filters else None
        if not plan.ranks:
            keys = allowed if allowed is not None else self._search.filtered_keys(pk, [])
            newest = self._search.newest_first(pk, keys, wanted, 0)
            return [(key, 1.0) for key in newest], len(keys)
        return self._combined(app, plan.ranks, wanted, allowed)

    def _combined(
        self, app: AppRecord, ranks: Sequence[_Rank], wanted: int, allowed: set[int] | None
    ) -> tuple[list[tuple[int, float]], int]:
        """Several ranks, or negated ones: score a candidate pool with every rank, average."""
        pk = app_pk(app)
        pool = allowed if allowed is not None else self._search.filtered_keys(pk, [])
        budget = max(_MIN_CANDIDATES, wanted * _CANDIDATES_PER_HIT)
        per_rank = [self._rank_scores(app, rank, pool, budget) for rank in ranks]
        if all(not rank.negate for rank in ranks):
            candidates = set().union(*(scores.keys() for scores in per_rank))
        else:
            candidates = set(pool)
        combined = {
            key: sum(
                _apply(rank, scores.get(key, 0.0))
                for rank, scores in zip(ranks, per_rank, strict=True)
            )
            / len(ranks)
            for key in candidates
        }
        ordered = sorted(combined.items(), key=lambda item: (-item[1], item[0]))
        return ordered, len([1 for _, score in ordered if score > 0])

    def _rank_scores(
        self, app: AppRecord, rank: _Rank, pool: set[int], budget: int
    ) -> dict[int, float]:
        pk = app_pk(app)
        scores: dict[int, float] = {}
        if rank.vector is not None:
            if rank.negate:
                scores = self._indexes.scores(app, rank.space, rank.vector, sorted(pool))
            else:
                scores = dict(self._indexes.nearest(app, rank.space, rank.vector, budget, pool))
        if rank.concept_ids or rank.words:
            for key, value in self._search.prediction_scores(
                pk, rank.concept_ids, rank.words
            ).items():
                if key in pool:
                    scores[key] = max(scores.get(key, 0.0), value)
        return scores

    def _best_frames(
        self, app: AppRecord, plan: _Plan, shown: Sequence[tuple[int, float]]
    ) -> Mapping[int, BestFrameTime]:
        """For a search by one picture: each video hit's best frame (``video_frames``)."""
        vectors = [rank for rank in plan.ranks if rank.vector is not None and not rank.negate]
        if self._frames is None or len(vectors) != 1 or not shown:
            return {}
        rank = vectors[0]
        assert rank.vector is not None
        return self._frames.best_frames(app, rank.space, rank.vector, {key for key, _ in shown})

    def _add_hits(
        self,
        response: service_pb2.MultiSearchResponse,
        app: AppRecord,
        scored: Sequence[tuple[int, float]],
        best_frames: Mapping[int, BestFrameTime],
    ) -> None:
        """The hits, written into ``response`` where they lie (no message copied)."""
        found = self._search.inputs_with_data([key for key, _ in scored])
        for key, score in scored:
            one = found.get(key)
            if one is None:
                continue  # deleted since the index saw it
            hit = response.hits.add(
                score=float(min(1.0, max(0.0, score))), user_id=app.user_id, app_id=app.id
            )
            record = one.record
            fill_input(hit.input, record, one.annotation_data, self._hosted.for_input(app, record))
            best = best_frames.get(key)
            if best is not None:
                # Where the video matched: its best frame, as the one frame of the hit's input.
                hit.input.data.frames.add().frame_info.time = best.time_ms

    # turning a Query into a plan

    def _plan(self, app: AppRecord, query: resources_pb2.Query) -> _Plan:
        """Filters and ranks to run. An empty one is absent: the modern SDKs send an empty
        ``Rank(annotation=Annotation())`` with every filter-only query."""
        plan = _Plan()
        if query.language:
            query = self._in_concept_ids(app, query)
        for term in query.ands:
            filters, ranks = _legacy_terms(term)
            plan.filters.extend(_filter(one) for one in filters)
            plan.ranks.extend(self._rank(app, one) for one in ranks)
        for one in query.filters:
            if not _is_empty(one):
                plan.filters.append(_filter(one))
        for rank in query.ranks:
            if not _is_empty(rank):
                plan.ranks.append(self._rank(app, rank))
        return plan

    def _in_concept_ids(self, app: AppRecord, query: resources_pb2.Query) -> resources_pb2.Query:
        """The query with each concept named in ``query.language`` (PostConceptLanguages)
        named by its id instead. A name with no translation in that language stays as it is:
        it still matches the names annotations gave."""
        resolved = resources_pb2.Query()
        resolved.CopyFrom(query)
        named = [c for c in _query_concepts(resolved) if c.name and not c.id]
        ids = self._translations.concepts_named(
            app_pk(app), query.language, {c.name for c in named}
        )
        for concept in named:
            concept_id = ids.get(concept.name.lower())
            if concept_id:
                concept.id = concept_id
                concept.ClearField("name")
        return resolved

    def _rank(self, app: AppRecord, rank: resources_pb2.Rank) -> _Rank:
        annotation = rank.annotation
        data = annotation.data
        if data.image.url or data.image.base64:
            return _Rank(rank.negate, IMAGE_SPACE, self._image_vector(data.image))
        if annotation.input_id:
            vector = self._search.vector_of(app_pk(app), IMAGE_SPACE, annotation.input_id)
            if vector is None:
                raise SearchInvalid(f"Input '{annotation.input_id}' has no visual index to rank by")
            return _Rank(rank.negate, IMAGE_SPACE, vector)
        if data.concepts:
            # A rank ranks by how present the concepts are; ``Rank.negate`` turns it around.
            # (A concept's value cannot say so: gRPC sends an unset value as 0.)
            ids = tuple(c.id for c in data.concepts if c.id)
            names = tuple(w for c in data.concepts if not c.id for w in _words(c.name))
            return _Rank(rank.negate, concept_ids=ids, words=names)
        if data.text.raw:
            vector = self._models.text_runner(TEXT_SPACE).predict([data.text.raw])[0].embedding
            return _Rank(rank.negate, TEXT_SPACE, vector, words=tuple(_words(data.text.raw)))
        raise SearchInvalid("A rank needs an image (url or base64), an input_id, concepts, or text")

    def _image_vector(self, image: resources_pb2.Image) -> npt.NDArray[np.float32]:
        try:
            if image.base64:
                picture = self._reader.image_from_bytes(image.base64)
            else:
                picture = self._reader.image_from_url(image.url)
        except InputRejected as rejected:
            raise SearchInvalid(
                f"The query image cannot be used: {rejected.description}"
            ) from rejected
        embedding = self._models.runner(IMAGE_SPACE).predict([picture])[0].embedding
        assert embedding is not None
        return embedding

    # saved searches

    def get_search(
        self, request: service_pb2.GetSearchRequest, ctx: CallContext
    ) -> service_pb2.SingleSearchResponse:
        app = require_app(ctx)
        return service_pb2.SingleSearchResponse(
            search=_search_proto(app, self._saved(app, request.id))
        )

    def list_searches(
        self, request: service_pb2.ListSearchesRequest, ctx: CallContext
    ) -> service_pb2.MultiSearchResponse:
        app = require_app(ctx)
        page = page_of(request.page, request.per_page)
        found = self._search.list_searches(app_pk(app), page.per_page, page.offset)
        return service_pb2.MultiSearchResponse(searches=[_search_proto(app, s) for s in found])

    def patch_searches(
        self, request: service_pb2.PatchSearchesRequest, ctx: CallContext
    ) -> service_pb2.MultiSearchResponse:
        app = require_app(ctx)
        patch_action(request.action, default="overwrite", allowed=("overwrite",))
        patched = []
        for search in request.searches:
            current = self._saved(app, search.id)
            query = json_of(search.query) if search.HasField("query") else current.query
            saved = SavedSearch(current.id, search.name or current.name, query)
            patched.append(_search_proto(app, self._search.save_search(app_pk(app), saved)))
        return service_pb2.MultiSearchResponse(searches=patched)

    def delete_search(
        self, request: service_pb2.DeleteSearchRequest, ctx: CallContext
    ) -> status_pb2.BaseResponse:
        app = require_app(ctx)
        if not self._search.delete_search(app_pk(app), request.id):
            raise NotFound("search", request.id)
        return status_pb2.BaseResponse()

    def _save(self, app: AppRecord, search: resources_pb2.Search) -> None:
        search_id = check_id("search", search.id) if search.id else uuid.uuid4().hex
        search.id = search_id
        saved = SavedSearch(search_id, search.name, json_of(search.query))
        self._search.save_search(app_pk(app), saved)

    def _saved(self, app: AppRecord, search_id: str) -> SavedSearch:
        found = self._search.get_search(app_pk(app), search_id) if search_id else None
        if found is None:
            raise NotFound("search", search_id)
        return found


def _is_empty(message: Message) -> bool:
    """Whether ``message`` sets nothing but sub-messages that set nothing themselves, as the
    SDKs' ``Rank(annotation=Annotation())``. One level only: deeper down an empty message says
    something (``Filter(input=Input(data=Data(text=Text())))`` asks for texts)."""
    return all(
        descriptor.message_type is not None
        and not descriptor.is_repeated
        and not value.ListFields()
        for descriptor, value in message.ListFields()
    )


def _legacy_terms(
    one: resources_pb2.And,
) -> tuple[list[resources_pb2.Filter], list[resources_pb2.Rank]]:
    """One term of the legacy ``Query.ands`` as the filters and ranks it means.

    ``input``: what the inputs were given (annotated concepts, metadata, geo, id), a filter.
    ``output``: what the models said of them: predicted concepts (a concept with value 0 is
    one not predicted) and visual similarity (``output.input``: an image or an input id), ranks.
    ``annotation``: a filter, as in ``Query.filters``. ``negate`` turns the term around. A
    field of the term that means anything else is refused by name, never ignored."""
    unused = resources_pb2.And()
    unused.CopyFrom(one)
    unused.ClearField("negate")
    filters = []
    if one.HasField("input"):
        given = one.input.data
        kept = resources_pb2.Input(id=one.input.id)
        kept.data.concepts.extend(given.concepts)
        if given.HasField("metadata"):
            kept.data.metadata.CopyFrom(given.metadata)
        if given.HasField("geo"):
            kept.data.geo.CopyFrom(given.geo)
        filters.append(resources_pb2.Filter(input=kept, negate=one.negate))
        for name in ("concepts", "metadata", "geo"):
            unused.input.data.ClearField(name)
        unused.input.ClearField("id")
    if one.HasField("annotation"):
        filters.append(resources_pb2.Filter(annotation=one.annotation, negate=one.negate))
        unused.ClearField("annotation")
    ranks = _legacy_output_ranks(one.output, one.negate) if one.HasField("output") else []
    unused.output.data.ClearField("concepts")
    unused.output.input.data.image.ClearField("url")
    unused.output.input.data.image.ClearField("base64")
    unused.output.input.ClearField("id")
    left = _set_fields(unused)
    if left:
        raise SearchInvalid(f"Query.ands cannot search by {', '.join(left)} here")
    return filters, ranks


def _legacy_output_ranks(output: resources_pb2.Output, negate: bool) -> list[resources_pb2.Rank]:
    ranks = []
    predicted = [c for c in output.data.concepts if c.value != 0]
    not_predicted = [c for c in output.data.concepts if c.value == 0]
    for concepts, negated in ((predicted, negate), (not_predicted, not negate)):
        if concepts:
            rank = resources_pb2.Rank(negate=negated)
            rank.annotation.data.concepts.extend(concepts)
            ranks.append(rank)
    like = output.input
    if like.data.image.url or like.data.image.base64:
        rank = resources_pb2.Rank(negate=negate)
        rank.annotation.data.image.CopyFrom(like.data.image)
        ranks.append(rank)
    if like.id:
        by_input = resources_pb2.Rank(negate=negate)
        by_input.annotation.input_id = like.id
        ranks.append(by_input)
    return ranks


def _set_fields(message: Message, prefix: str = "") -> list[str]:
    """The dotted paths of the values set in ``message``, down to the leaves (a sub-message
    that sets nothing has none)."""
    paths = []
    for descriptor, value in message.ListFields():
        path = f"{prefix}{descriptor.name}"
        if descriptor.message_type is not None and not descriptor.is_repeated:
            paths.extend(_set_fields(value, f"{path}."))
        else:
            paths.append(path)
    return paths


def _app_to_save_in(ctx: CallContext) -> AppRecord:
    """The app a ``save: true`` search is stored in, refused to callers that cannot write it:
    another user's public app (``clarifai/main`` too) can be searched, never written."""
    return require_writable_app(
        ctx,
        SAVE_SCOPES,
        doing="Saving a search",
        otherwise="send it without 'save' to run it only",
    )


def _apply(rank: _Rank, score: float) -> float:
    return 1.0 - score if rank.negate else score


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _query_concepts(query: resources_pb2.Query) -> Iterator[resources_pb2.Concept]:
    """Every concept a query names, in its filters, ranks and legacy terms."""
    for one in query.filters:
        yield from one.annotation.data.concepts
        yield from one.input.data.concepts
    for rank in query.ranks:
        yield from rank.annotation.data.concepts
    for term in query.ands:
        for data in (term.input.data, term.output.data, term.annotation.data):
            yield from data.concepts


def _filter(one: resources_pb2.Filter) -> InputFilter:
    annotation, given = one.annotation, one.input
    data = annotation.data if annotation.HasField("data") else given.data
    concepts = tuple(
        ConceptMatch(id=c.id, name=c.name if not c.id else "", value=c.value)
        for c in [*annotation.data.concepts, *given.data.concepts]
    )
    metadata: dict[str, Any] = {}
    for source in (annotation.data, given.data):
        if source.HasField("metadata"):
            metadata.update(json_of(source.metadata))
    input_ids = tuple(i for i in (annotation.input_id, given.id) if i)
    kinds = tuple(
        k
        for k, present in (
            ("image", given.data.HasField("image")),
            ("text", given.data.HasField("text")),
        )
        if present
    )
    circle, box = _geo(data.geo if data.HasField("geo") else given.data.geo)
    after, before = _time_range(one)
    return InputFilter(
        concepts=concepts,
        metadata=metadata,
        geo_circle=circle,
        geo_box=box,
        input_ids=input_ids,
        kinds=kinds,
        status_codes=(given.status.code,) if given.status.code else (),
        dataset_ids=tuple(given.dataset_ids),
        modified_after=after,
        modified_before=before,
        negate=one.negate,
    )


def _geo(geo: resources_pb2.Geo) -> tuple[GeoCircle | None, GeoBox | None]:
    if len(geo.geo_box) == 2:
        a, b = (
            _checked_point(point.geo_point, f"geo.geo_box[{index}].geo_point")
            for index, point in enumerate(geo.geo_box)
        )
        box = GeoBox(min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1]))
        return None, box
    if geo.HasField("geo_point") and geo.HasField("geo_limit"):
        unit = geo.geo_limit.type.lower() or "withinkilometers"
        if unit not in _KM_PER:
            raise SearchInvalid(
                f"Unknown geo_limit type '{geo.geo_limit.type}': use withinKilometers, "
                "withinMiles, withinDegrees or withinRadians"
            )
        longitude, latitude = _checked_point(geo.geo_point, "geo.geo_point")
        radius = _checked_radius(geo.geo_limit.value)
        return GeoCircle(longitude, latitude, radius * _KM_PER[unit]), None
    if geo.geo_box:
        raise SearchInvalid("A geo box needs exactly two points")
    return None, None


def _checked_point(point: resources_pb2.GeoPoint, where: str) -> tuple[float, float]:
    """(longitude, latitude) of a point on the map; else ``SearchInvalid`` naming the field.
    A point off it matched nothing, or, with NaN, made the distance NaN."""
    for name, bound in (("longitude", 180), ("latitude", 90)):
        value = float(getattr(point, name))
        if not (math.isfinite(value) and -bound <= value <= bound):
            raise SearchInvalid(f"{where}.{name} must be from -{bound} to {bound}, not {value}")
    return float(point.longitude), float(point.latitude)


def _checked_radius(value: float) -> float:
    """A geo_limit's radius: a finite number, 0 or more (a negative one matched nothing)."""
    if not (math.isfinite(value) and value >= 0):
        raise SearchInvalid(f"geo.geo_limit.value must be a number of 0 or more, not {value}")
    return float(value)


def _time_range(one: resources_pb2.Filter) -> tuple[Any, Any]:
    if not one.HasField("last_updated_time_range"):
        return None, None
    span = one.last_updated_time_range
    after = span.start_time.ToDatetime(UTC) if span.HasField("start_time") else None
    before = span.end_time.ToDatetime(UTC) if span.HasField("end_time") else None
    return after, before


def _parse_json(data: Any, message: resources_pb2.Search) -> None:
    from google.protobuf import json_format

    json_format.ParseDict({"query": data}, message, ignore_unknown_fields=True)


def _search_proto(app: AppRecord, saved: SavedSearch) -> resources_pb2.Search:
    search = resources_pb2.Search(
        id=saved.id,
        name=saved.name,
        save=True,
        application_id=app.id,
        created_at=timestamp(saved.created_at),
        modified_at=timestamp(saved.modified_at),
    )
    _parse_json(saved.query, search)
    return search
