"""The modern SDK's new-style calls (``Model(...).predict(prompt=...)``, ``generate``) to a
model that ``clarifai model local-runner`` serves through Clarion.

Run by tests/sdks/test_local_runner.py in the SDK's own virtualenv. Environment: CLARIFAI_PAT,
CLARIFAI_API_BASE (``http://127.0.0.1:<grpc port>``), MODEL_URL (the model's clarifai.com
address, which the SDK parses for its user, app and model ids), DEPLOYMENT_ID (the
deployment local-runner made), RESULTS. Writes one JSON object there: flow name -> what it
saw, or {"error": ...}.
"""

from __future__ import annotations

import json
import os
import traceback
from typing import Any

from clarifai.client.model import Model


def calls(**selector: str) -> dict[str, Any]:
    model = Model(
        os.environ["MODEL_URL"],
        base_url=os.environ["CLARIFAI_API_BASE"],
        pat=os.environ["CLARIFAI_PAT"],
        **selector,
    )
    return {
        "predict": model.predict(prompt="hello local runner"),
        "generate": list(model.generate(prompt="one two three")),
    }


def main() -> None:
    flows = {
        "model_url": lambda: calls(),
        "deployment": lambda: calls(deployment_id=os.environ["DEPLOYMENT_ID"]),
    }
    results: dict[str, Any] = {}
    for name, flow in flows.items():
        try:
            results[name] = flow()
        except Exception:
            results[name] = {"error": traceback.format_exc()[-3000:]}
    with open(os.environ["RESULTS"], "w") as file:
        json.dump(results, file, default=str)


if __name__ == "__main__":
    main()
