"""The high-level client against a real server: gRPC and HTTP+JSON, sync and async."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2

from clarion import errors
from clarion.client import Client, Concept, GrpcTransport, HttpTransport, Text
from clarion.testing import RunningServer
from tests.client.conftest import (
    CAT_CONCEPTS,
    CHELSEA,
    COFFEE,
    COFFEE_CONCEPTS,
    Driver,
    base_url,
)
from tests.conftest import unique_id
from tests.images import ImageServer

GENERAL = "general-image-recognition"


def test_predict_from_a_path_bytes_and_a_url(
    client: Any, drive: Driver, images: ImageServer, tmp_path: Path
) -> None:
    (tmp_path / "cat.jpg").write_bytes(CHELSEA)
    model = client.model(GENERAL)

    from_path = drive(model.predict(tmp_path / "cat.jpg"))
    from_bytes = drive(model.predict(COFFEE, max_concepts=3))
    from_url = drive(model.predict(images.url("/chelsea.jpg"), select_concepts=["tabby"]))

    assert from_path.ok and from_path.concepts[0].name in CAT_CONCEPTS
    assert isinstance(from_path.proto, resources_pb2.Output)
    assert from_path.concepts[0] == Concept(
        name=from_path.concepts[0].name,
        value=from_path.concepts[0].value,
        id=from_path.concepts[0].id,
    )
    assert {c.name for c in from_bytes.concepts} <= COFFEE_CONCEPTS
    assert len(from_bytes.concepts) == 3
    assert [c.name for c in from_url.concepts] == ["tabby"]


def test_predict_many_keeps_failed_inputs_apart(
    client: Any, drive: Driver, images: ImageServer
) -> None:
    model = client.model(GENERAL)

    cat, missing = drive(model.predict_many([CHELSEA, images.url("/nowhere.jpg")]))

    assert cat.ok and cat.concepts[0].name in CAT_CONCEPTS
    assert not missing.ok
    assert missing.status.code == 30002  # INPUT_DOWNLOAD_FAILED
    assert "404" in missing.status.description


def test_embeddings_colors_and_model_info(client: Any, drive: Driver) -> None:
    embedded = drive(client.model("general-image-embedding").predict(CHELSEA))
    colored = drive(client.model("color-recognition").predict(COFFEE))
    info = drive(client.model(GENERAL).info())
    public = drive.list(client.app("main", user_id="clarifai").models.list(per_page=2))

    assert embedded.embeddings[0].num_dimensions == 1280
    assert colored.colors and all(c.hex.startswith("#") and c.name for c in colored.colors)
    assert info.id == GENERAL and info.version_id and info.model_type_id
    assert len(public) > 2  # paged two at a time
    assert GENERAL in [m.id for m in public]


def test_apps_create_get_list_page_and_delete(client: Any, drive: Driver) -> None:
    prefix = unique_id("many")
    for n in range(3):
        drive(client.apps.create(f"{prefix}-{n}", name=f"App {n}", description="paging"))

    listed = [a.id for a in drive.list(client.apps.list(per_page=2))]
    limited = drive.list(client.apps.list(per_page=2, limit=3))
    got = drive(client.apps.get(f"{prefix}-1"))
    drive(client.apps.delete(f"{prefix}-1"))

    assert {f"{prefix}-{n}" for n in range(3)} <= set(listed)
    assert len(listed) == len(set(listed))
    assert len(limited) == 3
    assert (got.name, got.description, got.user_id) == ("App 1", "paging", "admin")
    assert got.created_at is not None
    with pytest.raises(errors.NotFound):
        drive(client.apps.get(f"{prefix}-1"))


def test_keys_and_a_client_on_an_api_key(
    client: Any, drive: Driver, server: RunningServer, mode: tuple[str, str]
) -> None:
    key = drive(client.keys.create(client.app_id, description="for a robot"))
    keyed = drive.client(base_url(server, mode[0]), api_key=key.id)

    listed = drive.list(keyed.app().inputs.list())
    with pytest.raises(errors.AuthMethodNotAllowed) as refused:
        drive.list(keyed.apps.list())
    mine = [k for k in drive.list(client.keys.list()) if k.description == "for a robot"]
    for found in mine:
        drive(client.keys.delete(found.id))

    assert listed == []
    assert refused.value.code == 11200 and refused.value.req_id
    assert key.app_ids == [client.app_id] and key.scopes == ["All"]
    assert [k.app_ids for k in mine] == [[client.app_id]]
    with pytest.raises(errors.Unauthenticated):
        drive.list(keyed.app().inputs.list())


def test_inputs_upload_get_list_update_count_delete(
    client: Any, drive: Driver, images: ImageServer, tmp_path: Path
) -> None:
    (tmp_path / "cat.jpg").write_bytes(CHELSEA)
    inputs = client.app().inputs

    report = drive(
        inputs.upload(
            [tmp_path / "cat.jpg", images.url("/coffee.jpg"), Text("a cat on a mat")],
            ids=["by-path", "by-url", "by-text"],
            concepts=["cat"],
            metadata={"color": "red", "n": 1},
            wait=True,
        )
    )

    assert report.succeeded, report.failed
    assert report.input_ids == ["by-path", "by-url", "by-text"]
    got = drive(inputs.get("by-path"))
    assert got.ready and [c.id for c in got.concepts] == ["cat"]
    assert got.metadata == {"color": "red", "n": 1.0}
    assert drive(inputs.get("by-url")).url == images.url("/coffee.jpg")
    assert drive(inputs.get("by-text")).text == "a cat on a mat"
    assert sorted(i.id for i in drive.list(inputs.list(per_page=2))) == sorted(report.input_ids)

    updated = drive(inputs.update("by-path", concepts={"dog": False}, metadata={"n": 2}))
    assert [(c.id, c.value) for c in updated.concepts] == [("cat", 1.0), ("dog", 0.0)]
    assert updated.metadata == {"color": "red", "n": 2.0}
    assert drive(inputs.count()).processed == 3

    drive(inputs.delete(["by-url", "by-text"]))
    assert [i.id for i in drive.list(inputs.list())] == ["by-path"]


def test_errors_carry_code_description_and_req_id(
    client: Any, drive: Driver, server: RunningServer, mode: tuple[str, str]
) -> None:
    stranger = drive.client(base_url(server, mode[0]), pat="not-a-pat", app_id=client.app_id)

    with pytest.raises(errors.Unauthenticated) as bad_pat:
        drive(stranger.me())
    with pytest.raises(errors.ModelNotFound) as no_model:
        drive(client.model("no-such-model").predict(CHELSEA))
    with pytest.raises(errors.NotFound) as no_input:
        drive(client.app().inputs.get("nothing-here"))
    with pytest.raises(errors.InvalidArgument) as taken:
        drive(client.apps.create(client.app_id))

    assert bad_pat.value.code == 11008
    assert bad_pat.value.description == "Invalid API key or Invalid API key/application pair"
    assert bad_pat.value.req_id.startswith("clarion-python-")
    assert isinstance(no_model.value, errors.NotFound) and no_model.value.code == 21200
    assert "no-such-model" in no_model.value.description
    assert no_input.value.code == 11101 and no_input.value.req_id
    assert taken.value.code == 11102
    assert "req_id" in str(taken.value)


def test_me_and_the_default_app(client: Any, drive: Driver) -> None:
    assert drive(client.me()).id == "admin"
    assert drive(client.app().info()).id == client.app_id
    assert client.app().id == client.app_id and client.app("other").id == "other"


def test_settings_from_the_environment_and_the_url(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLARIFAI_API_BASE", f"grpc://{server.grpc_target}")
    monkeypatch.setenv("CLARIFAI_PAT", server.admin_pat)
    monkeypatch.setenv("CLARIFAI_APP_ID", "from-env")

    with Client.from_env() as from_env, Client.from_env(app_id="given") as overridden:
        assert isinstance(from_env.transport, GrpcTransport)
        assert from_env.me().id == "admin" and from_env.app_id == "from-env"
        assert overridden.app_id == "given"
    with Client(pat=server.admin_pat) as ignoring_env:
        assert ignoring_env.base_url == "http://127.0.0.1:8080" and ignoring_env.app_id is None
        assert isinstance(ignoring_env.transport, HttpTransport)
    # Named: gRPC to the host and port of an http:// URL (here, the gRPC port).
    with Client(f"http://{server.grpc_target}", pat=server.admin_pat, transport="grpc") as named:
        assert isinstance(named.transport, GrpcTransport) and named.me().id == "admin"
    for bad in ("localhost:8080", "ftp://host", "grpc:///nohost"):
        with pytest.raises(ValueError, match="scheme and a host"):
            Client(bad)
    with pytest.raises(ValueError, match="http"):
        Client("grpc://host:1", transport="http")
    with pytest.raises(ValueError, match="not both"):
        Client(pat="a", api_key="b")
