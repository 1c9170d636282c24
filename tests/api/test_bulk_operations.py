"""Bulk operations through the official client on both channels: what each operation did to
the inputs, the progress and states reported, and the requests refused."""

from __future__ import annotations

import time
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import struct_pb2

from tests.api.conftest import Api, key_metadata
from tests.api.test_apps_keys import create_app, create_key
from tests.api.test_concepts_annotations_datasets import add_image, ua
from tests.api.test_inputs import wait_until_done

SUCCESS = status_code_pb2.SUCCESS
FINISHED = (
    status_code_pb2.BULK_OPERATION_SUCCESS,
    status_code_pb2.BULK_OPERATION_FAILED,
    status_code_pb2.BULK_OPERATION_CANCELLED,
)
Concept = resources_pb2.Concept
Operation = resources_pb2.Operation


def struct(**values: Any) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def post(api: Api, app: str, *operations: resources_pb2.BulkOperation) -> Any:
    return api.stub.PostBulkOperations(
        service_pb2.PostBulkOperationsRequest(user_app_id=ua(app), bulk_operations=operations),
        metadata=api.pat,
    )


def get(api: Api, app: str, operation_id: str) -> Any:
    return api.stub.GetBulkOperation(
        service_pb2.GetBulkOperationRequest(user_app_id=ua(app), id=operation_id),
        metadata=api.pat,
    )


def run(api: Api, app: str, operation: resources_pb2.BulkOperation) -> Any:
    """Post one operation and poll it as a script would until it finishes."""
    posted = post(api, app, operation)
    assert posted.status.code == SUCCESS, posted.status
    assert posted.bulk_operation[0].status.code in (
        status_code_pb2.BULK_OPERATION_PENDING,
        status_code_pb2.BULK_OPERATION_IN_PROGRESS,
        status_code_pb2.BULK_OPERATION_SUCCESS,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = get(api, app, posted.bulk_operation[0].id)
        assert got.status.code == SUCCESS, got.status
        if got.bulk_operation.status.code in FINISHED:
            return got.bulk_operation
        time.sleep(0.05)
    raise AssertionError("the bulk operation did not finish in 30 s")


def on_ids(ids: list[str], operation: Operation, operation_id: str = "") -> Any:
    return resources_pb2.BulkOperation(
        id=operation_id, input_ids=resources_pb2.InputIDs(input_ids=ids), operation=operation
    )


def inputs_of(api: Api, app: str, *ids: str) -> dict[str, Any]:
    found = {}
    for input_id in ids:
        response = api.stub.GetInput(
            service_pb2.GetInputRequest(user_app_id=ua(app), input_id=input_id), metadata=api.pat
        )
        assert response.status.code == SUCCESS, response.status
        found[input_id] = response.input
    return found


def app_with_images(api: Api, *ids: str) -> str:
    app = create_app(api).id
    for input_id in ids:
        add_image(api, app, input_id)
    for input_id in ids:
        wait_until_done(api, app, input_id)
    return app


def test_concepts_and_metadata_are_added_and_deleted_on_the_inputs_given(api: Api) -> None:
    app = app_with_images(api, "a", "b", "c")
    add = Operation(
        add_concepts=resources_pb2.AddConcepts(
            concepts=[Concept(id="cat", value=1), Concept(id="dog", value=1)]
        )
    )
    done = run(api, app, on_ids(["a", "b"], add, "add-cats"))

    assert done.id == "add-cats"
    assert done.status.code == status_code_pb2.BULK_OPERATION_SUCCESS, done.status
    assert (done.progress.processed, done.progress.last_processed_id) == (2, "b")
    assert list(done.input_ids.input_ids) == ["a", "b"]
    assert done.operation.add_concepts.concepts[0].id == "cat"
    assert done.created_by and done.app_id == app
    found = inputs_of(api, app, "a", "b", "c")
    assert sorted(c.id for c in found["a"].data.concepts) == ["cat", "dog"]
    assert not found["c"].data.concepts

    remove = Operation(delete_concepts=resources_pb2.DeleteConcepts(concepts=[Concept(id="dog")]))
    assert (
        run(api, app, on_ids(["a"], remove)).status.code == status_code_pb2.BULK_OPERATION_SUCCESS
    )
    found = inputs_of(api, app, "a", "b")
    assert [c.id for c in found["a"].data.concepts] == ["cat"]
    assert sorted(c.id for c in found["b"].data.concepts) == ["cat", "dog"]

    tag = Operation(add_metadata=resources_pb2.AddMetadata(metadata=struct(batch=7, owner="ann")))
    run(api, app, on_ids(["a", "b", "c"], tag))
    untag = Operation(delete_metadata=resources_pb2.DeleteMetadata(metadata=struct(owner="")))
    run(api, app, on_ids(["c"], untag))
    found = inputs_of(api, app, "a", "c")
    assert dict(found["a"].data.metadata) == {"batch": 7, "owner": "ann"}
    assert dict(found["c"].data.metadata) == {"batch": 7}

    geo = resources_pb2.Geo(geo_point=resources_pb2.GeoPoint(longitude=2.35, latitude=48.85))
    run(api, app, on_ids(["a"], Operation(overwrite_geo=resources_pb2.OverwriteGeo(geo=geo))))
    assert round(inputs_of(api, app, "a")["a"].data.geo.geo_point.latitude, 2) == 48.85
    run(api, app, on_ids(["a"], Operation(delete_geo=resources_pb2.DeleteGeo())))
    assert not inputs_of(api, app, "a")["a"].data.HasField("geo")


def search_ids(api: Api, app: str, query: resources_pb2.Query) -> list[str]:
    response = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=ua(app), searches=[resources_pb2.Search(query=query)]
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return sorted(hit.input.id for hit in response.hits)


def metadata_query(**values: Any) -> resources_pb2.Query:
    data = resources_pb2.Data(metadata=struct(**values))
    return resources_pb2.Query(filters=[resources_pb2.Filter(input=resources_pb2.Input(data=data))])


def test_operations_over_a_search_and_a_dataset(api: Api) -> None:
    app = app_with_images(api, "x1", "x2", "y1")
    datasets = api.stub.PostDatasets(
        service_pb2.PostDatasetsRequest(
            user_app_id=ua(app), datasets=[resources_pb2.Dataset(id="picked")]
        ),
        metadata=api.pat,
    )
    assert datasets.status.code == SUCCESS, datasets.status
    tag = Operation(add_metadata=resources_pb2.AddMetadata(metadata=struct(group="x")))
    run(api, app, on_ids(["x1", "x2"], tag))
    assert search_ids(api, app, metadata_query(group="x")) == ["x1", "x2"]

    # The search's results, then the dataset's inputs.
    into = Operation(add_to_dataset=resources_pb2.AddToDataset(dataset_id="picked"))
    by_search = resources_pb2.BulkOperation(
        search=resources_pb2.Search(query=metadata_query(group="x")), operation=into
    )
    done = run(api, app, by_search)
    assert done.progress.processed == 2
    listed = api.stub.ListDatasetInputs(
        service_pb2.ListDatasetInputsRequest(user_app_id=ua(app), dataset_id="picked"),
        metadata=api.pat,
    )
    assert sorted(one.input.id for one in listed.dataset_inputs) == ["x1", "x2"]

    label = Operation(add_concepts=resources_pb2.AddConcepts(concepts=[Concept(id="x", value=1)]))
    over_dataset = resources_pb2.BulkOperation(
        dataset=resources_pb2.Dataset(id="picked"), operation=label
    )
    done = run(api, app, over_dataset)
    assert done.dataset.id == "picked"
    by_concept = resources_pb2.Query(
        filters=[
            resources_pb2.Filter(
                annotation=resources_pb2.Annotation(
                    data=resources_pb2.Data(concepts=[Concept(id="x", value=1)])
                )
            )
        ]
    )
    assert search_ids(api, app, by_concept) == ["x1", "x2"]

    out = Operation(delete_from_dataset=resources_pb2.DeleteFromDataset(dataset_id="picked"))
    run(api, app, on_ids(["x1"], out))
    listed = api.stub.ListDatasetInputs(
        service_pb2.ListDatasetInputsRequest(user_app_id=ua(app), dataset_id="picked"),
        metadata=api.pat,
    )
    assert [one.input.id for one in listed.dataset_inputs] == ["x2"]


def test_list_cancel_and_delete_bulk_operations(api: Api) -> None:
    app = app_with_images(api, "p")
    tag = Operation(add_metadata=resources_pb2.AddMetadata(metadata=struct(n=1)))
    for operation_id in ("first", "second", "third"):
        run(api, app, on_ids(["p"], tag, operation_id))

    def listed(**paging: int) -> list[str]:
        response = api.stub.ListBulkOperations(
            service_pb2.ListBulkOperationsRequest(user_app_id=ua(app), **paging),
            metadata=api.pat,
        )
        assert response.status.code == SUCCESS, response.status
        return [one.id for one in response.bulk_operation]

    assert listed() == ["third", "second", "first"]
    assert listed(page=2, per_page=2) == ["first"]
    # Cancelling a finished operation leaves it as it finished.
    cancelled = api.stub.CancelBulkOperations(
        service_pb2.CancelBulkOperationRequest(user_app_id=ua(app), ids=["first"]),
        metadata=api.pat,
    )
    assert cancelled.status.code == SUCCESS, cancelled.status
    assert cancelled.bulk_operation[0].status.code == status_code_pb2.BULK_OPERATION_SUCCESS

    deleted = api.stub.DeleteBulkOperations(
        service_pb2.DeleteBulkOperationRequest(user_app_id=ua(app), ids=["first", "third"]),
        metadata=api.pat,
    )
    assert deleted.status.code == SUCCESS, deleted.status
    assert listed() == ["second"]
    assert get(api, app, "first").status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    taken = post(api, app, on_ids(["p"], tag, "second"))
    assert taken.status.code == status_code_pb2.BULK_OPERATION_INVALID_REQUEST, taken.status


def test_bulk_operations_refuse_what_they_cannot_do(api: Api) -> None:
    app = app_with_images(api, "q")
    label = Operation(add_concepts=resources_pb2.AddConcepts(concepts=[Concept(id="c", value=1)]))
    split = Operation(split_into_datasets=resources_pb2.SplitIntoDatasets())
    for operation, code, words in [
        (on_ids(["q"], split), status_code_pb2.BULK_OPERATION_INVALID_REQUEST, "add_to_dataset"),
        (
            on_ids(["q"], Operation()),
            status_code_pb2.BULK_OPERATION_INVALID_REQUEST,
            "add_concepts",
        ),
        (on_ids(["q", "nope"], label), status_code_pb2.CONN_DOES_NOT_EXIST, "nope"),
        (
            on_ids(["q"], Operation(add_to_dataset=resources_pb2.AddToDataset(dataset_id="zz"))),
            status_code_pb2.CONN_DOES_NOT_EXIST,
            "zz",
        ),
        (
            resources_pb2.BulkOperation(annotation_search=resources_pb2.Search(), operation=label),
            status_code_pb2.BULK_OPERATION_INVALID_REQUEST,
            "annotation_search",
        ),
        (
            on_ids(
                ["q"],
                Operation(
                    add_concepts=resources_pb2.AddConcepts(concepts=[Concept(id="c", value=0.5)])
                ),
            ),
            status_code_pb2.BULK_OPERATION_INVALID_REQUEST,
            "0.5",
        ),
    ]:
        refused = post(api, app, operation)
        assert refused.status.code == code, (operation, refused.status)
        assert words in refused.status.description, refused.status
    listed = api.stub.ListBulkOperations(
        service_pb2.ListBulkOperationsRequest(user_app_id=ua(app)), metadata=api.pat
    )
    assert not listed.bulk_operation  # nothing refused was kept


def test_a_key_needs_the_bulk_operation_scopes(api: Api) -> None:
    app = app_with_images(api, "k")
    reader = key_metadata(create_key(api, app, ["BulkOperation_Get", "Apps_Get"]))
    tag = Operation(add_metadata=resources_pb2.AddMetadata(metadata=struct(n=1)))
    refused = api.stub.PostBulkOperations(
        service_pb2.PostBulkOperationsRequest(bulk_operations=[on_ids(["k"], tag)]),
        metadata=reader,
    )
    assert refused.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES, refused.status
    assert "BulkOperation_Add" in refused.status.description + refused.status.details
    run(api, app, on_ids(["k"], tag, "by-the-owner"))
    listed = api.stub.ListBulkOperations(service_pb2.ListBulkOperationsRequest(), metadata=reader)
    assert listed.status.code == SUCCESS, listed.status
    assert [one.id for one in listed.bulk_operation] == ["by-the-owner"]
