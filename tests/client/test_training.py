"""Custom models with the high-level client and the CLI: create, train, list, predict."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from clarifai_grpc.grpc.api import resources_pb2
from click.testing import CliRunner
from skimage import data as skimage_data

from clarion import errors
from clarion.cli.main import main
from clarion.client import Client, ModelInfo, ModelVersion
from clarion.testing import RunningServer
from tests.client.conftest import Driver, jpeg
from tests.conftest import unique_id

TRAINED = 21100
NO_POSITIVES = 21111
WAITING = (21101, 21103)


def variations(pixels: Any) -> list[bytes]:
    """Five photos of one kind: crops and mirrors; the last is held out of training."""
    height, width = pixels.shape[:2]
    h, w = height // 10, width // 10
    crops = [
        pixels[: 8 * h, : 8 * w],
        pixels[2 * h :, 2 * w :, :][:, ::-1],
        pixels[h : 9 * h, : 9 * w],
        pixels[h:, w:][:, ::-1],
        pixels[h // 2 : 9 * h, w // 2 : 9 * w][:, ::-1],
    ]
    return [jpeg(np.ascontiguousarray(crop)) for crop in crops]


CATS = variations(skimage_data.chelsea())
CUPS = variations(skimage_data.coffee())


def upload_labelled(app: Any, drive: Driver) -> None:
    """Four cats and four cups, annotated as present (value 1), ingested."""
    for photos, concept in ((CATS[:4], "cat"), (CUPS[:4], "cup")):
        report = drive(app.inputs.upload(photos, concepts=[concept], wait=True))
        assert report.succeeded, report.failed


def test_create_train_list_and_predict(client: Any, drive: Driver) -> None:
    app = client.app()
    upload_labelled(app, drive)

    created = drive(app.models.create("pets", concepts=["cat", "cup"], name="Pets"))
    model = app.model("pets")
    version = drive(model.train(wait=True, wait_timeout=60))
    versions = drive.list(model.versions())
    cat, cup = drive(model.predict_many([CATS[4], CUPS[4]]))

    assert isinstance(created, ModelInfo) and created.id == "pets"
    assert created.model_type_id == "embedding-classifier"
    assert {c.id for c in created.concepts} == {"cat", "cup"}
    assert isinstance(version, ModelVersion) and isinstance(
        version.proto, resources_pb2.ModelVersion
    )
    assert version.trained and not version.training
    assert version.status.code == TRAINED and version.status.name == "MODEL_TRAINED"
    assert {c.id for c in version.concepts} == {"cat", "cup"}
    assert [v.id for v in versions] == [version.id]
    assert drive(model.version(version.id)) == version
    assert cat.concepts[0].id == "cat" and cup.concepts[0].id == "cup"


def test_train_without_waiting_returns_the_queued_version(client: Any, drive: Driver) -> None:
    app = client.app()
    drive(app.models.create("later", concepts=["cat"]))

    queued = drive(app.model("later").train())

    assert queued.id and queued.status.code in WAITING and queued.training


def test_a_failed_training_raises_its_status(client: Any, drive: Driver) -> None:
    app = client.app()
    drive(app.inputs.upload([CATS[0]], ids=["not-a-dog"], wait=True))
    drive(app.inputs.update("not-a-dog", concepts={"dog": False}))  # a negative only
    drive(app.models.create("unlabelled", concepts=["dog"]))

    with pytest.raises(errors.ApiError) as raised:
        drive(app.model("unlabelled").train(wait=True, wait_timeout=60))
    failed = drive.list(app.model("unlabelled").versions())

    assert raised.value.code == NO_POSITIVES
    assert "positive" in raised.value.description
    assert len(failed) == 1 and not failed[0].trained and not failed[0].training


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_cli_creates_and_trains(server: RunningServer, transport: str) -> None:
    base = server.http_url if transport == "http" else f"grpc://{server.grpc_target}"
    app_id = unique_id("cli-train")
    with Client(base, pat=server.admin_pat, app_id=app_id) as made:
        made.apps.create(app_id)
        upload_labelled(made.app(), Driver("sync"))
    env = {"CLARIFAI_API_BASE": base, "CLARIFAI_PAT": server.admin_pat, "CLARIFAI_APP_ID": app_id}
    runner = CliRunner()
    args = ["models", "train", "pets", "--concept", "cat", "--concept", "cup", "--create"]

    result = runner.invoke(main, [*args, "--json"], env=env, catch_exceptions=False)
    again = runner.invoke(main, args[:-1], env=env, catch_exceptions=False)
    missing = runner.invoke(
        main, ["models", "train", "nobody", "--concept", "cat"], env=env, catch_exceptions=False
    )

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model_id"] == "pets" and data["status"]["code"] == TRAINED and data["id"]
    assert again.exit_code == 0, again.output
    assert "MODEL_TRAINED" in again.stdout and data["id"] not in again.stdout
    assert missing.exit_code == 1 and "Error:" in missing.stderr
