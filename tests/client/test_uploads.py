"""``inputs.upload``: the per-item report, batching, concurrency and the progress bar."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.progress import Progress

from clarion.client import Client, Text
from clarion.testing import RunningServer
from tests.client.conftest import CHELSEA, QUICK_RETRY, Driver
from tests.client.faults import Faults, http_proxy
from tests.conftest import unique_id
from tests.images import ImageServer


def test_report_says_item_by_item_what_failed_and_why(
    client: Any, drive: Driver, images: ImageServer, tmp_path: Path
) -> None:
    (tmp_path / "good.jpg").write_bytes(CHELSEA)
    (tmp_path / "broken.png").write_bytes(b"this is not a picture")
    sources = [
        tmp_path / "good.jpg",
        tmp_path / "broken.png",
        tmp_path / "missing.jpg",
        images.url("/gone.jpg"),
        CHELSEA,
    ]

    upload = client.app().inputs.upload
    report = drive(upload(sources, wait=True, batch_size=2, concurrency=2, on_unreadable="report"))

    states = [(item.index, item.state) for item in report.items]
    assert states == [(0, "ok"), (1, "failed"), (2, "failed"), (3, "failed"), (4, "ok")]
    good, broken, missing, gone, from_bytes = report.items
    assert good.source == str(tmp_path / "good.jpg") and len(good.input_id) == 32
    assert broken.code == 30101 and "not an image" in broken.description  # refused at once
    assert missing.code == 0 and "No such file" in missing.description  # never sent
    assert gone.code == 30002 and "404" in gone.description  # failed in ingestion
    assert gone.input_id  # stored, then failed
    assert from_bytes.source == f"<{len(CHELSEA)} bytes>"
    assert not report.succeeded and len(report.ok) == 2 and len(report.failed) == 3
    assert report.input_ids == [good.input_id, from_bytes.input_id]


def test_a_folder_uploads_the_images_and_texts_under_it(
    client: Any, drive: Driver, tmp_path: Path
) -> None:
    (tmp_path / "cats" / "more").mkdir(parents=True)
    (tmp_path / "cats" / "a.jpg").write_bytes(CHELSEA)
    (tmp_path / "cats" / "more" / "b.JPG").write_bytes(CHELSEA)
    (tmp_path / "cats" / "notes.txt").write_text("a tabby cat")
    (tmp_path / "cats" / "ignored.csv").write_text("not an input")
    app = client.app()

    report = drive(app.inputs.upload([tmp_path / "cats", Text("and a text")], wait=True))

    assert [item.source for item in report.items] == [
        str(tmp_path / "cats" / "a.jpg"),
        str(tmp_path / "cats" / "more" / "b.JPG"),
        str(tmp_path / "cats" / "notes.txt"),
        "<text: and a text>",
    ]
    assert report.succeeded
    stored = drive(app.inputs.get(report.items[2].input_id))
    assert stored.text == "a tabby cat"


def test_a_file_that_cannot_be_read_raises_before_anything_is_sent(
    client: Any, drive: Driver, tmp_path: Path
) -> None:
    (tmp_path / "good.jpg").write_bytes(CHELSEA)
    app = client.app()

    with pytest.raises(FileNotFoundError, match=r"missing\.jpg"):
        drive(app.inputs.upload([tmp_path / "good.jpg", tmp_path / "missing.jpg"]))

    assert drive.list(app.inputs.list()) == []


def test_ids_name_files_not_folders(client: Any, drive: Driver, tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(CHELSEA)

    with pytest.raises(ValueError, match="not folders"):
        drive(client.app().inputs.upload([tmp_path], ids=["one"]))


def test_without_wait_stored_items_are_ok(client: Any, drive: Driver) -> None:
    report = drive(client.app().inputs.upload([Text("one"), Text("two")], concepts=["x"]))

    assert report.succeeded and len(report.input_ids) == 2
    assert {item.code for item in report.items} <= {30000, 30001}


def test_batches_of_128_concurrently(server: RunningServer) -> None:
    faults = Faults()
    app_id = unique_id("batches")
    # Refused at once, so the server stores and ingests nothing: only the batching is tested.
    sources = [b"not an image %d" % n for n in range(300)]
    with http_proxy(server.http_url, faults) as proxy:
        client = Client(proxy, pat=server.admin_pat, app_id=app_id, retry=QUICK_RETRY)
        client.apps.create(app_id)

        report = client.app().inputs.upload(sources, concurrency=3)
        client.close()

    posts = [m for m in faults.methods if m == f"POST /v2/users/me/apps/{app_id}/inputs"]
    assert len(posts) == 3  # 128 + 128 + 44
    assert [item.index for item in report.failed] == list(range(300))
    assert {item.code for item in report.items} == {30101}


def test_progress_bar_counts_sent_and_ingested(client: Any, drive: Driver) -> None:
    progress = Progress(console=Console(file=io.StringIO(), force_terminal=True))

    drive(
        client.app().inputs.upload(
            [Text("a"), Text("b"), Text("c")], batch_size=1, wait=True, progress=progress
        )
    )

    sending, ingesting = progress.tasks
    assert (sending.description, sending.completed, sending.total) == ("Uploading", 3, 3)
    assert (ingesting.description, ingesting.completed) == ("Ingesting", ingesting.total)


def test_progress_true_draws_on_stderr(server: RunningServer, capsys: Any) -> None:
    app_id = unique_id("bar")
    with Client(server.http_url, pat=server.admin_pat, app_id=app_id) as client:
        client.apps.create(app_id)
        client.app().inputs.upload([Text("a")], progress=True)

    captured = capsys.readouterr()
    assert "Uploading" in captured.err and captured.out == ""
