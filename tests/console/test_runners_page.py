"""The console's Runners page in headless Chromium: compute clusters, their nodepools and
runners made through the API, each runner with the model it serves, and the server's runner
load read from /metrics. The server is the module's own, so the empty page is tested first."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import httpx
from playwright.sync_api import expect

from clarion.testing import RunningServer
from tests.console.conftest import Console, api

USER = "/v2/users/me"


def test_runners_page_says_when_there_are_no_clusters(console: Console) -> None:
    console.open("#/runners")
    console.sign_in(console.server.admin_pat)
    expect(console.page.get_by_test_id("clusters")).to_contain_text("No compute clusters yet")


def test_runners_page_shows_clusters_nodepools_runners_and_their_models(console: Console) -> None:
    server, page = console.server, console.page
    api(server, "POST", f"{USER}/apps", apps=[{"id": "byom"}])
    api(server, "POST", f"{USER}/compute_clusters", compute_clusters=[{"id": "home"}])
    api(server, "POST", f"{USER}/compute_clusters/home/nodepools", nodepools=[{"id": "laptop"}])
    api(
        server,
        "POST",
        f"{USER}/compute_clusters/home/nodepools/laptop/runners",
        runners=[{"id": "r1", "worker": {"model": {"id": "my-llm", "app_id": "byom"}}}],
    )
    api(server, "POST", f"{USER}/compute_clusters/home/nodepools", nodepools=[{"id": "empty"}])

    console.open("#/runners")
    console.sign_in(server.admin_pat)
    cluster = page.locator("[data-testid=cluster][data-cluster-id=home]")
    expect(cluster).to_be_visible()
    laptop = cluster.locator("[data-testid=nodepool][data-nodepool-id=laptop]")
    runner = laptop.locator("[data-testid=runner][data-runner-id=r1]")
    expect(runner.get_by_test_id("runner-model")).to_have_text("admin/byom/my-llm")
    expect(cluster.locator("[data-nodepool-id=empty]")).to_contain_text("No runners.")

    streams = _metric(server.http_url, "streams")
    expect(page.get_by_test_id("load-streams")).to_have_text(
        f"{streams} runner stream{'' if streams == 1 else 's'} open"
    )
    expect(page.get_by_test_id("load-waiting")).to_have_text("0 calls waiting")
    console.shot("runners-01")


def test_a_call_waiting_for_a_polling_runner_shows_in_the_load(console: Console) -> None:
    server, page = console.server, console.page
    runner = f"{USER}/compute_clusters/home/nodepools/laptop/runners/r1"
    assert api(server, "GET", f"{runner}/items").get("runner_items", []) == []  # r1 is polling
    answers: list[Any] = []
    caller = threading.Thread(
        target=lambda: answers.append(
            api(server, "POST", f"{USER}/apps/byom/models/my-llm/outputs", inputs=[HI])
        )
    )
    caller.start()
    try:
        console.open("#/runners")
        console.sign_in(server.admin_pat)
        expect(page.get_by_test_id("load-waiting")).to_have_text("1 call waiting")
        console.shot("runners-02-waiting")
    finally:
        _answer_one(server, runner)
        caller.join(30)
    assert answers[0]["outputs"][0]["data"]["text"]["raw"] == "HI"


HI = {"data": {"text": {"raw": "hi"}}}


def _answer_one(server: RunningServer, runner: str) -> None:
    """Take the waiting call as runner r1 and answer it, so the caller's thread ends."""
    deadline = time.monotonic() + 10
    items: list[Any] = []
    while not items and time.monotonic() < deadline:
        items = api(server, "GET", f"{runner}/items").get("runner_items", [])
    assert items, "the call never reached the runner"
    output = {"status": {"code": 10000}, "data": {"text": {"raw": "HI"}}}
    api(
        server,
        "POST",
        f"{runner}/items/{items[0]['id']}/outputs",
        runner_item_outputs=[
            {"multi_output_response": {"status": {"code": 10000}, "outputs": [output]}}
        ],
    )


def _metric(http_url: str, state: str) -> int:
    text = httpx.get(f"{http_url}/metrics", timeout=10).text
    match = re.search(rf'^clarion_runners\{{state="{state}"\}} ([0-9.]+)$', text, re.M)
    assert match, text
    return int(float(match.group(1)))
