"""The modern Python SDK (PyPI ``clarifai``) used as its documentation shows, against Clarion.

Run by tests/sdks/test_python_sdk.py in the SDK's own virtualenv (it pins a protobuf and
clarifai-grpc of its own), never imported by the suite. Environment: CLARIFAI_PAT,
CLARIFAI_API_BASE (``http://127.0.0.1:<grpc port>``: the SDK speaks gRPC only), CLARIFAI_USER_ID,
IMAGES (a folder with cat.jpg, coffee.jpg and cat/*.jpg, coffee/*.jpg to train on), CAT_URL
(cat.jpg on a loopback HTTP server), RESULTS (a file: the SDK logs on stdout). Writes one JSON
object there: flow name -> what it saw, or {"error": ...}.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from clarifai.client.app import App
from clarifai.client.dataset import Dataset
from clarifai.client.model import Model
from clarifai.client.search import Search
from clarifai.client.user import User
from clarifai.runners.utils.data_types import Image
from clarifai_grpc.grpc.api import resources_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2

IMAGES = Path(os.environ["IMAGES"])
CAT_URL = os.environ["CAT_URL"]
BASE = os.environ["CLARIFAI_API_BASE"]
PAT = os.environ["CLARIFAI_PAT"]
USER_ID = os.environ["CLARIFAI_USER_ID"]
APP_ID = f"sdk-py-{int(time.time() * 1000)}"
DATASET_ID = "pets"
TRAINED: dict[str, str] = {}  # the version train_and_predict made, for evaluate


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def general_model() -> Model:
    return Model(
        user_id="clarifai",
        app_id="main",
        model_id="general-image-recognition",
        base_url=BASE,
        pat=PAT,
    )


def concepts_of(response: Any) -> list[tuple[str, float]]:
    return [(c.name, round(c.value, 4)) for c in response.outputs[0].data.concepts]


def apps_and_datasets() -> dict[str, Any]:
    user = User(user_id=USER_ID, base_url=BASE, pat=PAT)
    app = user.create_app(app_id=APP_ID)
    app.create_dataset(dataset_id=DATASET_ID)
    return {
        "apps": [a.id for a in user.list_apps()],
        "datasets": [d.id for d in app.list_datasets()],
    }


def uploads() -> dict[str, Any]:
    app = User(user_id=USER_ID, base_url=BASE, pat=PAT).app(APP_ID)
    inputs = app.inputs()
    cat = (IMAGES / "cat.jpg").read_bytes()
    inputs.upload_from_bytes(input_id="cat-bytes", image_bytes=cat, labels=["cat"])
    inputs.upload_from_file(
        input_id="coffee-file", image_file=str(IMAGES / "coffee.jpg"), labels=["coffee"]
    )
    inputs.upload_from_url(input_id="cat-url", image_url=CAT_URL)
    dataset = app.dataset(dataset_id=DATASET_ID)
    for concept in ("cat", "coffee"):  # the folder's name is its images' label
        dataset.upload_from_folder(
            folder_path=str(IMAGES / concept), input_type="image", labels=True
        )
    wait_until_processed(inputs)
    listed = list(inputs.list_inputs())
    in_dataset = list(inputs.list_inputs(dataset_id=DATASET_ID))
    return {
        "input_ids": sorted(i.id for i in listed),
        "dataset_input_ids": sorted(i.id for i in in_dataset),
        "concepts": {
            i.id: sorted(c.id for c in i.data.concepts) for i in listed if i.data.concepts
        },
    }


def wait_until_processed(inputs: Any, timeout: float = 120) -> None:
    """Uploads are processed in the background, as on Clarifai: wait as its examples do."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        codes = {i.status.code for i in inputs.list_inputs()}
        if codes <= {status_code_pb2.INPUT_DOWNLOAD_SUCCESS}:
            return
        time.sleep(0.5)
    raise TimeoutError(f"inputs still processing: {codes}")


def download_inputs() -> dict[str, Any]:
    inputs = User(user_id=USER_ID, base_url=BASE, pat=PAT).app(APP_ID).inputs()
    listed = [inputs.get_input("cat-bytes"), inputs.get_input("coffee-file")]
    downloaded = inputs.download_inputs(listed)
    return {
        "urls": [i.data.image.url for i in listed],
        "sha256": [sha256(d) for d in downloaded],
    }


def predict_output_config() -> dict[str, Any]:
    model = general_model()
    cat = (IMAGES / "cat.jpg").read_bytes()
    plain = model.predict_by_bytes(cat, input_type="image")
    top_two = model.predict_by_bytes(cat, input_type="image", output_config={"max_concepts": 2})
    above = model.predict_by_bytes(cat, input_type="image", output_config={"min_value": 0.05})
    chosen = [resources_pb2.Concept(name="espresso"), resources_pb2.Concept(name="tabby")]
    selected = model.predict_by_bytes(
        cat, input_type="image", output_config={"select_concepts": chosen}
    )
    by_url = model.predict_by_url(CAT_URL, input_type="image")
    return {
        "plain": concepts_of(plain),
        "max_concepts_2": concepts_of(top_two),
        "min_value_0.05": concepts_of(above),
        "select_concepts": concepts_of(selected),
        "by_url": concepts_of(by_url),
    }


def predict_image() -> dict[str, Any]:
    """The new-style call: the SDK asks the model for its method signatures first."""
    result = general_model().predict(image=Image(bytes=(IMAGES / "cat.jpg").read_bytes()))
    return {"concepts": [(c.name, round(c.value, 4)) for c in result]}


def searches() -> dict[str, Any]:
    search = Search(user_id=USER_ID, app_id=APP_ID, base_url=BASE, pat=PAT, top_k=50)

    def hit_ids(**query: Any) -> list[str]:
        return [hit.input.id for page in search.query(**query) for hit in page.hits]

    return {
        "images": sorted(hit_ids(filters=[{"input_types": ["image"]}])),
        "labelled_cat": sorted(hit_ids(filters=[{"concepts": [{"name": "cat", "value": 1}]}])),
        "by_image_url": hit_ids(ranks=[{"image_url": CAT_URL}]),
        "by_predicted_concept": hit_ids(ranks=[{"concepts": [{"name": "espresso"}]}]),
        "ranked_and_filtered": hit_ids(
            ranks=[{"image_url": CAT_URL}],
            filters=[{"concepts": [{"name": "coffee", "value": 1}]}],
        ),
    }


def train_and_predict() -> dict[str, Any]:
    app = User(user_id=USER_ID, base_url=BASE, pat=PAT).app(APP_ID)
    model = app.create_model(model_id="pets-classifier", model_type_id="embedding-classifier")
    templates = model.list_training_templates()  # none for this type, as on Clarifai
    with tempfile.TemporaryDirectory() as folder:
        params_file = Path(folder) / "params.yaml"
        params = model.get_params(save_to=str(params_file))
        edited = yaml.safe_load(params_file.read_text())
        edited["concepts"] = ["cat", "coffee"]  # the app's concepts, as the SDK's docs edit it
        params_file.write_text(yaml.safe_dump(edited))
        version_id = model.train(yaml_file=str(params_file))
    TRAINED["version_id"] = version_id
    status = wait_for_training(model, version_id)
    trained = Model(
        user_id=USER_ID,
        app_id=APP_ID,
        model_id="pets-classifier",
        model_version={"id": version_id},
        base_url=BASE,
        pat=PAT,
    )
    prediction = trained.predict_by_bytes((IMAGES / "coffee.jpg").read_bytes(), input_type="image")
    return {
        "param_keys": sorted(params),
        "templates": templates,
        "status": status,
        "version_id": version_id,
        "coffee": concepts_of(prediction),
    }


def wait_for_training(model: Model, version_id: str, timeout: float = 180) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = model.training_status(version_id=version_id).code
        if code not in (status_code_pb2.MODEL_QUEUED_FOR_TRAINING, status_code_pb2.MODEL_TRAINING):
            return int(code)
        time.sleep(1)
    raise TimeoutError("training did not finish")


def evaluate() -> dict[str, Any]:
    """The version trained above, evaluated against the dataset the folders went into."""
    model = Model(
        user_id=USER_ID,
        app_id=APP_ID,
        model_id="pets-classifier",
        model_version={"id": TRAINED["version_id"]},
        base_url=BASE,
        pat=PAT,
    )
    # The dataset itself: Clarion has no dataset versions (PostDatasetVersions answers
    # NOT_IMPLEMENTED), so dataset.create_version() is left out.
    dataset = Dataset(user_id=USER_ID, app_id=APP_ID, dataset_id=DATASET_ID, base_url=BASE, pat=PAT)
    model.evaluate(dataset=dataset, eval_id="on-pets")
    deadline = time.monotonic() + 120
    evaluation = model.get_eval_by_id(eval_id="on-pets")
    while evaluation.status.code != status_code_pb2.MODEL_EVALUATED and time.monotonic() < deadline:
        time.sleep(1)
        evaluation = model.get_eval_by_id(eval_id="on-pets")
    return {
        "eval_ids": [e.id for e in model.list_evaluations()],
        "status": evaluation.status.code,
        "ground_truth_dataset": evaluation.ground_truth_dataset.id,
        "macro_avg_roc_auc": round(evaluation.summary.macro_avg_roc_auc, 4),
    }


def concept_relations() -> dict[str, Any]:
    """The documented knowledge-graph calls: create, search (all, and one concept's), delete."""
    app = App(app_id=APP_ID, user_id=USER_ID, base_url=BASE, pat=PAT)
    app.create_concepts(concept_ids=["animal", "drink"])
    app.create_concept_relations("cat", ["animal", "coffee"], ["hyponym", "synonym"])
    app.create_concept_relations("coffee", ["drink"], ["hyponym"])

    def triples(**query: Any) -> list[list[str]]:
        return [
            [r.subject_concept.id, r.predicate, r.object_concept.id]
            for r in app.search_concept_relations(**query)
        ]

    everything = triples()
    of_animal = triples(concept_id="animal")
    hyponyms_of_cat = triples(concept_id="cat", predicate="hyponym")
    app.delete_concept_relations("cat")  # every relation of cat, as the SDK finds them
    return {
        "all": everything,
        "animal": of_animal,
        "cat_hyponym": hyponyms_of_cat,
        "after_delete": triples(),
    }


FLOWS: dict[str, Callable[[], dict[str, Any]]] = {
    "apps_and_datasets": apps_and_datasets,
    "uploads": uploads,
    "download_inputs": download_inputs,
    "predict_output_config": predict_output_config,
    "predict_image": predict_image,
    "searches": searches,
    "concept_relations": concept_relations,
    "train_and_predict": train_and_predict,
    "evaluate": evaluate,
}


def main() -> None:
    results: dict[str, Any] = {}
    for name, flow in FLOWS.items():
        try:
            results[name] = flow()
        except Exception as exc:
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    Path(os.environ["RESULTS"]).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
