"""Usage metrics over the per-minute counts: samples in the window, at the resolution, grouped
and aggregated as asked, and a week's retention."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2, service_pb2

from clarion.protocol.descriptor import v2_methods
from clarion.server.usage import RETENTION_MINUTES, UsageCounter
from clarion.services.context import CallContext, Principal
from clarion.services.metrics import MetricsService
from clarion.storage.accounts import PERSONAL_ACCESS_TOKEN, KeyRecord

LABEL = resources_pb2.MetricLabel
T0 = 1_800_000_000 // 60 * 60  # a whole minute


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


def context(user: str = "ann") -> CallContext:
    key = KeyRecord(ref="k", token_hash="h", user_id=user, type=PERSONAL_ACCESS_TOKEN)
    return CallContext(v2_methods()["PostMetricsQuery"], "req", Principal(key), user_id=user)


def key(model: str, status: str = "200") -> tuple[tuple[int, str], ...]:
    return tuple(
        sorted(
            {
                LABEL.APP_ID: "app",
                LABEL.MODEL_ID: model,
                LABEL.MODEL_VERSION_ID: "",
                LABEL.HTTP_STATUS: status,
            }.items()
        )
    )


def query(
    metric: int, resolution: str, start: int, end: int, **aggregate: object
) -> service_pb2.PostMetricsQueryRequest:
    search = resources_pb2.MetricSearchQuery(
        metric_type=metric,  # type: ignore[arg-type]
        resolution=resolution,
        aggregate=resources_pb2.MetricAggregate(**aggregate),  # type: ignore[arg-type]
    )
    search.start_time.seconds, search.end_time.seconds = start, end
    return service_pb2.PostMetricsQueryRequest(query=search)


def test_counts_fall_in_their_five_minute_samples() -> None:
    clock = Clock()
    usage = UsageCounter(clock)
    for minute, model, seconds in [(0, "a", 0.1), (1, "a", 0.3), (4, "b", 0.2), (5, "a", 0.5)]:
        clock.now = T0 + minute * 60 + 30
        usage.record("ann", key(model), seconds)
    usage.record("bob", key("a"), 9.0)  # someone else's calls
    service = MetricsService(usage)

    counts = service.post_metrics_query(
        query(resources_pb2.MODEL_REQUEST_COUNT, "5m", T0, T0 + 9 * 60, labels=[LABEL.MODEL_ID]),
        context(),
    )
    slowest = service.post_metrics_query(
        query(
            resources_pb2.MODEL_E2E_LATENCY,
            "5m",
            T0,
            T0 + 9 * 60,
            operator=resources_pb2.MetricAggregate.MAX,
            labels=[LABEL.MODEL_ID],
        ),
        context(),
    )

    def samples(response: service_pb2.MetricsQueryResponse) -> dict[str, list[tuple[int, float]]]:
        return {
            s.labels[0].value: [(v.timestamp.seconds - T0, v.value) for v in s.value]
            for s in response.data.matrix_data.series
        }

    assert counts.resolution == "5m"
    assert samples(counts) == {"a": [(0, 2.0), (300, 1.0)], "b": [(0, 1.0)]}
    assert samples(slowest) == {"a": [(0, 0.3), (300, 0.5)], "b": [(0, 0.2)]}


def test_counts_older_than_a_week_are_forgotten() -> None:
    clock = Clock()
    usage = UsageCounter(clock)
    usage.record("ann", key("a"), 0.1)
    clock.now += (RETENTION_MINUTES + 2) * 60
    usage.record("ann", key("a"), 0.1)
    assert len(usage.buckets("ann", 0, 10**9)) == 1
