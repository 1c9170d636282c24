"""Headless Chromium (Debian's package) driven by Playwright against a real Clarion server.

Screenshots go to ``$CLARION_ARTIFACTS_DIR`` (default ``.artifacts/console`` in the repository).
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageEnhance
from playwright.sync_api import Browser, Page, sync_playwright
from skimage import data as skimage_data

from clarion.testing import RunningServer, running_server

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium tries to reach Google's services.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 30_000


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


CHELSEA = Image.fromarray(skimage_data.chelsea())
PHOTOS = {
    "chelsea.jpg": jpeg(CHELSEA),
    "coffee.jpg": jpeg(Image.fromarray(skimage_data.coffee())),
    "astronaut.jpg": jpeg(Image.fromarray(skimage_data.astronaut())),
    # A changed copy of the cat, to search with: the cat must come first.
    "chelsea-darker-mirrored.jpg": jpeg(
        ImageEnhance.Brightness(CHELSEA.transpose(Image.Transpose.FLIP_LEFT_RIGHT)).enhance(0.8)
    ),
}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("CLARION_ARTIFACTS_DIR") or REPO / ".artifacts" / "console")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the console tests need Debian's chromium package "
            "(apt-get install chromium)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture
def page(browser: Browser, server: RunningServer) -> Iterator[Page]:
    """A fresh browser context (its own sessionStorage) that records stray requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    foreign: list[str] = []
    errors: list[str] = []
    tab.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((server.http_url, "blob:", "data:"))
            else foreign.append(request.url)
        ),
    )
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not foreign, f"the console asked other hosts: {foreign}"
    assert not errors, f"script errors in the page: {errors}"


class Console:
    """What a person does in the console, step by step."""

    def __init__(self, page: Page, server: RunningServer, artifacts: Path) -> None:
        self.page = page
        self.server = server
        self.artifacts = artifacts

    def open(self, hash_path: str = "") -> None:
        self.page.goto(f"{self.server.http_url}/console/{hash_path}")

    def sign_in(self, pat: str) -> None:
        self.page.get_by_test_id("pat").fill(pat)
        self.page.get_by_test_id("sign-in").click()

    def shot(self, name: str) -> Path:
        path = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def drop(self, test_id: str, *names: str) -> None:
        """Drag files onto a drop zone, as a person dragging them from a file manager."""
        files = [
            {"name": name, "type": "image/jpeg", "b64": base64.b64encode(PHOTOS[name]).decode()}
            for name in names
        ]
        transfer = self.page.evaluate_handle(
            """(files) => {
                const transfer = new DataTransfer();
                for (const f of files) {
                    const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
                    transfer.items.add(new File([bytes], f.name, { type: f.type }));
                }
                return transfer;
            }""",
            files,
        )
        self.page.get_by_test_id(test_id).dispatch_event("drop", {"dataTransfer": transfer})


@pytest.fixture
def console(page: Page, server: RunningServer, artifacts: Path) -> Console:
    return Console(page, server, artifacts)


def api(server: RunningServer, method: str, path: str, pat: str = "", **body: Any) -> Any:
    """The HTTP+JSON API, for set-up the test does behind the console's back."""
    response = httpx.request(
        method,
        f"{server.http_url}{path}",
        headers={"Authorization": f"Key {pat or server.admin_pat}"},
        json=body or None,
        timeout=60,
    )
    answer = response.json()
    assert answer["status"]["code"] == 10000, answer
    return answer
