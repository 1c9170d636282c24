"""The audit log (PostAuditLogSearches) and usage metrics (PostMetricsQuery, ListMetricLabels)
through the official client on both channels."""

from __future__ import annotations

import io
import time

import numpy as np
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import wrappers_pb2
from PIL import Image

from tests.api.conftest import Api, key_metadata
from tests.api.test_apps_keys import create_app, create_key
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
EVENT = resources_pb2.EventType
METRIC = resources_pb2.MetricType
LABEL = resources_pb2.MetricLabel
OPERATOR = resources_pb2.MetricAggregate


def audit_search(api: Api, **query: object) -> list[resources_pb2.AuditLogEntry]:
    pagination = query.pop("pagination", None)
    ascending = bool(query.pop("sort_ascending", False))
    response = api.stub.PostAuditLogSearches(
        service_pb2.PostAuditLogSearchesRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="me"),
            query=resources_pb2.AuditLogQuery(**query),  # type: ignore[arg-type]
            pagination=pagination,  # type: ignore[arg-type]
            sort_ascending=ascending,
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return list(response.entries)


def app_target(app_id: str) -> resources_pb2.AuditLogTarget:
    return resources_pb2.AuditLogTarget(app=resources_pb2.App(id=app_id))


def test_writes_are_recorded_with_who_what_where_and_how_they_ended(api: Api) -> None:
    app = create_app(api)
    scope = resources_pb2.UserAppIDSet(user_id="me", app_id=app.id)
    added = api.stub.PostConcepts(
        service_pb2.PostConceptsRequest(user_app_id=scope, concepts=[{"id": "cat"}]),
        metadata=api.pat,
    )
    refused = api.stub.PostConcepts(
        service_pb2.PostConceptsRequest(user_app_id=scope, concepts=[{"id": "cat"}]),
        metadata=api.pat,
    )
    api.stub.ListConcepts(service_pb2.ListConceptsRequest(user_app_id=scope), metadata=api.pat)

    entries = audit_search(api, targets=[app_target(app.id)], sort_ascending=True)

    assert [e.description for e in entries] == [
        "PostConcepts succeeded",
        f"PostConcepts failed with status {refused.status.code}",
    ]  # the read (ListConcepts) is not recorded
    first, second = entries
    assert first.req_id == added.status.req_id and second.req_id == refused.status.req_id
    assert (first.success, second.success) == (True, False)
    assert first.user.id == "admin" and first.source_ip == "127.0.0.1"
    assert first.targets[0].app.id == app.id and first.targets[0].app.user_id == "admin"
    assert "method: PostConcepts" in first.details
    assert any(d.startswith("key: ") and len(d) > len("key: ") for d in first.details)
    assert first.timestamp.seconds >= time.time() - 120


def test_audit_search_filters_and_pages(api: Api) -> None:
    app = create_app(api)
    key = create_key(api, app.id, ["All"])
    scope = resources_pb2.UserAppIDSet(app_id=app.id)
    for name in ("a", "b", "c"):
        api.stub.PostConcepts(
            service_pb2.PostConceptsRequest(user_app_id=scope, concepts=[{"id": name}]),
            metadata=key_metadata(key),
        )
    api.stub.PostConcepts(
        service_pb2.PostConceptsRequest(user_app_id=scope, concepts=[{"id": "a"}]),
        metadata=key_metadata(key),
    )
    target = [app_target(app.id)]

    by_key = audit_search(api, targets=target)
    failed = audit_search(api, targets=target, success=wrappers_pb2.BoolValue(value=False))
    newest = audit_search(api, targets=target, pagination=service_pb2.Pagination(per_page=2))
    second_page = audit_search(
        api, targets=target, pagination=service_pb2.Pagination(page=2, per_page=2)
    )
    elsewhere = audit_search(api, targets=target, source_ips=["10.1.2.3"])

    # The app key's calls are its owner's, told apart by the key.
    assert len(by_key) == 4 and {e.user.id for e in by_key} == {"admin"}
    assert len({d for e in by_key for d in e.details if d.startswith("key: ")}) == 1
    assert [e.success for e in failed] == [False]
    assert [e.success for e in newest] == [False, True]
    assert len(second_page) == 2 and all(e.success for e in second_page)
    assert elsewhere == []


def test_app_creation_is_found_by_its_operation(api: Api) -> None:
    before = int(time.time()) - 1
    created = api.stub.PostApps(
        service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=unique_id("app"))]),
        metadata=api.pat,
    )
    assert created.status.code == SUCCESS, created.status

    entries = audit_search(
        api,
        operations=[EVENT.APPLICATION_CREATE],
        timestamp_from={"seconds": before},
        user_ids=["admin"],
    )

    # Other tests' PostApps calls (some refused) may fall in the same second: this call's
    # entry is found by its req_id, and every entry the filter returns is an app creation.
    mine = [e for e in entries if e.req_id == created.status.req_id]
    assert [e.description for e in mine] == ["PostApps succeeded"]
    assert {e.operation for e in entries} == {EVENT.APPLICATION_CREATE}


def test_audit_search_refuses_what_it_cannot_match(api: Api) -> None:
    for query in (
        resources_pb2.AuditLogQuery(
            targets=[resources_pb2.AuditLogTarget(model=resources_pb2.Model(id="m"))]
        ),
        resources_pb2.AuditLogQuery(source_ips=["not-an-ip"]),
    ):
        response = api.stub.PostAuditLogSearches(
            service_pb2.PostAuditLogSearchesRequest(
                user_app_id=resources_pb2.UserAppIDSet(user_id="me"), query=query
            ),
            metadata=api.pat,
        )
        assert response.status.code == status_code_pb2.CONN_INVALID_REQUEST, response.status
        assert response.status.description


def tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), (200, 30, 30), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def predict(api: Api, app_id: str, model_id: str) -> int:
    response = api.stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="me", app_id=app_id),
            model_id=model_id,
            inputs=[
                resources_pb2.Input(
                    data=resources_pb2.Data(image=resources_pb2.Image(base64=tiny_png()))
                )
            ],
        ),
        metadata=api.pat,
    )
    return int(response.status.code)


def metrics_query(api: Api, query: resources_pb2.MetricSearchQuery) -> object:
    return api.stub.PostMetricsQuery(
        service_pb2.PostMetricsQueryRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="me"), query=query
        ),
        metadata=api.pat,
    )


def series_by_labels(response: object) -> dict[tuple[tuple[int, str], ...], list[float]]:
    series = response.data.matrix_data.series  # type: ignore[attr-defined]
    return {
        tuple((label.name, label.value) for label in s.labels): [v.value for v in s.value]
        for s in series
    }


def test_model_requests_are_counted_by_model_and_status(api: Api) -> None:
    app = create_app(api)
    assert predict(api, app.id, "color-recognition") == SUCCESS
    assert predict(api, app.id, "color-recognition") == SUCCESS
    missing = predict(api, app.id, unique_id("no-such-model"))
    assert missing != SUCCESS
    only_this_app = [resources_pb2.MetricFilter(label=LABEL.APP_ID, equals=app.id)]

    counts = metrics_query(
        api,
        resources_pb2.MetricSearchQuery(
            metric_type=METRIC.MODEL_REQUEST_COUNT,
            resolution="1h",
            filters=only_this_app,
            aggregate=resources_pb2.MetricAggregate(labels=[LABEL.HTTP_STATUS]),
        ),
    )
    latency = metrics_query(
        api,
        resources_pb2.MetricSearchQuery(
            metric_type=METRIC.MODEL_E2E_LATENCY,
            resolution="1h",
            filters=[
                *only_this_app,
                resources_pb2.MetricFilter(label=LABEL.MODEL_ID, equals="color-recognition"),
            ],
            aggregate=resources_pb2.MetricAggregate(operator=OPERATOR.MAX, labels=[LABEL.MODEL_ID]),
        ),
    )

    assert counts.status.code == SUCCESS, counts.status  # type: ignore[attr-defined]
    assert counts.resolution == "60m"  # type: ignore[attr-defined]
    assert series_by_labels(counts) == {
        ((LABEL.HTTP_STATUS, "200"),): [2.0],
        ((LABEL.HTTP_STATUS, "404"),): [1.0],
    }
    (slowest,) = series_by_labels(latency)[((LABEL.MODEL_ID, "color-recognition"),)]
    assert 0 < slowest < 60


def test_metric_labels_list_the_values_counted(api: Api) -> None:
    app = create_app(api)
    assert predict(api, app.id, "color-recognition") == SUCCESS

    response = api.stub.ListMetricLabels(
        service_pb2.ListMetricLabelsRequest(
            user_app_id=resources_pb2.UserAppIDSet(user_id="me"),
            metric_types=[METRIC.MODEL_REQUEST_COUNT],
        ),
        metadata=api.pat,
    )

    assert response.status.code == SUCCESS, response.status
    (labels,) = response.metric_type_labels
    values = {entry.label: set(entry.values) for entry in labels.labels}
    assert app.id in values[LABEL.APP_ID]
    assert "color-recognition" in values[LABEL.MODEL_ID]
    assert "200" in values[LABEL.HTTP_STATUS]


def test_metrics_refuse_what_clarion_does_not_count(api: Api) -> None:
    for query in (
        resources_pb2.MetricSearchQuery(metric_type=METRIC.NODEPOOL_GPU_UTILIZATION),
        resources_pb2.MetricSearchQuery(metric_type=METRIC.MODEL_REQUEST_COUNT, resolution="5s"),
        resources_pb2.MetricSearchQuery(
            metric_type=METRIC.MODEL_E2E_LATENCY,
            aggregate=resources_pb2.MetricAggregate(operator=OPERATOR.P99),
        ),
    ):
        response = metrics_query(api, query)
        status = response.status  # type: ignore[attr-defined]
        assert status.code == status_code_pb2.CONN_INVALID_REQUEST, status
        assert "Clarion" in status.description or "resolution" in status.description
