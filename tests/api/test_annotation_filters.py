"""Annotation filters (CRUD) and PatchInputsSearches/PatchAnnotationsSearches through the
official client on both channels."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

from tests.api.conftest import Api
from tests.api.test_training import new_app

SUCCESS = status_code_pb2.SUCCESS


def concept_search(concept_id: str) -> resources_pb2.Search:
    return resources_pb2.Search(
        query=resources_pb2.Query(
            filters=[
                resources_pb2.Filter(
                    annotation=resources_pb2.Annotation(
                        data=resources_pb2.Data(concepts=[resources_pb2.Concept(id=concept_id)])
                    )
                )
            ]
        )
    )


def filtered_concept(message: Any) -> str:
    return str(message.search.query.filters[0].annotation.data.concepts[0].id)


def test_annotation_filters_are_created_read_listed_patched_and_deleted(api: Api) -> None:
    ua = new_app(api)
    created = api.stub.PostAnnotationFilters(
        service_pb2.PostAnnotationFiltersRequest(
            user_app_id=ua,
            annotation_filters=[
                resources_pb2.AnnotationFilter(id="cats", search=concept_search("cat")),
                resources_pb2.AnnotationFilter(id="dogs", search=concept_search("dog")),
            ],
        ),
        metadata=api.pat,
    )
    assert created.status.code == SUCCESS, created.status
    assert [f.id for f in created.annotation_filters] == ["cats", "dogs"]

    got = api.stub.GetAnnotationFilter(
        service_pb2.GetAnnotationFilterRequest(user_app_id=ua, annotation_filter_id="cats"),
        metadata=api.pat,
    )
    assert got.status.code == SUCCESS, got.status
    assert filtered_concept(got.annotation_filter) == "cat"
    assert got.annotation_filter.app_id == ua.app_id

    def listed(**paging: int) -> list[str]:
        response = api.stub.ListAnnotationFilters(
            service_pb2.ListAnnotationFiltersRequest(user_app_id=ua, **paging), metadata=api.pat
        )
        assert response.status.code == SUCCESS, response.status
        return [f.id for f in response.annotation_filters]

    assert listed() == ["dogs", "cats"]
    assert listed(page=2, per_page=1) == ["cats"]

    patched = api.stub.PatchAnnotationFilters(
        service_pb2.PatchAnnotationFiltersRequest(
            user_app_id=ua,
            annotation_filters=[
                resources_pb2.AnnotationFilter(id="cats", search=concept_search("kitten"))
            ],
            action="overwrite",
        ),
        metadata=api.pat,
    )
    assert patched.status.code == SUCCESS, patched.status
    again = api.stub.GetAnnotationFilter(
        service_pb2.GetAnnotationFilterRequest(user_app_id=ua, annotation_filter_id="cats"),
        metadata=api.pat,
    )
    assert filtered_concept(again.annotation_filter) == "kitten"

    deleted = api.stub.DeleteAnnotationFilters(
        service_pb2.DeleteAnnotationFiltersRequest(user_app_id=ua, annotation_filter_ids=["dogs"]),
        metadata=api.pat,
    )
    assert deleted.status.code == SUCCESS, deleted.status
    assert listed() == ["cats"]


def test_annotation_filters_that_cannot_be_kept_are_refused(api: Api) -> None:
    ua = new_app(api)

    def post(*filters: Any) -> Any:
        return api.stub.PostAnnotationFilters(
            service_pb2.PostAnnotationFiltersRequest(user_app_id=ua, annotation_filters=filters),
            metadata=api.pat,
        )

    assert (
        post(resources_pb2.AnnotationFilter(id="a", search=concept_search("x"))).status.code
        == SUCCESS
    )
    taken = post(resources_pb2.AnnotationFilter(id="a", search=concept_search("x")))
    assert taken.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "already exists" in taken.status.description
    empty = post(resources_pb2.AnnotationFilter(id="b"))
    assert empty.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "search.query" in empty.status.description
    missing = api.stub.DeleteAnnotationFilters(
        service_pb2.DeleteAnnotationFiltersRequest(
            user_app_id=ua, annotation_filter_ids=["a", "zz"]
        ),
        metadata=api.pat,
    )
    assert missing.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
    still = api.stub.GetAnnotationFilter(
        service_pb2.GetAnnotationFilterRequest(user_app_id=ua, annotation_filter_id="a"),
        metadata=api.pat,
    )
    assert still.status.code == SUCCESS  # nothing deleted when one id is unknown
    merge = api.stub.PatchAnnotationFilters(
        service_pb2.PatchAnnotationFiltersRequest(
            user_app_id=ua,
            annotation_filters=[resources_pb2.AnnotationFilter(id="a", search=concept_search("y"))],
            action="merge",
        ),
        metadata=api.pat,
    )
    assert merge.status.code == status_code_pb2.CONN_INVALID_REQUEST
    assert "overwrite" in merge.status.description


def test_saved_inputs_and_annotations_searches_are_patched(api: Api) -> None:
    ua = new_app(api)
    saved = concept_search("cat")
    saved.id, saved.save, saved.name = "mine", True, "cats"
    posted = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(user_app_id=ua, searches=[saved]), metadata=api.pat
    )
    assert posted.status.code == SUCCESS, posted.status

    renamed = api.stub.PatchInputsSearches(
        service_pb2.PatchInputsSearchesRequest(
            user_app_id=ua,
            searches=[resources_pb2.Search(id="mine", name="kittens")],
            action="overwrite",
        ),
        metadata=api.pat,
    )
    assert renamed.status.code == SUCCESS, renamed.status
    changed = concept_search("kitten")
    changed.id = "mine"
    requeried = api.stub.PatchAnnotationsSearches(
        service_pb2.PatchAnnotationsSearchesRequest(
            user_app_id=ua, searches=[changed], action="overwrite"
        ),
        metadata=api.pat,
    )
    assert requeried.status.code == SUCCESS, requeried.status

    got = api.stub.GetSearch(
        service_pb2.GetSearchRequest(user_app_id=ua, id="mine"), metadata=api.pat
    )
    assert got.search.name == "kittens"
    assert got.search.query.filters[0].annotation.data.concepts[0].id == "kitten"
    absent = api.stub.PatchInputsSearches(
        service_pb2.PatchInputsSearchesRequest(
            user_app_id=ua, searches=[resources_pb2.Search(id="nope", name="x")]
        ),
        metadata=api.pat,
    )
    assert absent.status.code == status_code_pb2.CONN_DOES_NOT_EXIST
