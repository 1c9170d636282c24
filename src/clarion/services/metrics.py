"""Usage metrics: ``PostMetricsQuery`` and ``ListMetricLabels`` over the model requests the
server counts (``UsageSource``: per minute, by app, model, version and HTTP status).

Clarion counts two of Clarifai's metric types, ``MODEL_REQUEST_COUNT`` and
``MODEL_E2E_LATENCY``; the others measure token throughput or compute clusters and nodepools,
which Clarion does not have, and are refused by name.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from google.protobuf.descriptor import EnumDescriptor

from clarion.errors import InvalidArgument
from clarion.services.base import HandlerTable, require_own_user
from clarion.services.context import CallContext
from clarion.services.messages.metrics import label_values, matrix

# A series' labels, sorted by label: ((MetricLabel, value), ...).
UsageKey = tuple[tuple[int, str], ...]

_TYPE = resources_pb2.MetricType
_OPERATOR = resources_pb2.MetricAggregate
_OPERATORS = resources_pb2.MetricAggregate.Operator.DESCRIPTOR
COUNTED = (_TYPE.MODEL_REQUEST_COUNT, _TYPE.MODEL_E2E_LATENCY)
LABELS = (
    resources_pb2.APP_ID,
    resources_pb2.MODEL_ID,
    resources_pb2.MODEL_VERSION_ID,
    resources_pb2.HTTP_STATUS,
)
_RESOLUTION = re.compile(r"^([1-9][0-9]{0,3})([mhd])$")
_MINUTES_PER_UNIT = {"m": 1, "h": 60, "d": 24 * 60}
DEFAULT_WINDOW_MINUTES = 60
MAX_SAMPLES = 11_000  # Prometheus' own bound on the points of one range query


@dataclass(frozen=True, slots=True)
class UsageBucket:
    """The model requests of one minute with one set of labels."""

    minute: int  # minutes since the epoch, UTC
    key: UsageKey
    count: int
    seconds: float  # all of their latencies together
    slowest: float
    fastest: float


class UsageSource(Protocol):
    """What the server counted, by the user who made the calls."""

    def buckets(self, owner: str, first_minute: int, last_minute: int) -> list[UsageBucket]: ...


@dataclass(frozen=True, slots=True)
class _Window:
    first_minute: int
    last_minute: int
    step: int  # minutes per sample

    def slot(self, minute: int) -> int:
        """The first minute of the sample ``minute`` falls in."""
        return self.first_minute + (minute - self.first_minute) // self.step * self.step


class MetricsService:
    """The caller's own usage, from the server's counts."""

    def __init__(self, usage: UsageSource) -> None:
        self._usage = usage

    def handlers(self) -> HandlerTable:
        return {"PostMetricsQuery": self.post_metrics_query, "ListMetricLabels": self.list_labels}

    def post_metrics_query(
        self, request: service_pb2.PostMetricsQueryRequest, ctx: CallContext
    ) -> service_pb2.MetricsQueryResponse:
        owner = require_own_user(ctx)
        query = request.query
        _check_type(query.metric_type)
        window = _window(query)
        buckets = _filtered(
            self._usage.buckets(owner, window.first_minute, window.last_minute), query.filters
        )
        grouping = _grouping(query.aggregate)
        operator = _operator(query.metric_type, query.aggregate.operator)
        series = _series(buckets, window, grouping, operator)
        response = service_pb2.MetricsQueryResponse(resolution=f"{window.step}m")
        response.data.CopyFrom(matrix(series))
        return response

    def list_labels(
        self, request: service_pb2.ListMetricLabelsRequest, ctx: CallContext
    ) -> service_pb2.MultiMetricLabelsResponse:
        owner = require_own_user(ctx)
        types = list(request.metric_types) or list(COUNTED)
        for metric_type in types:
            _check_type(metric_type)
        now = int(time.time() // 60)
        seen: dict[int, set[str]] = defaultdict(set)
        for bucket in self._usage.buckets(owner, 0, now):
            for label, value in bucket.key:
                seen[label].add(value)
        response = service_pb2.MultiMetricLabelsResponse()
        for metric_type in types:
            response.metric_type_labels.append(label_values(metric_type, LABELS, seen))
        return response


def _check_type(metric_type: int) -> None:
    if metric_type not in COUNTED:
        name = _name(resources_pb2.MetricType.DESCRIPTOR, metric_type)
        raise InvalidArgument(
            f"Clarion does not count the metric type {name}: it counts MODEL_REQUEST_COUNT "
            "and MODEL_E2E_LATENCY (model predictions); token throughput and compute-cluster "
            "metrics do not exist on a Clarion server"
        )


def _window(query: resources_pb2.MetricSearchQuery) -> _Window:
    now = int(time.time() // 60)
    last = query.end_time.seconds // 60 if query.HasField("end_time") else now
    first = (
        query.start_time.seconds // 60
        if query.HasField("start_time")
        else last - DEFAULT_WINDOW_MINUTES + 1
    )
    if first > last:
        raise InvalidArgument("query.start_time must not be after query.end_time")
    step = _step(query.resolution)
    if (last - first) // step + 1 > MAX_SAMPLES:
        raise InvalidArgument(
            f"The query asks for more than {MAX_SAMPLES} samples a series: choose a coarser "
            "query.resolution or a shorter window"
        )
    return _Window(first, last, step)


def _step(resolution: str) -> int:
    if not resolution:
        return 1
    match = _RESOLUTION.fullmatch(resolution)
    if match is None:
        raise InvalidArgument(
            f"Invalid query.resolution '{resolution}': use a whole number of minutes, hours "
            "or days, such as 1m, 5m, 1h or 1d"
        )
    return int(match[1]) * _MINUTES_PER_UNIT[match[2]]


def _filtered(
    buckets: Iterable[UsageBucket], filters: Sequence[resources_pb2.MetricFilter]
) -> list[UsageBucket]:
    wanted: list[tuple[int, frozenset[str]]] = []
    for metric_filter in filters:
        if metric_filter.label not in LABELS:
            raise InvalidArgument(_unknown_label(metric_filter.label))
        values = (
            frozenset(getattr(getattr(metric_filter, "in"), "in"))  # "in" is a keyword
            if metric_filter.HasField("in")
            else frozenset({metric_filter.equals})
        )
        wanted.append((metric_filter.label, values))
    return [b for b in buckets if all(dict(b.key)[label] in ok for label, ok in wanted)]


def _grouping(aggregate: resources_pb2.MetricAggregate) -> tuple[int, ...]:
    for label in aggregate.labels:
        if label not in LABELS:
            raise InvalidArgument(_unknown_label(label))
    return tuple(sorted(set(aggregate.labels))) or LABELS


def _operator(metric_type: int, operator: int) -> int:
    counting = metric_type == _TYPE.MODEL_REQUEST_COUNT
    default = _OPERATOR.SUM if counting else _OPERATOR.AVG
    allowed = (
        (_OPERATOR.SUM, _OPERATOR.COUNT)
        if counting
        else (_OPERATOR.AVG, _OPERATOR.MAX, _OPERATOR.MIN)
    )
    chosen = operator or default
    if chosen not in allowed:
        names = ", ".join(_name(_OPERATORS, op) for op in allowed)
        raise InvalidArgument(
            f"query.aggregate.operator {_name(_OPERATORS, chosen)} is not available for "
            f"{_name(resources_pb2.MetricType.DESCRIPTOR, metric_type)}: use {names} "
            "(Clarion keeps per-minute totals, not each call's latency, so it has no percentiles)"
        )
    return chosen


def _series(
    buckets: Iterable[UsageBucket], window: _Window, grouping: tuple[int, ...], operator: int
) -> dict[UsageKey, list[tuple[int, float]]]:
    """Each group's samples, oldest first: (first minute of the sample, value)."""
    totals: dict[UsageKey, dict[int, list[UsageBucket]]] = defaultdict(lambda: defaultdict(list))
    for bucket in buckets:
        labels = dict(bucket.key)
        group = tuple((label, labels[label]) for label in grouping)
        totals[group][window.slot(bucket.minute)].append(bucket)
    return {
        group: [(slot, _value(parts, operator)) for slot, parts in sorted(slots.items())]
        for group, slots in sorted(totals.items())
    }


def _value(parts: Sequence[UsageBucket], operator: int) -> float:
    count = sum(part.count for part in parts)
    if operator in (_OPERATOR.SUM, _OPERATOR.COUNT):
        return float(count)
    if operator == _OPERATOR.MAX:
        return max(part.slowest for part in parts)
    if operator == _OPERATOR.MIN:
        return min(part.fastest for part in parts)
    return sum(part.seconds for part in parts) / count


def _name(enum: EnumDescriptor, number: int) -> str:
    value = enum.values_by_number.get(number)
    return value.name if value is not None else str(number)


def _unknown_label(label: int) -> str:
    return (
        f"Clarion's model metrics have no label {label}: filter or group by APP_ID, MODEL_ID, "
        "MODEL_VERSION_ID or HTTP_STATUS"
    )
