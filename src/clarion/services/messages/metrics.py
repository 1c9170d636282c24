"""Usage metrics: series of samples, and the labels a metric type has."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from clarifai_grpc.grpc.api import resources_pb2


def matrix(
    series: Mapping[tuple[tuple[int, str], ...], Sequence[tuple[int, float]]],
) -> resources_pb2.MetricData:
    """One time series per label set; samples stamped with the first second of their minute."""
    data = resources_pb2.MetricData()
    for labels, samples in series.items():
        added = data.matrix_data.series.add()
        for label, label_value in labels:
            added.labels.add(name=label, value=label_value)
        for minute, value in samples:
            sample = added.value.add(value=value)
            sample.timestamp.seconds = minute * 60
    return data


def label_values(
    metric_type: int, labels: Iterable[int], seen: Mapping[int, set[str]]
) -> resources_pb2.MetricTypeLabels:
    """Each label of ``metric_type`` with the values counted so far, sorted."""
    message = resources_pb2.MetricTypeLabels(metric_type=metric_type)  # type: ignore[arg-type]
    for label in labels:
        message.labels.add(label=label, values=sorted(seen.get(label, ())))
    return message
