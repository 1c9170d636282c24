"""The serving frameworks of ``bench/peers.py``, each around Clarion's own pipeline.

Run by ``peers.py`` with the framework's virtual environment's interpreter and Clarion's
``src`` on ``PYTHONPATH``::

    PEER_MODELS_DIR=... PEER_WEIGHTS=... python bench/_peer_apps.py FRAMEWORK PORT [--batch]

Every framework runs the same work per image as the server's ``general-image-recognition``:
``clarion.media.decode_image``, then ``ImageNetClassifier`` over ``MobileNetV2`` (the same
``.onnx`` file, built beforehand into PEER_MODELS_DIR, on the same onnxruntime settings: adaptive
runs, as ``clarion serve`` by default), and the top 20 concepts. Only the serving layer
differs. Each answers the body Clarion's HTTP gateway takes (``{"inputs": [{"data": {"image":
{"base64": ...}}}]}``), but Triton, which takes its own tensor protocol (``peers.py``
sends the JPEG's bytes as a UINT8 tensor). Every server binds 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

from clarion.inference.mobilenet import ImageNetClassifier, MobileNetV2
from clarion.media import decode_image

HOST = "127.0.0.1"
TOP = 20
# LitServe's and Triton's batches when batching is on: the size and wait the server's own
# runner uses (DEFAULT_BATCH_SIZE), and a 5 ms window.
BATCH, BATCH_WAIT_S = 8, 0.005


def pipeline(models_dir: Path, weights: Path) -> Any:
    """The classifier of ``clarion serve``, loaded now; ``predict(jpegs) -> [concepts]``."""
    classifier = ImageNetClassifier(MobileNetV2(models_dir, weights=weights))

    def predict(jpegs: list[bytes]) -> list[list[dict[str, Any]]]:
        images = [decode_image(jpeg).image for jpeg in jpegs]
        return [
            [{"id": c.id, "name": c.name, "value": c.value} for c in p.concepts[:TOP]]
            for p in classifier.predict(images)
        ]

    predict([_probe_jpeg()])  # load the session before the first call
    return predict


def _probe_jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 80, 40)).save(out, "JPEG")
    return out.getvalue()


def _jpeg(body: dict[str, Any]) -> bytes:
    return base64.b64decode(body["inputs"][0]["data"]["image"]["base64"])


def _answer(concepts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"status": {"code": 10000}, "outputs": [{"data": {"concepts": concepts}}]}


def serve_fastapi(port: int, predict: Any, batch: bool) -> None:
    """A plain FastAPI app on uvicorn (httptools): a sync endpoint, run on its thread pool."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/outputs")
    def outputs(body: dict[str, Any]) -> dict[str, Any]:
        return _answer(predict([_jpeg(body)])[0])

    uvicorn.run(app, host=HOST, port=port, log_level="warning", http="httptools")


def serve_litserve(port: int, predict: Any, batch: bool) -> None:
    """LitServe: one inference worker (a spawned process, which loads its own pipeline in
    ``setup``), batching off, or on at ``BATCH``."""
    import litserve as ls

    del predict  # the worker process loads its own
    api = LitApi(
        max_batch_size=BATCH if batch else 1,
        batch_timeout=BATCH_WAIT_S if batch else 0.0,
        api_path="/outputs",
    )
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1)
    server.run(host=HOST, port=port, generate_client_file=False, log_level="warning")


def serve_triton(port: int, predict: Any, batch: bool) -> None:
    """NVIDIA Triton (the server in PyTriton's wheel) over HTTP, the model a Python callable
    that PyTriton runs in this process; Triton's dynamic batcher groups up to ``BATCH``."""
    import json

    import numpy as np
    from pytriton.decorators import batch as batched
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    @batched  # type: ignore[misc]
    def infer(image: Any) -> dict[str, Any]:
        jpegs = [row.tobytes() for row in image]
        answers = [json.dumps(_answer(concepts)).encode() for concepts in predict(jpegs)]
        return {"answer": np.array([[a] for a in answers], dtype=object)}

    config = TritonConfig(
        http_address=HOST,
        http_port=port,
        allow_grpc=False,
        allow_metrics=False,
        exit_on_error=True,
    )
    with Triton(config=config) as triton:
        triton.bind(
            model_name="general",
            infer_func=infer,
            inputs=[Tensor(name="image", dtype=np.uint8, shape=(-1,))],
            outputs=[Tensor(name="answer", dtype=np.bytes_, shape=(1,))],
            config=ModelConfig(
                max_batch_size=BATCH,
                batcher=DynamicBatcher(max_queue_delay_microseconds=int(BATCH_WAIT_S * 1e6)),
            ),
            strict=False,
        )
        triton.serve()


def serve_bentoml(port: int, predict: Any, batch: bool) -> None:
    """BentoML 1.4: ``bentoml serve`` of the ``General`` service below (its worker process
    loads its own pipeline)."""
    import subprocess

    del predict
    bentoml = Path(sys.executable).with_name("bentoml")
    here = Path(__file__).parent
    command = [str(bentoml), "serve", "_peer_apps:General", "--host", HOST, "--port", str(port)]
    sys.exit(subprocess.call(command, cwd=here))


def _from_environment() -> Any:
    return pipeline(Path(os.environ["PEER_MODELS_DIR"]), Path(os.environ["PEER_WEIGHTS"]))


try:
    import litserve as _ls

    class LitApi(_ls.LitAPI):  # type: ignore[misc]
        """Module-level, so that LitServe can pickle it for its spawned worker."""

        def setup(self, device: str) -> None:
            self.run = _from_environment()
            self.batched = self.max_batch_size > 1

        # No annotation: LitServe reads one as the request's type (a dict is then a query).
        def decode_request(self, request):  # type: ignore[no-untyped-def]
            return _jpeg(request)

        def batch(self, inputs: list[bytes]) -> list[bytes]:
            return inputs

        def predict(self, x: Any) -> Any:
            return self.run(x) if self.batched else self.run([x])[0]

        def unbatch(self, output: list[Any]) -> list[Any]:
            return output

        def encode_response(self, output: list[dict[str, Any]]) -> dict[str, Any]:
            return _answer(output)

except ImportError:
    pass

try:
    import bentoml as _bentoml

    @_bentoml.service(workers=1, threads=4)  # type: ignore[misc]
    class General:
        """Module-level, so that ``bentoml serve _peer_apps:General`` finds it."""

        def __init__(self) -> None:
            self.run = _from_environment()

        @_bentoml.api  # type: ignore[misc]
        def outputs(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
            jpeg = base64.b64decode(inputs[0]["data"]["image"]["base64"])
            return _answer(self.run([jpeg])[0])

except ImportError:
    pass


SERVERS = {
    "fastapi": serve_fastapi,
    "litserve": serve_litserve,
    "triton": serve_triton,
    "bentoml": serve_bentoml,
}


def main() -> None:
    framework, port, *rest = sys.argv[1:]
    # LitServe and BentoML load theirs in their worker processes.
    in_process = framework in ("fastapi", "triton")
    SERVERS[framework](int(port), _from_environment() if in_process else None, "--batch" in rest)


if __name__ == "__main__":
    main()
