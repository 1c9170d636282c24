"""Search over an app's inputs through the official client on both channels."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2
from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from PIL import Image, ImageEnhance
from skimage import data as skimage_data

from clarion.testing import RunningServer, running_server
from tests.api.conftest import Api, key_metadata, official_stub
from tests.api.test_apps_keys import create_key
from tests.conftest import unique_id

SUCCESS = status_code_pb2.SUCCESS
APP = "searchable"


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


CHELSEA_IMAGE = Image.fromarray(skimage_data.chelsea())
CHELSEA = jpeg(CHELSEA_IMAGE)
VARIANTS = {
    "chelsea": CHELSEA,
    "chelsea-mirrored": jpeg(CHELSEA_IMAGE.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    "chelsea-darker": jpeg(ImageEnhance.Brightness(CHELSEA_IMAGE).enhance(0.7)),
}
OTHERS = {
    "coffee": jpeg(Image.fromarray(skimage_data.coffee())),
    "rocket": jpeg(Image.fromarray(skimage_data.rocket())),
    "astronaut": jpeg(Image.fromarray(skimage_data.astronaut())),
}
METADATA: dict[str, dict[str, Any]] = {
    "chelsea": {"kind": "cat", "owner": {"name": "ann", "age": 30}, "tags": ["pet", "indoor"]},
    "chelsea-mirrored": {"kind": "cat", "owner": {"name": "bob"}},
    "chelsea-darker": {"kind": "cat", "tags": ["pet"]},
    "coffee": {"kind": "drink", "tags": ["indoor"]},
    "rocket": {"kind": "vehicle"},
    "astronaut": {"kind": "person"},
}
# (longitude, latitude): Paris, near Paris, Tokyo
GEO = {"chelsea": (2.35, 48.85), "chelsea-mirrored": (2.30, 48.80), "rocket": (139.69, 35.69)}
TEXTS = {"t-cat": "A cat sitting on a sofa", "t-money": "Quarterly revenue grew by eight percent"}


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def image_input(input_id: str, content: bytes) -> resources_pb2.Input:
    data = resources_pb2.Data(
        image=resources_pb2.Image(base64=content), metadata=struct(METADATA[input_id])
    )
    if input_id in GEO:
        lon, lat = GEO[input_id]
        data.geo.geo_point.longitude, data.geo.geo_point.latitude = lon, lat
    if input_id.startswith("chelsea"):
        data.concepts.append(resources_pb2.Concept(id="cat", value=1))
    if input_id == "coffee":
        data.concepts.append(resources_pb2.Concept(id="cat", value=0))
    return resources_pb2.Input(
        id=input_id, data=data, dataset_ids=["photos"] if input_id != "rocket" else []
    )


@pytest.fixture(scope="module")
def search_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("search")) as server:
        stub = official_stub(server, "grpc")
        pat = (("authorization", f"Key {server.admin_pat}"),)
        ua = resources_pb2.UserAppIDSet(app_id=APP)
        stub.PostApps(service_pb2.PostAppsRequest(apps=[resources_pb2.App(id=APP)]), metadata=pat)
        stub.PostDatasets(
            service_pb2.PostDatasetsRequest(
                user_app_id=ua, datasets=[resources_pb2.Dataset(id="photos")]
            ),
            metadata=pat,
        )
        images = [image_input(i, c) for i, c in {**VARIANTS, **OTHERS}.items()]
        texts = [
            resources_pb2.Input(id=i, data=resources_pb2.Data(text=resources_pb2.Text(raw=t)))
            for i, t in TEXTS.items()
        ]
        posted = stub.PostInputs(
            service_pb2.PostInputsRequest(user_app_id=ua, inputs=images + texts), metadata=pat
        )
        assert posted.status.code == SUCCESS, posted.status
        deadline = time.monotonic() + 60
        while True:
            counts = stub.GetInputCount(
                service_pb2.GetInputCountRequest(user_app_id=ua), metadata=pat
            ).counts
            if counts.processed == len(images) + len(texts):
                break
            assert time.monotonic() < deadline and counts.errors == 0, counts
            time.sleep(0.1)
        yield server


@pytest.fixture(params=["grpc", "json"])
def api(request: pytest.FixtureRequest, search_server: RunningServer) -> Api:
    return Api(official_stub(search_server, request.param), request.param, search_server)


def search(
    api: Api, query: resources_pb2.Query, per_page: int = 20, page: int = 1, **fields: Any
) -> Any:
    response = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=APP),
            searches=[resources_pb2.Search(query=query, **fields)],
            pagination=service_pb2.Pagination(page=page, per_page=per_page),
        ),
        metadata=api.pat,
    )
    assert response.status.code == SUCCESS, response.status
    return response


def ids(response: Any) -> list[str]:
    return [hit.input.id for hit in response.hits]


def rank(**data: Any) -> resources_pb2.Rank:
    return resources_pb2.Rank(annotation=resources_pb2.Annotation(data=resources_pb2.Data(**data)))


def by_metadata(values: dict[str, Any], negate: bool = False) -> resources_pb2.Filter:
    return resources_pb2.Filter(
        negate=negate,
        annotation=resources_pb2.Annotation(data=resources_pb2.Data(metadata=struct(values))),
    )


def test_visual_search_ranks_the_image_and_its_altered_copies_first(api: Api) -> None:
    response = search(
        api, resources_pb2.Query(ranks=[rank(image=resources_pb2.Image(base64=CHELSEA))])
    )

    assert set(ids(response)[:3]) == set(VARIANTS)
    scores = [hit.score for hit in response.hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] == pytest.approx(1.0, abs=0.01)
    assert response.hit_counts[0].estimated_total == 6  # the images; texts are another space


def test_visual_search_by_input_id(api: Api) -> None:
    by_id = resources_pb2.Rank(annotation=resources_pb2.Annotation(input_id="chelsea-mirrored"))
    response = search(api, resources_pb2.Query(ranks=[by_id]), per_page=3)
    assert set(ids(response)) == set(VARIANTS)


def test_concept_rank_puts_the_cat_above_the_rocket(api: Api) -> None:
    response = search(
        api, resources_pb2.Query(ranks=[rank(concepts=[resources_pb2.Concept(name="cat")])])
    )
    found = ids(response)
    assert set(found[:3]) == set(VARIANTS)
    assert "rocket" not in found or found.index("rocket") > 2


def test_text_rank_matches_concepts_and_texts(api: Api) -> None:
    to_image = search(api, resources_pb2.Query(ranks=[rank(text=resources_pb2.Text(raw="a cat"))]))
    found = ids(to_image)
    assert set(VARIANTS) <= set(found[:4])  # the cat photos by their concept names
    assert "rocket" not in found[:4]
    to_text = search(
        api,
        resources_pb2.Query(
            ranks=[rank(text=resources_pb2.Text(raw="a kitten resting on a couch"))],
            filters=[
                resources_pb2.Filter(
                    input=resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text()))
                )
            ],
        ),
    )
    assert ids(to_text) == ["t-cat", "t-money"]


def test_filters_alone(api: Api) -> None:
    def filtered(*filters: resources_pb2.Filter) -> set[str]:
        return set(ids(search(api, resources_pb2.Query(filters=list(filters)))))

    annotated_cat = resources_pb2.Filter(
        annotation=resources_pb2.Annotation(
            data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="cat", value=1)])
        )
    )
    assert filtered(annotated_cat) == set(VARIANTS)
    not_cat = resources_pb2.Filter(
        annotation=resources_pb2.Annotation(
            data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="cat", value=0)])
        )
    )
    assert filtered(not_cat) == {"coffee"}
    assert filtered(by_metadata({"owner": {"name": "ann"}})) == {"chelsea"}
    assert filtered(by_metadata({"tags": ["indoor"]})) == {"chelsea", "coffee"}
    assert filtered(by_metadata({"tags": ["pet", "indoor"]})) == {"chelsea"}
    assert filtered(by_metadata({"kind": "cat"}), by_metadata({"tags": ["pet"]})) == {
        "chelsea",
        "chelsea-darker",
    }
    assert filtered(by_metadata({"kind": "cat"}, negate=True)) == {
        "coffee",
        "rocket",
        "astronaut",
        *TEXTS,
    }
    near_paris = resources_pb2.Geo(
        geo_point=resources_pb2.GeoPoint(longitude=2.35, latitude=48.85),
        geo_limit=resources_pb2.GeoLimit(type="withinKilometers", value=10),
    )
    geo_filter = resources_pb2.Filter(
        annotation=resources_pb2.Annotation(data=resources_pb2.Data(geo=near_paris))
    )
    assert filtered(geo_filter) == {"chelsea", "chelsea-mirrored"}
    near_paris.geo_limit.CopyFrom(resources_pb2.GeoLimit(type="withinMiles", value=10000))
    geo_filter.annotation.data.geo.CopyFrom(near_paris)
    assert filtered(geo_filter) == {"chelsea", "chelsea-mirrored", "rocket"}
    box = resources_pb2.Geo(
        geo_box=[
            resources_pb2.GeoBoxedPoint(
                geo_point=resources_pb2.GeoPoint(longitude=130, latitude=30)
            ),
            resources_pb2.GeoBoxedPoint(
                geo_point=resources_pb2.GeoPoint(longitude=140, latitude=40)
            ),
        ]
    )
    assert filtered(
        resources_pb2.Filter(annotation=resources_pb2.Annotation(data=resources_pb2.Data(geo=box)))
    ) == {"rocket"}
    text_only = resources_pb2.Filter(
        input=resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text()))
    )
    assert filtered(text_only) == set(TEXTS)
    in_dataset = resources_pb2.Filter(input=resources_pb2.Input(dataset_ids=["photos"]))
    assert filtered(in_dataset) == {*VARIANTS, "coffee", "astronaut"}
    by_ids = resources_pb2.Filter(input=resources_pb2.Input(id="coffee"))
    assert filtered(by_ids) == {"coffee"}
    succeeded = resources_pb2.Filter(input=resources_pb2.Input(status=status_pb2_status(30000)))
    assert len(filtered(succeeded)) == 8
    future = resources_pb2.Filter(
        last_updated_time_range=resources_pb2.TimeRange(start_time=Timestamp(seconds=4_000_000_000))
    )
    assert filtered(future) == set()


def test_an_empty_rank_or_filter_is_absent(api: Api) -> None:
    """The modern SDKs send one empty rank with every filter-only query."""
    text_only = resources_pb2.Filter(
        input=resources_pb2.Input(data=resources_pb2.Data(text=resources_pb2.Text()))
    )
    as_the_sdk_sends_it = resources_pb2.Query(
        filters=[text_only], ranks=[resources_pb2.Rank(annotation=resources_pb2.Annotation())]
    )
    assert set(ids(search(api, as_the_sdk_sends_it))) == set(TEXTS)

    nothing_at_all = resources_pb2.Query(
        filters=[resources_pb2.Filter(annotation=resources_pb2.Annotation())],
        ranks=[resources_pb2.Rank(annotation=resources_pb2.Annotation())],
    )
    assert len(ids(search(api, nothing_at_all))) == len(VARIANTS) + 3 + len(TEXTS)


def status_pb2_status(code: int) -> Any:
    from clarifai_grpc.grpc.api.status import status_pb2

    return status_pb2.Status(code=code)


def test_rank_and_filter_combined_with_pages_and_counts(api: Api) -> None:
    query = resources_pb2.Query(
        ranks=[rank(image=resources_pb2.Image(base64=CHELSEA))],
        filters=[by_metadata({"tags": ["indoor"]})],
    )
    first = search(api, query, per_page=1, page=1)
    second = search(api, query, per_page=1, page=2)
    third = search(api, query, per_page=1, page=3)
    assert ids(first) == ["chelsea"] and ids(second) == ["coffee"] and ids(third) == []
    only = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=APP),
            searches=[resources_pb2.Search(query=query)],
            only_count=True,
        ),
        metadata=api.pat,
    )
    assert list(only.hits) == [] and only.hit_counts[0].estimated_total == 2
    confident = search(
        api,
        resources_pb2.Query(ranks=[rank(image=resources_pb2.Image(base64=CHELSEA))]),
        min_value=0.9,
    )
    assert set(ids(confident)) <= set(VARIANTS) and "chelsea" in ids(confident)


def test_several_ranks_and_negation(api: Api) -> None:
    both = search(
        api,
        resources_pb2.Query(
            ranks=[
                rank(image=resources_pb2.Image(base64=OTHERS["coffee"])),
                rank(concepts=[resources_pb2.Concept(name="espresso")]),
            ]
        ),
    )
    assert ids(both)[0] == "coffee"
    away = search(
        api,
        resources_pb2.Query(
            ranks=[
                resources_pb2.Rank(
                    negate=True,
                    annotation=resources_pb2.Annotation(
                        data=resources_pb2.Data(image=resources_pb2.Image(base64=CHELSEA))
                    ),
                )
            ],
            filters=[
                resources_pb2.Filter(
                    input=resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image()))
                )
            ],
        ),
    )
    assert ids(away)[-3:] and set(ids(away)[-3:]) == set(VARIANTS)


def test_saved_searches(api: Api) -> None:
    search_id = f"saved-{api.transport}"
    query = resources_pb2.Query(filters=[by_metadata({"kind": "cat"})])
    search(api, query, id=search_id, name="cats", save=True)
    ua = resources_pb2.UserAppIDSet(app_id=APP)

    got = api.stub.GetSearch(
        service_pb2.GetSearchRequest(user_app_id=ua, id=search_id), metadata=api.pat
    )
    assert got.status.code == SUCCESS and got.search.name == "cats"
    listed = api.stub.ListSearches(
        service_pb2.ListSearchesRequest(user_app_id=ua), metadata=api.pat
    )
    assert search_id in [s.id for s in listed.searches]
    rerun = api.stub.PostSearchesByID(
        service_pb2.PostSearchesByIDRequest(user_app_id=ua, id=search_id), metadata=api.pat
    )
    assert set(ids(rerun)) == set(VARIANTS)
    patched = api.stub.PatchSearches(
        service_pb2.PatchSearchesRequest(
            user_app_id=ua,
            searches=[resources_pb2.Search(id=search_id, name="felines")],
            action="overwrite",
        ),
        metadata=api.pat,
    )
    assert patched.searches[0].name == "felines"
    deleted = api.stub.DeleteSearch(
        service_pb2.DeleteSearchRequest(user_app_id=ua, id=search_id), metadata=api.pat
    )
    assert deleted.status.code == SUCCESS
    gone = api.stub.GetSearch(
        service_pb2.GetSearchRequest(user_app_id=ua, id=search_id), metadata=api.pat
    )
    assert gone.status.code == status_code_pb2.CONN_DOES_NOT_EXIST


def test_annotation_searches_and_legacy_post_searches(api: Api) -> None:
    ua = resources_pb2.UserAppIDSet(app_id=APP)
    query = resources_pb2.Query(filters=[by_metadata({"owner": {"name": "ann"}})])
    annotated = api.stub.PostAnnotationsSearches(
        service_pb2.PostAnnotationsSearchesRequest(
            user_app_id=ua, searches=[resources_pb2.Search(query=query)]
        ),
        metadata=api.pat,
    )
    assert annotated.status.code == SUCCESS, annotated.status
    assert annotated.hits[0].annotation.input_id == "chelsea"
    assert [c.id for c in annotated.hits[0].annotation.data.concepts] == ["cat"]
    legacy = api.stub.PostSearches(
        service_pb2.PostSearchesRequest(user_app_id=ua, query=query), metadata=api.pat
    )
    assert ids(legacy) == ["chelsea"]


def legacy_search(api: Api, *ands: resources_pb2.And) -> Any:
    """PostSearches with the legacy ``Query.ands``, as the deprecated clients send it."""
    return api.stub.PostSearches(
        service_pb2.PostSearchesRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=APP),
            query=resources_pb2.Query(ands=list(ands)),
            pagination=service_pb2.Pagination(per_page=20),
        ),
        metadata=api.pat,
    )


def predicted(name: str, value: float = 1.0) -> resources_pb2.And:
    concept = resources_pb2.Concept(name=name, value=value)
    return resources_pb2.And(
        output=resources_pb2.Output(data=resources_pb2.Data(concepts=[concept]))
    )


def given(**data: Any) -> resources_pb2.And:
    return resources_pb2.And(input=resources_pb2.Input(data=resources_pb2.Data(**data)))


def test_legacy_ands_search_by_predictions_annotations_metadata_and_images(api: Api) -> None:
    espresso = legacy_search(api, predicted("espresso"))
    assert espresso.status.code == SUCCESS, espresso.status
    assert ids(espresso) == ["coffee"]  # only what was predicted espresso
    assert 0.5 < espresso.hits[0].score < 1.0  # the prediction's value

    cats = given(concepts=[resources_pb2.Concept(id="cat", value=1)])
    assert set(ids(legacy_search(api, cats))) == set(VARIANTS)

    not_cats = resources_pb2.And(input=cats.input, negate=True)
    assert set(ids(legacy_search(api, not_cats))) == {*OTHERS, *TEXTS}

    like_chelsea = resources_pb2.And(
        output=resources_pb2.Output(
            input=resources_pb2.Input(
                data=resources_pb2.Data(image=resources_pb2.Image(base64=CHELSEA))
            )
        )
    )
    assert set(ids(legacy_search(api, like_chelsea))[:3]) == set(VARIANTS)
    owned_by_bob = given(metadata=struct({"owner": {"name": "bob"}}))
    assert ids(legacy_search(api, like_chelsea, owned_by_bob)) == ["chelsea-mirrored"]

    by_input = resources_pb2.And(
        output=resources_pb2.Output(input=resources_pb2.Input(id="coffee"))
    )
    assert ids(legacy_search(api, by_input))[0] == "coffee"


def test_legacy_ands_refuse_what_they_cannot_search_by(api: Api) -> None:
    by_region = resources_pb2.And(
        output=resources_pb2.Output(
            data=resources_pb2.Data(regions=[resources_pb2.Region(id="r1")])
        )
    )
    refused = legacy_search(api, by_region)
    assert refused.status.code == 40002
    assert "output.data.regions" in refused.status.description

    by_url = given(image=resources_pb2.Image(url="https://example.invalid/cat.jpg"))
    refused = legacy_search(api, predicted("cat"), by_url)
    assert refused.status.code == 40002
    assert "input.data.image.url" in refused.status.description


def test_legacy_ands_over_raw_json_read_a_missing_value_as_predicted(
    search_server: RunningServer,
) -> None:
    """As npm clarifai@2 sends it: no value means 1, an explicit 0 means not predicted."""

    def posted(concept: dict[str, Any]) -> list[str]:
        body = {"query": {"ands": [{"output": {"data": {"concepts": [concept]}}}]}}
        response = httpx.post(
            f"{search_server.http_url}/v2/users/me/apps/{APP}/searches",
            headers={"Authorization": f"Key {search_server.admin_pat}"},
            json=body,
        )
        assert response.status_code == 200, response.text
        return [hit["input"]["id"] for hit in response.json()["hits"]]

    assert posted({"name": "espresso"}) == ["coffee"]
    not_espresso = posted({"name": "espresso", "value": 0})
    assert "coffee" not in not_espresso[:-1] and len(not_espresso) > 1


def test_bad_geo_unit_is_a_search_error(api: Api) -> None:
    geo = resources_pb2.Geo(
        geo_point=resources_pb2.GeoPoint(longitude=1, latitude=1),
        geo_limit=resources_pb2.GeoLimit(type="withinFurlongs", value=1),
    )
    response = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=resources_pb2.UserAppIDSet(app_id=APP),
            searches=[
                resources_pb2.Search(
                    query=resources_pb2.Query(
                        filters=[
                            resources_pb2.Filter(
                                annotation=resources_pb2.Annotation(
                                    data=resources_pb2.Data(geo=geo)
                                )
                            )
                        ]
                    )
                )
            ],
        ),
        metadata=api.pat,
    )
    assert response.status.code == 40002
    assert "withinFurlongs" in response.status.description


def _point(longitude: float, latitude: float) -> resources_pb2.GeoPoint:
    return resources_pb2.GeoPoint(longitude=longitude, latitude=latitude)


def _circle(center: resources_pb2.GeoPoint, radius: float) -> resources_pb2.Geo:
    return resources_pb2.Geo(
        geo_point=center, geo_limit=resources_pb2.GeoLimit(type="withinKilometers", value=radius)
    )


def _box(*corners: resources_pb2.GeoPoint) -> resources_pb2.Geo:
    return resources_pb2.Geo(geo_box=[resources_pb2.GeoBoxedPoint(geo_point=c) for c in corners])


@pytest.mark.parametrize("method", ["PostInputsSearches", "PostSearches"])
@pytest.mark.parametrize(
    ("geo", "named"),
    [
        pytest.param(_circle(_point(2.35, 48.85), -1), "geo.geo_limit.value", id="negative-radius"),
        pytest.param(
            _circle(_point(2.35, 48.85), float("nan")), "geo.geo_limit.value", id="nan-radius"
        ),
        pytest.param(_circle(_point(2.35, 100), 10), "geo.geo_point.latitude", id="latitude-100"),
        pytest.param(
            _circle(_point(float("nan"), 48.85), 10), "geo.geo_point.longitude", id="nan-longitude"
        ),
        pytest.param(
            _box(_point(130, 30), _point(181, 40)),
            "geo.geo_box[1].geo_point.longitude",
            id="box-longitude-181",
        ),
    ],
)
def test_a_geo_filter_off_the_map_is_a_search_error_naming_the_field(
    api: Api, method: str, geo: resources_pb2.Geo, named: str
) -> None:
    query = resources_pb2.Query(
        filters=[
            resources_pb2.Filter(
                annotation=resources_pb2.Annotation(data=resources_pb2.Data(geo=geo))
            )
        ]
    )
    ua = resources_pb2.UserAppIDSet(app_id=APP)
    if method == "PostInputsSearches":
        request: Any = service_pb2.PostInputsSearchesRequest(
            user_app_id=ua, searches=[resources_pb2.Search(query=query)]
        )
    else:
        request = service_pb2.PostSearchesRequest(user_app_id=ua, query=query)

    response = getattr(api.stub, method)(request, metadata=api.pat)

    assert response.status.code == 40002, response.status
    assert named in response.status.description
    assert list(response.hits) == []


def test_a_refused_search_is_not_saved(api: Api) -> None:
    ua = resources_pb2.UserAppIDSet(app_id=APP)
    search_id = f"off-the-map-{api.transport}"
    geo = _circle(_point(2.35, 48.85), -1)
    query = resources_pb2.Query(
        filters=[
            resources_pb2.Filter(
                annotation=resources_pb2.Annotation(data=resources_pb2.Data(geo=geo))
            )
        ]
    )

    response = api.stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=ua, searches=[resources_pb2.Search(id=search_id, query=query, save=True)]
        ),
        metadata=api.pat,
    )

    assert response.status.code == 40002, response.status
    kept = api.stub.GetSearch(
        service_pb2.GetSearchRequest(user_app_id=ua, id=search_id), metadata=api.pat
    )
    assert kept.status.code == status_code_pb2.CONN_DOES_NOT_EXIST, kept.status


def test_deleted_inputs_never_come_back(api: Api) -> None:
    ua = resources_pb2.UserAppIDSet(app_id=APP)
    extra = f"gone-{api.transport}"
    api.stub.PostInputs(
        service_pb2.PostInputsRequest(
            user_app_id=ua,
            inputs=[
                resources_pb2.Input(
                    id=extra, data=resources_pb2.Data(image=resources_pb2.Image(base64=CHELSEA))
                )
            ],
        ),
        metadata=api.pat,
    )
    deadline = time.monotonic() + 30
    while extra not in ids(
        search(api, resources_pb2.Query(ranks=[rank(image=resources_pb2.Image(base64=CHELSEA))]))
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    api.stub.DeleteInputs(
        service_pb2.DeleteInputsRequest(user_app_id=ua, ids=[extra]), metadata=api.pat
    )
    assert extra not in ids(
        search(api, resources_pb2.Query(ranks=[rank(image=resources_pb2.Image(base64=CHELSEA))]))
    )


# Saving a search writes to the app: read access (a public app, clarifai/main) is not enough.

SEARCH_METHODS = {
    "PostInputsSearches": service_pb2.PostInputsSearchesRequest,
    "PostAnnotationsSearches": service_pb2.PostAnnotationsSearchesRequest,
    "PostSearches": service_pb2.PostSearchesRequest,
}
READ_SCOPES = [
    "Annotations_Get",
    "Apps_Get",
    "Concepts_Get",
    "Inputs_Get",
    "Models_Get",
    "Search",
    "Workflows_Get",
    "SavedSearch_Get",
]
CATS = resources_pb2.Query(filters=[by_metadata({"kind": "cat"})])
DRINKS = resources_pb2.Query(filters=[by_metadata({"kind": "drink"})])


def run_search(
    api: Api,
    method: str,
    ua: resources_pb2.UserAppIDSet,
    token: str,
    query: resources_pb2.Query,
    **fields: Any,
) -> Any:
    request = SEARCH_METHODS[method](
        user_app_id=ua, searches=[resources_pb2.Search(query=query, **fields)]
    )
    return getattr(api.stub, method)(request, metadata=key_metadata(token))


def other_users_pat(server: RunningServer) -> str:
    from clarion.server.app import open_admin

    admin = open_admin(server.settings)
    user_id = unique_id("user")
    admin.users.create_user(user_id)
    pat = admin.users.create_pat(user_id)
    admin.store.close()
    return str(pat)


def saved_ids(api: Api, ua: resources_pb2.UserAppIDSet) -> list[str]:
    listed = api.stub.ListSearches(
        service_pb2.ListSearchesRequest(user_app_id=ua, per_page=1000), metadata=api.pat
    )
    assert listed.status.code == SUCCESS, listed.status
    return [saved.id for saved in listed.searches]


@pytest.mark.parametrize("method", list(SEARCH_METHODS))
def test_another_user_cannot_save_searches_in_a_public_app(api: Api, method: str) -> None:
    app_id = unique_id("public")
    created = api.stub.PostApps(
        service_pb2.PostAppsRequest(
            apps=[
                resources_pb2.App(
                    id=app_id,
                    visibility=resources_pb2.Visibility(gettable=resources_pb2.Visibility.PUBLIC),
                )
            ]
        ),
        metadata=api.pat,
    )
    assert created.status.code == SUCCESS, created.status
    ua = resources_pb2.UserAppIDSet(user_id="admin", app_id=app_id)
    owner_saved = run_search(api, method, ua, api.server.admin_pat, CATS, id="shared", save=True)
    assert owner_saved.status.code == SUCCESS, owner_saved.status
    intruder = other_users_pat(api.server)

    overwrite = run_search(api, method, ua, intruder, DRINKS, id="shared", name="x", save=True)
    planted = run_search(api, method, ua, intruder, DRINKS, id="planted", save=True)
    read_only = run_search(api, method, ua, intruder, DRINKS)

    for refused in (overwrite, planted):
        assert refused.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES, refused.status
        assert f"admin/{app_id}" in refused.status.description
        assert "without 'save'" in refused.status.description
        assert not refused.hits
    assert read_only.status.code == SUCCESS, read_only.status
    assert saved_ids(api, ua) == ["shared"]
    kept = api.stub.GetSearch(
        service_pb2.GetSearchRequest(user_app_id=ua, id="shared"), metadata=api.pat
    )
    assert kept.search.query == CATS
    assert kept.search.name == ""


def test_nobody_saves_searches_in_clarifai_main(api: Api) -> None:
    main = resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main")
    search_id = unique_id("planted")

    refused = run_search(
        api, "PostInputsSearches", main, api.server.admin_pat, CATS, id=search_id, save=True
    )
    read_only = run_search(api, "PostInputsSearches", main, api.server.admin_pat, CATS)

    assert refused.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES, refused.status
    assert "clarifai/main" in refused.status.description
    assert read_only.status.code == SUCCESS, read_only.status
    assert search_id not in saved_ids(api, main)


def test_saving_a_search_needs_the_saved_search_add_scope(api: Api) -> None:
    ua = resources_pb2.UserAppIDSet(user_id="admin", app_id=APP)
    reader = create_key(api, APP, READ_SCOPES)
    saver = create_key(api, APP, [*READ_SCOPES, "SavedSearch_Add"])
    refused_id, saved_id = unique_id("refused"), unique_id("saved")

    refused = run_search(api, "PostInputsSearches", ua, reader, CATS, id=refused_id, save=True)
    read_only = run_search(api, "PostInputsSearches", ua, reader, CATS)
    saved = run_search(api, "PostInputsSearches", ua, saver, CATS, id=saved_id, save=True)

    assert refused.status.code == status_code_pb2.CONN_INSUFFICIENT_SCOPES, refused.status
    assert "SavedSearch_Add" in refused.status.description
    assert set(ids(read_only)) == set(VARIANTS)
    assert saved.status.code == SUCCESS, saved.status
    listed = saved_ids(api, ua)
    assert saved_id in listed
    assert refused_id not in listed


def test_a_concept_rank_by_its_name_in_the_query_language(api: Api) -> None:
    """A concept the models predict, given a French name in the app: a French query ranks by
    it. (Each transport adds its own concept, so the two runs do not meet.)"""
    ua = resources_pb2.UserAppIDSet(app_id=APP)
    vocabulary = api.stub.PostConceptsSearches(
        service_pb2.PostConceptsSearchesRequest(
            user_app_id=ua,
            concept_query=resources_pb2.ConceptQuery(name="cat", ignore_app_concepts=True),
        ),
        metadata=api.pat,
    )
    cat = next(c for c in vocabulary.concepts if c.name == "cat")
    posted = api.stub.PostConcepts(
        service_pb2.PostConceptsRequest(
            user_app_id=ua, concepts=[resources_pb2.Concept(id=cat.id)]
        ),
        metadata=api.pat,
    )
    assert posted.status.code in (SUCCESS, status_code_pb2.CONCEPTS_INVALID_REQUEST)  # other run
    french = f"chat-{api.transport}"
    api.stub.PostConceptLanguages(
        service_pb2.PostConceptLanguagesRequest(
            user_app_id=ua,
            concept_id=cat.id,
            concept_languages=[
                resources_pb2.ConceptLanguage(id=f"fr-{api.transport}", name=french)
            ],
        ),
        metadata=api.pat,
    )
    by_name = [rank(concepts=[resources_pb2.Concept(name=french)])]

    in_french = search(api, resources_pb2.Query(ranks=by_name, language=f"fr-{api.transport}"))
    assert set(ids(in_french)[:3]) == set(VARIANTS)
    assert ids(search(api, resources_pb2.Query(ranks=by_name))) == []


def test_a_hit_shows_its_input_as_get_input_does(api: Api) -> None:
    # The hits are read in one statement (inputs, datasets, input-level concepts): each must
    # show its input as GetInput reads it, an input in two datasets among them.
    ua = resources_pb2.UserAppIDSet(app_id=APP)
    second = f"more-{api.transport}"
    for request in (
        service_pb2.PostDatasetsRequest(
            user_app_id=ua, datasets=[resources_pb2.Dataset(id=second)]
        ),
        service_pb2.PostDatasetInputsRequest(
            user_app_id=ua,
            dataset_id=second,
            dataset_inputs=[resources_pb2.DatasetInput(input=resources_pb2.Input(id="chelsea"))],
        ),
    ):
        method = type(request).__name__.removesuffix("Request")
        answered = getattr(api.stub, method)(request, metadata=api.pat)
        assert answered.status.code == SUCCESS, answered.status

    by_id = resources_pb2.Rank(annotation=resources_pb2.Annotation(input_id="chelsea"))
    found = search(api, resources_pb2.Query(ranks=[by_id]), per_page=5)

    assert len(found.hits) == 5
    for hit in found.hits:
        got = api.stub.GetInput(
            service_pb2.GetInputRequest(user_app_id=ua, input_id=hit.input.id), metadata=api.pat
        )
        assert hit.input == got.input
    chelsea = next(hit.input for hit in found.hits if hit.input.id == "chelsea")
    assert {"photos", second} <= set(chelsea.dataset_ids)  # the other transport's run adds one
    assert [c.id for c in chelsea.data.concepts] == ["cat"]
    assert chelsea.data.metadata["owner"]["name"] == "ann"
