"""``app.search``, saved searches and ``clarion search`` against a real server: gRPC and
HTTP+JSON, sync and async. One app of six images (chelsea, two altered copies of her, coffee,
rocket, astronaut) and two texts is uploaded once for the module and searched by every test."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from click.testing import CliRunner, Result
from PIL import Image, ImageEnhance
from skimage import data as skimage_data

from clarion import errors
from clarion.cli.client_commands import search as search_command
from clarion.client import App, Client, Filter, GeoBox, Hit, Input, Near, SavedSearch, Text
from clarion.client._queries import build_query
from clarion.testing import RunningServer
from tests.client.conftest import CHELSEA, COFFEE, Driver, base_url, jpeg
from tests.client.faults import Faults, grpc_proxy, http_proxy
from tests.conftest import unique_id
from tests.images import ImageServer

_CHELSEA = Image.fromarray(skimage_data.chelsea())


CATS = {
    "chelsea": CHELSEA,
    "chelsea-mirrored": jpeg(np.asarray(_CHELSEA.transpose(Image.Transpose.FLIP_LEFT_RIGHT))),
    "chelsea-darker": jpeg(np.asarray(ImageEnhance.Brightness(_CHELSEA).enhance(0.7))),
}
OTHERS = {
    "coffee": COFFEE,
    "rocket": jpeg(skimage_data.rocket()),
    "astronaut": jpeg(skimage_data.astronaut()),
}
IMAGES = {**CATS, **OTHERS}
TEXTS = {"t-cat": "A cat sitting on a sofa", "t-money": "Quarterly revenue grew by eight percent"}
ALL = {*IMAGES, *TEXTS}
METADATA: dict[str, dict[str, Any]] = {
    "chelsea": {"kind": "cat", "color": "orange", "owner": {"name": "ann"}},
    "chelsea-mirrored": {"kind": "cat", "color": "orange"},
    "chelsea-darker": {"kind": "cat", "color": "grey"},
    "coffee": {"kind": "drink", "color": "red"},
    "rocket": {"kind": "vehicle", "color": "red"},
    "astronaut": {"kind": "person"},
}
# (longitude, latitude): Paris, Tokyo
GEO = {"chelsea": (2.35, 48.85), "rocket": (139.69, 35.69)}


@pytest.fixture(scope="module")
def search_app_id(server: RunningServer) -> Iterator[str]:
    """The app, with every image uploaded, annotated, geo-tagged and ingested."""
    app_id = unique_id("search")
    with Client(server.http_url, pat=server.admin_pat, app_id=app_id) as client:
        client.apps.create(app_id)
        app = client.app()
        for input_id, content in IMAGES.items():
            report = app.inputs.upload(
                [content],
                ids=[input_id],
                concepts=["cat"] if input_id in CATS else (),
                metadata=METADATA[input_id],
            )
            assert report.succeeded, report.failed
        texts = app.inputs.upload([Text(raw) for raw in TEXTS.values()], ids=list(TEXTS))
        assert texts.succeeded, texts.failed
        app.inputs.update("coffee", concepts={"cat": False})
        _tag_places(client, app_id, server.admin_pat)
        _wait_until_ingested(app, len(ALL))
        yield app_id
        client.apps.delete(app_id)


def _tag_places(client: Client, app_id: str, pat: str) -> None:
    """Geo points, set the low-level way: ``inputs.update`` does not take them."""
    patches = []
    for input_id, (longitude, latitude) in GEO.items():
        data = resources_pb2.Data()
        data.geo.geo_point.longitude, data.geo.geo_point.latitude = longitude, latitude
        patches.append(resources_pb2.Input(id=input_id, data=data))
    request = service_pb2.PatchInputsRequest(
        user_app_id=resources_pb2.UserAppIDSet(app_id=app_id), inputs=patches, action="merge"
    )
    response: Any = client.transport.call(
        "PatchInputs", request, metadata=(("authorization", f"Key {pat}"),), timeout=30
    )
    assert response.status.code == 10000, response.status


def _wait_until_ingested(app: App, count: int) -> None:
    """Until every input has left pending; any failed input fails the module."""
    deadline = time.monotonic() + 60
    while True:
        found = list(app.inputs.list())
        assert not [i.id for i in found if not i.pending and not i.ready], "ingestion failed"
        if len(found) == count and all(i.ready for i in found):
            return
        assert time.monotonic() < deadline, [(i.id, i.status.name) for i in found]
        time.sleep(0.1)


@pytest.fixture
def app(server: RunningServer, mode: tuple[str, str], drive: Driver, search_app_id: str) -> Any:
    """The search app, on ``Client`` or ``AsyncClient`` over gRPC or HTTP+JSON."""
    made = drive.client(base_url(server, mode[0]), pat=server.admin_pat, app_id=search_app_id)
    return made.app()


def ids(hits: list[Hit]) -> list[str]:
    return [hit.input.id for hit in hits]


def test_visual_search_ranks_chelsea_and_her_copies_first(
    app: Any, drive: Driver, images: ImageServer, tmp_path: Path
) -> None:
    (tmp_path / "query.jpg").write_bytes(CHELSEA)

    by_path = drive.list(app.search(tmp_path / "query.jpg"))
    by_url = drive.list(app.search(images.url("/chelsea.jpg"), limit=3))
    by_bytes = drive.list(app.search(COFFEE, limit=1))
    like_input = drive.list(app.search(input_id="chelsea-mirrored", limit=3))

    assert set(ids(by_path)[:3]) == set(CATS)
    assert sorted(ids(by_path)) == sorted(IMAGES)  # texts are not in the visual index
    scores = [hit.score for hit in by_path]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0, abs=0.01)
    first = by_path[0]
    assert isinstance(first, Hit) and isinstance(first.input, Input)
    assert isinstance(first.proto, resources_pb2.Hit) and first.proto.input.id == first.input.id
    assert first.input.metadata == METADATA[first.input.id]
    assert [c.id for c in first.input.concepts] == ["cat"]
    assert set(ids(by_url)) == set(CATS)
    assert ids(by_bytes) == ["coffee"]
    assert set(ids(like_input)) == set(CATS)


def test_concept_and_text_search(app: Any, drive: Driver) -> None:
    cats = drive.list(app.search(concepts=["cat"]))
    espresso = drive.list(app.search(concepts="espresso", limit=1))
    meaning = drive.list(app.search(text="a kitten resting on a couch"))
    both = drive.list(app.search(CHELSEA, concepts=["cat"], limit=3))

    assert set(ids(cats)[:3]) == set(CATS)
    assert "rocket" not in ids(cats) or ids(cats).index("rocket") > 2
    assert ids(espresso) == ["coffee"]
    assert ids(meaning) == ["t-cat", "t-money"]
    assert set(ids(both)) == set(CATS)


def test_filters(app: Any, drive: Driver) -> None:
    def found(**options: Any) -> set[str]:
        return set(ids(drive.list(app.search(**options))))

    assert found(metadata={"kind": "cat"}) == set(CATS)
    assert found(metadata={"kind": "cat", "color": "orange"}) == {"chelsea", "chelsea-mirrored"}
    assert found(metadata={"owner": {"name": "ann"}}) == {"chelsea"}
    assert found(filter_concepts=["cat"]) == set(CATS)
    assert found(filter_concepts={"cat": False}) == {"coffee"}
    assert found(geo=Near(2.35, 48.85, km=10)) == {"chelsea"}
    assert found(geo=Near(2.35, 48.85, miles=10_000)) == {"chelsea", "rocket"}
    assert found(geo=GeoBox(west=130, south=30, east=140, north=40)) == {"rocket"}
    assert found(input_ids=["coffee", "rocket"]) == {"coffee", "rocket"}
    assert found(input_type="image") == set(IMAGES)
    assert found(input_type="text") == set(TEXTS)
    assert found(status=30000) == set(ALL)
    assert found(updated_after=datetime.now(UTC) + timedelta(days=1)) == set()
    assert found(updated_before=datetime.now(UTC) + timedelta(days=1)) == set(ALL)
    assert found(exclude=Filter(metadata={"kind": "cat"})) == {*OTHERS, *TEXTS}
    assert found(
        metadata={"color": "red"}, exclude=[Filter(input_ids=["rocket"]), Filter(metadata={"x": 1})]
    ) == {"coffee"}
    ranked = drive.list(app.search(CHELSEA, metadata={"color": "red"}))
    assert [hit.input.id for hit in ranked] in (["coffee", "rocket"], ["rocket", "coffee"])
    assert all(0.0 <= hit.score < 0.99 for hit in ranked)


def test_paging_limits_and_counts(app: Any, drive: Driver) -> None:
    in_one = drive.list(app.search(CHELSEA, per_page=10))
    paged = drive.list(app.search(CHELSEA, per_page=2))
    first_four = drive.list(app.search(CHELSEA, per_page=3, limit=4))
    newest_first = drive.list(app.search(metadata={"kind": "cat"}, per_page=1))

    assert ids(paged) == ids(in_one) and len(paged) == len(IMAGES)
    assert ids(first_four) == ids(in_one)[:4]
    assert len(newest_first) == 3 and {hit.score for hit in newest_first} == {1.0}
    assert drive(app.search(CHELSEA).count()) == len(IMAGES)
    assert drive(app.search(metadata={"kind": "cat"}).count()) == 3
    assert drive(app.search(CHELSEA, metadata={"kind": "nothing"}).count()) == 0
    confident = drive.list(app.search(CHELSEA, min_value=0.9))
    assert "chelsea" in ids(confident) and set(ids(confident)) <= set(CATS)
    assert all(hit.score >= 0.9 for hit in confident)


@contextmanager
def proxied(server: RunningServer, transport: str, faults: Faults) -> Iterator[str]:
    if transport == "grpc":
        with grpc_proxy(server.grpc_target, faults) as target:
            yield f"grpc://{target}"
    else:
        with http_proxy(server.http_url, faults) as url:
            yield url


def test_each_page_is_a_call_retried_and_timed_as_any(
    server: RunningServer, mode: tuple[str, str], drive: Driver, search_app_id: str
) -> None:
    faults = Faults("throttle")
    with proxied(server, mode[0], faults) as base:
        client = drive.client(base, pat=server.admin_pat, app_id=search_app_id)
        hits = drive.list(client.app().search(CHELSEA, per_page=2))
    direct = drive.client(base_url(server, mode[0]), pat=server.admin_pat, app_id=search_app_id)

    assert len(hits) == len(IMAGES)
    assert faults.calls == 5  # a throttled try, then pages 1 to 3 (full) and 4 (empty)
    assert {method.rsplit("/", 1)[-1] for method in faults.methods} == (
        {"PostInputsSearches"} if mode[0] == "grpc" else {"searches"}
    )
    with pytest.raises(errors.Timeout):
        drive(direct.app().search(CHELSEA).count(timeout=0.001))


def test_saved_searches(app: Any, drive: Driver) -> None:
    search_id = unique_id("cats")

    saved = drive(app.searches.save(app.search(metadata={"kind": "cat"}), search_id=search_id))
    renamed = drive(
        app.searches.save(app.search(filter_concepts=["cat"]), search_id=search_id, name="Cats")
    )
    picked = drive(app.searches.save(resources_pb2.Query(), name="everything"))
    got = drive(app.searches.get(search_id))
    listed = drive.list(app.searches.list(per_page=1))
    hits = drive.list(app.searches.run(search_id, per_page=2))
    counted = drive(app.searches.run(search_id).count())
    everything = drive.list(app.searches.run(picked.id, limit=4))
    drive(app.searches.delete(search_id))
    drive(app.searches.delete(picked.id))

    assert isinstance(saved, SavedSearch) and saved.id == search_id and saved.created_at
    assert saved.query["filters"][0]["annotation"]["data"]["metadata"] == {"kind": "cat"}
    assert isinstance(saved.proto, resources_pb2.Search)
    assert (renamed.id, renamed.name) == (search_id, "Cats")
    assert "concepts" in renamed.query["filters"][0]["annotation"]["data"]
    assert len(picked.id) == 32 and picked.name == "everything"
    assert got == renamed
    assert {search_id, picked.id} <= {s.id for s in listed}
    assert set(ids(hits)) == set(CATS) and counted == 3
    assert len(everything) == 4
    with pytest.raises(errors.NotFound):
        drive(app.searches.get(search_id))
    with pytest.raises(ValueError, match="saved already"):
        drive(app.searches.save(app.searches.run(picked.id)))


def test_errors_and_bad_arguments(app: Any, drive: Driver) -> None:
    with pytest.raises(errors.InvalidArgument) as no_index:
        drive.list(app.search(input_id="no-such-input"))
    with pytest.raises(errors.InvalidArgument):
        drive.list(app.search(CHELSEA, per_page=1001))
    with pytest.raises(errors.InvalidArgument) as bad_image:
        drive.list(app.search(b"not an image"))

    assert no_index.value.code == 40002 and "no-such-input" in no_index.value.description
    assert bad_image.value.code == 40002 and bad_image.value.req_id
    with pytest.raises(ValueError, match="one or two"):
        app.search(input_ids=["a", "b", "c"])
    with pytest.raises(ValueError, match="every input"):
        app.search(exclude=Filter())
    with pytest.raises(ValueError, match="empty"):
        app.search(text=" ")
    with pytest.raises(FileNotFoundError):
        app.search("no/such/file.jpg")


def test_geo_values_check_themselves() -> None:
    assert Near(1, 2, km=3).limit == ("withinKilometers", 3.0)
    assert Near(1, 2, radians=0.1).limit == ("withinRadians", 0.1)
    with pytest.raises(ValueError, match="one radius"):
        Near(1, 2)
    with pytest.raises(ValueError, match="one radius"):
        Near(1, 2, km=1, miles=1)
    with pytest.raises(ValueError, match="outside"):
        Near(200, 0, km=1)
    with pytest.raises(ValueError, match="west <= east"):
        GeoBox(10, 0, 5, 1)


def test_one_filter_holds_every_condition_and_exclusions_are_negated() -> None:
    after = datetime(2024, 1, 2, tzinfo=UTC)
    query = build_query(
        where=Filter(
            concepts={"cat": True, "dog": False},
            dataset_ids="photos",
            status=30000,
            input_type="image",
            updated_after=after,
        ),
        exclude=Filter(input_ids=["a", "b"]),
    )

    kept, left_out = query.filters
    assert [(c.id, c.value) for c in kept.annotation.data.concepts] == [("cat", 1.0), ("dog", 0.0)]
    assert list(kept.input.dataset_ids) == ["photos"] and kept.input.status.code == 30000
    assert kept.input.data.HasField("image") and not kept.negate
    assert kept.last_updated_time_range.start_time.ToDatetime(UTC) == after
    assert not kept.last_updated_time_range.HasField("end_time")
    assert left_out.negate and (left_out.input.id, left_out.annotation.input_id) == ("a", "b")
    assert list(build_query().ranks) == [] and list(build_query(where=Filter()).filters) == []


# the CLI


@pytest.fixture(params=["http", "grpc"])
def env(
    request: pytest.FixtureRequest, server: RunningServer, search_app_id: str
) -> dict[str, str]:
    base = server.http_url if request.param == "http" else f"grpc://{server.grpc_target}"
    return {
        "CLARIFAI_API_BASE": base,
        "CLARIFAI_PAT": server.admin_pat,
        "CLARIFAI_APP_ID": search_app_id,
    }


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(search_command, list(args), env=env, catch_exceptions=False)


def test_cli_search_prints_a_table_or_json(env: dict[str, str], tmp_path: Path) -> None:
    query = tmp_path / "query.jpg"
    query.write_bytes(CHELSEA)

    table = run(env, "--image", str(query), "--limit", "3")
    by_concept = json.loads(run(env, "--concept", "cat", "--json", "--per-page", "2").stdout)
    filtered = json.loads(
        run(env, "--image", str(query), "--metadata", '{"color": "red"}', "--json").stdout
    )
    labeled = json.loads(run(env, "--filter-concept", "cat", "--limit", "0", "--json").stdout)
    meaning = json.loads(run(env, "--text", "a kitten on a couch", "--limit", "1", "--json").stdout)
    counted = run(env, "--metadata", '{"kind": "cat"}', "--count")
    counted_json = json.loads(run(env, "--input-id", "chelsea", "--count", "--json").stdout)

    assert table.exit_code == 0, table.output
    lines = [line for line in table.stdout.splitlines() if "chelsea" in line]
    assert len(lines) == 3 and all("cat" in line for line in lines)
    assert "1.000" in table.stdout and "score" in table.stdout
    assert {hit["input"]["id"] for hit in by_concept[:3]} == set(CATS)
    assert "proto" not in by_concept[0] and len(by_concept) >= 3
    assert {hit["input"]["id"] for hit in filtered} == {"coffee", "rocket"}
    assert {hit["input"]["id"] for hit in labeled} == set(CATS)
    assert [hit["input"]["id"] for hit in meaning] == ["t-cat"]
    assert counted.exit_code == 0 and counted.stdout.strip() == "3"
    assert counted_json == {"count": len(IMAGES)}


def test_cli_search_exit_codes(env: dict[str, str]) -> None:
    nothing = run(env)
    bad_json = run(env, "--metadata", "[1]")
    missing = run(env, "--image", "no/such/file.jpg")
    refused = run(env, "--input-id", "no-such-input")
    empty = run(env, "--text", " ")

    assert nothing.exit_code == 2 and "--image" in nothing.stderr
    assert bad_json.exit_code == 2 and "JSON object" in bad_json.stderr
    assert missing.exit_code == 1 and "file.jpg" in missing.stderr
    assert refused.exit_code == 1 and "SEARCH_INVALID_REQUEST 40002" in refused.stderr
    assert empty.exit_code == 2 and "empty" in empty.stderr
