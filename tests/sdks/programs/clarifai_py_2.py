"""The deprecated Python client (PyPI ``clarifai==2.6.2``) used as its docs show, against Clarion.

Run by tests/sdks/test_clarifai_py_2.py in its own virtualenv (protobuf 3, an old
googleapis-common-protos), never imported by the suite; written for the Python the suite runs on.
Environment: CLARIFAI_API_KEY (an app's API key), CLARIFAI_API_BASE (Clarion's HTTP base URL,
read by the client itself), IMAGES (cat.jpg, coffee.jpg), CAT_URL (cat.jpg on a loopback HTTP
server), RESULTS (a file). Writes one JSON object there: flow name -> what it saw, or
{"error": ...}.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

from clarifai.rest import ClarifaiApp

IMAGES = Path(os.environ["IMAGES"])
CAT_URL = os.environ["CAT_URL"]


def concepts_of(response):
    return [(c["name"], round(c["value"], 4)) for c in response["outputs"][0]["data"]["concepts"]]


def hit_ids(images):
    return [image.input_id for image in images]


def build_app():
    # The constructor lists the app's models and reads each one's output_info.type.
    app = ClarifaiApp()
    return {"app": app, "model_ids": sorted(m.model_id for m in app.models.get_all())}


def predict(app):
    general = app.public_models.general_model
    return {
        "by_url": concepts_of(general.predict_by_url(CAT_URL)),
        "by_bytes": concepts_of(general.predict_by_bytes((IMAGES / "cat.jpg").read_bytes())),
        "by_filename": concepts_of(general.predict_by_filename(str(IMAGES / "coffee.jpg"))),
        "moderation": concepts_of(app.public_models.moderation_model.predict_by_url(CAT_URL)),
        "max_concepts_3": concepts_of(
            general.predict_by_url(CAT_URL, max_concepts=3, min_value=0.01)
        ),
    }


def predict_by_legacy_name(app):
    """The names the client's constants and older code use for the public models."""
    return {
        "general-v1.3": concepts_of(app.models.get("general-v1.3").predict_by_url(CAT_URL)),
    }


def inputs(app):
    app.inputs.create_image_from_url(
        CAT_URL, image_id="cat-url", concepts=["cat"], metadata={"kind": "pet"}
    )
    app.inputs.create_image_from_bytes(
        (IMAGES / "coffee.jpg").read_bytes(),
        image_id="coffee-bytes",
        concepts=["coffee"],
        not_concepts=["cat"],
        metadata={"kind": "drink"},
    )
    wait_until_processed(app)
    got = app.inputs.get("coffee-bytes")
    return {
        "listed": sorted(image.input_id for image in app.inputs.get_all()),
        "got": {
            "id": got.input_id,
            "has_url": bool(got.url),
            "concepts": got.concepts,
            "not_concepts": got.not_concepts,
            "metadata": got.metadata,
        },
    }


def wait_until_processed(app, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.inputs.check_status().to_process == 0:
            return
        time.sleep(0.5)
    raise TimeoutError("inputs still processing")


def searches(app):
    found = app.inputs
    return {
        "predicted_concept": hit_ids(found.search_by_predicted_concepts(concept="tabby")),
        "annotated_concept": hit_ids(found.search_by_annotated_concepts(concept="coffee")),
        "by_image_url": hit_ids(found.search_by_image(url=CAT_URL)),
        "by_image_bytes": hit_ids(
            found.search_by_image(imgbytes=(IMAGES / "coffee.jpg").read_bytes())
        ),
        "by_input_id": hit_ids(found.search_by_image(image_id="coffee-bytes")),
        "by_metadata": hit_ids(found.search_by_metadata({"kind": "pet"})),
    }


def main():
    results = {}
    try:
        built = build_app()
    except Exception as exc:
        traceback.print_exc()
        built = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    app = built.pop("app", None)
    results["build_app"] = built
    flows = (
        ("predict", predict),
        ("predict_by_legacy_name", predict_by_legacy_name),
        ("inputs", inputs),
        ("searches", searches),
    )
    for name, flow in flows:
        if app is None:
            results[name] = {"error": "ClarifaiApp() failed: see build_app"}
            continue
        try:
            results[name] = flow(app)
        except Exception as exc:
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    Path(os.environ["RESULTS"]).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
