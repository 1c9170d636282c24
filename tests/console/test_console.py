"""The console in headless Chromium: what a person signs in, clicks, drops and reads."""

from __future__ import annotations

import base64
import io
import re
import time

import pytest
from PIL import Image
from playwright.sync_api import expect

from clarion.testing import RunningServer
from tests.api.photos import training_photos
from tests.console.conftest import PHOTOS, Console, api
from tests.videos import video_bytes

# The general concepts over the cat classes come first, as each sums them; likewise for coffee.
CAT_CONCEPTS = {"animal", "mammal", "cat", "pet", "domestic"}
COFFEE_TOP = re.compile(r"^(food|drink|refreshment|coffee)$")


def wait_processed(server: RunningServer, app_id: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        counts = api(server, "GET", f"/v2/users/me/apps/{app_id}/inputs/status")["counts"]
        if counts.get("processed", 0) + counts.get("errors", 0) >= count:
            return
        assert time.monotonic() < deadline, counts
        time.sleep(0.1)


def test_sign_in_create_an_app_upload_predict_and_search(console: Console) -> None:
    page = console.page
    console.open()
    expect(page.get_by_test_id("signin-form")).to_be_visible()
    console.shot("01-sign-in")
    console.sign_in(console.server.admin_pat)
    expect(page.get_by_test_id("user-id")).to_have_text("admin")
    assert console.server.admin_pat not in page.url

    page.get_by_test_id("new-app-id").fill("photos")
    page.get_by_test_id("create-app").click()
    expect(page.get_by_test_id("page-title")).to_have_text("photos")
    expect(page.get_by_text("No inputs yet")).to_be_visible()

    console.drop("upload-drop", "chelsea.jpg", "coffee.jpg")
    expect(page.get_by_test_id("upload-status")).to_contain_text("2 images uploaded and processed")
    tiles = page.get_by_test_id("input-tile")
    expect(tiles).to_have_count(2)
    expect(tiles.get_by_test_id("status")).to_have_text(["Ready", "Ready"])
    expect(tiles.get_by_test_id("thumb")).to_have_count(2)
    for thumb in tiles.get_by_test_id("thumb").all():
        expect(thumb).to_be_visible()
    assert {t.get_attribute("data-name") for t in tiles.all()} == {"chelsea.jpg", "coffee.jpg"}
    expect(page.get_by_test_id("counts")).to_have_text("2 inputs")
    console.shot("02-inputs-grid")

    # The input's page predicts with the general model at once.
    page.locator("[data-testid=input-tile][data-name='coffee.jpg']").click()
    expect(page.get_by_test_id("input-image")).to_be_visible()
    expect(page.get_by_test_id("concept").first).to_have_attribute("data-concept", COFFEE_TOP)
    expect(page.get_by_test_id("metadata")).to_contain_text("coffee.jpg")
    console.shot("03-input-page")

    page.get_by_role("link", name="Models", exact=True).first.click()
    page.locator("[data-model-id='general-image-recognition']").click()
    expect(page.get_by_test_id("page-title")).to_have_text("general-image-recognition")
    console.drop("predict-drop", "chelsea.jpg")
    top = page.get_by_test_id("concept").first
    expect(top).to_be_visible()
    assert top.get_attribute("data-concept") in CAT_CONCEPTS
    console.shot("04-model-page")

    console.open("#/apps/photos/search")
    console.drop("search-drop", "chelsea-darker-mirrored.jpg")
    hits = page.get_by_test_id("hit")
    expect(hits).to_have_count(2)
    assert hits.first.get_attribute("data-name") == "chelsea.jpg"
    scores = [float(s) for s in hits.get_by_test_id("score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.9
    for thumb in hits.get_by_test_id("thumb").all():
        expect(thumb).to_be_visible()
    console.shot("05-search-by-example")

    page.get_by_test_id("search-metadata").fill('{"filename": "coffee.jpg"}')
    page.get_by_test_id("search-metadata-go").click()
    expect(hits).to_have_count(1)
    expect(hits.first).to_have_attribute("data-name", "coffee.jpg")


@pytest.mark.parametrize("kind", ["wrong", "expired"])
def test_a_refused_pat_gets_a_clear_message(console: Console, kind: str) -> None:
    pat = "not-a-real-pat"
    if kind == "expired":
        key = {"description": "expired", "type": "personal_access_token", "scopes": ["All"]}
        key["expires_at"] = "2020-01-01T00:00:00Z"
        pat = api(console.server, "POST", "/v2/users/me/keys", keys=[key])["keys"][0]["id"]
    console.open()
    console.sign_in(pat)
    error = console.page.get_by_test_id("error")
    expect(error).to_contain_text("This PAT was not accepted")
    expect(error).to_contain_text("expired")
    expect(error).to_contain_text("status 11008")
    expect(console.page.get_by_test_id("signin-form")).to_be_visible()
    console.shot(f"06-sign-in-{kind}-pat")


def test_a_pat_deleted_mid_session_ends_it_with_a_message(console: Console) -> None:
    key = {"description": "short-lived", "type": "personal_access_token", "scopes": ["All"]}
    pat = api(console.server, "POST", "/v2/users/me/keys", keys=[key])["keys"][0]["id"]
    console.open("#/keys")
    console.sign_in(pat)
    expect(console.page.get_by_test_id("key-row").first).to_be_visible()
    api(console.server, "DELETE", f"/v2/users/me/keys/{pat}")
    console.page.get_by_role("link", name="Apps", exact=True).click()
    status = console.page.get_by_test_id("signin-status")
    expect(status).to_contain_text("Your session has ended")
    expect(status).to_contain_text("Invalid API key")
    console.shot("07-session-ended")
    # Signing in again goes back to the page the user was on.
    console.sign_in(console.server.admin_pat)
    expect(console.page.get_by_test_id("apps")).to_be_visible()


def test_model_page_draws_boxes_and_swatches(console: Console) -> None:
    page = console.page
    console.open("#/models/clarifai/main/face-detection")
    console.sign_in(console.server.admin_pat)
    console.drop("predict-drop", "astronaut.jpg")
    expect(page.get_by_test_id("box-predicted")).to_have_count(1)
    expect(page.get_by_test_id("box-predicted")).to_contain_text("face")
    console.shot("08-face-detection")
    console.open("#/models/clarifai/main/color-recognition")
    console.drop("predict-drop", "coffee.jpg")
    expect(page.get_by_test_id("swatch").first).to_be_visible()
    assert page.get_by_test_id("swatch").count() >= 3
    console.shot("09-color-recognition")


def png(colour: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_the_grid_pages_through_inputs(console: Console) -> None:
    server = console.server
    api(server, "POST", "/v2/users/me/apps", apps=[{"id": "many"}])
    inputs = [
        {"id": f"swatch-{n:02d}", "data": {"image": {"base64": png((n * 9, 120, 255 - n * 9))}}}
        for n in range(26)
    ]
    api(server, "POST", "/v2/users/me/apps/many/inputs", inputs=inputs)
    wait_processed(server, "many", 26)
    console.open("#/apps/many/inputs")
    console.sign_in(server.admin_pat)
    tiles = console.page.get_by_test_id("input-tile")
    expect(tiles).to_have_count(24)
    expect(console.page.get_by_text("Page 1 of 2")).to_be_visible()
    console.page.get_by_test_id("next").click()
    expect(tiles).to_have_count(2)
    expect(console.page.get_by_test_id("next")).to_be_hidden()
    expect(console.page.get_by_test_id("prev")).to_be_visible()


def test_custom_model_versions_metrics_and_confusion_matrix(console: Console) -> None:
    server = console.server
    base = "/v2/users/me/apps/pets"
    api(server, "POST", "/v2/users/me/apps", apps=[{"id": "pets"}])
    inputs = []
    for kind, other in (("cat", "coffee"), ("coffee", "cat")):
        for n, photo in enumerate(training_photos(kind)):
            concepts = [{"id": kind, "value": 1}, {"id": other, "value": 0}]
            image = {"base64": base64.b64encode(photo).decode()}
            inputs.append({"id": f"{kind}-{n}", "data": {"image": image, "concepts": concepts}})
    api(server, "POST", f"{base}/inputs", inputs=inputs)
    wait_processed(server, "pets", len(inputs))
    model = {
        "id": "pets",
        "model_type_id": "embedding-classifier",
        "output_info": {"data": {"concepts": [{"id": "cat"}, {"id": "coffee"}]}},
    }
    api(server, "POST", f"{base}/models", models=[model])

    page = console.page
    console.open("#/apps/pets/models/pets")
    console.sign_in(server.admin_pat)
    expect(page.get_by_text("No versions yet")).to_be_visible()
    page.get_by_test_id("train").click()
    expect(page.get_by_test_id("training-status")).to_have_text("Model is trained and ready")
    page.get_by_test_id("evaluate").click()
    expect(page.get_by_test_id("evaluation-status")).to_have_text("Model was evaluated")
    matrix = page.get_by_test_id("confusion-matrix")
    expect(matrix).to_be_visible()
    expect(page.get_by_test_id("concept-metrics").locator("tbody tr")).to_have_count(2)
    expect(page.get_by_test_id("summary")).to_contain_text("Top-1 accuracy")
    console.shot("10-custom-model")


def test_input_page_draws_annotated_and_predicted_regions(console: Console) -> None:
    server = console.server
    base = "/v2/users/me/apps/faces"
    api(server, "POST", "/v2/users/me/apps", apps=[{"id": "faces"}])
    image = {"base64": base64.b64encode(PHOTOS["astronaut.jpg"]).decode()}
    metadata = {"mission": "STS-93"}
    api(
        server,
        "POST",
        f"{base}/inputs",
        inputs=[{"id": "eileen", "data": {"image": image, "metadata": metadata}}],
    )
    wait_processed(server, "faces", 1)
    box = {"top_row": 0.1, "left_col": 0.33, "bottom_row": 0.36, "right_col": 0.54}
    region = {
        "region_info": {"bounding_box": box},
        "data": {"concepts": [{"id": "face", "value": 1}]},
    }
    api(
        server,
        "POST",
        f"{base}/annotations",
        annotations=[{"input_id": "eileen", "data": {"regions": [region]}}],
    )

    page = console.page
    console.open("#/apps/faces/inputs/eileen")
    console.sign_in(server.admin_pat)
    expect(page.get_by_test_id("box-annotated")).to_have_count(1)
    expect(page.get_by_test_id("annotations")).to_contain_text("face")
    expect(page.get_by_test_id("concept").first).to_be_visible()
    page.get_by_test_id("model-select").select_option("clarifai/main/face-detection")
    expect(page.get_by_test_id("box-predicted")).to_have_count(1)
    expect(page.get_by_test_id("metadata")).to_contain_text("STS-93")
    console.shot("11-input-regions")


def test_a_video_input_shows_its_thumbnail_a_player_and_concepts_per_frame(
    console: Console,
) -> None:
    server = console.server
    api(server, "POST", "/v2/users/me/apps", apps=[{"id": "clips"}])
    pictures = [Image.open(io.BytesIO(PHOTOS[name])) for name in ("chelsea.jpg", "coffee.jpg")]
    clip = base64.b64encode(video_bytes(pictures, size=(320, 240))).decode()
    api(
        server,
        "POST",
        "/v2/users/me/apps/clips/inputs",
        inputs=[{"id": "clip", "data": {"video": {"base64": clip}}}],
    )
    wait_processed(server, "clips", 1)

    page = console.page
    console.open("#/apps/clips/inputs")
    console.sign_in(server.admin_pat)
    expect(page.get_by_test_id("thumb")).to_have_count(1)
    expect(page.get_by_test_id("thumb")).to_be_visible()
    page.get_by_test_id("input-tile").click()
    expect(page.get_by_test_id("input-video")).to_be_visible()
    frames = page.get_by_test_id("frame")
    expect(frames).to_have_count(2)
    assert [f.get_attribute("data-time") for f in frames.all()] == ["0", "1000"]
    expect(frames.nth(0)).to_contain_text("cat")
    expect(frames.nth(1)).to_contain_text(re.compile("coffee|drink|food"))
    expect(page.get_by_test_id("input-details")).to_contain_text("320 \u00d7 240 mp4")
    console.shot("12-video-input")
