"""SIGTERM under load: not ready first, in-flight calls finish, new ones refused, prompt exit."""

from __future__ import annotations

import base64
import io
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.processes import serve_process

pytestmark = pytest.mark.slow

PAT = "drain-pat"


def text_image(words: str) -> str:
    image = Image.new("RGB", (900, 300), "white")
    ImageDraw.Draw(image).text((40, 100), words, fill="black", font=ImageFont.load_default(size=72))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_sigterm_drains(tmp_path: Path) -> None:
    env = {
        "CLARION_ADMIN_PAT": PAT,
        "CLARION_DRAIN_DELAY_SECONDS": "1",
        "CLARION_SHUTDOWN_GRACE_SECONDS": "20",
    }
    body = {"inputs": [{"data": {"image": {"base64": text_image(f"HELLO {n}")}}} for n in range(4)]}
    headers = {"Authorization": f"Key {PAT}"}
    with serve_process(tmp_path / "data", "--preload", "ocr-scene-english", env=env) as served:
        url = f"{served.http_url}/v2/users/clarifai/apps/main/models/ocr-scene-english/outputs"
        result: dict[str, Any] = {}

        def long_call() -> None:
            result["response"] = httpx.post(url, json=body, headers=headers, timeout=60)

        caller = threading.Thread(target=long_call)
        caller.start()
        time.sleep(0.5)  # the call is in flight
        started = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        health = httpx.get(f"{served.http_url}/health", timeout=5)
        time.sleep(1.5)  # past the drain delay: the listeners are closed
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{served.http_url}/health", timeout=5)
        caller.join(timeout=60)
        code = served.process.wait(timeout=30)
        elapsed = time.monotonic() - started
    assert health.status_code == 503
    assert health.json()["status"]["code"] == 40031
    assert result["response"].json()["status"]["code"] == 10000
    assert (
        "HELLO"
        in result["response"].json()["outputs"][0]["data"]["regions"][0]["data"]["text"]["raw"]
    )
    assert code == 0
    assert elapsed < 20
