"""A search as Clarifai's ``Query``: ranks (what the hits should look like) and filters (which
inputs may be hits), from the Python values ``app.search`` takes.

Each rank is one ``Rank`` (the server averages the scores of several). The positive conditions
make one ``Filter``, and every ``exclude=`` ``Filter`` one more, negated: the server AND-s
filters, and a negated filter leaves out the inputs that meet all of its conditions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from clarifai_grpc.grpc.api import resources_pb2

from clarion.client._sources import is_url, struct
from clarion.client.types import Filter, GeoBox, Near

# A local file (path), an ``http(s)://`` URL (a str), or the bytes of an image.
ImageSource = str | os.PathLike[str] | bytes

INPUT_TYPES = ("image", "text")
# One Clarifai filter names at most two inputs: ``input.id`` and ``annotation.input_id``.
MAX_FILTER_INPUT_IDS = 2


def build_query(
    *,
    image: ImageSource | None = None,
    input_id: str | None = None,
    concepts: Iterable[str] | None = None,
    text: str | None = None,
    where: Filter | None = None,
    exclude: Filter | Sequence[Filter] | None = None,
) -> resources_pb2.Query:
    """The ``Query``; reading a local image may raise ``OSError``."""
    query = resources_pb2.Query()
    if image is not None:
        query.ranks.append(_rank(resources_pb2.Data(image=image_message(image))))
    if input_id is not None:
        if not input_id:
            raise ValueError("input_id is empty")
        query.ranks.append(
            resources_pb2.Rank(annotation=resources_pb2.Annotation(input_id=input_id))
        )
    if concepts is not None:
        names = _strings(concepts)
        if not names or not all(names):
            raise ValueError("concepts needs one or more concept names")
        wanted = [resources_pb2.Concept(name=name) for name in names]
        query.ranks.append(_rank(resources_pb2.Data(concepts=wanted)))
    if text is not None:
        if not text.strip():
            raise ValueError("text is empty")
        query.ranks.append(_rank(resources_pb2.Data(text=resources_pb2.Text(raw=text))))
    if where is not None:
        positive = filter_message(where)
        if positive is not None:
            query.filters.append(positive)
    for one in [exclude] if isinstance(exclude, Filter) else exclude or ():
        negated = filter_message(one, negate=True)
        if negated is None:
            raise ValueError("exclude=Filter() without conditions would leave out every input")
        query.filters.append(negated)
    return query


def image_message(image: ImageSource) -> resources_pb2.Image:
    """An image to rank by: bytes as they are, a URL for the server to fetch, a file's bytes."""
    if isinstance(image, bytes):
        return resources_pb2.Image(base64=image)
    if isinstance(image, str) and is_url(image):
        return resources_pb2.Image(url=image)
    return resources_pb2.Image(base64=Path(image).read_bytes())


def filter_message(one: Filter, *, negate: bool = False) -> resources_pb2.Filter | None:
    """One Clarifai ``Filter`` holding every condition of ``one``; None if it has none."""
    message = resources_pb2.Filter(negate=negate)
    data = resources_pb2.Data()
    conditions = 0
    for concept_id, present in _concept_values(one.concepts):
        data.concepts.append(resources_pb2.Concept(id=concept_id, value=1.0 if present else 0.0))
        conditions += 1
    if one.metadata:
        data.metadata.CopyFrom(struct(one.metadata))
        conditions += 1
    if one.geo is not None:
        data.geo.CopyFrom(geo_message(one.geo))
        conditions += 1
    if conditions:
        message.annotation.data.CopyFrom(data)
    ids = _strings(one.input_ids)
    if len(ids) > MAX_FILTER_INPUT_IDS or not all(ids):
        raise ValueError(
            f"input_ids takes one or two ids (a Clarifai filter holds two), not {ids!r}"
        )
    given, asked = _input_conditions(one, ids[0] if ids else "")
    if asked:
        message.input.CopyFrom(given)
        conditions += asked
    if len(ids) > 1:
        message.annotation.input_id = ids[1]
    conditions += _time_range(message, one.updated_after, one.updated_before)
    return message if conditions else None


def _input_conditions(one: Filter, input_id: str) -> tuple[resources_pb2.Input, int]:
    """The conditions on the input itself (id, type, datasets, status) and how many."""
    given = resources_pb2.Input(id=input_id)
    asked = 1 if input_id else 0
    if one.input_type is not None:
        if one.input_type not in INPUT_TYPES:
            raise ValueError(f"input_type must be 'image' or 'text', not {one.input_type!r}")
        getattr(given.data, one.input_type).SetInParent()
        asked += 1
    datasets = _strings(one.dataset_ids)
    if datasets:
        given.dataset_ids.extend(datasets)
        asked += 1
    if one.status is not None:
        given.status.code = one.status
        asked += 1
    return given, asked


def geo_message(area: Near | GeoBox) -> resources_pb2.Geo:
    if isinstance(area, Near):
        kind, value = area.limit
        return resources_pb2.Geo(
            geo_point=resources_pb2.GeoPoint(longitude=area.longitude, latitude=area.latitude),
            geo_limit=resources_pb2.GeoLimit(type=kind, value=value),
        )
    if isinstance(area, GeoBox):
        corners = [(area.west, area.south), (area.east, area.north)]
        return resources_pb2.Geo(
            geo_box=[
                resources_pb2.GeoBoxedPoint(
                    geo_point=resources_pb2.GeoPoint(longitude=lon, latitude=lat)
                )
                for lon, lat in corners
            ]
        )
    raise TypeError(f"geo takes a Near or a GeoBox, not {type(area).__name__}")


def _rank(data: resources_pb2.Data) -> resources_pb2.Rank:
    return resources_pb2.Rank(annotation=resources_pb2.Annotation(data=data))


def _strings(values: Iterable[str] | None) -> list[str]:
    """A list of strings; a lone ``str`` is one item, not its characters."""
    if values is None:
        return []
    return [values] if isinstance(values, str) else list(values)


def _concept_values(
    concepts: Sequence[str] | Mapping[str, bool] | None,
) -> list[tuple[str, bool]]:
    if isinstance(concepts, Mapping):
        found = [(str(concept_id), bool(present)) for concept_id, present in concepts.items()]
    else:
        found = [(concept_id, True) for concept_id in _strings(concepts)]
    if not all(concept_id for concept_id, _ in found):
        raise ValueError("A concept id is empty")
    return found


def _time_range(
    message: resources_pb2.Filter, after: datetime | None, before: datetime | None
) -> int:
    """Sets the last-updated range; returns how many bounds it set."""
    if after is not None:
        message.last_updated_time_range.start_time.FromDatetime(after)
    if before is not None:
        message.last_updated_time_range.end_time.FromDatetime(before)
    return (after is not None) + (before is not None)


def page_size(per_page: int, limit: int | None) -> int:
    """``per_page``, or ``limit`` when fewer are wanted: no page fetches hits left unread."""
    return min(per_page, limit) if limit else per_page
