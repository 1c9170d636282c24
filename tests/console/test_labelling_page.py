"""The console's labelling page in headless Chromium: create a task, label its inputs with a
click, then approve one label and reject another as its reviewer."""

from __future__ import annotations

import base64

from playwright.sync_api import expect

from tests.console.conftest import PHOTOS, Console, api
from tests.console.test_console import wait_processed

ANNOTATION_SUCCESS = 24150
ANNOTATION_REVIEW_DENIED = 24158


def test_label_inputs_for_a_task_then_review_them(console: Console) -> None:
    server, page = console.server, console.page
    api(server, "POST", "/v2/users/me/apps", apps=[{"id": "lab"}])
    inputs = [
        {"id": name.split(".")[0], "data": {"image": {"base64": _b64(PHOTOS[name])}}}
        for name in ("chelsea.jpg", "coffee.jpg")
    ]
    api(server, "POST", "/v2/users/me/apps/lab/inputs", inputs=inputs)
    wait_processed(server, "lab", 2)

    console.open("#/apps/lab/labelling")
    console.sign_in(server.admin_pat)
    page.get_by_test_id("new-task-id").fill("pets")
    page.get_by_test_id("new-task-concepts").fill("cat, mug")
    page.get_by_test_id("create-task").click()

    cards = page.get_by_test_id("label-card")
    expect(cards).to_have_count(2)
    console.shot("labelling-01-queue")
    page.locator("[data-testid=label-card][data-input-id=chelsea]").get_by_test_id(
        "label-cat"
    ).click()
    expect(cards).to_have_count(1)
    page.locator("[data-testid=label-card][data-input-id=coffee]").get_by_test_id(
        "label-cat"
    ).click()
    expect(page.get_by_text("Nothing left to label.")).to_be_visible()

    reviews = page.get_by_test_id("review-card")
    expect(reviews).to_have_count(2)
    expect(reviews.first.get_by_test_id("review-labels")).to_have_text("cat")
    console.shot("labelling-02-review")
    page.locator("[data-testid=review-card][data-input-id=chelsea]").get_by_test_id(
        "approve"
    ).click()
    expect(reviews).to_have_count(1)
    page.locator("[data-testid=review-card][data-input-id=coffee]").get_by_test_id("reject").click()
    expect(page.get_by_text("No submissions wait for review.")).to_be_visible()
    expect(page.get_by_test_id("count")).to_have_text(
        "admin: 0 to label, 0 awaiting review, 1 accepted, 1 rejected"
    )

    statuses = {
        a["input_id"]: a["status"]["code"]
        for a in api(server, "GET", "/v2/users/me/apps/lab/annotations")["annotations"]
        if a.get("task_id") == "pets"
    }
    assert statuses == {"chelsea": ANNOTATION_SUCCESS, "coffee": ANNOTATION_REVIEW_DENIED}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
