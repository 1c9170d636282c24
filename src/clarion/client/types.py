"""What the client returns: small typed values, each with its protobuf message at hand.

Every value is a frozen dataclass read from a response; ``proto`` keeps the message it was
read from (left out of ``repr`` and ``==``), for the fields these values do not surface.
``Text``, ``Source``, ``Near``, ``GeoBox`` and ``Filter`` describe what you send.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf import json_format, struct_pb2, timestamp_pb2

from clarion.codes import (
    INPUT_DOWNLOAD_FAILED,
    INPUT_DOWNLOAD_IN_PROGRESS,
    INPUT_DOWNLOAD_PENDING,
    INPUT_DOWNLOAD_SUCCESS,
    MODEL_QUEUED_FOR_TRAINING,
    MODEL_TRAINED,
    MODEL_TRAINING,
)

INPUT_SUCCESS: Final = INPUT_DOWNLOAD_SUCCESS
INPUT_PENDING: Final = INPUT_DOWNLOAD_PENDING
INPUT_FAILED: Final = INPUT_DOWNLOAD_FAILED
INPUT_IN_PROGRESS: Final = INPUT_DOWNLOAD_IN_PROGRESS


@dataclass(frozen=True, slots=True)
class Text:
    """Raw text to predict on or upload (a plain ``str`` is read as a path or URL)."""

    raw: str


# A local file (path), an ``http(s)://`` URL (a str), the bytes of an image, or a ``Text``.
Source = str | os.PathLike[str] | bytes | Text


InputType = Literal["image", "text"]
_GEO_UNITS = {
    "km": "withinKilometers",
    "miles": "withinMiles",
    "degrees": "withinDegrees",
    "radians": "withinRadians",
}


def _check_point(longitude: float, latitude: float) -> None:
    if not (-180.0 <= longitude <= 180.0 and -90.0 <= latitude <= 90.0):
        raise ValueError(
            f"({longitude}, {latitude}) is outside longitude -180..180 or latitude -90..90"
        )


@dataclass(frozen=True, slots=True)
class Near:
    """A search area: within a radius of a point, in one unit: ``Near(2.35, 48.85, km=10)``."""

    longitude: float
    latitude: float
    km: float | None = None
    miles: float | None = None
    degrees: float | None = None
    radians: float | None = None

    def __post_init__(self) -> None:
        _check_point(self.longitude, self.latitude)
        radii = (self.km, self.miles, self.degrees, self.radians)
        given = [value for value in radii if value is not None]
        if len(given) != 1:
            raise ValueError("Near needs one radius: km=, miles=, degrees= or radians=")
        if given[0] < 0:
            raise ValueError(f"A radius cannot be negative, not {given[0]}")

    @property
    def limit(self) -> tuple[str, float]:
        """The radius as Clarifai's ``GeoLimit``: (type, value), e.g. ("withinKilometers", 10)."""
        for unit, type_name in _GEO_UNITS.items():
            value: float | None = getattr(self, unit)
            if value is not None:
                return type_name, float(value)
        raise AssertionError("unreachable: __post_init__ checks a radius is given")


@dataclass(frozen=True, slots=True)
class GeoBox:
    """A search area: a longitude/latitude box, ``GeoBox(west, south, east, north)``.

    A box cannot cross the antimeridian (``west`` must not exceed ``east``).
    """

    west: float
    south: float
    east: float
    north: float

    def __post_init__(self) -> None:
        _check_point(self.west, self.south)
        _check_point(self.east, self.north)
        if self.west > self.east or self.south > self.north:
            raise ValueError(
                "GeoBox(west, south, east, north) needs west <= east and south <= north"
            )


@dataclass(frozen=True, slots=True)
class Filter:
    """Conditions on inputs that must all hold; what a search's ``exclude=`` takes.

    ``concepts``: annotated concept ids, present, or a mapping of id to present (True) or
    annotated as absent (False). ``metadata``: a subset the input's metadata must contain.
    ``geo``: a ``Near`` or ``GeoBox`` the input's geo point lies in. ``input_ids``: one or
    two ids (the most one Clarifai filter holds). ``input_type``: "image" or "text".
    ``dataset_ids``: in any of these datasets. ``status``: an input status code (30000 is
    ingested). ``updated_after`` and ``updated_before``: when the input last changed.
    """

    concepts: Sequence[str] | Mapping[str, bool] | None = None
    metadata: Mapping[str, Any] | None = None
    geo: Near | GeoBox | None = None
    input_ids: Sequence[str] | None = None
    input_type: InputType | None = None
    dataset_ids: Sequence[str] | None = None
    status: int | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None


def _time(stamp: timestamp_pb2.Timestamp, present: bool) -> datetime | None:
    return stamp.ToDatetime(UTC) if present else None


def _struct(value: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(value)


@dataclass(frozen=True, slots=True)
class Status:
    """A Clarifai status: ``code`` (a ``StatusCode`` number), what it means, the request id."""

    code: int
    description: str = ""
    details: str = ""
    req_id: str = ""

    @property
    def name(self) -> str:
        """The code's name (``INPUT_DOWNLOAD_FAILED``), or its number if unknown."""
        try:
            return str(status_code_pb2.StatusCode.Name(self.code))  # type: ignore[arg-type]
        except ValueError:
            return str(self.code)

    @classmethod
    def from_proto(cls, message: status_pb2.Status) -> Status:
        return cls(int(message.code), message.description, message.details, message.req_id)


@dataclass(frozen=True, slots=True)
class Concept:
    """A concept with a value: a prediction's confidence, or 1/0 for an annotation."""

    name: str
    value: float
    id: str = ""
    proto: resources_pb2.Concept = field(
        default_factory=resources_pb2.Concept, repr=False, compare=False
    )

    @classmethod
    def from_proto(cls, message: resources_pb2.Concept) -> Concept:
        return cls(message.name or message.id, message.value, message.id, message)


def _concepts(messages: Any) -> list[Concept]:
    return [Concept.from_proto(message) for message in messages]


@dataclass(frozen=True, slots=True)
class Box:
    """A bounding box in relative coordinates (0 to 1), top-left origin."""

    top: float
    left: float
    bottom: float
    right: float


@dataclass(frozen=True, slots=True)
class Region:
    """A detected region: its box (if any), what is in it and how sure the model is."""

    id: str
    box: Box | None
    concepts: list[Concept]
    value: float
    proto: resources_pb2.Region = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, message: resources_pb2.Region) -> Region:
        box = None
        if message.region_info.HasField("bounding_box"):
            b = message.region_info.bounding_box
            box = Box(b.top_row, b.left_col, b.bottom_row, b.right_col)
        return cls(message.id, box, _concepts(message.data.concepts), message.value, message)


@dataclass(frozen=True, slots=True)
class Embedding:
    """An embedding vector."""

    vector: list[float]
    proto: resources_pb2.Embedding = field(repr=False, compare=False)

    @property
    def num_dimensions(self) -> int:
        return len(self.vector)

    @classmethod
    def from_proto(cls, message: resources_pb2.Embedding) -> Embedding:
        return cls(list(message.vector), message)


@dataclass(frozen=True, slots=True)
class Color:
    """A dominant color: its hex value, nearest W3C color name and share of the image."""

    hex: str
    name: str
    value: float
    proto: resources_pb2.Color = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, message: resources_pb2.Color) -> Color:
        return cls(message.raw_hex, message.w3c.name, message.value, message)


@dataclass(frozen=True, slots=True)
class Prediction:
    """One model output for one input: concepts, regions, embeddings or colors."""

    status: Status
    concepts: list[Concept]
    regions: list[Region]
    embeddings: list[Embedding]
    colors: list[Color]
    text: str
    input_id: str
    proto: resources_pb2.Output = field(repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """Whether the model could run on this input."""
        return self.status.code == status_code_pb2.SUCCESS

    @classmethod
    def from_proto(cls, message: resources_pb2.Output) -> Prediction:
        data = message.data
        return cls(
            status=Status.from_proto(message.status),
            concepts=_concepts(data.concepts),
            regions=[Region.from_proto(region) for region in data.regions],
            embeddings=[Embedding.from_proto(embedding) for embedding in data.embeddings],
            colors=[Color.from_proto(color) for color in data.colors],
            text=data.text.raw,
            input_id=message.input.id,
            proto=message,
        )


@dataclass(frozen=True, slots=True)
class Input:
    """A stored input: where its content came from, its annotations and ingestion status."""

    id: str
    status: Status
    url: str
    text: str
    concepts: list[Concept]
    metadata: dict[str, Any]
    created_at: datetime | None
    proto: resources_pb2.Input = field(repr=False, compare=False)

    @property
    def pending(self) -> bool:
        """Still waiting for or in ingestion."""
        return self.status.code in (INPUT_PENDING, INPUT_IN_PROGRESS)

    @property
    def ready(self) -> bool:
        """Ingested: searchable and usable for training."""
        return self.status.code == INPUT_SUCCESS

    @classmethod
    def from_proto(cls, message: resources_pb2.Input) -> Input:
        data = message.data
        return cls(
            id=message.id,
            status=Status.from_proto(message.status),
            url=data.image.url or data.text.url,
            text=data.text.raw,
            concepts=_concepts(data.concepts),
            metadata=_struct(data.metadata),
            created_at=_time(message.created_at, message.HasField("created_at")),
            proto=message,
        )


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: the input and its score, 0 to 1, higher for a closer match."""

    score: float
    input: Input
    proto: resources_pb2.Hit = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, message: resources_pb2.Hit) -> Hit:
        return cls(message.score, Input.from_proto(message.input), message)


@dataclass(frozen=True, slots=True)
class SavedSearch:
    """A search saved in an app, to run again by id. ``query`` is its query as JSON."""

    id: str
    name: str
    query: dict[str, Any]
    created_at: datetime | None
    modified_at: datetime | None
    proto: resources_pb2.Search = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, message: resources_pb2.Search) -> SavedSearch:
        return cls(
            id=message.id,
            name=message.name,
            query=json_format.MessageToDict(message.query, preserving_proto_field_name=True),
            created_at=_time(message.created_at, message.HasField("created_at")),
            modified_at=_time(message.modified_at, message.HasField("modified_at")),
            proto=message,
        )


@dataclass(frozen=True, slots=True)
class InputCounts:
    """How many inputs of an app are in each ingestion state."""

    processed: int
    to_process: int
    processing: int
    errors: int
    proto: resources_pb2.InputCount = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, message: resources_pb2.InputCount) -> InputCounts:
        return cls(
            message.processed, message.to_process, message.processing, message.errors, message
        )


@dataclass(frozen=True, slots=True)
class AppInfo:
    """An application: a namespace for inputs, concepts, models and keys."""

    id: str
    user_id: str
    name: str
    description: str
    created_at: datetime | None
    proto: resources_pb2.App = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, message: resources_pb2.App) -> AppInfo:
        created = _time(message.created_at, message.HasField("created_at"))
        return cls(message.id, message.user_id, message.name, message.description, created, message)


@dataclass(frozen=True, slots=True)
class Key:
    """An API key (bound to one app) or a PAT. ``id`` is the token only right after creation."""

    id: str
    type: str
    description: str
    scopes: list[str]
    app_ids: list[str]
    created_at: datetime | None
    expires_at: datetime | None
    proto: resources_pb2.Key = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, message: resources_pb2.Key) -> Key:
        return cls(
            id=message.id,
            type=message.type,
            description=message.description,
            scopes=list(message.scopes),
            app_ids=[app.id for app in message.apps],
            created_at=_time(message.created_at, message.HasField("created_at")),
            expires_at=_time(message.expires_at, message.HasField("expires_at")),
            proto=message,
        )


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model: its type, current version and the concepts it knows (when listed)."""

    id: str
    name: str
    model_type_id: str
    version_id: str
    user_id: str
    app_id: str
    description: str
    concepts: list[Concept]
    proto: resources_pb2.Model = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, message: resources_pb2.Model) -> ModelInfo:
        version = message.model_version
        concepts = version.output_info.data.concepts or message.output_info.data.concepts
        return cls(
            id=message.id,
            name=message.name,
            model_type_id=message.model_type_id,
            version_id=version.id,
            user_id=message.user_id,
            app_id=message.app_id,
            description=message.description,
            concepts=_concepts(concepts),
            proto=message,
        )


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One trained (or training) version of a model, and where its training stands.

    ``status.code``: ``MODEL_QUEUED_FOR_TRAINING`` 21103 and ``MODEL_TRAINING`` 21101 while
    it trains, then ``MODEL_TRAINED`` 21100 or a failure (``MODEL_TRAINING_NO_DATA`` 21110,
    ``MODEL_TRAINING_NO_POSITIVES`` 21111, ``MODEL_TRAINING_FAILED`` 21106).
    """

    id: str
    status: Status
    proto: resources_pb2.ModelVersion = field(repr=False, compare=False)

    @property
    def training(self) -> bool:
        """Queued for or in training."""
        return self.status.code in (MODEL_QUEUED_FOR_TRAINING, MODEL_TRAINING)

    @property
    def trained(self) -> bool:
        """Ready to predict."""
        return self.status.code == MODEL_TRAINED

    @property
    def concepts(self) -> list[Concept]:
        """The concepts this version was trained on."""
        return _concepts(self.proto.output_info.data.concepts)

    @classmethod
    def from_proto(cls, message: resources_pb2.ModelVersion) -> ModelVersion:
        return cls(message.id, Status.from_proto(message.status), message)


@dataclass(frozen=True, slots=True)
class User:
    """The user a credential belongs to."""

    id: str
    first_name: str
    last_name: str
    created_at: datetime | None
    proto: resources_pb2.User = field(repr=False, compare=False)

    @classmethod
    def from_proto(cls, message: resources_pb2.User) -> User:
        created = _time(message.created_at, message.HasField("created_at"))
        return cls(message.id, message.first_name, message.last_name, created, message)


UploadState = Literal["ok", "failed", "pending"]


@dataclass(slots=True)
class UploadItem:
    """One item of an upload: what was sent, the input id it got, and how it went."""

    index: int
    source: str
    input_id: str = ""
    state: UploadState = "pending"
    code: int = 0
    description: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@dataclass(frozen=True, slots=True)
class UploadReport:
    """The outcome of ``inputs.upload``, item by item, in the order given."""

    items: list[UploadItem]

    @property
    def ok(self) -> list[UploadItem]:
        """Items stored (and ingested, when the upload waited)."""
        return [item for item in self.items if item.state == "ok"]

    @property
    def failed(self) -> list[UploadItem]:
        """Items refused or failed, each with the code and description of why."""
        return [item for item in self.items if item.state == "failed"]

    @property
    def pending(self) -> list[UploadItem]:
        """Items still ingesting when the wait ended."""
        return [item for item in self.items if item.state == "pending"]

    @property
    def succeeded(self) -> bool:
        """True when every item is ok."""
        return all(item.ok for item in self.items)

    @property
    def input_ids(self) -> list[str]:
        """The ids of the items that are ok, in order."""
        return [item.input_id for item in self.ok]
